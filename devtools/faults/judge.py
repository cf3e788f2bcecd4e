"""The invariants a finished fault run must show, read from the database and from the
local services' own counters. Returns problems (empty when all hold) and a summary."""

from __future__ import annotations

from collections import Counter
from typing import Any

from devtools.faults.injectors import FaultRecord
from pipeline.stages import STAGE_NAMES, get_stage

HARD_REASONS = {
    "missing": ("404",),
    "refused": ("ECONNREFUSED", "connection refused"),
    "empty": ("empty content",),
}


def judge(
    leads: list[dict[str, Any]],
    hard_leads: dict[int, str],
    stats: dict[str, dict[str, Any]],
    records: list[FaultRecord],
    batch_size: int,
) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []

    def problem(what: str, ids: list[Any]) -> None:
        if ids:
            problems.append(f"{what}: {len(ids)} (e.g. {ids[:5]})")

    problem(
        "leads not terminal",
        [
            r["id"]
            for r in leads
            if any(r[f"{s}_status"] in ("queued", "started") for s in STAGE_NAMES)
        ],
    )
    problem(
        "good leads without a finished email",
        [
            r["id"]
            for r in leads
            if r["id"] not in hard_leads and r["messaging_status"] != "completed"
        ],
    )
    for r in leads:
        kind = hard_leads.get(r["id"])
        if kind is None:
            continue
        error = r["scrape_error"] or ""
        if r["scrape_status"] != "failed" or not any(x in error for x in HARD_REASONS[kind]):
            problems.append(f"hard lead {r['id']} ({kind}): {r['scrape_status']} {error!r}")
        if r["intel_status"] != "pending":
            problems.append(f"hard lead {r['id']} went on to intel: {r['intel_status']}")

    # Every claim settled exactly once: attempts = retries + 1 on every stage that ran.
    problem(
        "stages whose attempts do not match their retries",
        [
            (r["id"], s, r[f"{s}_attempt"], r[f"{s}_retry_count"])
            for r in leads
            for s in STAGE_NAMES
            if r[f"{s}_status"] not in ("pending", "skipped")
            and r[f"{s}_attempt"] != r[f"{s}_retry_count"] + 1
        ],
    )
    for service in ("scraper", "llm"):
        problem(f"{service}: attempts submitted twice", stats[service]["duplicate_references"])
    # The completion of each stage came from one real submission of that very attempt.
    problem(
        "completed stages whose attempt was not submitted exactly once",
        [
            ref
            for r in leads
            for s in STAGE_NAMES
            if r[f"{s}_status"] == "completed"
            and stats[get_stage(s).service]["reference_counts"].get(
                ref := f"L{r['id']}-{s}-{r[f'{s}_attempt']}"
            )
            != 1
        ],
    )

    # Retries: only where a fault explains them.
    retries = {
        (r["id"], s): r[f"{s}_retry_count"]
        for r in leads
        for s in STAGE_NAMES
        if r[f"{s}_retry_count"]
    }
    explained = Counter((lead, stage) for rec in records for lead, stage, _ in rec.explained)
    refused = {
        service: stats[service]["rejected_429"] + stats[service]["rejected_5xx"]
        for service in ("scraper", "llm")
    }
    scrape_retries = sum(n for (_, s), n in retries.items() if s == "scrape")
    scrape_explained = sum(n for (_, s), n in explained.items() if s == "scrape")
    if not refused["scraper"] <= scrape_retries <= refused["scraper"] + scrape_explained:
        problems.append(
            f"scrape retries {scrape_retries} not explained by {refused['scraper']} refused "
            f"submissions and {scrape_explained} attempts cut off by faults"
        )
    llm_retries = sum(n for (_, s), n in retries.items() if s != "scrape")
    llm_explained = sum(n for (_, s), n in explained.items() if s != "scrape")
    if llm_retries > refused["llm"] * batch_size + llm_explained:
        problems.append(
            f"LLM retries {llm_retries} not explained by {refused['llm']} refused batches and "
            f"{llm_explained} attempts cut off by faults"
        )
    if not refused["llm"]:
        problem(
            "LLM stages retried without a fault that explains it",
            sorted(k for k, n in retries.items() if k[1] != "scrape" and n > explained[k]),
        )
    if not refused["scraper"]:
        problem(
            "scrapes retried without a fault that explains it",
            sorted(k for k, n in retries.items() if k[1] == "scrape" and n > explained[k]),
        )

    summary = {
        "leads": len(leads),
        "completed": sum(r["messaging_status"] == "completed" for r in leads),
        "hard_failed": sum(r["scrape_status"] == "failed" for r in leads if r["id"] in hard_leads),
        "retries": sum(retries.values()),
        "scrape_retries": scrape_retries,
        "llm_retries": llm_retries,
        "refused_submissions": refused,
        "callbacks": {
            service: {
                k: stats[service].get(k, 0)
                for k in ("callbacks_lost", "callbacks_duplicated", "processed_early")
            }
            for service in ("scraper", "llm")
        },
    }
    return problems, summary
