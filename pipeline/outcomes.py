"""Settling failed attempts: hard ones fail at once, retriable ones go back with backoff."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine

from pipeline import backoff, transitions
from pipeline.context import Context
from pipeline.db import autocommit
from pipeline.effects import Effects
from pipeline.errors import Failure
from pipeline.stages import get_stage
from pipeline.transitions import Attempt, Completion, Rejection

log = logging.getLogger(__name__)


@contextmanager
def settling(engine: Engine, lead_ids: Iterable[int]) -> Iterator[Connection]:
    """A connection to settle ``lead_ids`` on.

    Several leads: one transaction that first locks them in id order, so two multi-row
    settles never deadlock. One lead (a scraper callback, a batch of one): autocommit.
    Each guarded statement then locks only that row, there is nothing to order and no
    other row to keep consistent with. Only one of its statements can match the lead's
    state, so nothing needs to be atomic, and the BEGIN and COMMIT round trips are saved.
    """
    ids = set(lead_ids)
    if len(ids) <= 1:
        with autocommit(engine) as conn:
            yield conn
        return
    with engine.begin() as conn:
        transitions.lock_leads(conn, ids)
        yield conn


def settle_failures(
    conn: Connection,
    ctx: Context,
    stage: str,
    failures: Sequence[tuple[Attempt, Failure]],
    now: datetime,
    effects: Effects,
) -> None:
    if not failures:
        return
    hard = [Rejection(a.lead_id, a.attempt, f.reason) for a, f in failures if not f.retriable]
    soft = [
        Rejection(a.lead_id, a.attempt, f.reason, f.retry_after) for a, f in failures if f.retriable
    ]
    failed = transitions.fail(conn, stage, hard, now)
    max_retries = ctx.max_retries(get_stage(stage).max_retries)
    delays = backoff.delays(
        max_retries, ctx.settings.backoff_base_seconds, ctx.settings.backoff_cap_seconds, ctx.rng
    )
    outcomes = transitions.retry(conn, stage, soft, now, max_retries=max_retries, delays=delays)
    effects.failed += len(failed) + sum(o.status == "failed" for o in outcomes)
    effects.ignored += len(failures) - len(failed) - len(outcomes)
    for outcome in outcomes:
        if outcome.status == "queued":
            effects.retried += 1
            effects.kick_at(stage, outcome.run_after, now)
    for a, f in failures:
        log.info(
            "%s lead %s attempt %s: %s error: %s", stage, a.lead_id, a.attempt, f.kind, f.reason
        )


def settle_completions(
    conn: Connection,
    stage: str,
    completions: Sequence[Completion],
    now: datetime,
    effects: Effects,
) -> None:
    if not completions:
        return
    done = transitions.complete(conn, stage, completions, now)
    effects.completed += len(done)
    if len(done) < len(completions):
        finished = set(done)
        late = [c for c in completions if c.lead_id not in finished]
        stored = transitions.store_late_results(conn, stage, late)
        effects.ignored += len(late)
        if stored:
            log.info("%s: stored %d late result(s) of cancelled work", stage, len(stored))
    next_stage = get_stage(stage).next
    if done and next_stage:
        effects.kick(next_stage)
