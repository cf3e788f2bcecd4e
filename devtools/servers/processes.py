"""Processes and their files: is a PID alive (zombies count as gone), stopping one, free ports,
and the pidfiles, URL files and logs a data root keeps for its throwaway servers."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from devtools.servers.common import HOST


def process_state(pid: int) -> str | None:
    """The one-letter state in /proc/PID/status, or None if there is no such process.

    A stopped postmaster can stay a zombie ("Z") until its parent reaps it, and
    ``os.kill(pid, 0)`` succeeds on a zombie, so this reads /proc instead.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return None


def process_alive(pid: int | None) -> bool:
    return pid is not None and process_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments joined by spaces ("" if it cannot be read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(check: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Call ``check`` every ``interval`` seconds until it is true (True) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _reaped_or_gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return not process_alive(pid)


def wait_process_gone(pid: int, timeout: float) -> bool:
    return wait_until(lambda: _reaped_or_gone(pid), timeout, 0.05)


def send_signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def stop_process(pid: int, first: int | None, wait: float, then: int, then_wait: float) -> bool:
    """Send ``first`` (None: it was already asked to stop) and wait up to ``wait`` seconds; if
    ``pid`` still runs, send ``then`` and wait up to ``then_wait``. True if it is gone."""
    if first is not None:
        send_signal(pid, first)
    if wait_process_gone(pid, wait):
        return True
    send_signal(pid, then)
    return wait_process_gone(pid, then_wait)


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_state(data_root: Path, kind: str, pid: int, url: str) -> None:
    """Record a throwaway server in ``data_root/KIND.pid`` and ``data_root/KIND.url``."""
    (data_root / f"{kind}.pid").write_text(f"{pid}\n")
    (data_root / f"{kind}.url").write_text(f"{url}\n")


def clear_state(data_root: Path, kind: str) -> None:
    for suffix in ("pid", "url"):
        with contextlib.suppress(FileNotFoundError):
            (data_root / f"{kind}.{suffix}").unlink()
