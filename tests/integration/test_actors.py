"""Actors on dramatiq's StubBroker (the end-to-end tests run them on Redis)."""

from __future__ import annotations

import pytest
from dramatiq import Message

from actors import deps, periodic, stages
from pipeline.context import Context
from pipeline.effects import Effects

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(settings, engine, monkeypatch):
    context = Context.build(settings.with_(completion_poll_interval=5.0), engine=engine)
    monkeypatch.setattr(deps, "_context", context)
    return context


def test_every_actor_states_its_max_retries_and_time_limit(broker):
    for name, actor in broker.actors.items():
        assert "max_retries" in actor.options, name
        assert "time_limit" in actor.options, name


def test_a_kick_is_one_message_that_carries_only_the_stage_name(broker):
    stages.send(Effects(kicks=[("intel", 0.0)]))
    [raw] = broker.queues["stages"].queue
    message = Message.decode(raw)
    assert (message.actor_name, message.args, message.kwargs) == ("process_stage", ("intel",), {})


def test_a_retry_kick_waits_on_the_delay_queue(broker):
    stages.send(Effects(kicks=[("scrape", 2.5)]))
    assert broker.queues["stages"].qsize() == 0
    assert broker.queues["stages.DQ"].qsize() == 1


def test_one_clock_tick_a_minute_sends_one_poll_and_one_stuck_reset_and_nothing_delayed(
    broker, ctx
):
    periodic.clock_tick.fn()
    assert broker.queues["upkeep"].qsize() == 2, "the poll and the stuck reset, now"
    assert broker.queues["upkeep.DQ"].qsize() == 0, "no schedule kept in Redis (see ticker)"


def test_a_second_clock_firing_in_the_same_minute_schedules_nothing(broker, ctx):
    periodic.clock_tick.fn()
    before = broker.queues["upkeep"].qsize() + broker.queues["upkeep.DQ"].qsize()
    periodic.clock_tick.fn()
    after = broker.queues["upkeep"].qsize() + broker.queues["upkeep.DQ"].qsize()
    assert after == before
