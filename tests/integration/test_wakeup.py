"""The stage queue's doorbell (actors.wakeup) against a real Redis."""

from __future__ import annotations

import threading
import time

import pytest
from dramatiq import Message

from actors.wakeup import WAKE_QUEUE, WAKE_TOKENS, WakingBroker, wake_key
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration

#: Long enough that a test passing by the bounded wait's timeout cannot be mistaken for
#: a wake-up.
LONG_WAIT_MS = 5000


@pytest.fixture
def broker(redis_namespace):
    b = WakingBroker(url=REDIS_URL, namespace=f"{redis_namespace}-wake", wait_ms=LONG_WAIT_MS)
    b.declare_queue(WAKE_QUEUE)
    b.declare_queue("callbacks")
    yield b
    b.client.delete(wake_key(b.namespace))
    b.flush_all()
    b.close()


def _message(queue: str = WAKE_QUEUE) -> Message:
    return Message(
        queue_name=queue, actor_name="process_stage", args=("intel",), kwargs={}, options={}
    )


def _tokens(broker: WakingBroker) -> int:
    return int(broker.client.llen(wake_key(broker.namespace)))


def test_an_idle_consumer_wakes_when_a_kick_is_sent_not_at_the_end_of_its_wait(broker):
    consumer = broker.consume(WAKE_QUEUE, prefetch=4)
    woke = threading.Event()
    took: list[float] = []

    def wait_then_fetch():
        started = time.monotonic()
        assert next(consumer) is None  # waits on the doorbell
        woke.set()
        message = next(consumer)
        took.append(time.monotonic() - started)
        if message is not None:
            consumer.ack(message)

    waiter = threading.Thread(target=wait_then_fetch)
    waiter.start()
    time.sleep(0.2)
    assert not woke.is_set(), "an empty queue and no token: the consumer keeps waiting"
    broker.enqueue(_message())
    waiter.join(timeout=3)
    assert woke.is_set()
    assert took and took[0] < LONG_WAIT_MS / 1000 / 2
    consumer.close()


def test_a_token_rung_while_no_one_waits_is_kept_for_the_next_idle_consumer(broker):
    broker.enqueue(_message())
    assert _tokens(broker) == 1
    consumer = broker.consume(WAKE_QUEUE, prefetch=4)
    message = next(consumer)
    assert message is not None
    consumer.ack(message)
    started = time.monotonic()
    assert next(consumer) is None  # the empty queue; the token makes the wait return
    assert time.monotonic() - started < 1
    assert _tokens(broker) == 0
    consumer.close()


def test_the_doorbell_keeps_only_a_few_tokens_however_many_kicks_are_sent(broker):
    for _ in range(WAKE_TOKENS * 3):
        broker.enqueue(_message())
    assert _tokens(broker) == WAKE_TOKENS


def test_a_delayed_kick_and_other_queues_do_not_ring(broker):
    broker.enqueue(_message(), delay=60_000)
    broker.enqueue(_message("callbacks"))
    assert _tokens(broker) == 0


def test_a_consumer_with_a_full_prefetch_leaves_the_token_to_others(broker):
    broker.enqueue(_message())
    busy = broker.consume(WAKE_QUEUE, prefetch=1)
    held = next(busy)
    assert held is not None
    broker.enqueue(_message())  # rings; busy may not fetch it
    tokens = _tokens(broker)
    assert next(busy) is None
    assert _tokens(broker) == tokens, "a consumer that cannot fetch must not take the token"
    busy.ack(held)
    busy.close()
