"""Claiming queued work and handing it to the stage's service.

The actor calls ``claim`` and then ``submit`` (with a kick in between when the batch was
full, so the next batch is claimed by another thread while this one talks to the service).
A crash after the claim leaves rows ``started`` without a job id; ``upkeep.reset_stuck``
requeues them after the short submit timeout, not the long stuck timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping

from pipeline import prompts, transitions
from pipeline.context import Context
from pipeline.effects import Effects
from pipeline.errors import Failure, classify_service_error
from pipeline.outcomes import settle_failures
from pipeline.references import Reference
from pipeline.stages import get_stage
from pipeline.transitions import Attempt

log = logging.getLogger(__name__)


def claim(ctx: Context, stage: str, now: datetime) -> list[RowMapping]:
    with ctx.engine.begin() as conn:
        return transitions.claim(conn, stage, ctx.settings.queue_batch_size, now)


def submit(ctx: Context, stage: str, rows: Sequence[RowMapping], now: datetime) -> Effects:
    """Submit claimed rows; store job ids; settle the ones the service refused."""
    effects = Effects()
    if not rows:
        return effects
    if get_stage(stage).service == "scraper":
        jobs, failures = _submit_scrapes(ctx, rows)
    else:
        jobs, failures = _submit_llm_batch(ctx, stage, rows)
    with ctx.engine.begin() as conn:
        transitions.lock_leads(conn, (row["id"] for row in rows))
        transitions.record_jobs(conn, stage, jobs)
        settle_failures(conn, ctx, stage, failures, now, effects)
    return effects


def _attempt(row: RowMapping) -> Attempt:
    return Attempt(row["id"], row["attempt"])


def _submit_scrapes(
    ctx: Context, rows: Sequence[RowMapping]
) -> tuple[list[tuple[Attempt, str]], list[tuple[Attempt, Failure]]]:
    jobs: list[tuple[Attempt, str]] = []
    failures: list[tuple[Attempt, Failure]] = []
    webhook_url = ctx.webhook_url("scraper")
    for row in rows:
        attempt = _attempt(row)
        reference = str(Reference(attempt.lead_id, "scrape", attempt.attempt))
        try:
            job_id = ctx.scraper.submit(
                row["company_url"],
                max_pages=ctx.settings.scraper_max_pages,
                webhook_url=webhook_url,
                metadata={"reference": reference},
            )
        except Exception as exc:  # classified, stored, never lost
            failures.append((attempt, classify_service_error(exc)))
            continue
        jobs.append((attempt, job_id))
    return jobs, failures


def _submit_llm_batch(
    ctx: Context, stage: str, rows: Sequence[RowMapping]
) -> tuple[list[tuple[Attempt, str]], list[tuple[Attempt, Failure]]]:
    attempts = [_attempt(row) for row in rows]
    try:
        requests = [
            {
                "custom_id": str(Reference(a.lead_id, stage, a.attempt)),
                "params": prompts.request_params(stage, row, ctx.settings.llm_model),
            }
            for a, row in zip(attempts, rows, strict=True)
        ]
        batch_id = ctx.llm.create_batch(requests, webhook_url=ctx.webhook_url("llm"))
    except Exception as exc:
        failure = classify_service_error(exc)
        return [], [(a, failure) for a in attempts]
    return [(a, batch_id) for a in attempts], []
