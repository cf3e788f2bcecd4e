"""Every stage transition, each one guarded statement from ``queries.sql``.

Functions take an open connection and the current time; they return what actually moved.
An empty result is not an error: it means the row was already moved by someone else (a
duplicate callback, a stale attempt, a concurrent worker), and the caller logs and returns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, RowMapping

from pipeline import queries
from pipeline.stages import get_stage

log = logging.getLogger(__name__)


class Attempt(NamedTuple):
    lead_id: int
    attempt: int


@dataclass(frozen=True)
class Completion:
    lead_id: int
    attempt: int
    result: dict[str, Any]
    job_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    lead_id: int
    attempt: int
    error: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryOutcome:
    lead_id: int
    status: str  # "queued" (will run again) or "failed" (retries exhausted)
    run_after: datetime | None


def _json(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    text = json.dumps(rows, separators=(",", ":"), default=str, ensure_ascii=False)
    # Rare: text PostgreSQL cannot store (a NUL character, a lone UTF-16 surrogate from a
    # "\ud800" escape in some service's JSON). Clean it rather than fail the transition.
    if "\\u0000" in text or not _encodable(text):
        text = json.dumps(_storable(rows), separators=(",", ":"), default=str, ensure_ascii=False)
    return text


def _batch(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The ``:rows`` and ``:ids`` of a batched statement (see the head of queries.sql)."""
    rows = list(rows)
    return {"rows": _json(rows), "ids": [row["id"] for row in rows]}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def lock_leads(conn: Connection, lead_ids: Iterable[int]) -> None:
    """Lock several leads in id order (see ``lock_leads`` in queries.sql); one is a no-op."""
    ids = sorted(set(lead_ids))
    if len(ids) > 1:
        conn.execute(queries.get("lock_leads"), {"ids": ids})


def insert_leads(conn: Connection, account_id: int, rows: Sequence[dict[str, Any]]) -> list[int]:
    result = conn.execute(
        queries.get("insert_leads"), {"account_id": account_id, "rows": _json(rows)}
    )
    return [row.id for row in result]


class Claimed(NamedTuple):
    rows: list[RowMapping]
    #: Ready rows were left because the stage's jobs-in-flight cap had no more room.
    held_back: bool


def claim(
    conn: Connection, stage: str, limit: int, now: datetime, cap: int | None = None
) -> Claimed:
    """Claim up to ``limit`` ready rows: each becomes ``started`` with a new attempt number.

    ``cap``: at most this many of the stage's rows ``started`` at once (soft: see the
    query); None for no cap.
    """
    result = conn.execute(queries.get("claim", stage), {"limit": limit, "now": now, "cap": cap})
    rows = list(result.mappings())
    held_back = bool(rows and rows[0]["held_back"])
    return Claimed([row for row in rows if row["id"] is not None], held_back)


def record_jobs(conn: Connection, stage: str, jobs: Sequence[tuple[Attempt, str]]) -> list[int]:
    """Store each attempt's job id (an LLM batch id repeats across its leads)."""
    if not jobs:
        return []
    result = conn.execute(
        queries.get("record_job", stage),
        {
            "ids": [a.lead_id for a, _ in jobs],
            "attempts": [a.attempt for a, _ in jobs],
            "job_ids": [job_id for _, job_id in jobs],
        },
    )
    stored = [row.id for row in result]
    if len(stored) != len(jobs):
        log.debug(
            "%s: %d of %d attempts moved on before their job id was stored "
            "(early callback or reset)",
            stage,
            len(jobs) - len(stored),
            len(jobs),
        )
    return stored


def complete(
    conn: Connection, stage: str, completions: Sequence[Completion], now: datetime
) -> list[int]:
    """Complete attempts and queue the next stage in the same statement."""
    if not completions:
        return []
    name = "complete_and_queue_next" if get_stage(stage).next else "complete_last"
    rows = (
        {"id": c.lead_id, "attempt": c.attempt, "job_id": c.job_id, "result": c.result}
        for c in completions
    )
    result = conn.execute(queries.get(name, stage), {**_batch(rows), "now": now})
    done = [row.id for row in result]
    if len(done) != len(completions):
        log.info(
            "%s: %d of %d completions were duplicates or stale; ignored",
            stage,
            len(completions) - len(done),
            len(completions),
        )
    return done


def store_late_results(
    conn: Connection, stage: str, completions: Sequence[Completion]
) -> list[int]:
    """Keep results that arrive for cancelled attempts; nothing is queued after them."""
    rows = (
        {"id": c.lead_id, "attempt": c.attempt, "job_id": c.job_id, "result": c.result}
        for c in completions
    )
    result = conn.execute(queries.get("store_late_result", stage), _batch(rows))
    return [row.id for row in result]


def fail(conn: Connection, stage: str, rejections: Sequence[Rejection], now: datetime) -> list[int]:
    """Fail attempts at once (hard errors)."""
    if not rejections:
        return []
    rows = ({"id": r.lead_id, "attempt": r.attempt, "error": r.error} for r in rejections)
    result = conn.execute(queries.get("fail", stage), {**_batch(rows), "now": now})
    return [row.id for row in result]


def retry(
    conn: Connection,
    stage: str,
    rejections: Sequence[Rejection],
    now: datetime,
    *,
    max_retries: int,
    delays: Sequence[float],
) -> list[RetryOutcome]:
    """Requeue attempts after a delay while retries remain, else fail them.

    ``delays[n]`` is the delay before retry ``n`` (see ``pipeline.backoff.delays``).
    """
    if not rejections:
        return []
    rows = (
        {"id": r.lead_id, "attempt": r.attempt, "error": r.error, "retry_after": r.retry_after}
        for r in rejections
    )
    padded = list(delays) + [delays[-1] if delays else 0.0] * max(0, max_retries - len(delays))
    result = conn.execute(
        queries.get("retry", stage),
        {**_batch(rows), "now": now, "max_retries": max_retries, "delays": padded},
    )
    return [RetryOutcome(row.id, row.status, row.run_after) for row in result]


def claim_late(
    conn: Connection,
    stage: str,
    *,
    grace_before: datetime,
    poll_before: datetime,
    limit: int,
    now: datetime,
) -> list[RowMapping]:
    """Claim started attempts whose callback is overdue, for one poll each."""
    result = conn.execute(
        queries.get("claim_late", stage),
        {
            "grace_before": grace_before,
            "poll_before": poll_before,
            "limit": limit,
            "now": now,
        },
    )
    return list(result.mappings())


def select_stuck(
    conn: Connection,
    stage: str,
    *,
    submit_before: datetime,
    stuck_before: datetime,
    limit: int,
) -> list[RowMapping]:
    result = conn.execute(
        queries.get("select_stuck", stage),
        {"submit_before": submit_before, "stuck_before": stuck_before, "limit": limit},
    )
    return list(result.mappings())


def other_attempts_on_job(
    conn: Connection, stage: str, job_id: str, excluding: Sequence[int]
) -> int:
    result = conn.execute(
        queries.get("other_attempts_on_job", stage),
        {"job_id": job_id, "ids": list(excluding)},
    )
    return int(result.scalar_one())


def recent_site_scrapes(
    conn: Connection, account_id: int, site_keys: Sequence[str], fresh_after: datetime
) -> list[RowMapping]:
    """The newest original scrape of each site completed after ``fresh_after``."""
    result = conn.execute(
        queries.get("recent_site_scrapes"),
        {"account_id": account_id, "site_keys": list(site_keys), "fresh_after": fresh_after},
    )
    return list(result.mappings())


def ready_stages(conn: Connection, now: datetime) -> list[str]:
    return [row.stage for row in conn.execute(queries.get("ready_stages"), {"now": now})]


def take_lease(conn: Connection, name: str, period_start: datetime) -> bool:
    """True for exactly one caller per (name, period_start)."""
    result = conn.execute(queries.get("take_lease"), {"name": name, "period_start": period_start})
    return result.first() is not None
