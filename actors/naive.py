"""The naive polling design, as a mode of the same code: the benchmark's baseline.

No kicks and no webhooks. Every worker thread polls every stage every 500 ms (claim a
batch, submit it), and a checker asks the services about every running job every 2 s.
It calls the same pipeline functions as the real actors (``submitting.claim`` /
``submitting.submit``, ``upkeep.poll_late``) and drops the kicks they return::

    dramatiq actors.naive --queues naive --processes 2 --threads 8

Each worker process seeds, when it boots, one polling chain per worker thread and one
checker chain; a chain is a message that sends itself again after its delay. Checkers take
a lease per 2-second period (``transitions.take_lease``), so however many processes run,
the services are asked once per period. Not for production: it exists to be compared with.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import dramatiq
from dramatiq.middleware import Middleware

from actors import deps
from actors.broker import broker
from pipeline import submitting, transitions, upkeep
from pipeline.context import Context
from pipeline.stages import STAGE_NAMES

log = logging.getLogger(__name__)

POLL_MS = 500
CHECK_MS = 2000
QUEUE = "naive"

_context: Context | None = None
_lock = threading.Lock()


def context() -> Context:
    """The process's Context, with callbacks off and every running job checked each period."""
    global _context
    if _context is None:
        with _lock:
            if _context is None:
                # No public URL: no callbacks, so the poller waits no grace (upkeep).
                settings = deps.settings.with_(
                    public_base_url="",
                    completion_poll_interval=CHECK_MS / 1000,
                )
                _context = Context.build(settings)
    return _context


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=120_000)
def naive_poll() -> None:
    """One poll of every stage: claim a batch and submit it; then again in 500 ms."""
    try:
        ctx = context()
        for stage in STAGE_NAMES:
            rows = submitting.claim(ctx, stage, deps.now()).rows
            if rows:
                submitting.submit(ctx, stage, rows, deps.now())  # its kicks are dropped
    finally:
        naive_poll.send_with_options(delay=POLL_MS)


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=120_000)
def naive_check() -> None:
    """Ask the services about every running job (once per 2 s period); then again."""
    try:
        ctx = context()
        now = deps.now()
        seconds = CHECK_MS / 1000
        period = datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)
        with ctx.engine.begin() as conn:
            mine = transitions.take_lease(conn, "naive_check", period)
        if mine:
            upkeep.poll_late(ctx, now)  # its kicks are dropped
    finally:
        naive_check.send_with_options(delay=CHECK_MS)


class SeedChains(Middleware):
    """At worker boot: one polling chain per worker thread, one checker chain."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        for _ in range(worker.worker_threads):
            naive_poll.send()
        naive_check.send()
        log.info("naive mode: %d polling chains and a checker seeded", worker.worker_threads)


broker.add_middleware(SeedChains())
# No clock in this mode, so none of its sub-minute rhythm either (the workers' upkeep
# ticker, when this version has one): the checker above is the only completion check.
broker.middleware[:] = [m for m in broker.middleware if type(m).__name__ != "UpkeepTicker"]
