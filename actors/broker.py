"""The broker: Redis in every process; a StubBroker only when unit tests ask for one."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.stub import StubBroker
from periodiq import PeriodiqMiddleware

from actors.deps import settings
from actors.kicks import ClearPendingKick
from actors.ticker import UpkeepTicker
from actors.wakeup import WakingBroker


def make_broker() -> dramatiq.Broker:
    if os.environ.get("LEADPIPE_STUB_BROKER") == "1":
        new: dramatiq.Broker = StubBroker()
        new.emit_after("process_boot")
    else:
        # Idle workers wait for kicks on a doorbell the sender rings; see actors.wakeup.
        new = WakingBroker(
            url=settings.redis_url,
            namespace=settings.redis_namespace,
            wait_ms=settings.worker_kick_wait_ms,
        )
        # Sub-minute upkeep from the workers themselves; see actors.ticker.
        new.add_middleware(UpkeepTicker(settings))
        # At most one immediate kick per stage waits at a time; see actors.kicks.
        new.add_middleware(ClearPendingKick())
    # A clock that was down for a while must not fire a backlog of old ticks.
    new.add_middleware(PeriodiqMiddleware(skip_delay=30))
    return new


broker = make_broker()
dramatiq.set_broker(broker)
