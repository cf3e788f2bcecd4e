"""The scraper's jobs-in-flight cap: the claim leaves ready rows queued when the service
already has its fill of jobs, and the stage actor looks again shortly (one message)."""

from __future__ import annotations

import pytest
import redis
from dramatiq import Message
from sqlalchemy import text

from actors import deps, stages
from actors.backpressure import ServiceGates
from devtools.stack import free_port
from pipeline import transitions
from pipeline.context import Context
from tests.conftest import REDIS_URL
from tests.integration.helpers import execute, make_leads, now, queue_scrape

pytestmark = pytest.mark.integration


def claim(engine, limit=10, cap=None):
    with engine.begin() as conn:
        return transitions.claim(conn, "scrape", limit, now(), cap)


def start_jobs(engine, ids):
    """As if these leads' scrape jobs were submitted and still running at the service."""
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'started', scrape_started_at = now(), "
        "scrape_attempt = 1, scrape_job_id = 'job-' || id WHERE id = ANY(:ids)",
        ids=ids,
    )


def test_a_claim_takes_only_the_room_the_cap_leaves_and_says_it_held_rows_back(engine):
    ids = make_leads(engine, 8)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:3])
    claimed = claim(engine, limit=10, cap=5)
    assert [r["id"] for r in claimed.rows] == ids[3:5]
    assert claimed.held_back


def test_a_full_cap_claims_nothing_and_still_says_rows_wait(engine):
    ids = make_leads(engine, 4)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:2])
    claimed = claim(engine, cap=2)
    assert claimed.rows == []
    assert claimed.held_back


def test_a_cap_with_room_for_every_ready_row_holds_nothing_back(engine):
    ids = make_leads(engine, 4)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:1])
    claimed = claim(engine, limit=10, cap=5)
    assert len(claimed.rows) == 3
    assert not claimed.held_back


def test_a_cap_that_is_exactly_filled_by_the_last_ready_rows_holds_nothing_back(engine):
    ids = make_leads(engine, 3)
    queue_scrape(engine, ids)
    claimed = claim(engine, limit=10, cap=3)
    assert len(claimed.rows) == 3
    assert not claimed.held_back


def test_without_a_cap_the_batch_size_is_the_only_limit(engine):
    ids = make_leads(engine, 6)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:2])
    claimed = claim(engine, limit=3)
    assert len(claimed.rows) == 3
    assert not claimed.held_back, "a full batch is not held back: the batch kick covers it"


def test_an_empty_queue_claims_nothing_and_holds_nothing_back(engine):
    claimed = claim(engine, cap=5)
    assert claimed == transitions.Claimed([], False)


@pytest.fixture
def capped(settings, engine, monkeypatch, redis_namespace, request):
    # The scraper's address is a closed port: a submit that gets through fails fast.
    tuned = settings.with_(
        scraper_url=f"http://127.0.0.1:{free_port()}",
        scraper_max_jobs_in_flight=2,
        redis_namespace=f"{redis_namespace}-cap-{request.node.name[-40:]}",
    )
    monkeypatch.setattr(deps, "_context", Context.build(tuned, engine=engine))
    monkeypatch.setattr(
        deps, "_gate", ServiceGates.from_settings(tuned, redis.Redis.from_url(REDIS_URL))
    )
    return tuned


def attempted(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM leads WHERE scrape_attempt > 0")).scalar()


def test_a_stage_at_its_cap_leaves_one_message_to_look_again_soon(broker, engine, capped):
    ids = make_leads(engine, 5)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:2])
    stages.process_stage.fn("scrape")
    stages.process_stage.fn("scrape")
    assert attempted(engine) == 2, "nothing claimed past the cap"
    delayed = broker.queues["stages.DQ"]
    assert delayed.qsize() == 1, "one message looks again, not one per turned-away claim"
    message = Message.decode(delayed.get())
    assert message.options["eta"] - message.message_timestamp <= 1000 * 2 * (
        stages.ROOM_RECHECK_SECONDS
    )


def test_room_freed_by_a_finished_job_is_claimed_on_the_next_look(broker, engine, capped):
    ids = make_leads(engine, 5)
    queue_scrape(engine, ids)
    start_jobs(engine, ids[:2])
    execute(engine, "UPDATE leads SET scrape_status = 'completed' WHERE id = :id", id=ids[0])
    stages.process_stage.fn("scrape")
    assert attempted(engine) == 3, "one slot free: one more lead claimed"
