"""Re-run from any stage (with versions), cost and budget caps, one scrape per company."""

from __future__ import annotations

import pytest

from pipeline import leads, runs, submitting, transitions
from pipeline.context import Context
from pipeline.runs import Selection
from pipeline.transitions import Completion
from tests.integration.helpers import execute, make_leads, now, queue_scrape, row
from tests.integration.test_transitions import claim

pytestmark = pytest.mark.integration

DONE = (
    "UPDATE leads SET scrape_status = 'completed', intel_status = 'completed', "
    "strategy_status = 'completed', subject_status = 'completed', "
    "messaging_status = 'completed', scrape_result = '{\"pages\": []}', "
    'intel_result = \'{"text": "intel v1"}\', strategy_result = \'{"text": "s v1"}\', '
    'subject_result = \'{"chosen": "Subject v1"}\', '
    'messaging_result = \'{"body": "Email v1"}\''
)


def test_a_rerun_from_subject_requeues_subject_and_messaging_and_keeps_earlier_results(engine):
    [lead] = make_leads(engine, 1)
    execute(engine, DONE)
    report = runs.start_run(engine, 1, Selection(lead_ids=(lead,)), now(), from_stage="subject")
    assert report.queued == [lead]
    assert report.effects.kicks == [("subject", 0.0)]
    after = row(engine, lead)
    assert (after["subject_status"], after["messaging_status"]) == ("queued", "pending")
    assert (after["subject_result"], after["messaging_result"]) == (None, None)
    assert after["strategy_result"] == {"text": "s v1"}, "earlier stages are kept"
    assert after["run_id"] == report.run_id
    kept = leads.versions(engine, 1, lead)
    assert [(v["stage"], v["result"]) for v in kept] == [
        ("subject", {"chosen": "Subject v1"}),
        ("messaging", {"body": "Email v1"}),
    ]
    assert leads.versions(engine, 1, lead, "messaging")[0]["result"] == {"body": "Email v1"}
    assert leads.versions(engine, 2, lead) == [], "another account sees no versions"


def test_a_rerun_needs_every_earlier_stage_completed_and_no_active_run(engine):
    a, b = make_leads(engine, 2)
    execute(engine, DONE + " WHERE id = :id", id=a)
    report = runs.start_run(engine, 1, Selection(lead_ids=(a, b)), now(), from_stage="strategy")
    assert (report.queued, report.already_active) == ([a], [b])
    again = runs.start_run(engine, 1, Selection(lead_ids=(a,)), now(), from_stage="strategy")
    assert again.run_id is None, "a is in the first re-run, still active"


def test_completions_add_the_llms_token_usage_to_the_lead_and_the_run(engine):
    [lead] = make_leads(engine, 1)
    run_id = queue_scrape(engine, [lead])
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'queued', "
        "intel_run_after = now()",
    )
    claim(engine, stage="intel")
    usage = {"text": "x", "usage": {"input_tokens": 1000, "output_tokens": 200}}
    with engine.begin() as conn:
        transitions.complete(conn, "intel", [Completion(lead, 1, usage)], now())
    after = row(engine, lead)
    assert (after["llm_input_tokens"], after["llm_output_tokens"]) == (1000, 200)
    runs.rollup(engine, now(), input_price=3.0, output_price=15.0)
    run = runs.get_run(engine, 1, run_id, now())
    assert run["tokens"] == {"input": 1000, "output": 200}
    assert run["spent_usd"] == pytest.approx((1000 * 3 + 200 * 15) / 1e6)


def test_a_run_that_would_pass_its_budget_pauses_itself_and_says_why(engine):
    ids = make_leads(engine, 3)
    report = runs.start_run(engine, 1, Selection(lead_ids=tuple(ids)), now(), budget_usd=0.01)
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'completed', "
        "strategy_status = 'queued', strategy_run_after = now(), "
        "run_input_tokens = 2000, run_output_tokens = 400 WHERE id = :id",
        id=ids[0],
    )
    runs.rollup(engine, now(), input_price=3.0, output_price=15.0)
    run = runs.get_run(engine, 1, report.run_id, now())
    assert run["status"] == "paused"
    assert run["paused_reason"].startswith("budget cap reached: spent $0.012")
    assert claim(engine, stage="strategy") == [], "no new work is claimed past the cap"
    assert claim(engine) == []
    runs.set_budget(engine, 1, report.run_id, 1.0, now())
    runs.resume(engine, 1, report.run_id, now())
    assert len(claim(engine, stage="strategy")) == 1


def test_a_lead_whose_company_site_was_scraped_recently_reuses_that_scrape(settings, engine):
    ctx = Context.build(settings, engine=engine)
    a, b = make_leads(engine, 2, url="https://www.acme.test/")
    [other] = make_leads(engine, 1, url="https://other.test/")
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', scrape_completed_at = now(), "
        'scrape_result = \'{"pages": [{"content": "Acme"}], "wordCount": 1}\' '
        "WHERE id = :id",
        id=a,
    )
    queue_scrape(engine, [b, other])
    rows = submitting.claim(ctx, "scrape", now()).rows
    reused = submitting.reuse_recent_scrapes(ctx, rows, now())
    assert [c.lead_id for c in reused] == [b]
    assert reused[0].result["reused_from"] == a
    assert reused[0].result["pages"] == [{"content": "Acme"}]
    assert row(engine, b)["site_key"] == "acme.test"


def test_scrape_reuse_ignores_stale_scrapes_and_can_be_turned_off(settings, engine):
    a, b = make_leads(engine, 2, url="https://acme.test")
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', scrape_result = '{}', "
        "scrape_completed_at = now() - interval '2 days' WHERE id = :id",
        id=a,
    )
    queue_scrape(engine, [b])
    ctx = Context.build(settings, engine=engine)
    rows = submitting.claim(ctx, "scrape", now()).rows
    assert submitting.reuse_recent_scrapes(ctx, rows, now()) == []
    execute(engine, "UPDATE leads SET scrape_completed_at = now() WHERE id = :id", id=a)
    off = Context.build(settings.with_(scrape_reuse_seconds=0), engine=engine)
    assert submitting.reuse_recent_scrapes(off, rows, now()) == []
    assert len(submitting.reuse_recent_scrapes(ctx, rows, now())) == 1
