"""Turning what a service reports (by callback or when polled) into stage transitions.

Each function settles everything it was given in one transaction: completions (which
queue the next stage in the same statement), hard failures and retries. Results for an
attempt that is no longer running (duplicate callback, stale attempt, cancelled) change
nothing and are counted as ``ignored``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pipeline import prompts, queries
from pipeline.clients.llm import result_text
from pipeline.context import Context
from pipeline.effects import Effects
from pipeline.errors import (
    EmptyContent,
    Failure,
    classify_llm_error,
    classify_target_error,
    hard,
    retriable,
)
from pipeline.outcomes import settle_completions, settle_failures, settling
from pipeline.payloads import finite_number, llm_item_problem, scraper_job_problem, word_count
from pipeline.references import Reference, parse_reference
from pipeline.transitions import Attempt, Completion

log = logging.getLogger(__name__)

MAX_PAGE_CHARS = 20_000
FINISHED_SCRAPER_STATES = frozenset({"completed", "failed"})


def unknown_leads(ctx: Context, lead_ids: Iterable[int]) -> set[int]:
    """The ids among ``lead_ids`` that name no lead at all."""
    wanted = sorted(set(lead_ids))
    if not wanted:
        return set()
    with ctx.engine.connect() as conn:
        found = {row.id for row in conn.execute(queries.get("existing_lead_ids"), {"ids": wanted})}
    return set(wanted) - found


def scrape_result(job: Mapping[str, Any]) -> dict[str, Any]:
    """The stored result of a completed crawl; raise EmptyContent when it found no text."""
    result = job.get("result") or {}
    pages = []
    for page in result.get("pages") or []:
        if not isinstance(page, Mapping):
            continue
        content = str(page.get("content") or "")
        pages.append(
            {
                "url": str(page.get("url", ""))[:2048],
                "title": str(page.get("title") or "")[:500],
                "content": content[:MAX_PAGE_CHARS],
                "wordCount": word_count(page.get("wordCount"), content),
            }
        )
    words = sum(page["wordCount"] for page in pages)
    if words == 0:
        raise EmptyContent(f"no text found at {job.get('url', 'the site')}")
    return {
        "pages": pages,
        "totalPages": len(pages),
        "wordCount": words,
        "duration": finite_number(result.get("duration")),
    }


def scraper_outcome(job: Mapping[str, Any]) -> dict[str, Any] | Failure | None:
    """A finished job's result or failure; None while the job is still running."""
    problem = scraper_job_problem(job)
    if problem:
        return retriable(f"bad service response: {problem}")
    status = job.get("status")
    if status not in FINISHED_SCRAPER_STATES:
        return None
    if status == "failed" or (job.get("result") or {}).get("success") is False:
        return classify_target_error(job.get("error") or (job.get("result") or {}).get("error"))
    try:
        return scrape_result(job)
    except EmptyContent as exc:
        return hard(f"empty content: {exc}")


def apply_scraper_jobs(
    ctx: Context, reports: Iterable[tuple[Reference, Mapping[str, Any]]], now: datetime
) -> Effects:
    """Settle scraper jobs (from callbacks or polls); unfinished jobs are left running."""
    effects = Effects()
    completions: list[Completion] = []
    failures: list[tuple[Attempt, Failure]] = []
    for ref, job in reports:
        if ref.stage != "scrape":
            log.warning("scraper report for %s names a non-scrape stage; ignored", ref)
            effects.ignored += 1
            continue
        outcome = scraper_outcome(job)
        if outcome is None:
            continue
        attempt = Attempt(ref.lead_id, ref.attempt)
        if isinstance(outcome, Failure):
            failures.append((attempt, outcome))
        else:
            job_id = str(job["id"]) if job.get("id") is not None else None
            completions.append(Completion(ref.lead_id, ref.attempt, outcome, job_id))
    if completions or failures:
        with settling(
            ctx.engine, [c.lead_id for c in completions] + [a.lead_id for a, _ in failures]
        ) as conn:
            settle_completions(conn, "scrape", completions, now, effects)
            settle_failures(conn, ctx, "scrape", failures, now, effects)
    return effects


def llm_outcome(stage: str, item: Mapping[str, Any]) -> dict[str, Any] | Failure:
    problem = llm_item_problem(item)
    if problem:
        return retriable(f"bad service response: {problem}")
    result = item.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        text, usage = result_text(result)
        try:
            return prompts.parse_output(stage, text, usage)
        except EmptyContent as exc:
            return hard(f"empty content: {exc}")
    if kind == "errored":
        return classify_llm_error(result.get("error"))
    if kind in ("canceled", "expired"):
        return retriable(f"batch request {kind}")
    return retriable(f"unknown result type {kind!r}")


def apply_llm_results(
    ctx: Context, batch_id: str | None, items: Iterable[Mapping[str, Any]], now: datetime
) -> Effects:
    """Settle the results of one message batch (one line per custom_id)."""
    effects = Effects()
    completions: dict[str, list[Completion]] = defaultdict(list)
    failures: dict[str, list[tuple[Attempt, Failure]]] = defaultdict(list)
    for item in items:
        try:
            ref = parse_reference(item.get("custom_id"))
        except ValueError as exc:
            log.warning("batch %s: result with %s; ignored", batch_id, exc)
            effects.ignored += 1
            continue
        if ref.stage == "scrape" or ref.stage not in prompts.SYSTEM:
            effects.ignored += 1
            continue
        outcome = llm_outcome(ref.stage, item)
        if isinstance(outcome, Failure):
            failures[ref.stage].append((Attempt(ref.lead_id, ref.attempt), outcome))
        else:
            completions[ref.stage].append(Completion(ref.lead_id, ref.attempt, outcome, batch_id))
    if completions or failures:
        with settling(
            ctx.engine,
            [c.lead_id for cs in completions.values() for c in cs]
            + [a.lead_id for fs in failures.values() for a, _ in fs],
        ) as conn:
            for stage in sorted(set(completions) | set(failures)):
                settle_completions(conn, stage, completions[stage], now, effects)
                settle_failures(conn, ctx, stage, failures[stage], now, effects)
    return effects
