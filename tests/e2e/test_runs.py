"""Runs driven end to end through real web, worker and clock processes."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.test_pipeline import sample_leads

pytestmark = pytest.mark.e2e


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def run_of(app, run_id: int) -> dict:
    with app.api() as api:
        return api.get(f"/runs/{run_id}").json()


def act(app, run_id: int, action: str, **body) -> dict:
    with app.api() as api:
        response = api.post(f"/runs/{run_id}/{action}", json=body or None)
        assert response.status_code == 200, response.text
        return response.json()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


ACTIVE = (
    "SELECT count(*) FROM leads WHERE 'started' IN (scrape_status, intel_status, "
    "strategy_status, subject_status, messaging_status)"
)


def test_a_paused_run_claims_nothing_new_until_resumed_then_finishes_by_itself(leadpipe, engine):
    app = leadpipe(scraper_flags="--latency-ms 300")
    ids = app.create_leads(sample_leads(app.site, 40))
    run_id = app.customize(ids)["run_id"]
    wait_for(lambda: scalar(engine, ACTIVE), 10, "the first claims")
    act(app, run_id, "pause")
    # In-flight scrapes may finish; nothing new is claimed while paused.
    wait_for(lambda: scalar(engine, ACTIVE) == 0, 15, "in-flight work to settle")
    attempts = scalar(engine, "SELECT sum(scrape_attempt + intel_attempt) FROM leads")
    time.sleep(2.5)
    assert scalar(engine, "SELECT sum(scrape_attempt + intel_attempt) FROM leads") == attempts
    assert scalar(engine, "SELECT count(*) FROM leads WHERE messaging_status = 'completed'") < 40
    assert run_of(app, run_id)["status"] == "paused"
    act(app, run_id, "resume")
    run = wait_for(
        lambda: (r := run_of(app, run_id))["status"] == "completed" and r,
        60,
        "the run to complete by itself",
    )
    assert run["leads"]["completed"] == 40
    assert run["fit_score_avg"] is not None
    assert [e["kind"] for e in run["events"]] == ["paused", "resumed"]
    assert app.tracebacks() == []


def test_a_cancelled_run_stops_its_leads_and_keeps_late_results_without_chaining(leadpipe, engine):
    app = leadpipe(scraper_flags="--latency-ms 800")
    ids = app.create_leads(sample_leads(app.site, 30))
    run_id = app.customize(ids)["run_id"]
    wait_for(lambda: scalar(engine, ACTIVE), 10, "the first claims")
    cancelled = act(app, run_id, "cancel")
    assert cancelled["run"]["status"] == "cancelled"
    # The in-flight scrapes still answer; their results are stored, nothing chains.
    wait_for(
        lambda: scalar(
            engine,
            "SELECT count(*) FROM leads WHERE scrape_status = "
            "'cancelled' AND scrape_result IS NOT NULL",
        ),
        15,
        "a late result to be stored",
    )
    time.sleep(2)
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM leads WHERE 'queued' IN (scrape_status, "
            "intel_status, strategy_status, subject_status, messaging_status) "
            "OR 'started' IN (scrape_status, intel_status, strategy_status, "
            "subject_status, messaging_status)",
        )
        == 0
    )
    assert (
        scalar(
            engine, "SELECT count(*) FROM leads WHERE intel_status NOT IN ('cancelled', 'pending')"
        )
        == 0
    )
    assert run_of(app, run_id)["status"] == "cancelled"
    assert app.tracebacks() == []


def test_retry_failed_reruns_the_failed_stages_once_the_service_recovers(leadpipe, engine):
    app = leadpipe(scraper_flags="--fail-rate 1.0", env={"MAX_RETRIES": "1"})
    ids = app.create_leads(sample_leads(app.site, 20))
    run_id = app.customize(ids)["run_id"]
    run = wait_for(
        lambda: (r := run_of(app, run_id))["status"] == "failed" and r,
        60,
        "every lead to fail after its retries",
    )
    assert run["leads"]["failed"] == 20
    assert scalar(engine, "SELECT min(scrape_retry_count) FROM leads") == 1
    httpx.post(f"{app.scraper}/_knobs", json={"fail_rate": 0.0}, timeout=5)
    result = act(app, run_id, "retry-failed", error_prefixes=["HTTP 503"])
    assert result["requeued"] == {"scrape": 20}
    run = wait_for(
        lambda: (r := run_of(app, run_id))["status"] == "completed" and r,
        60,
        "the retried run to complete",
    )
    assert run["leads"]["completed"] == 20
    assert scalar(engine, "SELECT min(scrape_attempt) FROM leads") == 3
    assert [e["kind"] for e in run["events"]] == ["retry_failed"]
    assert app.tracebacks() == []


def test_regenerating_subject_lines_only_reruns_subject_and_messaging_and_keeps_versions(
    leadpipe, engine
):
    app = leadpipe()
    ids = app.create_leads(sample_leads(app.site, 10))
    first = app.customize(ids)["run_id"]
    wait_for(lambda: run_of(app, first)["status"] == "completed", 60, "the first run")
    before = scalar(engine, "SELECT sum(intel_attempt + strategy_attempt) FROM leads")
    with app.api() as api:
        response = api.post("/runs", json={"lead_ids": ids, "from_stage": "subject"})
    assert response.status_code == 201, response.text
    rerun = response.json()["run_id"]
    run = wait_for(
        lambda: (r := run_of(app, rerun))["status"] == "completed" and r, 60, "the re-run"
    )
    assert run["from_stage"] == "subject"
    assert run["leads"]["completed"] == 10
    assert scalar(engine, "SELECT sum(intel_attempt + strategy_attempt) FROM leads") == before
    assert scalar(engine, "SELECT min(subject_attempt) FROM leads") == 2
    with app.api() as api:
        versions = api.get(f"/leads/{ids[0]}/versions").json()["items"]
        lead = api.get(f"/leads/{ids[0]}").json()
    assert [v["stage"] for v in versions] == ["subject", "messaging"]
    assert versions[1]["result"]["body"]
    assert lead["stages"]["messaging"]["status"] == "completed"
    assert lead["cost_usd"] > 0
    assert app.tracebacks() == []
