"""Runs on a real database: what Customize takes, pause, resume, cancel, retry-failed and
the roll-up that finishes a run by itself."""

from __future__ import annotations

import pytest

from pipeline import runs, transitions
from pipeline.runs import RunNotFound, RunStateError, Selection
from pipeline.transitions import Completion, Rejection
from tests.integration.helpers import execute, make_leads, now, queue_scrape, row
from tests.integration.test_transitions import claim

pytestmark = pytest.mark.integration


def start(engine, ids, account_id=1):
    return runs.start_run(engine, account_id, Selection(lead_ids=tuple(ids)), now())


def test_customize_creates_a_run_that_queues_pending_leads_and_skips_those_without_a_url(
    engine,
):
    with_url = make_leads(engine, 2)
    [without] = make_leads(engine, 1, url=None)
    report = start(engine, [*with_url, without])
    assert report.queued == with_url
    assert report.skipped == [without]
    assert report.effects.kicks == [("scrape", 0.0)]
    assert row(engine, without)["scrape_error"] == "no company URL"
    run = runs.get_run(engine, 1, report.run_id, now())
    assert (run["status"], run["lead_count"]) == ("running", 3)


def test_a_lead_already_in_an_active_run_is_reported_not_queued_twice(engine):
    ids = make_leads(engine, 2)
    first = start(engine, ids[:1])
    second = start(engine, ids)
    assert second.queued == [ids[1]]
    assert second.already_active == [ids[0]]
    assert row(engine, ids[0])["run_id"] == first.run_id


def test_no_run_is_created_when_no_lead_can_be_taken(engine):
    ids = make_leads(engine, 1)
    start(engine, ids)
    report = start(engine, [*ids, 424242])
    assert report.run_id is None
    assert (report.already_active, report.not_found) == (ids, [424242])


def test_another_accounts_leads_are_never_taken_into_a_run(engine):
    execute(engine, "INSERT INTO accounts (name) VALUES ('other')")
    theirs = make_leads(engine, 1, account_id=2)
    assert start(engine, theirs).not_found == theirs
    assert row(engine, theirs[0])["scrape_status"] == "pending"


def test_all_pending_selects_every_lead_of_the_account_that_never_started(engine):
    ids = make_leads(engine, 3)
    start(engine, ids[:1])
    report = runs.start_run(engine, 1, Selection(all_pending=True), now())
    assert report.queued == ids[1:]


def test_a_paused_run_is_not_claimed_until_it_is_resumed(engine):
    ids = make_leads(engine, 3)
    run_id = queue_scrape(engine, ids)
    runs.pause(engine, 1, run_id, now())
    assert claim(engine) == []
    assert row(engine, ids[0])["scrape_run_after"].year == 9999
    effects = runs.resume(engine, 1, run_id, now())
    assert ("scrape", 0.0) in effects.kicks
    assert [r["id"] for r in claim(engine)] == ids


def test_a_stage_queued_by_a_completion_while_paused_waits_for_resume(engine):
    [lead] = make_leads(engine, 1)
    run_id = queue_scrape(engine, [lead])
    claim(engine)
    runs.pause(engine, 1, run_id, now())
    with engine.begin() as conn:
        transitions.complete(conn, "scrape", [Completion(lead, 1, {"pages": []})], now())
    assert row(engine, lead)["intel_status"] == "queued"
    assert claim(engine, stage="intel") == [], "in-flight work finished; its next stage waits"
    runs.resume(engine, 1, run_id, now())
    assert len(claim(engine, stage="intel")) == 1


def test_pausing_twice_or_resuming_a_running_run_is_refused_with_the_reason(engine):
    run_id = queue_scrape(engine, make_leads(engine, 1))
    runs.pause(engine, 1, run_id, now())
    with pytest.raises(RunStateError, match="is paused"):
        runs.pause(engine, 1, run_id, now())
    runs.resume(engine, 1, run_id, now())
    with pytest.raises(RunStateError, match="is running"):
        runs.resume(engine, 1, run_id, now())
    with pytest.raises(RunNotFound):
        runs.pause(engine, 2, run_id, now())


def test_cancel_marks_every_unfinished_stage_and_a_late_result_is_stored_without_chaining(
    engine,
):
    a, b = make_leads(engine, 2)
    run_id = queue_scrape(engine, [a, b])
    claim(engine, limit=1)
    assert runs.cancel(engine, 1, run_id, now()) == 2
    ra = row(engine, a)
    assert {ra[f"{s}_status"] for s in ("scrape", "intel", "messaging")} == {"cancelled"}
    with engine.begin() as conn:
        done = transitions.complete(conn, "scrape", [Completion(a, 1, {"late": True})], now())
        stored = transitions.store_late_results(conn, "scrape", [Completion(a, 1, {"late": 1})])
    assert (done, stored) == ([], [a])
    ra = row(engine, a)
    assert (ra["scrape_status"], ra["scrape_result"]) == ("cancelled", {"late": 1})
    assert ra["intel_status"] == "cancelled"
    assert runs.get_run(engine, 1, run_id, now())["status"] == "cancelled"


def test_cancelled_leads_can_be_customized_again_in_a_new_run(engine):
    ids = make_leads(engine, 1)
    runs.cancel(engine, 1, queue_scrape(engine, ids), now())
    report = start(engine, ids)
    assert report.queued == ids
    after = row(engine, ids[0])
    assert (after["scrape_status"], after["intel_status"]) == ("queued", "pending")


def fail_scrape(engine, lead, error):
    [r] = [r for r in claim(engine, limit=50) if r["id"] == lead] or [None]
    with engine.begin() as conn:
        transitions.fail(conn, "scrape", [Rejection(lead, r["attempt"], error)], now())


def test_retry_failed_requeues_failed_stages_with_their_retries_reset_and_records_it(engine):
    a, b = make_leads(engine, 2)
    run_id = queue_scrape(engine, [a, b])
    rows = claim(engine)
    with engine.begin() as conn:
        transitions.fail(
            conn,
            "scrape",
            [Rejection(a, 1, "HTTP 404: gone"), Rejection(b, 1, "DNS failure: x")],
            now(),
        )
    execute(engine, "UPDATE leads SET scrape_retry_count = 3")
    assert len(rows) == 2
    requeued, effects = runs.retry_failed(engine, 1, run_id, now(), ["HTTP 404"])
    assert requeued == {"scrape": 1}
    assert effects.kicks == [("scrape", 0.0)]
    ra, rb = row(engine, a), row(engine, b)
    assert (ra["scrape_status"], ra["scrape_retry_count"]) == ("queued", 0)
    assert rb["scrape_status"] == "failed"
    [again] = claim(engine)
    assert again["attempt"] == 2, "the attempt keeps counting: it fences stale results"
    events = runs.get_run(engine, 1, run_id, now())["events"]
    assert events[-1]["kind"] == "retry_failed"
    assert events[-1]["detail"]["requeued"] == {"scrape": 1}


def test_the_rollup_counts_a_runs_leads_and_finishes_it_when_nothing_is_left(engine):
    a, b = make_leads(engine, 2)
    run_id = queue_scrape(engine, [a, b])
    assert runs.rollup(engine, now()) == [(run_id, "running")]
    run = runs.get_run(engine, 1, run_id, now())
    assert run["counts"]["scrape"] == {"queued": 2}
    assert run["leads"]["active"] == 2
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'completed', "
        "strategy_status = 'completed', subject_status = 'completed', "
        "messaging_status = 'completed', intel_result = '{\"fit_score\": 80}' "
        "WHERE id = :id",
        id=a,
    )
    execute(engine, "UPDATE leads SET scrape_status = 'failed' WHERE id = :id", id=b)
    assert runs.rollup(engine, now()) == [(run_id, "completed")]
    run = runs.get_run(engine, 1, run_id, now())
    assert run["leads"] == {"active": 0, "completed": 1, "failed": 1, "skipped": 0}
    assert run["fit_score_avg"] == 80
    assert run["finished_at"] is not None
    assert run["progress"]["scrape"] == 1.0
    assert runs.rollup(engine, now()) == [], "a finished run is no longer rolled up"


def test_a_run_whose_every_lead_failed_finishes_as_failed(engine):
    [a] = make_leads(engine, 1)
    run_id = queue_scrape(engine, [a])
    execute(engine, "UPDATE leads SET scrape_status = 'failed'")
    assert runs.rollup(engine, now()) == [(run_id, "failed")]


def test_a_paused_run_with_nothing_in_flight_stays_paused(engine):
    run_id = queue_scrape(engine, make_leads(engine, 1))
    runs.pause(engine, 1, run_id, now())
    assert runs.rollup(engine, now()) == [(run_id, "paused")]
