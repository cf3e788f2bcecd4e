"""The upkeep ticker: every worker process keeps the sub-minute upkeep going by itself.

periodiq is minute-granular. The clock used to fan its minute out into delayed poll
messages, but delayed messages live in Redis: a ``FLUSHALL`` or a Redis restart dropped
them, and nothing polled, swept or reset stuck work until the next minute's tick (up to
60 s of standstill). The ticker does not keep its schedule in Redis at all:

* a daemon thread in each worker process wakes at every ``COMPLETION_POLL_INTERVAL``
  boundary and tries to take that period's lease row in Postgres (``take_lease``: one
  winner per period, however many processes and machines try). The winner sends one
  ``poll_completions`` (sweep, late-job poll, run roll-up);
* the same for ``reset_stuck_jobs`` every ``max(interval, min(60 s, SUBMIT_TIMEOUT / 3))``,
  so an attempt orphaned by a killed worker is requeued soon after its submit timeout,
  not at the next minute.

So there is still never more than one poll per period, a flushed or restarted Redis
costs at most one period, and the loop cannot be lost with a message: it lives as long
as any worker does (without workers nothing could be processed anyway). The periodiq
clock stays as the minute backstop. A failing period (Postgres or Redis down) is logged
and the next one is tried.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import dramatiq

from pipeline import transitions
from pipeline.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Beat:
    lease: str
    actor: str
    period: float


def beats(settings: Settings) -> tuple[Beat, ...]:
    interval = settings.completion_poll_interval
    reset = max(interval, min(60.0, settings.submit_timeout_seconds / 3))
    return (
        Beat("ticker:poll_completions", "poll_completions", interval),
        Beat("ticker:reset_stuck_jobs", "reset_stuck_jobs", reset),
    )


def period_start(now: float, period: float) -> datetime:
    return datetime.fromtimestamp(math.floor(now / period) * period, UTC)


class UpkeepTicker(dramatiq.Middleware):
    def __init__(self, settings: Settings) -> None:
        self._beats = beats(settings)
        self._stop = threading.Event()
        self._last: dict[str, datetime] = {}
        self._failing = False

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        thread = threading.Thread(
            target=self._run, args=(broker,), name="upkeep-ticker", daemon=True
        )
        thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _run(self, broker: dramatiq.Broker) -> None:
        shortest = min(beat.period for beat in self._beats)
        while not self._stop.wait(self._until_next(time.time(), shortest)):
            try:
                self.tick(broker, time.time())
                if self._failing:
                    log.info("upkeep ticker works again")
                self._failing = False
            except Exception as exc:  # Postgres or Redis away: try the next period
                if not self._failing:
                    log.warning("upkeep ticker: %s: %s", type(exc).__name__, exc)
                self._failing = True

    @staticmethod
    def _until_next(now: float, period: float) -> float:
        # Just past the boundary, with a little jitter so processes do not race in step.
        return period - (now % period) + random.uniform(0.005, 0.05)

    def tick(self, broker: dramatiq.Broker, now: float) -> list[str]:
        """Send the upkeep actors whose period began and whose lease this process won."""
        from actors import deps  # the context is built in the worker process, on first use

        sent = []
        for beat in self._beats:
            start = period_start(now, beat.period)
            if self._last.get(beat.lease) == start:
                continue
            with deps.context().engine.begin() as conn:
                won = transitions.take_lease(conn, beat.lease, start)
            self._last[beat.lease] = start
            if won:
                broker.get_actor(beat.actor).send()
                sent.append(beat.actor)
        return sent
