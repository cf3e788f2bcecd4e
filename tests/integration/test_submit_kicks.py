"""A callback that outruns the submit: the submitter wakes the next stage once its
transaction (which held the rows' locks, so a claim of that stage skipped them) is done."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline import submitting, transitions
from pipeline.context import Context
from pipeline.transitions import Completion
from tests.integration.helpers import execute, make_leads, now

pytestmark = pytest.mark.integration


def _queued_for_intel(engine, n: int) -> list[int]:
    ids = make_leads(engine, n)
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', scrape_result = '{\"pages\": []}', "
        "intel_status = 'queued', intel_run_after = now() WHERE id = ANY(:ids)",
        ids=ids,
    )
    return ids


class _InstantLlm:
    """An LLM that answers (and so completes the attempts) before create_batch returns."""

    def __init__(self, engine, early: bool) -> None:
        self._engine = engine
        self._early = early

    def create_batch(self, requests: list[dict[str, Any]], *, webhook_url=None) -> str:
        if self._early:
            completions = []
            for request in requests:
                lead, _, attempt = request["custom_id"][1:].split("-")
                completions.append(Completion(int(lead), int(attempt), {"report": "x"}, "b1"))
            with self._engine.begin() as conn:
                transitions.complete(conn, "intel", completions, now())
        return "b1"


@pytest.mark.parametrize("early", [True, False])
def test_the_next_stage_is_kicked_only_when_callbacks_outran_the_submit(settings, engine, early):
    _queued_for_intel(engine, 2)
    ctx = Context.build(settings, engine=engine)
    ctx.llm = _InstantLlm(engine, early)  # type: ignore[assignment]
    rows = submitting.claim(ctx, "intel", now()).rows
    effects = submitting.submit(ctx, "intel", rows, now())
    assert (("strategy", 0.0) in effects.kicks) is early
