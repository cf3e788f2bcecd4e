"""The fault driver's own PostgreSQL and Redis: throwaway, on free ports, restartable.

Restarting or flushing a server other people use would break their work, so the fault
suite never touches the machine's servers: it starts its own from the same binaries
``devtools.servers`` uses, with the data in a fresh folder under /tmp (o+x all the way up,
since PostgreSQL runs as ``nobody`` when we are root). A restart keeps the port, so the
running web and worker processes have to reconnect by themselves, as in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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
    ServerHandle,
    free_port,
    postgres_bin_dir,
    redis_server_binary,
    start_throwaway_postgres,
    wait_process_gone,
)
from devtools.servers.owner import PostgresOwner
from pipeline.config import Settings
from pipeline.db import apply_schema, make_engine


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
        _wait(pidfile.exists, 10, "redis-server's pidfile")
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
    handle: ServerHandle
    owner: PostgresOwner
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        assert self.handle.data_dir is not None
        return self.handle.data_dir

    def pg_ctl(self, *args: str) -> None:
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "30", *args]
        result = self.owner.run(argv, cwd=self.data_dir.parent)
        if result.returncode != 0:
            raise ServerError(f"pg_ctl {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a real restart."""
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start again on the port it had (the clients' URLs do not change)."""
        port = self.handle.port
        options = (
            f"-h 127.0.0.1 -p {port} -k '' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.data_dir.parent / "postgres.log")
        self.pg_ctl("-l", log, "-o", options, "start")


class OwnServers:
    """A PostgreSQL and a Redis for the fault driver alone; ``close()`` removes them."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="leadpipe-faults-", dir="/tmp"))
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        handle = start_throwaway_postgres(self.root, dbname=None)
        self.postgres = OwnPostgres(handle, PostgresOwner.for_postgres(), postgres_bin_dir())
        folder = self.root / "own-redis"
        folder.mkdir(exist_ok=True)
        self.redis = OwnRedis(redis_server_binary(), folder, free_port())
        self.redis.start()

    @property
    def admin_url(self) -> str:
        return self.postgres.handle.admin_url

    def database(self, name: str) -> str:
        """A new database ``name`` with the schema applied; its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.postgres.handle.database_url(name)
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
        self.postgres.handle.stop()
        shutil.rmtree(self.root, ignore_errors=True)
