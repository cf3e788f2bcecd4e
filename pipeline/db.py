"""Database engine and schema application."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text

from pipeline.config import Settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.sql"
#: Two releases applying the schema at once wait for each other instead of racing.
_SCHEMA_LOCK_KEY = 0x1EAD_919E


def make_engine(settings: Settings, **overrides: object) -> Engine:
    """A pooled engine. ``pool_pre_ping`` makes workers survive a Postgres restart: a dead
    pooled connection is noticed and replaced before a statement is sent on it."""
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 5, "application_name": "leadpipe"},
    }
    options.update(overrides)
    return create_engine(settings.sqlalchemy_url, **options)


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A pooled connection in autocommit mode, for work that is one statement (a claim, a
    read): the statement is its own transaction, so no BEGIN and COMMIT round trips."""
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def apply_schema(engine: Engine, schema_path: Path = SCHEMA_FILE) -> None:
    """Apply ``schema.sql`` (idempotent) under an advisory lock, in one transaction."""
    sql = schema_path.read_text()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        # The schema is trusted text from the repository; run it as one script.
        conn.exec_driver_sql(sql)
