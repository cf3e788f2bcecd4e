"""Running every Procfile.dev process for ``leadpipe dev``: with honcho when it is installed
(one log, the familiar ``web.1 | ...`` prefixes), else with ``devtools.stack.Stack``.

Both put their children in process groups of their own, so a Ctrl-C in the terminal reaches
only ``leadpipe dev``, which then stops them in order: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from devtools.procfile import ROOT, read_procfile

PROCFILE = ROOT / "Procfile.dev"
LOG_DIR = ROOT / ".local" / "dev"


class Runner(Protocol):
    """What ``leadpipe dev`` needs from a way of running the Procfile."""

    #: Where to look when something goes wrong.
    log_hint: str

    def start(self) -> None: ...

    def dead(self) -> str | None:
        """None while everything runs; else which process stopped, and how."""

    def stop(self) -> None:
        """Stop everything; idempotent."""

    def log_tail(self, lines: int = 30) -> str: ...


def honcho_available() -> bool:
    return importlib.util.find_spec("honcho") is not None


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` made fit for the child processes.

    The virtualenv's ``bin`` goes first on PATH (the Procfile says ``gunicorn``, ``dramatiq``,
    ``python``); a test process's LEADPIPE_STUB_BROKER must never reach a real worker.
    """
    out = dict(env)
    out.pop("LEADPIPE_STUB_BROKER", None)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


def _children() -> dict[int, list[int]]:
    """ppid → child pids, from /proc (Linux); empty where /proc is not there."""
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read().decode(errors="replace")
            except OSError:
                continue
            # The command name may hold spaces and parentheses; fields resume after the last ')'.
            fields = stat.rpartition(")")[2].split()
            if len(fields) > 1 and fields[1].isdigit():
                tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendant_groups(pid: int) -> set[int]:
    """Process groups of ``pid`` and all its descendants.

    honcho starts each Procfile process in a session of its own; if honcho itself must be
    SIGKILLed, those groups would outlive it, so they are collected while the tree is whole.
    """
    tree = _children()
    groups: set[int] = set()
    stack = [pid]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(current))
        stack.extend(tree.get(current, []))
    return groups


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class HonchoRunner:
    """``python -m honcho -f Procfile.dev start`` as one child process group."""

    def __init__(self, env: Mapping[str, str], log_path: Path = LOG_DIR / "honcho.log") -> None:
        self.env = child_env(env)
        self.log_path = log_path
        self.log_hint = str(log_path)
        self.proc: subprocess.Popen[bytes] | None = None
        self._groups: set[int] = set()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "honcho",
            # Our environment is the whole configuration: a stray .env must not override the
            # ports and URLs chosen here.
            "--env", os.devnull,
            "--no-colour",
            "-f", str(PROCFILE),
            "-d", str(ROOT),
            "start",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def dead(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"honcho exited with {self.proc.returncode} (a process stopped)"

    def stop(self, grace: float = 15.0) -> None:
        proc = self.proc
        if proc is None:
            return
        # Collect the children's groups first: once honcho is gone they are orphans.
        self._groups |= descendant_groups(proc.pid)
        if proc.poll() is None:
            # honcho SIGTERMs each process group, waits 5 s, then SIGKILLs them.
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        deadline = time.monotonic() + 5
        leftovers = {g for g in self._groups if g != os.getpgid(0) and _group_alive(g)}
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = {g for g in leftovers if _group_alive(g)}
        for group in leftovers:
            _signal_group(group, signal.SIGKILL)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)


class StackRunner:
    """Each Procfile.dev entry as its own process group via ``devtools.stack.Stack``."""

    def __init__(self, env: Mapping[str, str], log_dir: Path = LOG_DIR) -> None:
        from devtools.stack import Stack

        self.commands = read_procfile(PROCFILE)
        self.stack = Stack(env=child_env(env), log_dir=log_dir)
        self.log_hint = f"{log_dir}/<process>.log"

    def start(self) -> None:
        for name in self.commands:
            (self.stack.log_dir / f"{name}.log").unlink(missing_ok=True)
        for name, command in self.commands.items():
            self.stack.start(name, command)

    def dead(self) -> str | None:
        for name, proc in self.stack.procs.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}"
        return None

    def stop(self) -> None:
        self.stack.stop_all()

    def log_tail(self, lines: int = 30) -> str:
        return self.stack.logs(tail=max(5, lines // max(1, len(self.commands))))


def make_runner(kind: str, env: Mapping[str, str], log_dir: Path = LOG_DIR) -> Runner:
    """``auto`` picks honcho when it is installed (the dev extra), else the Stack."""
    if kind == "honcho" or (kind == "auto" and honcho_available()):
        return HonchoRunner(env, log_dir / "honcho.log")
    return StackRunner(env, log_dir)
