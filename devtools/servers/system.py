"""CI: start the machine's own PostgreSQL and Redis (Debian packages) when they are stopped.

Standard library only: ``.ci/run`` calls this with the system ``python3`` before the
virtualenv exists.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from devtools.servers.common import DEFAULT_PORTS, HOST, KINDS, URL_VARIABLES, say
from devtools.servers.probe import ANSWERS
from devtools.servers.processes import wait_until

#: The Debian commands that start this machine's own services when they are stopped.
SYSTEM_REDIS_COMMAND = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def _postgres_start_command() -> list[str] | None:
    conf = Path("/etc/postgresql")
    if not shutil.which("pg_ctlcluster") or not conf.is_dir():
        return None
    versions = sorted(
        (p.name for p in conf.iterdir() if (p / "main").is_dir()),
        key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")],
    )
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]


def system_start_commands() -> dict[str, list[str] | None]:
    """The Debian commands that start this machine's own services, where they exist."""
    return {
        "postgres": _postgres_start_command(),
        "redis": SYSTEM_REDIS_COMMAND if shutil.which("redis-server") else None,
    }


def start_system_services(
    env: Mapping[str, str] = os.environ,
    timeout: float = 30.0,
    *,
    ports: Mapping[str, int] | None = None,
    commands: Mapping[str, list[str] | None] | None = None,
) -> dict[str, str]:
    """Start the machine's own PostgreSQL / Redis on 5432 / 6379 if they are not answering.

    Stdlib only (CI calls it before the virtualenv exists). Runs the Debian commands when they
    exist, then waits up to ``timeout`` seconds for the service to answer. A service that cannot
    be started is reported, not raised: ``bin/test`` then falls back to throwaway servers.
    ``ports`` and ``commands`` override the defaults (tests use other ports). Returns a status
    line per service.
    """
    ports = {**DEFAULT_PORTS, **(ports or {})}
    commands = {**system_start_commands(), **(commands or {})}
    status: dict[str, str] = {}
    for kind in KINDS:
        variable, answers = URL_VARIABLES[kind], ANSWERS[kind]
        port, command = ports[kind], commands[kind]
        if env.get(variable):
            status[kind] = f"{variable} is set; not touching {HOST}:{port}"
        elif answers(HOST, port):
            status[kind] = f"already running on {HOST}:{port}"
        elif command is None:
            status[kind] = f"not running on {HOST}:{port} and no system command to start it"
        else:
            status[kind] = _run_start_command(kind, command, port, answers, timeout)
        say(f"{kind}: {status[kind]}")
    return status


def _run_start_command(
    kind: str, command: list[str], port: int, answers: Callable[..., bool], timeout: float
) -> str:
    if command is SYSTEM_REDIS_COMMAND:
        for folder in ("/var/lib/redis", "/var/log/redis"):
            Path(folder).mkdir(parents=True, exist_ok=True)
    say(f"{kind} is not answering on {HOST}:{port}; running: {shlex.join(command)}")
    t0 = time.monotonic()
    # Output to a file, not a pipe: a daemon that kept the pipe open would hang us.
    with tempfile.TemporaryFile("w+") as output:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            returncode: int | str = result.returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            returncode = str(exc)
        output.seek(0)
        text = output.read().strip()
    if returncode != 0:
        say(f"{command[0]} failed ({returncode}): {text}")
    if wait_until(lambda: answers(HOST, port), timeout, 0.25):
        return f"started on {HOST}:{port} in {time.monotonic() - t0:.1f} s"
    return f"still not answering on {HOST}:{port} after {timeout:.0f} s"
