"""Coalesced kicks (actors.kicks) against a real Redis."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import redis
from dramatiq import Message

from actors import kicks
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(redis_namespace):
    client = redis.Redis.from_url(REDIS_URL)
    fake = SimpleNamespace(client=client, namespace=f"{redis_namespace}-kicks")
    yield fake
    client.delete(*[f"{fake.namespace}:kick-pending:{s}" for s in ("intel", "strategy")])
    client.close()


def _kick_message(stage: str) -> Message:
    return Message(
        queue_name="stages", actor_name="process_stage", args=(stage,), kwargs={}, options={}
    )


def test_a_second_kick_is_not_sent_while_the_first_still_waits(broker):
    assert kicks.should_send(broker, "intel") is True
    assert kicks.should_send(broker, "intel") is False
    assert kicks.should_send(broker, "strategy") is True, "each stage has its own mark"


def test_a_worker_starting_the_kick_clears_the_mark_before_it_claims(broker):
    assert kicks.should_send(broker, "intel") is True
    kicks.ClearPendingKick().before_process_message(broker, _kick_message("intel"))
    assert kicks.should_send(broker, "intel") is True


def test_other_messages_leave_the_mark_alone(broker):
    assert kicks.should_send(broker, "intel") is True
    other = Message(
        queue_name="callbacks",
        actor_name="fetch_batch_results",
        args=("intel",),
        kwargs={},
        options={},
    )
    kicks.ClearPendingKick().before_process_message(broker, other)
    assert kicks.should_send(broker, "intel") is False


def test_a_mark_nobody_clears_expires(broker, monkeypatch):
    monkeypatch.setattr(kicks, "PENDING_MS", 50)
    assert kicks.should_send(broker, "intel") is True
    time.sleep(0.15)
    assert kicks.should_send(broker, "intel") is True


def test_without_redis_every_kick_is_sent():
    stub = SimpleNamespace(namespace="x")
    assert kicks.should_send(stub, "intel") is True
    assert kicks.should_send(stub, "intel") is True


def test_a_redis_error_sends_the_kick_anyway(broker):
    broken = SimpleNamespace(
        client=redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2),
        namespace=broker.namespace,
    )
    assert kicks.should_send(broken, "intel") is True
