"""``leadpipe db init``: apply ``schema.sql`` to DATABASE_URL, optionally creating the database.

The schema file is idempotent and applied under an advisory lock (``pipeline.db``), so this
is safe to run on every deploy (the Procfile's ``release`` step) and from two places at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from cli.errors import CliError, database_error_reason, missing_database, one_line
from pipeline.config import Settings
from pipeline.db import apply_schema, make_engine

#: The database every PostgreSQL server has; new databases are created from a session on it.
ADMIN_DB = "postgres"


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy's form) → ``postgresql://…`` (libpq's)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith(("postgresql+", "postgres+")):
        return "postgresql://" + rest
    return url


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def database_name(url: str) -> str | None:
    """The database a URL names (None when it names none and libpq would guess)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(libpq_url(url)).get("dbname") or None
    except Exception:  # a malformed URL is reported when it is used
        return None


def server_of(url: str) -> str:
    """``host:port`` of a database URL, for messages."""
    parts = urlsplit(libpq_url(url))
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def create_database(url: str) -> bool:
    """Create the database ``url`` names, from a session on the server's ``postgres``
    database. True if it was created, False if it already existed."""
    import psycopg
    from psycopg import errors, sql
    from psycopg.conninfo import make_conninfo

    name = database_name(url)
    if not name:
        raise CliError(f"DATABASE_URL names no database: {redact(url)}", code=2)
    admin = make_conninfo(libpq_url(url), dbname=ADMIN_DB)
    for attempt in range(5):
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if found.fetchone():
                    return False
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                return True
        except errors.DuplicateDatabase:
            return False  # created by someone else in the meantime
        except errors.ObjectInUse:
            # "source database template1 is being accessed by other users": brief, retry.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
        except psycopg.OperationalError as exc:
            raise CliError(
                f"cannot create database {name!r}: cannot connect to the {ADMIN_DB!r} "
                f"database on {server_of(url)}: {database_error_reason(exc)}"
            ) from None
        except psycopg.Error as exc:
            raise CliError(f"cannot create database {name!r}: {one_line(str(exc))}") from None
    return False


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn SQLAlchemy errors into one-line :class:`CliError` with what to do about them."""
    try:
        yield
    except OperationalError as exc:
        name = missing_database(exc)
        if name is not None:
            raise CliError(
                f'database "{name}" does not exist on {server_of(url)}; '
                "create it and apply the schema with: leadpipe db init --create"
            ) from None
        raise CliError(
            f"cannot connect to the database at {redact(url)}: {database_error_reason(exc)}"
        ) from None
    except ProgrammingError as exc:
        reason = database_error_reason(exc)
        if "does not exist" in reason and "relation" in reason:
            raise CliError(
                f"the schema is not applied to {redact(url)} ({reason}); run: leadpipe db init"
            ) from None
        raise CliError(f"database error: {reason}") from None
    except DBAPIError as exc:
        raise CliError(f"database error: {database_error_reason(exc)}") from None


def cli_engine(settings: Settings) -> Engine:
    """An engine for one short command: one connection is all it needs."""
    return make_engine(settings, pool_size=1, max_overflow=0)


def init(settings: Settings, *, create: bool = False, out: TextIO) -> None:
    """Apply the schema; with ``create``, first create the database if it is missing."""
    url = settings.database_url
    name = database_name(url) or "?"
    if create and create_database(url):
        print(f"created database {name!r} on {server_of(url)}", file=out)
    engine = cli_engine(settings)
    try:
        with database_errors(url):
            apply_schema(engine)
    finally:
        engine.dispose()
    print(f"schema applied to database {name!r} on {server_of(url)}", file=out)
