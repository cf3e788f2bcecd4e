"""Who runs the PostgreSQL binaries: ourselves, or ``nobody`` when we are root.

PostgreSQL refuses to run as root, so as root the throwaway server's folder is chowned to
``nobody`` and its commands run as that user, with a minimal environment.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PostgresOwner:
    """Who runs the PostgreSQL binaries: ourselves, or ``nobody`` when we are root."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def for_postgres(cls) -> PostgresOwner:
        if os.geteuid() != 0:
            return cls()
        entry = pwd.getpwnam("nobody")
        return cls(entry.pw_uid, entry.pw_gid, "nobody")

    def chown_tree(self, root: Path) -> None:
        if self.uid is None:
            return
        os.chown(root, self.uid, self.gid)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)

    def run(self, argv: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(cwd),
        }
        kwargs: dict[str, object] = {}
        if self.uid is not None:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
