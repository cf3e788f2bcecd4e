"""Running Procfile process types as real child processes, one process group each.

Used by the end-to-end tests (which kill and restart single processes) and by the
benchmark. Each process's output goes to its own log file, so a failing test can show it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.procfile import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


def exec_form(command: str) -> str:
    """``A=1 cmd args`` → ``A=1 exec cmd args``: the shell becomes the process itself."""
    words = command.split(" ")
    n = 0
    while n < len(words) and "=" in words[n] and not words[n].startswith("-"):
        n += 1
    return " ".join([*words[:n], "exec", *words[n:]])


@dataclass
class Stack:
    """A set of named commands started with ``sh -c`` in ``env``, logs under ``log_dir``."""

    env: Mapping[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, command: str, extra_env: Mapping[str, str] | None = None) -> None:
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, **(extra_env or {})}
        env.pop("LEADPIPE_STUB_BROKER", None)  # the test process's stub never leaks into a child
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            ["sh", "-c", exec_form(command)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def stop(self, name: str, timeout: float = 10.0) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        self.signal(name, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(name, signal.SIGKILL)
            proc.wait(5)

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: no cleanup, no acks, like a lost machine."""
        self.signal(name, signal.SIGKILL)
        self.procs[name].wait(5)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def log(self, name: str, tail: int = 60) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:])

    def logs(self, tail: int = 40) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name, tail)}" for name in self.procs)
