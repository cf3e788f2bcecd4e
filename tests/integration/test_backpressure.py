"""The stage actor under backpressure: real Redis limiter, real database, stub broker."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import text

from actors import deps, stages
from actors.backpressure import ServiceGates
from devtools.stack import free_port
from pipeline.config import Settings
from pipeline.context import Context
from pipeline.signals import Signal
from tests.conftest import REDIS_URL
from tests.integration.helpers import make_leads, queue_scrape

pytestmark = pytest.mark.integration


@pytest.fixture
def gates(settings, engine, monkeypatch, redis_namespace, request):
    # The scraper's address is a closed port: submits fail fast (and are retried).
    tuned = settings.with_(
        scraper_url=f"http://127.0.0.1:{free_port()}",
        scraper_max_rate=3.0,
        redis_namespace=f"{redis_namespace}-bp-{request.node.name[-40:]}",
    )
    monkeypatch.setattr(deps, "_context", Context.build(tuned, engine=engine))
    gates = ServiceGates.from_settings(tuned, redis.Redis.from_url(REDIS_URL))
    monkeypatch.setattr(deps, "_gate", gates)
    return gates


def claimed(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM leads WHERE scrape_attempt > 0")).scalar()


def test_a_scrape_claim_takes_only_as_many_leads_as_it_got_tokens(broker, engine, gates):
    queue_scrape(engine, make_leads(engine, 10))
    stages.process_stage.fn("scrape")
    assert claimed(engine) == 3, "a bucket of three tokens: three scrape jobs"


def test_while_a_service_asks_to_wait_nothing_is_claimed_and_one_message_waits(
    broker, engine, gates
):
    queue_scrape(engine, make_leads(engine, 5))
    gates.limiters["scraper"].record([Signal("scraper", "throttled", 0.01, retry_after=30)])
    stages.process_stage.fn("scrape")
    stages.process_stage.fn("scrape")
    assert claimed(engine) == 0
    assert broker.queues["stages.DQ"].qsize() == 1, "one waiter, not one per message"


def test_a_throttled_scraper_leaves_the_llm_stages_their_permits(broker, gates):
    gates.limiters["scraper"].record([Signal("scraper", "throttled", 0.01, retry_after=30)])
    assert not gates.admit("scrape").granted
    permit = gates.admit("intel")
    assert permit.granted and permit.tokens == Settings().queue_batch_size
