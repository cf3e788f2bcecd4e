"""What the figures were measured on: the machine, the versions, the load from others."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from devtools.procfile import ROOT

PACKAGES = (
    "dramatiq",
    "periodiq",
    "redis",
    "gunicorn",
    "falcon",
    "SQLAlchemy",
    "psycopg",
    "httpx",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _git() -> dict[str, Any]:
    """Read-only: the commit and how many files differ from it (in the tree the benchmark
    was started from, not in its snapshot)."""
    home = os.environ.get("LEADPIPE_BENCH_HOME")
    where = Path(home).parent if home else ROOT

    def run(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    changed = [line for line in run("status", "--porcelain").splitlines() if line]
    return {"commit": run("rev-parse", "--short", "HEAD"), "uncommitted_files": len(changed)}


def describe(postgres: dict[str, Any], redis_version: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": _os(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": postgres,
        "redis": redis_version,
        "packages": {name: _version(name) for name in PACKAGES},
        "git": _git(),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]
