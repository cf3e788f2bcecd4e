"""``POST /estimate``: leads Customize would process and skip, expected tokens, cost."""

from __future__ import annotations

import pytest

from pipeline import estimates
from tests.integration.reads import (
    add_account,
    add_import,
    add_leads,
    add_run,
    client,
    fail_intel,
    finish,
    sql,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def api(settings, engine):
    prices = settings.with_(llm_input_price_per_mtok=2.0, llm_output_price_per_mtok=10.0)
    return client(prices, engine)


def test_an_estimate_counts_what_customize_would_process_and_why_it_skips_the_rest(api, engine):
    fresh = add_leads(engine, 3)
    [no_url] = add_leads(engine, 1, url=None)
    [done] = add_leads(engine, 1)
    finish(engine, done)
    [failed] = add_leads(engine, 1)
    fail_intel(engine, failed)
    [running] = add_leads(engine, 1)
    sql(
        engine,
        "UPDATE leads SET scrape_status = 'started', scrape_started_at = now() WHERE id = :id",
        id=running,
    )
    [in_active_run] = add_leads(engine, 1)
    run_id = add_run(engine, [in_active_run])
    sql(engine, "UPDATE runs SET status = 'paused' WHERE id = :id", id=run_id)
    [cancelled] = add_leads(engine, 1)
    sql(engine, "UPDATE leads SET scrape_status = 'cancelled' WHERE id = :id", id=cancelled)
    ids = [*fresh, no_url, done, failed, running, in_active_run, cancelled, 999_999]
    response = api.simulate_post("/estimate", json={"lead_ids": ids})
    assert response.status_code == 200, response.text
    body = response.json
    assert body["processed"] == 4  # the three fresh ones and the cancelled one
    assert body["skipped"] == {"total": 5, "no_url": 1, "already_done": 2, "in_flight": 2}
    assert body["not_found"] == 1


def test_with_few_results_to_learn_from_the_estimate_uses_the_prompt_heuristic(api, engine):
    add_leads(engine, 10)
    for lead_id in add_leads(engine, estimates.MIN_SAMPLES - 1):
        finish(engine, lead_id, usage={"input_tokens": 10, "output_tokens": 5})
    body = api.simulate_post("/estimate", json={"filter": {"status": "pending"}}).json
    assert body["processed"] == 10 and body["basis"] == "heuristic"
    intel = body["stages"]["intel"]
    expected = estimates.heuristic_tokens("intel")
    assert intel["basis"] == "heuristic" and intel["samples"] == 0
    assert intel["per_lead"] == {
        "input_tokens": expected.input_tokens,
        "output_tokens": expected.output_tokens,
    }
    assert intel["input_tokens"] == expected.input_tokens * 10
    assert intel["cost_usd"] == pytest.approx(
        round((expected.input_tokens * 2.0 + expected.output_tokens * 10.0) * 10 / 1e6, 4)
    )
    assert set(body["stages"]) == {"intel", "strategy", "subject", "messaging"}
    assert body["prices_usd_per_mtok"] == {"input": 2.0, "output": 10.0}


def test_with_enough_results_the_estimate_uses_the_usage_the_llm_reported(api, engine):
    add_leads(engine, 100)
    for i, lead_id in enumerate(add_leads(engine, estimates.MIN_SAMPLES + 1)):
        finish(engine, lead_id, usage={"input_tokens": 1000 + 10 * i, "output_tokens": 300})
    [odd] = add_leads(engine, 1)
    finish(engine, odd, usage={"input_tokens": "many"})  # not counted: not a number
    body = api.simulate_post("/estimate", json={"filter": {"stage": "scrape"}}).json
    assert body["processed"] == 100 and body["basis"] == "observed"
    for stage in estimates.LLM_STAGES:
        tokens = body["stages"][stage]
        assert tokens["basis"] == "observed" and tokens["samples"] == estimates.MIN_SAMPLES + 1
        assert tokens["per_lead"] == {"input_tokens": 1100, "output_tokens": 300}
        assert (tokens["input_tokens"], tokens["output_tokens"]) == (110_000, 30_000)
        assert tokens["cost_usd"] == pytest.approx(0.52)
    assert body["total"] == {"input_tokens": 440_000, "output_tokens": 120_000, "cost_usd": 2.08}


def test_the_observed_basis_learns_only_from_the_callers_account(api, engine):
    other = add_account(engine)
    for lead_id in add_leads(engine, estimates.MIN_SAMPLES, account_id=other):
        finish(engine, lead_id, usage={"input_tokens": 1, "output_tokens": 1})
    add_leads(engine, 1)
    assert api.simulate_post("/estimate", json={"filter": {}}).json["basis"] == "heuristic"


def test_an_estimate_takes_the_list_filters(api, engine):
    add_leads(engine, 2)
    import_id, _ = add_import(engine, 3)
    body = api.simulate_post("/estimate", json={"filter": {"import": import_id}}).json
    assert body["processed"] == 3
    run_id = add_run(engine, add_leads(engine, 4))
    body = api.simulate_post("/estimate", json={"filter": {"run": run_id}}).json
    assert body["processed"] == 4
    body = api.simulate_post("/estimate", json={"filter": {"stage": "scrape"}}).json
    assert body["processed"] == 9


def test_an_estimate_over_another_accounts_leads_or_run_finds_nothing(api, engine):
    other = add_account(engine)
    theirs = add_leads(engine, 2, account_id=other)
    their_run = add_run(engine, theirs, account_id=other)
    body = api.simulate_post("/estimate", json={"lead_ids": theirs}).json
    assert (body["processed"], body["not_found"]) == (0, 2)
    response = api.simulate_post("/estimate", json={"filter": {"run": their_run}})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"lead_ids": [1], "filter": {}}, 422),
        ({"lead_ids": []}, 422),
        ({"lead_ids": ["1"]}, 422),
        ({"lead_ids": list(range(1, 10_002))}, 413),
        ({"filter": "all"}, 422),
        ({"filter": {"stage": "polish"}}, 422),
        ({"filter": {"state": "failed"}}, 422),
        ({"filter": {"run": -1}}, 422),
        ({"filter": {"limit": 5}}, 422),
        ([1, 2], 422),
    ],
)
def test_a_bad_estimate_request_gets_a_clear_4xx(api, body, status):
    response = api.simulate_post("/estimate", json=body)
    assert response.status_code == status
    assert response.json["description"]
