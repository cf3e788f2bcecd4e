"""The workers' upkeep ticker on the stub broker and a real database."""

from __future__ import annotations

import pytest

from actors import deps
from actors.ticker import UpkeepTicker, beats
from pipeline.context import Context

pytestmark = pytest.mark.integration

T0 = 1_900_000_000.0  # a round number of seconds: the start of a period


@pytest.fixture
def ctx(settings, engine, monkeypatch):
    context = Context.build(
        settings.with_(completion_poll_interval=2.0, submit_timeout_seconds=30.0), engine=engine
    )
    monkeypatch.setattr(deps, "_context", context)
    return context


def sent(broker) -> list[str]:
    return sorted(m.actor_name for m in _decoded(broker))


def _decoded(broker):
    from dramatiq import Message

    return [Message.decode(raw) for raw in broker.queues["upkeep"].queue]


def test_the_first_tick_of_a_period_sends_a_poll_and_a_stuck_reset(broker, ctx):
    ticker = UpkeepTicker(ctx.settings)
    assert sorted(ticker.tick(broker, T0 + 0.01)) == ["poll_completions", "reset_stuck_jobs"]
    assert sent(broker) == ["poll_completions", "reset_stuck_jobs"]


def test_two_worker_processes_ticking_in_the_same_period_send_one_poll(broker, ctx):
    first, second = UpkeepTicker(ctx.settings), UpkeepTicker(ctx.settings)
    first.tick(broker, T0 + 0.01)
    assert second.tick(broker, T0 + 0.02) == []
    assert first.tick(broker, T0 + 1.5) == [], "same period, same process"


def test_the_poll_comes_every_interval_and_the_stuck_reset_every_third_of_the_submit_timeout(
    broker, ctx
):
    ticker, other = UpkeepTicker(ctx.settings), UpkeepTicker(ctx.settings)
    assert [b.period for b in beats(ctx.settings)] == [2.0, 10.0]
    ticker.tick(broker, T0 + 0.01)
    assert other.tick(broker, T0 + 2.01) == ["poll_completions"]
    assert ticker.tick(broker, T0 + 4.01) == ["poll_completions"]
    assert other.tick(broker, T0 + 10.01) == ["poll_completions", "reset_stuck_jobs"]
