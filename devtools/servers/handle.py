"""Server URLs, and the handle that says where a reachable server is and how to stop it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devtools.servers.common import ADMIN_DB, APP_DB, HOST, POSTGRES_USER


def replace_database(url: str, dbname: str) -> str:
    """The same server URL with another database name in its path."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def redact(url: str) -> str:
    """The URL with its password, if any, replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc[2]}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or ADMIN_DB


def postgres_url(port: int, dbname: str = APP_DB, host: str = HOST) -> str:
    return f"postgresql://{POSTGRES_USER}@{host}:{port}/{dbname}"


def redis_url(port: int, host: str = HOST, db: int = 0) -> str:
    return f"redis://{host}:{port}/{db}"


@dataclass
class ServerHandle:
    """A reachable server: where it is, whether we started it, and how to stop it if so."""

    kind: str  # "postgres" or "redis"
    url: str
    #: "env" (DATABASE_URL/REDIS_URL), "existing" (already listening on the default port),
    #: "throwaway" (started by this call) or "throwaway-running" (ours, started earlier).
    source: str
    started: bool = False
    pid: int | None = None
    data_dir: Path | None = None
    _stopper: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def port(self) -> int | None:
        return urlsplit(self.url).port

    @property
    def admin_url(self) -> str:
        """PostgreSQL only: the same server's ``postgres`` database (to create others)."""
        return replace_database(self.url, ADMIN_DB)

    def database_url(self, dbname: str) -> str:
        """PostgreSQL only: the URL of another database on the same server."""
        return replace_database(self.url, dbname)

    def stop(self) -> None:
        """Stop the server if this handle started it; otherwise do nothing. Idempotent."""
        if self.started and self._stopper is not None:
            stopper, self._stopper = self._stopper, None
            stopper()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
