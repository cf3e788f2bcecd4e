"""Shared fixtures.

Databases: one template database per test run (schema applied once), and a fresh
database cloned from it for each test that asks for ``engine`` / ``db_url``; all dropped
at the end. Redis: a key namespace of its own per run, deleted at the end. The servers
are the real ones named by DATABASE_URL / REDIS_URL (default: 127.0.0.1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

# In-process imports of ``actors`` get a StubBroker; worker subprocesses get Redis.
os.environ.setdefault("LEADPIPE_STUB_BROKER", "1")

import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy import Engine

from pipeline.config import Settings, sqlalchemy_url
from pipeline.db import apply_schema, make_engine

RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
SERVER_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def database_url(name: str) -> str:
    """``SERVER_URL`` with its database replaced by ``name``."""
    base, _, rest = SERVER_URL.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _admin() -> psycopg.Connection:
    return psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5)


def _drop_stale_databases(conn: psycopg.Connection) -> None:
    """Drop databases left by earlier runs whose process is gone (a killed pytest)."""
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'lpt\\_%'").fetchall()
    for (name,) in rows:
        pid = name.split("_")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = f"lpt_{RUN_ID}_tpl"
    with _admin() as conn:
        _drop_stale_databases(conn)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = make_engine(Settings(database_url=database_url(name)))
    apply_schema(engine)
    engine.dispose()
    yield name
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


_counter = iter(range(1_000_000))


@pytest.fixture
def db_url(template_db: str) -> Iterator[str]:
    """A fresh database with the schema, for this test only."""
    name = f"lpt_{RUN_ID}_{next(_counter)}"
    with _admin() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield database_url(name)
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def settings(db_url: str, redis_namespace: str) -> Settings:
    return Settings(
        database_url=db_url,
        redis_url=REDIS_URL,
        redis_namespace=redis_namespace,
        webhook_secret="test-secret",
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_namespace() -> Iterator[str]:
    namespace = f"leadpipe-test-{RUN_ID}"
    yield namespace
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


__all__ = ["database_url", "sqlalchemy_url"]


@pytest.fixture
def broker():
    """The in-process StubBroker that ``actors`` declares its actors on, emptied around the
    test. Tests of the Redis broker itself (kicks, the doorbell) define their own."""
    import actors

    stub = actors.broker
    assert type(stub).__name__ == "StubBroker", "tests never talk to a real broker in-process"
    stub.flush_all()
    yield stub
    stub.flush_all()
