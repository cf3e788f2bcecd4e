"""Pooled connections are pinged only after sitting idle (pipeline.db) — real PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from pipeline.db import make_engine

pytestmark = pytest.mark.integration


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(admin_engine, pid: int) -> None:
    with admin_engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.1)


def test_a_connection_that_sat_idle_is_pinged_and_a_dead_one_replaced_before_use(settings, engine):
    pooled = make_engine(settings.with_(db_ping_after_idle_seconds=0.0), pool_size=1)
    try:
        dead = _backend_pid(pooled)
        _kill(engine, dead)
        time.sleep(0.01)  # longer than the idle threshold: the next checkout pings
        assert _backend_pid(pooled) != dead, "the statement ran on a fresh connection"
    finally:
        pooled.dispose()


def test_a_warm_connection_is_trusted_and_after_a_restart_only_the_first_use_fails(
    settings, engine
):
    pooled = make_engine(settings.with_(db_ping_after_idle_seconds=3600.0), pool_size=2)
    try:
        with pooled.connect() as a, pooled.connect() as b:  # two pooled connections
            pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (a, b)]
        for pid in pids:
            _kill(engine, pid)
        with pytest.raises(OperationalError):
            _backend_pid(pooled)  # warm, so not pinged: the dead connection is used
        # The failure recycled the whole pool: the other dead connection is not used again.
        assert _backend_pid(pooled) not in pids
        assert _backend_pid(pooled) not in pids
    finally:
        pooled.dispose()
