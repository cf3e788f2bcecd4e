"""Claiming queued work and handing it to the stage's service.

The actor calls ``claim`` and then ``submit`` (with a kick in between when the batch was
full, so the next batch is claimed by another thread while this one talks to the service).
A crash after the claim leaves rows ``started`` without a job id; ``upkeep.reset_stuck``
requeues them after the short submit timeout, not the long stuck timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import RowMapping

from pipeline import prompts, transitions
from pipeline.context import Context
from pipeline.db import autocommit
from pipeline.effects import Effects
from pipeline.errors import Failure, classify_service_error
from pipeline.outcomes import settle_completions, settle_failures, settling
from pipeline.references import Reference
from pipeline.signals import Signal, observe
from pipeline.stages import get_stage
from pipeline.transitions import Attempt, Completion

log = logging.getLogger(__name__)


def claim(ctx: Context, stage: str, now: datetime, limit: int | None = None) -> transitions.Claimed:
    """Claim up to ``limit`` rows (default and ceiling: the batch size), within the
    service's jobs-in-flight cap (``held_back`` says the cap left ready rows behind)."""
    size = ctx.settings.queue_batch_size
    limit = size if limit is None else min(limit, size)
    cap = None
    if get_stage(stage).service == "scraper" and ctx.settings.scraper_max_jobs_in_flight > 0:
        cap = ctx.settings.scraper_max_jobs_in_flight
    with autocommit(ctx.engine) as conn:  # one statement: its own transaction
        return transitions.claim(conn, stage, limit, now, cap)


def submit(ctx: Context, stage: str, rows: Sequence[RowMapping], now: datetime) -> Effects:
    """Submit claimed rows; store job ids; settle the ones the service refused."""
    effects = Effects()
    if not rows:
        return effects
    reused: list[Completion] = []
    if get_stage(stage).service == "scraper":
        reused = reuse_recent_scrapes(ctx, rows, now)
        taken = {c.lead_id for c in reused}
        jobs, failures = _submit_scrapes(
            ctx, [r for r in rows if r["id"] not in taken], effects.signals
        )
    else:
        jobs, failures = _submit_llm_batch(ctx, stage, rows, effects.signals)
    with settling(ctx.engine, (row["id"] for row in rows)) as conn:
        stored = transitions.record_jobs(conn, stage, jobs)
        settle_completions(conn, stage, reused, now, effects)
        settle_failures(conn, ctx, stage, failures, now, effects)
    next_stage = get_stage(stage).next
    if next_stage and len(stored) < len(jobs):
        # Callbacks outran this submit: those rows already moved on (usually to the next
        # stage, queued), and a claim of that stage that ran while this transaction held
        # their locks skipped them (SKIP LOCKED). Wake the stage again now they are free.
        effects.kick(next_stage)
    return effects


def reuse_recent_scrapes(
    ctx: Context, rows: Sequence[RowMapping], now: datetime
) -> list[Completion]:
    """Completions for claimed scrapes whose company site another lead scraped recently
    (``SCRAPE_REUSE_SECONDS``): one scrape per company, not one per lead."""
    freshness = ctx.settings.scrape_reuse_seconds
    keys_by_account: dict[int, set[str]] = {}
    for row in rows:
        if row["site_key"]:
            keys_by_account.setdefault(row["account_id"], set()).add(row["site_key"])
    if freshness <= 0 or not keys_by_account:
        return []
    found: dict[tuple[int, str], RowMapping] = {}
    with autocommit(ctx.engine) as conn:  # reads only: no BEGIN/ROLLBACK round trips
        for account_id, keys in keys_by_account.items():
            for hit in transitions.recent_site_scrapes(
                conn, account_id, sorted(keys), now - timedelta(seconds=freshness)
            ):
                found[(account_id, hit["site_key"])] = hit
    completions = []
    for row in rows:
        hit = found.get((row["account_id"], row["site_key"]))
        if hit is not None and hit["id"] != row["id"]:
            result = {**hit["scrape_result"], "reused_from": hit["id"]}
            completions.append(Completion(row["id"], row["attempt"], result))
    return completions


def _attempt(row: RowMapping) -> Attempt:
    return Attempt(row["id"], row["attempt"])


def _submit_scrapes(
    ctx: Context, rows: Sequence[RowMapping], signals: list[Signal]
) -> tuple[list[tuple[Attempt, str]], list[tuple[Attempt, Failure]]]:
    jobs: list[tuple[Attempt, str]] = []
    failures: list[tuple[Attempt, Failure]] = []
    webhook_url = ctx.webhook_url("scraper")
    for row in rows:
        attempt = _attempt(row)
        reference = str(Reference(attempt.lead_id, "scrape", attempt.attempt))
        began = time.monotonic()
        try:
            job_id = ctx.scraper.submit(
                row["company_url"],
                max_pages=ctx.settings.scraper_max_pages,
                webhook_url=webhook_url,
                metadata={"reference": reference},
            )
        except Exception as exc:  # classified, stored, never lost
            signals.append(observe("scraper", time.monotonic() - began, exc))
            failures.append((attempt, classify_service_error(exc)))
            continue
        signals.append(observe("scraper", time.monotonic() - began))
        jobs.append((attempt, job_id))
    return jobs, failures


def _submit_llm_batch(
    ctx: Context, stage: str, rows: Sequence[RowMapping], signals: list[Signal]
) -> tuple[list[tuple[Attempt, str]], list[tuple[Attempt, Failure]]]:
    attempts = [_attempt(row) for row in rows]
    began = time.monotonic()
    try:
        requests = [
            {
                "custom_id": str(Reference(a.lead_id, stage, a.attempt)),
                "params": prompts.request_params(stage, row, ctx.settings.llm_model),
            }
            for a, row in zip(attempts, rows, strict=True)
        ]
        began = time.monotonic()
        batch_id = ctx.llm.create_batch(requests, webhook_url=ctx.webhook_url("llm"))
    except Exception as exc:
        signals.append(observe("llm", time.monotonic() - began, exc))
        failure = classify_service_error(exc)
        return [], [(a, failure) for a in attempts]
    signals.append(observe("llm", time.monotonic() - began))
    return [(a, batch_id) for a in attempts], []
