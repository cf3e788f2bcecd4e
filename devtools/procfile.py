"""Reading Procfiles, so the tests and ``leadpipe dev`` run exactly the deployed commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_procfile(path: Path) -> dict[str, str]:
    """``name: command`` lines, in order; blank lines and ``#`` comments are skipped."""
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, command = stripped.partition(":")
        if not sep or not name.strip().isidentifier() or not command.strip():
            raise ValueError(f"{path.name}:{number}: expected 'name: command'")
        entries[name.strip()] = command.strip()
    return entries


def default_of(command: str, variable: str) -> str | None:
    """The default a command gives ``variable`` (``${VARIABLE:-default}``), if any."""
    found = re.search(r"\$\{" + re.escape(variable) + r":-([^}]*)\}", command)
    return found.group(1) if found else None
