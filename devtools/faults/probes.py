"""Read-only SQL the fault driver uses to watch and judge a run (test tooling, not the app:
the app's statements live in pipeline/queries.sql)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from pipeline.stages import STAGE_NAMES

_PER_STAGE = ", ".join(
    f"coalesce(sum({s}_attempt), 0) AS {s}_attempts, "
    f"count(*) FILTER (WHERE {s}_status = 'queued' AND {s}_run_after <= now()) AS {s}_ready"
    for s in STAGE_NAMES
)
_ACTIVE = " OR ".join(f"{s}_status IN ('queued', 'started')" for s in STAGE_NAMES)

PROGRESS = f"SELECT count(*) FILTER (WHERE {_ACTIVE}) AS active, {_PER_STAGE} FROM leads"

#: Attempts claimed but not (yet) submitted: what a killed worker leaves behind.
ORPHANS = " UNION ALL ".join(
    f"SELECT id, '{s}' AS stage, {s}_attempt AS attempt FROM leads "
    f"WHERE {s}_status = 'started' AND {s}_job_id IS NULL"
    for s in STAGE_NAMES
)
#: Every running attempt (what an outage of Postgres may cut off mid-transaction).
STARTED = " UNION ALL ".join(
    f"SELECT id, '{s}' AS stage, {s}_attempt AS attempt FROM leads WHERE {s}_status = 'started'"
    for s in STAGE_NAMES
)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=3, row_factory=dict_row)


def progress(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute(PROGRESS).fetchone()
    assert row is not None
    return row


def attempts_of(conn: psycopg.Connection, sql: str) -> set[tuple[int, str, int]]:
    return {(r["id"], r["stage"], r["attempt"]) for r in conn.execute(sql).fetchall()}


def still_started(conn: psycopg.Connection, attempts: set[tuple[int, str, int]]) -> int:
    """How many of ``attempts`` are still running (same stage, same attempt number)."""
    if not attempts:
        return 0
    now = attempts_of(conn, STARTED)
    return len(attempts & now)


def leads(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM leads ORDER BY id").fetchall()
