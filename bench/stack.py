"""One Leadpipe under test: a fresh database, the Procfile's process types, the local services.

The commands are read from ``Procfile`` and ``Procfile.dev`` exactly as deployed (scaling
left at the Procfile defaults unless the caller overrides a variable), so the benchmark
measures what production runs. ``release`` applies the schema first, as on a deploy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench.servers import Servers
from devtools.procfile import ROOT, default_of, read_procfile
from devtools.stack import Stack, free_port, wait_for_http

SECRET = "bench-secret"
APP_TYPES = ("web", "worker", "clock")
SERVICE_TYPES = ("site", "scraper", "llm")
#: The role the harness reads with, so its own statements never count as the pipeline's.
OBSERVER = "bench_observer"


def ensure_observer(servers: Servers) -> None:
    with psycopg.connect(servers.postgres.url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OBSERVER,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(OBSERVER)))
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def create_database(servers: Servers, name: str) -> str:
    with psycopg.connect(servers.postgres.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return servers.postgres.url(name)


def drop_database(servers: Servers, name: str) -> None:
    with psycopg.connect(servers.postgres.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def observer_url(servers: Servers, dbname: str) -> str:
    return f"postgresql://{OBSERVER}@127.0.0.1:{servers.postgres.port}/{dbname}"


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of ``pid`` in kB; (0, 0) if it is gone."""
    hwm = rss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


def _api_key(db_url: str) -> str:
    """A new API key of the default account ("" when this version has no API keys)."""
    try:
        from pipeline import accounts
    except ImportError:
        return ""
    from pipeline.config import Settings
    from pipeline.db import make_engine

    engine = make_engine(Settings(database_url=db_url), pool_size=1, max_overflow=0)
    try:
        return str(accounts.create_key(engine, label="bench").key)
    finally:
        engine.dispose()


@dataclass
class Leadpipe:
    """A running Leadpipe against one fresh database of the benchmark's servers."""

    servers: Servers
    dbname: str
    log_dir: Path
    callbacks: bool = True
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    #: Replace process commands (the naive baseline swaps the worker and drops the clock).
    commands_override: Mapping[str, str | None] = field(default_factory=dict)
    stack: Stack | None = None
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    db_url: str = ""
    #: An API key of the default account, sent with every API call.
    key: str = ""

    def start(self) -> Leadpipe:
        ensure_observer(self.servers)
        self.db_url = create_database(self.servers, self.dbname)
        ports = {name: free_port() for name in ("site", "scraper", "llm", "web")}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.env = {
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.servers.redis.url,
            "REDIS_NAMESPACE": f"bench-{uuid.uuid4().hex[:8]}",
            "WEBHOOK_SECRET": SECRET,
            "PUBLIC_BASE_URL": self.urls["web"] if self.callbacks else "",
            "SCRAPER_URL": self.urls["scraper"],
            "LLM_URL": self.urls["llm"],
            "LOCAL_WEBHOOK_SECRET": SECRET if self.callbacks else "",
            "SITE_PORT": str(ports["site"]),
            "SCRAPER_PORT": str(ports["scraper"]),
            "LLM_PORT": str(ports["llm"]),
            "WEB_BIND": f"127.0.0.1:{ports['web']}",
            "PYTHONUNBUFFERED": "1",
            **self.env_overrides,
        }
        self.stack = Stack(env=self.env, log_dir=self.log_dir)
        prod = read_procfile(ROOT / "Procfile")
        dev = read_procfile(ROOT / "Procfile.dev")
        self._release(prod["release"])
        commands: dict[str, str] = {name: dev[name] for name in SERVICE_TYPES}
        commands.update({name: prod[name] for name in APP_TYPES})
        for name, command in self.commands_override.items():
            if command is None:
                commands.pop(name, None)
            else:
                commands[name] = command
        for name, command in commands.items():
            self.stack.start(name, command)
        for name in ("site", "scraper", "llm", "web"):
            probe = {"web": "/healthz", "site": "/"}.get(name, "/_health")
            wait_for_http(self.urls[name] + probe, timeout=60, proc=self.stack.procs[name])
        self._wait_for_workers(commands.get("worker", ""))
        self.key = _api_key(self.db_url)
        return self

    def _release(self, command: str) -> None:
        env = {**os.environ, **self.env}
        env.pop("LEADPIPE_STUB_BROKER", None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "release.log").open("ab") as log:
            subprocess.run(
                ["sh", "-c", command], cwd=ROOT, env=env, stdout=log, stderr=log, check=True
            )

    def _wait_for_workers(self, command: str, timeout: float = 60.0) -> None:
        """Until every worker process has registered its heartbeat with the broker."""
        import redis

        if "worker" not in (self.stack.procs if self.stack else {}):
            return
        want = int(self.env.get("WORKER_PROCESSES") or default_of(command, "WORKER_PROCESSES") or 1)
        client = redis.Redis.from_url(self.servers.redis.url)
        key = f"{self.env['REDIS_NAMESPACE']}:__heartbeats__"
        deadline = time.monotonic() + timeout
        try:
            while client.zcard(key) < want:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers did not register in {timeout}s")
                time.sleep(0.1)
        finally:
            client.close()
        time.sleep(0.5)  # let every consumer thread start fetching

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return httpx.Client(base_url=self.urls["web"], timeout=120, headers=headers)

    def service(self, name: str) -> str:
        return self.urls[name]

    def memory(self) -> dict[str, dict[str, Any]]:
        """Per process type: peak RSS (VmHWM) of the largest process and the sum over the
        type's process tree (master + workers), and the current RSS."""
        out: dict[str, dict[str, Any]] = {}
        assert self.stack is not None
        for name, proc in self.stack.procs.items():
            if proc.poll() is not None:
                continue
            pids = process_tree(proc.pid)
            figures = [memory_kb(pid) for pid in pids]
            out[name] = {
                "processes": len(pids),
                "peak_rss_mb_sum": round(sum(h for h, _ in figures) / 1024, 1),
                "peak_rss_mb_max": round(max((h for h, _ in figures), default=0) / 1024, 1),
                "rss_mb_sum": round(sum(r for _, r in figures) / 1024, 1),
            }
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process type (its whole process tree)."""
        assert self.stack is not None
        return {
            name: round(sum(cpu_seconds(pid) for pid in process_tree(proc.pid)), 2)
            for name, proc in self.stack.procs.items()
            if proc.poll() is None
        }

    def stop(self, drop: bool = True) -> None:
        if self.stack is not None:
            self.stack.stop_all()
        if drop and self.dbname:
            drop_database(self.servers, self.dbname)

    def failed_processes(self) -> list[str]:
        assert self.stack is not None
        return [name for name, proc in self.stack.procs.items() if proc.poll() is not None]
