"""Where the servers are expected, the error this package raises, and its progress messages."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = REPO_ROOT / ".local"

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
POSTGRES_USER = "postgres"
ADMIN_DB = "postgres"
APP_DB = "leadpipe"

#: The two kinds of server, the variable that names each, and each one's default port.
KINDS = ("postgres", "redis")
URL_VARIABLES = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
DEFAULT_PORTS = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT}


class ServerError(RuntimeError):
    """A server could not be found, reached or started."""


def say(message: str) -> None:
    """Progress for people; stdout stays free for the shell code ``up`` prints."""
    print(f"servers: {message}", file=sys.stderr, flush=True)
