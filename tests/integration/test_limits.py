"""The per-service limiter against the real Redis, shared by threads of two processes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid

import pytest
import redis

from actors.aimd import AimdParams
from actors.limits import ServiceLimiter
from pipeline.signals import Signal
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


def limiter(namespace, service="scraper", concurrency=3, rate=1000.0, lease=30.0):
    client = redis.Redis.from_url(REDIS_URL)
    return ServiceLimiter(
        client,
        namespace,
        service,
        max_concurrency=concurrency,
        params=AimdParams.for_ceiling(rate),
        lease_seconds=lease,
    )


@pytest.fixture
def namespace(redis_namespace):
    return f"{redis_namespace}-limits-{uuid.uuid4().hex[:6]}"


def hammer(namespace: str, seconds: float, counter: str, peak: str, granted: str) -> None:
    """Threads that take a slot, hold it a little, give it back; the live count and its
    peak are kept in Redis so two processes add up."""
    client = redis.Redis.from_url(REDIS_URL)
    lim = limiter(namespace)

    def loop() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            permit = lim.acquire(1)
            if not permit.granted:
                time.sleep(0.002)
                continue
            now = client.incr(counter)
            client.eval(
                "if tonumber(redis.call('GET', KEYS[1]) or 0) < tonumber(ARGV[1]) then "
                "redis.call('SET', KEYS[1], ARGV[1]) end",
                1,
                peak,
                now,
            )
            client.incr(granted)
            time.sleep(0.01)
            client.decr(counter)
            lim.release(permit)

    threads = [threading.Thread(target=loop) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_twelve_threads_in_two_processes_never_hold_more_slots_than_the_limit(namespace):
    keys = [f"{namespace}:{name}" for name in ("live", "peak", "granted")]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=hammer, args=(namespace, 1.5, *keys)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    client = redis.Redis.from_url(REDIS_URL)
    assert int(client.get(keys[1])) == 3, "the limit was reached, and never passed"
    assert int(client.get(keys[2])) > 50


def test_tokens_are_shared_so_two_callers_together_get_the_rate_not_twice_it(namespace):
    a, b = limiter(namespace, rate=20.0), limiter(namespace, rate=20.0)
    taken, start = 0, time.monotonic()
    while time.monotonic() - start < 1.0:
        for lim in (a, b):
            permit = lim.acquire(5)
            taken += permit.tokens
            lim.release(permit)
    # A full bucket (one second of the rate) plus one second of refill.
    assert 30 <= taken <= 41


def test_a_429_with_retry_after_pauses_that_service_only_and_halves_its_rate(namespace):
    scraper, llm = limiter(namespace, "scraper", rate=10.0), limiter(namespace, "llm")
    other_process_view = limiter(namespace, "scraper", rate=10.0)
    scraper.record([Signal("scraper", "throttled", 0.02, retry_after=1.0)])
    permit = other_process_view.acquire(1)
    assert (permit.granted, permit.reason) == (False, "paused")
    assert 0.5 < permit.wait <= 1.0
    assert other_process_view.snapshot()["rate"] == 5.0
    assert llm.acquire(1).granted, "the LLM keeps its pace"
    time.sleep(permit.wait + 0.05)
    assert other_process_view.acquire(1).granted


def test_a_slot_held_by_a_killed_process_is_taken_back_at_once(namespace):
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_take_and_die, args=(namespace,))
    proc.start()
    proc.join(30)
    lim = limiter(namespace, concurrency=1)
    assert lim.snapshot()["in_flight"] == 1
    assert lim.acquire(1).granted, "the dead process's lease was reaped"


def _take_and_die(namespace: str) -> None:
    assert limiter(namespace, concurrency=1).acquire(1).granted
    os._exit(0)  # no release: like SIGKILL


def test_one_waiter_per_stage_re_sends_its_message_the_others_drop_theirs(namespace):
    lim = limiter(namespace)
    assert lim.claim_waiter("intel", 0.5) is True
    assert lim.claim_waiter("intel", 0.5) is False
    assert lim.claim_waiter("strategy", 0.5) is True
    time.sleep(0.8)
    assert lim.claim_waiter("intel", 0.5) is True


def test_the_waiters_own_message_coming_back_after_its_wait_can_wait_again(namespace):
    lim = limiter(namespace)
    for _ in range(5):  # the boundary is the point: once lost it now and then
        assert lim.claim_waiter("scrape", 0.2) is True
        assert lim.claim_waiter("scrape", 0.2) is False  # others drop theirs meanwhile
        time.sleep(0.2)  # the delayed message is due no earlier than this
    assert lim.claim_waiter("scrape", 0.2) is True


def test_releasing_a_slot_names_the_stages_that_were_turned_away_while_it_was_held(namespace):
    lim = limiter(namespace, concurrency=1)
    held = lim.acquire(1)
    refused = lim.acquire(1)
    assert (refused.granted, refused.reason) == (False, "busy")
    assert lim.claim_waiter("intel", refused.wait) is True
    assert lim.release(held, 0, ["intel", "strategy"]) == ["intel"]
    assert lim.claim_waiter("intel", 0.5) is True, "the woken stage can wait again"
    assert lim.release(lim.acquire(1), 0, ["strategy"]) == []


def test_quick_successes_at_the_ceiling_leave_the_shared_rate_alone(namespace):
    lim = limiter(namespace, rate=100.0)
    ok = [Signal("scraper", "ok", 0.01)]
    assert lim.record(ok, rate_seen=100.0) is None, "nothing to change: no transaction"
    lim.record([Signal("scraper", "throttled", 0.01)])
    assert lim.acquire(1).rate == 50.0, "the permit carries the rate it was granted at"
    state = lim.record(ok, rate_seen=50.0)
    assert state is not None and state.rate > 50.0, "below the ceiling successes count"
    slow = lim.record([Signal("scraper", "ok", 60.0)], rate_seen=100.0)
    assert slow is not None, "a slow success is a signal even at the ceiling"
