"""The fault driver's own PostgreSQL and Redis: throwaway, on free ports, restartable.

Restarting or flushing a server other people use would break their work, so the fault
suite never touches the machine's servers: it starts its own from the same binaries
``devtools.servers`` uses, with the data in a fresh folder under /tmp (o+x all the way up,
since PostgreSQL runs as ``nobody`` when we are root). A restart keeps the port, so the
running web and worker processes have to reconnect by themselves, as in production. Both
listen on ports below the kernel's ephemeral range: while a server is down, an outgoing
connection could otherwise get its port as a source port, and the restart could not bind.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from devtools.servers import (
    ServerError,
    postgres_bin_dir,
    postgres_url,
    redis_server_binary,
    wait_process_gone,
)
from devtools.servers.owner import PostgresOwner
from pipeline.config import Settings
from pipeline.db import apply_schema, make_engine


def stable_port() -> int:
    """A free loopback port below the ephemeral range (never handed out as a source port)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(20000, min(low, 65536) - 1)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerError("no free port below the ephemeral range")


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise ServerError(f"timed out waiting for {what}")


@dataclass
class OwnRedis:
    binary: str
    folder: Path
    port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> None:
        pidfile = self.folder / "redis.pid"
        pidfile.unlink(missing_ok=True)
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(pidfile),
            "--logfile", str(self.folder / "redis.log"), "--dir", str(self.folder),
        ]  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
        try:
            _wait(pidfile.exists, 10, "redis-server's pidfile")
        except ServerError as exc:
            raise ServerError(f"{exc}: {_tail(self.folder / 'redis.log')}") from None
        self.pid = int(pidfile.read_text().strip() or 0) or None
        _wait(self._answers, 10, f"Redis on port {self.port}")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        wait_process_gone(self.pid, 10)
        self.pid = None


@dataclass
class OwnPostgres:
    data_dir: Path
    port: int
    owner: PostgresOwner
    bin_dir: Path

    @property
    def admin_url(self) -> str:
        return postgres_url(self.port, "postgres")

    def url(self, dbname: str) -> str:
        return postgres_url(self.port, dbname)

    def run(self, tool: str, *args: str) -> None:
        result = self.owner.run([str(self.bin_dir / tool), *args], cwd=self.data_dir.parent)
        if result.returncode != 0:
            log = _tail(self.data_dir.parent / "postgres.log")
            raise ServerError(f"{tool} {' '.join(args)} failed: {result.stderr}\n{log}")

    def init(self) -> None:
        self.data_dir.parent.mkdir(mode=0o755, exist_ok=True)
        self.owner.chown_tree(self.data_dir.parent)
        self.run(
            "initdb", "--auth=trust", "-U", "postgres", "-D", str(self.data_dir), "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k '' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.data_dir.parent / "postgres.log")
        self.run(
            "pg_ctl", "-D", str(self.data_dir), "-w", "-t", "30", "-l", log, "-o", options, "start"
        )

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a real restart."""
        self.run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "30", "-m", "fast", "stop")


class OwnServers:
    """A PostgreSQL and a Redis for the fault driver alone; ``close()`` removes them."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="leadpipe-faults-", dir="/tmp"))
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.postgres = OwnPostgres(
            self.root / "postgres" / "data", stable_port(), PostgresOwner.for_postgres(),
            postgres_bin_dir(),
        )  # fmt: skip
        self.postgres.init()
        self.postgres.start()
        folder = self.root / "own-redis"
        folder.mkdir(exist_ok=True)
        self.redis = OwnRedis(redis_server_binary(), folder, stable_port())
        self.redis.start()

    @property
    def admin_url(self) -> str:
        return self.postgres.admin_url

    def database(self, name: str) -> str:
        """A new database ``name`` with the schema applied; its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.postgres.url(name)
        engine = make_engine(Settings(database_url=url), pool_size=1, max_overflow=0)
        try:
            apply_schema(engine)
        finally:
            engine.dispose()
        return url

    def restart_postgres(self, down_seconds: float = 0.0) -> float:
        """Stop (fast) and start again on the same port; returns when it is back (time)."""
        self.postgres.stop()
        time.sleep(down_seconds)
        self.postgres.start()
        return time.time()

    def flush_redis(self) -> None:
        self.redis.client().flushall()

    def restart_redis(self, down_seconds: float = 0.0) -> float:
        """Kill and start again, empty, on the same port; returns when it is back (time)."""
        self.redis.stop()
        time.sleep(down_seconds)
        self.redis.start()
        return time.time()

    def close(self) -> None:
        self.redis.stop()
        with contextlib.suppress(ServerError):  # not running
            self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)
