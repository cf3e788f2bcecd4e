"""What a run would cost before it starts: how many leads Customize would process and skip,
the LLM tokens each stage is expected to use, and their price.

Per stage, the expected tokens of one lead come from what the LLM reported (``usage`` in
the stage's stored results) for the account's most recent ``SAMPLE_SIZE`` completed leads,
once there are at least ``MIN_SAMPLES`` of them (basis ``observed``). Before that, a
heuristic (basis ``heuristic``) builds the stage's real prompt (``pipeline.prompts``) for a
typical contact with every input at its largest: the scraped text at ``MAX_CONTENT_CHARS``
and each earlier answer at its stage's ``MAX_TOKENS``, counted at ``CHARS_PER_TOKEN``; the
output is the stage's ``MAX_TOKENS``. It is an upper bound: models stop well before the cap.

Both assume every processed lead passes every LLM stage once: no retries (an errored request
is not billed), no lead lost to a failed scrape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from pipeline import prompts, queries
from pipeline.listing import LeadFilter
from pipeline.stages import STAGES

MIN_SAMPLES = 20
SAMPLE_SIZE = 200
CHARS_PER_TOKEN = 4
LLM_STAGES: tuple[str, ...] = tuple(stage.name for stage in STAGES if stage.service == "llm")

_TYPICAL_CONTACT = {
    "name": "x" * 20,
    "title": "x" * 20,
    "company": "x" * 30,
    "company_url": "https://" + "x" * 30,
}


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class StageTokens:
    """Expected tokens of one lead in one stage, and where the expectation comes from."""

    input_tokens: float
    output_tokens: float
    basis: str
    samples: int


def heuristic_tokens(stage: str) -> StageTokens:
    def answer(of: str) -> str:
        return "x" * (prompts.MAX_TOKENS[of] * CHARS_PER_TOKEN)

    lead = dict(
        _TYPICAL_CONTACT,
        scrape_result={"pages": [{"title": "", "content": "x" * prompts.MAX_CONTENT_CHARS}]},
        intel_result={"text": answer("intel")},
        strategy_result={"text": answer("strategy")},
        subject_result={"chosen": "x" * 70},
    )
    prompt = prompts.SYSTEM[stage] + prompts.user_message(stage, lead)
    return StageTokens(
        input_tokens=math.ceil(len(prompt) / CHARS_PER_TOKEN),
        output_tokens=prompts.MAX_TOKENS[stage],
        basis="heuristic",
        samples=0,
    )


def expected_tokens(conn: Connection, account_id: int, stage: str) -> StageTokens:
    row = conn.execute(
        queries.get("usage_samples", stage), {"account_id": account_id, "limit": SAMPLE_SIZE}
    ).one()
    if row.samples < MIN_SAMPLES:
        return heuristic_tokens(stage)
    return StageTokens(
        input_tokens=float(row.input_tokens),
        output_tokens=float(row.output_tokens),
        basis="observed",
        samples=int(row.samples),
    )


def estimate(
    engine: Engine,
    account_id: int,
    prices: Prices,
    *,
    flt: LeadFilter | None = None,
    lead_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The estimate for explicit ``lead_ids`` or for the leads ``flt`` selects."""
    flt = flt or LeadFilter()
    ids = list(dict.fromkeys(lead_ids)) if lead_ids is not None else None
    with engine.connect() as conn:
        params = {**flt.bind(conn, account_id), "ids": ids}
        statement = queries.get("estimate_counts", flt.query_stage)
        outcomes = {row.outcome: int(row.leads) for row in conn.execute(statement, params)}
        per_lead = {stage: expected_tokens(conn, account_id, stage) for stage in LLM_STAGES}
    processed = outcomes.get("to_process", 0)
    stages = {}
    for stage, tokens in per_lead.items():
        total_in = tokens.input_tokens * processed
        total_out = tokens.output_tokens * processed
        stages[stage] = {
            "basis": tokens.basis,
            "samples": tokens.samples,
            "per_lead": {
                "input_tokens": round(tokens.input_tokens),
                "output_tokens": round(tokens.output_tokens),
            },
            "input_tokens": round(total_in),
            "output_tokens": round(total_out),
            "cost_usd": round(prices.cost(total_in, total_out), 4),
        }
    bases = {tokens.basis for tokens in per_lead.values()}
    skipped = {
        reason: outcomes.get(reason, 0) for reason in ("no_url", "already_done", "in_flight")
    }
    return {
        "processed": processed,
        "skipped": {"total": sum(skipped.values()), **skipped},
        "not_found": len(ids) - sum(outcomes.values()) if ids is not None else 0,
        "stages": stages,
        "total": {
            "input_tokens": sum(s["input_tokens"] for s in stages.values()),
            "output_tokens": sum(s["output_tokens"] for s in stages.values()),
            "cost_usd": round(
                sum(
                    prices.cost(t.input_tokens * processed, t.output_tokens * processed)
                    for t in per_lead.values()
                ),
                4,
            ),
        },
        "prices_usd_per_mtok": {
            "input": prices.input_per_mtok,
            "output": prices.output_per_mtok,
        },
        "basis": bases.pop() if len(bases) == 1 else "mixed",
    }
