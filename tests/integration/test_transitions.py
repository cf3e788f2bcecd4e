"""Guarded transitions on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from pipeline import queries, transitions
from pipeline.transitions import Attempt, Completion, Rejection
from tests.integration.helpers import execute, make_leads, now, queue_scrape, row

pytestmark = pytest.mark.integration


def claim(engine, stage="scrape", limit=10, at=None):
    with engine.begin() as conn:
        return transitions.claim(conn, stage, limit, at or now()).rows


def test_a_claim_starts_a_new_attempt_and_returns_what_the_stage_needs(engine):
    ids = make_leads(engine, 3)
    queue_scrape(engine, ids)
    rows = claim(engine, limit=2)
    assert [r["id"] for r in rows] == ids[:2]
    assert all(r["attempt"] == 1 and r["company_url"] == "https://acme.test" for r in rows)
    assert row(engine, ids[0])["scrape_status"] == "started"
    assert row(engine, ids[2])["scrape_status"] == "queued"


def test_rows_waiting_for_their_backoff_are_not_claimed_early(engine):
    ids = make_leads(engine, 1)
    queue_scrape(engine, ids)
    execute(engine, "UPDATE leads SET scrape_run_after = now() + interval '1 hour'")
    assert claim(engine) == []


def test_many_threads_claiming_at_once_never_claim_the_same_row_twice(engine):
    ids = make_leads(engine, 1500)
    queue_scrape(engine, ids)
    claimed: list[list[int]] = []
    errors: list[BaseException] = []

    def worker():
        mine = []
        try:
            while batch := claim(engine, limit=7):
                mine.extend(r["id"] for r in batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        claimed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    everything = [i for mine in claimed for i in mine]
    assert len(everything) == len(set(everything)) == len(ids)
    assert sum(1 for mine in claimed if mine) > 1, "the work was shared between threads"


def test_completion_stores_the_result_and_queues_the_next_stage_in_one_statement(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    with engine.begin() as conn:
        done = transitions.complete(
            conn, "scrape", [Completion(lead, 1, {"pages": []}, "j1")], now()
        )
    assert done == [lead]
    after = row(engine, lead)
    assert after["scrape_status"] == "completed"
    assert after["scrape_result"] == {"pages": []}
    assert after["scrape_job_id"] == "j1"
    assert after["intel_status"] == "queued"
    assert after["intel_run_after"] is not None


def test_a_completion_that_cannot_chain_changes_nothing_at_all(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    execute(engine, "UPDATE leads SET intel_status = 'failed'")
    with engine.begin() as conn:
        assert transitions.complete(conn, "scrape", [Completion(lead, 1, {"x": 1})], now()) == []
    after = row(engine, lead)
    assert (after["scrape_status"], after["scrape_result"]) == ("started", None)


def test_a_failed_statement_rolls_back_completion_and_chaining_together(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    with pytest.raises(Exception, match="boom"), engine.begin() as conn:
        transitions.complete(conn, "scrape", [Completion(lead, 1, {"x": 1})], now())
        raise RuntimeError("boom")
    after = row(engine, lead)
    assert (after["scrape_status"], after["intel_status"]) == ("started", "pending")


def test_a_second_completion_of_the_same_attempt_changes_nothing(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    first = Completion(lead, 1, {"v": 1})
    second = Completion(lead, 1, {"v": 2})
    with engine.begin() as conn:
        assert transitions.complete(conn, "scrape", [first], now()) == [lead]
    with engine.begin() as conn:
        assert transitions.complete(conn, "scrape", [second], now()) == []
    assert row(engine, lead)["scrape_result"] == {"v": 1}


def test_a_result_from_an_older_attempt_never_overwrites_a_newer_one(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    execute(engine, "UPDATE leads SET scrape_status = 'queued', scrape_run_after = now()")
    [r] = claim(engine)
    assert r["attempt"] == 2
    with engine.begin() as conn:
        assert transitions.complete(conn, "scrape", [Completion(lead, 1, {"old": 1})], now()) == []
        assert transitions.fail(conn, "scrape", [Rejection(lead, 1, "old error")], now()) == []
    assert row(engine, lead)["scrape_status"] == "started"


def test_a_job_id_is_stored_only_while_its_attempt_is_still_running(engine):
    a, b = make_leads(engine, 2)
    queue_scrape(engine, [a, b])
    claim(engine)
    with engine.begin() as conn:
        transitions.complete(conn, "scrape", [Completion(a, 1, {"early": True})], now())
        stored = transitions.record_jobs(
            conn, "scrape", [(Attempt(a, 1), "job-a"), (Attempt(b, 1), "job-b")]
        )
    assert stored == [b], "the early callback already completed a"
    assert row(engine, b)["scrape_job_id"] == "job-b"
    assert row(engine, a)["scrape_status"] == "completed"


def test_a_hard_failure_fails_at_once_with_its_reason(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    with engine.begin() as conn:
        assert transitions.fail(conn, "scrape", [Rejection(lead, 1, "HTTP 404")], now()) == [lead]
        assert transitions.fail(conn, "scrape", [Rejection(lead, 1, "again")], now()) == []
    after = row(engine, lead)
    assert (after["scrape_status"], after["scrape_error"]) == ("failed", "HTTP 404")
    assert after["intel_status"] == "pending"


def test_retries_wait_longer_each_time_and_fail_after_max_retries(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    t0 = now()
    statuses = []
    for attempt in range(1, 5):
        execute(engine, "UPDATE leads SET scrape_run_after = now() - interval '1 second'")
        [r] = claim(engine, at=t0)
        assert r["attempt"] == attempt
        with engine.begin() as conn:
            [outcome] = transitions.retry(
                conn,
                "scrape",
                [Rejection(lead, attempt, f"503 #{attempt}")],
                t0,
                max_retries=3,
                delays=[10.0, 20.0, 40.0],
            )
        statuses.append(outcome.status)
        if outcome.status == "queued":
            expected = [10.0, 20.0, 40.0][attempt - 1]
            assert outcome.run_after - t0 == timedelta(seconds=expected)
    assert statuses == ["queued", "queued", "queued", "failed"], "1 try + 3 retries, not more"
    after = row(engine, lead)
    assert (after["scrape_retry_count"], after["scrape_error"]) == (3, "503 #4")


def test_a_retry_after_longer_than_the_backoff_is_honoured(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    t0 = now()
    claim(engine, at=t0)
    with engine.begin() as conn:
        [outcome] = transitions.retry(
            conn,
            "scrape",
            [Rejection(lead, 1, "429", retry_after=30.0)],
            t0,
            max_retries=3,
            delays=[1.0, 2.0, 4.0],
        )
    assert outcome.run_after - t0 == timedelta(seconds=30)


def test_the_last_stage_completes_without_queueing_anything(engine):
    [lead] = make_leads(engine, 1)
    execute(engine, "UPDATE leads SET messaging_status = 'queued', messaging_run_after = now()")
    claim(engine, stage="messaging")
    with engine.begin() as conn:
        done = transitions.complete(conn, "messaging", [Completion(lead, 1, {"body": "hi"})], now())
    assert done == [lead]
    assert row(engine, lead)["messaging_status"] == "completed"


def test_ready_stages_lists_stages_with_claimable_rows_only(engine):
    a, b = make_leads(engine, 2)
    queue_scrape(engine, [a, b])
    execute(
        engine,
        "UPDATE leads SET intel_status = 'queued', intel_run_after = now() "
        "+ interval '1 hour' WHERE id = :id",
        id=b,
    )
    with engine.begin() as conn:
        assert transitions.ready_stages(conn, now()) == ["scrape"]


def test_a_lease_is_taken_once_per_period_however_many_ask(engine):
    minute = now().replace(second=0, microsecond=0)
    with engine.begin() as conn:
        assert transitions.take_lease(conn, "tick", minute)
        assert not transitions.take_lease(conn, "tick", minute)
        assert transitions.take_lease(conn, "tick", minute + timedelta(minutes=1))


def test_the_claim_query_uses_the_partial_index_not_a_table_scan(engine):
    make_leads(engine, 50)
    execute(engine, "ANALYZE leads")
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text(
                    "EXPLAIN SELECT id FROM leads WHERE intel_status = 'queued' "
                    "AND intel_run_after <= now() ORDER BY intel_run_after, id LIMIT 10"
                )
            )
        )
    assert "leads_intel_queued" in plan


@pytest.mark.parametrize(
    ("name", "params"),
    [
        (
            "complete_and_queue_next",
            {"rows": '[{"id": 1, "attempt": 1, "result": {}}]', "ids": [1]},
        ),
        ("fail", {"rows": '[{"id": 1, "attempt": 1, "error": "x"}]', "ids": [1]}),
        ("record_job", {"ids": [1], "attempts": [1], "job_ids": ["j"]}),
    ],
)
def test_a_callback_finds_its_rows_by_primary_key_even_when_statistics_say_nothing_is_in_flight(
    engine, name, params
):
    """Statistics taken while nothing was started once made the planner read every
    in-flight row of the stage (through its partial index) for each callback. (The table
    must be big enough that a sequential scan is not the cheapest read anyway.)"""
    make_leads(engine, 3000)
    execute(engine, "ANALYZE leads")
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'started', scrape_attempt = 1, "
        "scrape_started_at = now(), intel_status = 'pending'",
    )
    statement = queries.get(name, "scrape")
    with engine.begin() as conn:
        plan = "\n".join(
            r[0] for r in conn.execute(text(f"EXPLAIN {statement.text}"), {"now": now(), **params})
        )
    assert "leads_pkey" in plan, plan
    assert "in_flight" not in plan, plan


def test_the_poller_and_the_stuck_reset_still_find_in_flight_rows_by_their_index(engine):
    make_leads(engine, 300)
    execute(engine, "ANALYZE leads")
    cutoff = now() - timedelta(minutes=5)
    statements = [
        (queries.get("select_stuck", "intel"), {"submit_before": cutoff, "stuck_before": cutoff}),
        (
            queries.get("claim_late", "intel"),
            {"now": now(), "grace_before": cutoff, "poll_before": cutoff},
        ),
        (queries.get("other_attempts_on_job", "intel"), {"job_id": "b", "ids": [1]}),
    ]
    for statement, params in statements:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(text(f"EXPLAIN {statement.text}"), {"limit": 10, **params})
            )
        assert "leads_intel_in_flight" in plan, plan


def test_a_long_running_job_is_asked_about_less_often_the_older_it_gets(engine):
    ids = make_leads(engine, 3)
    execute(
        engine,
        "UPDATE leads SET intel_status = 'started', intel_attempt = 1, intel_job_id = 'b', "
        "intel_started_at = now() - CASE id WHEN :a THEN interval '10 minutes' "
        "WHEN :b THEN interval '10 minutes' ELSE interval '8 seconds' END, "
        "intel_polled_at = now() - CASE id WHEN :a THEN interval '2 minutes' "
        "WHEN :b THEN interval '6 minutes' ELSE interval '6 seconds' END",
        a=ids[0],
        b=ids[1],
    )
    at = now()
    with engine.begin() as conn:
        rows = transitions.claim_late(
            conn,
            "intel",
            grace_before=at - timedelta(seconds=2),
            poll_before=at - timedelta(seconds=5),
            limit=10,
            now=at,
        )
    # Ten minutes old: asked again after five (half its age), not after the 5 s interval.
    # Eight seconds old: the interval rules.
    assert sorted(r["id"] for r in rows) == [ids[1], ids[2]]


def test_a_reuse_lookup_reads_a_few_pages_per_site_not_every_fresh_scrape_of_the_account(
    engine,
):
    """With statistics taken before any scrape completed, ``site_key = ANY(…)`` was kept
    as a filter: each claim read every fresh completed scrape of the account (105 ms a
    claim late in a 10,000-lead benchmark run)."""
    execute(
        engine,
        "INSERT INTO leads (account_id, name, email, company, company_url) "
        "SELECT 1, 'P' || g, 'p' || g || '@x.test', 'C' || g, 'https://site' || g || '.test/' "
        "FROM generate_series(1, 3000) AS g",
    )
    execute(engine, "ANALYZE leads")
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', scrape_completed_at = now(), "
        "scrape_result = '{\"pages\": []}' WHERE id % 3 <> 0",
    )
    keys = ["site3.test", "site4.test", "site5.test", "site6.test", "nowhere.test"]
    statement = queries.get("recent_site_scrapes")
    params = {"account_id": 1, "site_keys": keys, "fresh_after": now() - timedelta(hours=1)}
    with engine.begin() as conn:
        found = {r["site_key"] for r in conn.execute(statement, params).mappings()}
        plan = conn.execute(
            text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.text}"), params
        ).scalar_one()[0]["Plan"]
    assert found == {"site4.test", "site5.test"}, "site3 and site6 are not completed"
    pages = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    assert pages < 50, f"{pages} pages read for {len(keys)} sites"
