"""The safety nets against the real local scraper and LLM over HTTP.

Time is never frozen: rows are back-dated (``started_at = now() - interval ...``) so that
the code under test, reading the real clock, sees them as late or stuck.
"""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from localservices.companies import sample_companies
from localservices.testing import start_service
from pipeline import submitting, upkeep
from pipeline.context import Context
from tests.integration.helpers import execute, make_leads, now, queue_scrape, row
from tests.integration.test_transitions import claim

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site():
    with start_service("site") as service:
        yield service


@pytest.fixture(scope="module")
def scraper():
    with start_service("scraper", allow_private=True) as service:
        yield service


@pytest.fixture(scope="module")
def llm():
    with start_service("llm") as service:
        yield service


@pytest.fixture
def ctx(settings, engine, scraper, llm):
    return Context.build(
        settings.with_(
            scraper_url=scraper.url,
            llm_url=llm.url,
            completion_poll_interval=0.2,
            webhook_grace_seconds=0.0,
        ),
        engine=engine,
    )


def submit_scrapes(ctx, engine, urls):
    ids = []
    for url in urls:
        ids += make_leads(engine, 1, url=url)
    queue_scrape(engine, ids)
    rows = submitting.claim(ctx, "scrape", now()).rows
    submitting.submit(ctx, "scrape", rows, now())
    return ids


def wait_for_scraper(scraper, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = scraper.stats()
        if stats["completed"] + stats["failed"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"scraper did not finish {n} jobs: {scraper.stats()}")


def test_a_job_whose_webhook_never_came_is_completed_by_the_poller(ctx, engine, site, scraper):
    scraper.reset_stats()
    [lead] = submit_scrapes(ctx, engine, [sample_companies(1)[0].url(site.url)])
    assert row(engine, lead)["scrape_job_id"]
    wait_for_scraper(scraper, 1)
    effects = upkeep.poll_late(ctx, now())
    after = row(engine, lead)
    assert after["scrape_status"] == "completed", after["scrape_error"]
    assert after["intel_status"] == "queued"
    assert effects.kicks == [("intel", 0.0)]


def test_with_callbacks_on_a_job_is_polled_only_after_the_grace_without_them_at_once(
    ctx, engine, site, scraper
):
    waiting = dataclasses.replace(
        ctx,
        settings=ctx.settings.with_(
            webhook_grace_seconds=60.0, public_base_url="http://127.0.0.1:9"
        ),
    )
    [lead] = submit_scrapes(waiting, engine, [sample_companies(1)[0].url(site.url)])
    upkeep.poll_late(waiting, now())
    assert row(engine, lead)["scrape_polled_at"] is None, "the callback still has time"
    polling_only = dataclasses.replace(
        ctx, settings=ctx.settings.with_(webhook_grace_seconds=60.0, public_base_url="")
    )
    upkeep.poll_late(polling_only, now())
    assert row(engine, lead)["scrape_polled_at"] is not None, "no callback will come"


def test_the_poller_asks_about_each_late_attempt_only_once_per_interval(ctx, engine, scraper):
    scraper.knobs(latency_ms=5000)
    try:
        [lead] = submit_scrapes(ctx, engine, ["http://127.0.0.1:9/"])
        upkeep.poll_late(ctx, now())
        first = row(engine, lead)["scrape_polled_at"]
        upkeep.poll_late(ctx, now())
        assert row(engine, lead)["scrape_polled_at"] == first
        assert row(engine, lead)["scrape_status"] == "started"
    finally:
        scraper.knobs(latency_ms=0)


def test_a_claim_whose_worker_died_before_submitting_is_requeued_after_the_submit_timeout(
    ctx, engine
):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    upkeep.reset_stuck(ctx, now())
    assert row(engine, lead)["scrape_status"] == "started", "not before the submit timeout"
    execute(engine, "UPDATE leads SET scrape_started_at = now() - interval '2 hours'")
    effects = upkeep.reset_stuck(ctx, now())
    after = row(engine, lead)
    assert (after["scrape_status"], after["scrape_retry_count"]) == ("queued", 1)
    assert "never submitted" in after["scrape_error"]
    assert effects.retried == 1
    assert effects.kicks and effects.kicks[0][0] == "scrape"


def test_a_slow_job_the_service_still_runs_is_not_reset(ctx, engine, scraper):
    scraper.knobs(latency_ms=5000)
    try:
        [lead] = submit_scrapes(ctx, engine, ["http://127.0.0.1:9/"])
        execute(engine, "UPDATE leads SET scrape_started_at = now() - interval '15 minutes'")
        upkeep.reset_stuck(ctx, now())
        assert row(engine, lead)["scrape_status"] == "started"
    finally:
        scraper.knobs(latency_ms=0)


def test_a_job_running_far_past_its_timeout_is_cancelled_at_the_service_and_requeued(
    ctx, engine, scraper
):
    scraper.knobs(latency_ms=5000)
    try:
        [lead] = submit_scrapes(ctx, engine, ["http://127.0.0.1:9/"])
        job_id = row(engine, lead)["scrape_job_id"]
        execute(engine, "UPDATE leads SET scrape_started_at = now() - interval '2 hours'")
        upkeep.reset_stuck(ctx, now())
        after = row(engine, lead)
        assert (after["scrape_status"], after["scrape_retry_count"]) == ("queued", 1)
        job = httpx.get(f"{scraper.url}/jobs/{job_id}").json()
        assert job["error"] == "cancelled"
    finally:
        scraper.knobs(latency_ms=0)


def test_a_job_the_service_forgot_is_requeued(ctx, engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    execute(
        engine,
        "UPDATE leads SET scrape_job_id = 'no-such-job', "
        "scrape_started_at = now() - interval '2 hours'",
    )
    upkeep.reset_stuck(ctx, now())
    after = row(engine, lead)
    assert (after["scrape_status"], after["scrape_error"]) == ("queued", "scraper lost the job")


def test_a_stuck_attempt_past_its_last_retry_fails_instead_of_running_again(ctx, engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    execute(
        engine,
        "UPDATE leads SET scrape_retry_count = 3, scrape_started_at = now() - interval '2 hours'",
    )
    upkeep.reset_stuck(ctx, now())
    after = row(engine, lead)
    assert (after["scrape_status"], after["scrape_retry_count"]) == ("failed", 3)


def test_an_llm_batch_is_polled_and_every_lead_in_it_settled(ctx, engine, llm):
    ids = make_leads(engine, 3)
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', "
        'scrape_result = \'{"pages": [{"title": "Acme", "content": "x"}]}\', '
        "intel_status = 'queued', intel_run_after = now()",
    )
    rows = submitting.claim(ctx, "intel", now()).rows
    submitting.submit(ctx, "intel", rows, now())
    batch = row(engine, ids[0])["intel_job_id"]
    assert batch.startswith("msgbatch_")
    assert {row(engine, i)["intel_job_id"] for i in ids} == {batch}, "one batch, many leads"
    deadline = time.monotonic() + 10
    while (
        httpx.get(f"{llm.url}/v1/messages/batches/{batch}").json()["processing_status"] != "ended"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    upkeep.poll_late(ctx, now())
    for lead in ids:
        after = row(engine, lead)
        assert after["intel_status"] == "completed"
        assert after["intel_result"]["fit_score"] is not None
        assert after["strategy_status"] == "queued"


def test_the_sweeper_kicks_every_stage_that_has_ready_rows(ctx, engine):
    a, b = make_leads(engine, 2)
    queue_scrape(engine, [a])
    execute(
        engine,
        "UPDATE leads SET subject_status = 'queued', subject_run_after = now() WHERE id = :id",
        id=b,
    )
    assert sorted(upkeep.sweep(ctx, now()).kicks) == [("scrape", 0.0), ("subject", 0.0)]
