"""The periodic safety nets: the completion poller, the stuck-job reset and the sweeper.

Together they keep invariant 1 (nothing is lost): a lost webhook is caught by the poller,
a lost broker message by the sweeper, a dead worker by the stuck reset. All three are
idempotent, so a clock that fires twice costs a few queries and changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import RowMapping

from pipeline import transitions
from pipeline.completing import apply_llm_results, apply_scraper_jobs, scraper_outcome
from pipeline.context import Context
from pipeline.effects import Effects
from pipeline.errors import Failure, retriable
from pipeline.outcomes import settle_failures, settling
from pipeline.references import Reference, parse_reference
from pipeline.stages import STAGES, get_stage
from pipeline.transitions import Attempt

log = logging.getLogger(__name__)

POLL_LIMIT = 500
STUCK_LIMIT = 500
#: A job the service still reports running is left alone until this many stuck timeouts.
HARD_CAP_FACTOR = 3


@dataclass
class Answers:
    """What the service said about a set of running attempts."""

    effects: Effects = field(default_factory=Effects)
    running: list[RowMapping] = field(default_factory=list)
    lost: list[tuple[Attempt, Failure]] = field(default_factory=list)


def _attempt(row: RowMapping) -> Attempt:
    return Attempt(row["id"], row["attempt"])


def _is_not_found(exc: Exception) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 404


def ask_service(ctx: Context, stage: str, rows: Sequence[RowMapping], now: datetime) -> Answers:
    """Ask the stage's service about started attempts and settle the finished ones."""
    answers = Answers()
    if get_stage(stage).service == "scraper":
        reports = []
        for row in rows:
            try:
                job = ctx.scraper.get(row["job_id"])
            except Exception as exc:
                if _is_not_found(exc):
                    answers.lost.append((_attempt(row), retriable("scraper lost the job")))
                else:
                    log.warning("polling scraper job %s failed: %s", row["job_id"], exc)
                    answers.running.append(row)
                continue
            if scraper_outcome(job) is None:
                answers.running.append(row)
            else:
                reports.append((Reference(row["id"], stage, row["attempt"]), job))
        answers.effects.merge(apply_scraper_jobs(ctx, reports, now))
        return answers

    by_batch: dict[str, list[RowMapping]] = defaultdict(list)
    for row in rows:
        by_batch[row["job_id"]].append(row)
    for batch_id, group in by_batch.items():
        try:
            batch = ctx.llm.get_batch(batch_id)
            if batch.get("processing_status") != "ended":
                answers.running.extend(group)
                continue
            items = ctx.llm.results(batch_id)
        except Exception as exc:
            if _is_not_found(exc):
                answers.lost.extend((_attempt(r), retriable("LLM lost the batch")) for r in group)
            else:
                log.warning("polling batch %s failed: %s", batch_id, exc)
                answers.running.extend(group)
            continue
        answers.effects.merge(apply_llm_results(ctx, batch_id, items, now))
        answered = set()
        for item in items:
            try:
                answered.add(parse_reference(item.get("custom_id")))
            except ValueError:
                continue
        answers.lost.extend(
            (_attempt(r), retriable("batch ended without a result for this request"))
            for r in group
            if Reference(r["id"], stage, r["attempt"]) not in answered
        )
    return answers


def poll_late(ctx: Context, now: datetime) -> Effects:
    """Ask the services about started attempts whose callback is overdue. Without
    callbacks (no ``PUBLIC_BASE_URL``) nothing is waited for: every job is "late"."""
    settings = ctx.settings
    effects = Effects()
    grace = settings.webhook_grace_seconds if settings.callbacks_enabled else 0.0
    for stage in STAGES:
        with ctx.engine.begin() as conn:
            rows = transitions.claim_late(
                conn,
                stage.name,
                grace_before=now - timedelta(seconds=grace),
                poll_before=now - timedelta(seconds=settings.completion_poll_interval),
                limit=POLL_LIMIT,
                now=now,
            )
        if not rows:
            continue
        answers = ask_service(ctx, stage.name, rows, now)
        effects.merge(answers.effects)
        if answers.lost:
            with settling(ctx.engine, (a.lead_id for a, _ in answers.lost)) as conn:
                settle_failures(conn, ctx, stage.name, answers.lost, now, effects)
    return effects


def reset_stuck(ctx: Context, now: datetime) -> Effects:
    """Requeue (or fail, past max retries) attempts that will not finish by themselves.

    * claimed but never submitted within the submit timeout: the worker died; requeue.
    * submitted and older than the stage's stuck timeout: ask the service first. Finished
      jobs are settled; a job it still runs is left alone (slow is not stuck) until
      ``HARD_CAP_FACTOR`` stuck timeouts, then cancelled at the service and requeued.
    """
    settings = ctx.settings
    effects = Effects()
    for stage in STAGES:
        timeout = stage.stuck_timeout * settings.stuck_timeout_scale
        with ctx.engine.begin() as conn:
            rows = transitions.select_stuck(
                conn,
                stage.name,
                submit_before=now - timedelta(seconds=settings.submit_timeout_seconds),
                stuck_before=now - timeout,
                limit=STUCK_LIMIT,
            )
        if not rows:
            continue
        failures: list[tuple[Attempt, Failure]] = [
            (_attempt(r), retriable("crash: claimed but never submitted (worker lost)"))
            for r in rows
            if r["job_id"] is None
        ]
        submitted = [r for r in rows if r["job_id"] is not None]
        answers = ask_service(ctx, stage.name, submitted, now) if submitted else Answers()
        effects.merge(answers.effects)
        failures.extend(answers.lost)
        cap = now - timeout * HARD_CAP_FACTOR
        overdue = [r for r in answers.running if r["started_at"] < cap]
        for row in overdue:
            failures.append((_attempt(row), retriable(f"stuck: still running after {timeout * 3}")))
        if failures:
            with settling(ctx.engine, (a.lead_id for a, _ in failures)) as conn:
                settle_failures(conn, ctx, stage.name, failures, now, effects)
        _cancel_abandoned(ctx, stage.name, overdue)
    return effects


def _cancel_abandoned(ctx: Context, stage: str, rows: Sequence[RowMapping]) -> None:
    """Cancel service jobs of reset attempts, unless another running attempt shares them."""
    jobs: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        jobs[row["job_id"]].append(row["id"])
    client = ctx.scraper if get_stage(stage).service == "scraper" else ctx.llm
    for job_id, ids in jobs.items():
        with ctx.engine.begin() as conn:
            if transitions.other_attempts_on_job(conn, stage, job_id, ids):
                continue
        cancelled = client.cancel(job_id)
        log.info(
            "%s: cancel of abandoned job %s %s",
            stage,
            job_id,
            "accepted" if cancelled else "refused",
        )


def sweep(ctx: Context, now: datetime) -> Effects:
    """Kick every stage that has ready rows: a flushed broker loses no work."""
    effects = Effects()
    with ctx.engine.begin() as conn:
        for stage in transitions.ready_stages(conn, now):
            effects.kick(stage)
    return effects
