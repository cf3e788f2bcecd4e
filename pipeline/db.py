"""Database engine and schema application."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError

from pipeline.config import Settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.sql"
#: Two releases applying the schema at once wait for each other instead of racing.
_SCHEMA_LOCK_KEY = 0x1EAD_919E


def make_engine(settings: Settings, **overrides: object) -> Engine:
    """A pooled engine whose connections are pinged before use only after sitting idle.

    A ping on every checkout (``pool_pre_ping``) cost a round trip per statement; on a busy
    machine that round trip waited for a CPU like any other, and it was a third of a
    webhook's time. A connection that was used within ``DB_PING_AFTER_IDLE_SECONDS`` is
    trusted instead. After a PostgreSQL restart the first statement on such a connection
    fails; SQLAlchemy then recycles every connection of the pool, the failed work is
    retried the way any failure is (a callback's sender retries it, a lost kick is re-sent
    by the sweeper), and later checkouts get fresh connections. The pool is LIFO so that
    under light load a few connections stay warm and the rest age into a ping.
    """
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_use_lifo": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 5, "application_name": "leadpipe"},
    }
    options.update(overrides)
    engine = create_engine(settings.sqlalchemy_url, **options)
    if not options.get("pool_pre_ping"):
        _ping_after_idle(engine, settings.db_ping_after_idle_seconds)
    return engine


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # new (just connected) or warm
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool drops this connection and checks out (or opens) another.
                raise DisconnectionError() from exc
            raise


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
