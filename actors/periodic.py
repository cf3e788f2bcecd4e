"""The clock's work: one tick a minute (periodiq's granularity), fanned out to seconds.

periodiq fires ``clock_tick`` once a minute, and may fire it twice around a restart or
from two clock processes; a lease row in Postgres lets exactly one tick per minute act.
That tick schedules the completion poll every ``COMPLETION_POLL_INTERVAL`` seconds across
the minute as delayed messages, and one stuck-job reset. If the broker loses those
messages, the next minute's tick schedules them again.
"""

from __future__ import annotations

import logging

import dramatiq
from periodiq import cron

from actors import deps
from actors.stages import send
from pipeline import runs, transitions, upkeep

log = logging.getLogger(__name__)


@dramatiq.actor(periodic=cron("* * * * *"), queue_name="upkeep", max_retries=0, time_limit=30_000)
def clock_tick() -> None:
    ctx = deps.context()
    now = deps.now()
    minute = now.replace(second=0, microsecond=0)
    with ctx.engine.begin() as conn:
        if not transitions.take_lease(conn, "clock_tick", minute):
            log.info("tick for %s already taken by another clock", minute)
            return
    interval = ctx.settings.completion_poll_interval
    polls = max(1, int(60 // interval))
    poll_completions.send()
    for n in range(1, polls):
        poll_completions.send_with_options(delay=int(n * interval * 1000))
    reset_stuck_jobs.send()


@dramatiq.actor(queue_name="upkeep", max_retries=0, time_limit=60_000)
def poll_completions() -> None:
    """Sweep (re-kick stages with ready rows), ask services about overdue jobs, and roll up
    the active runs (which finishes those with nothing left to do)."""
    ctx = deps.context()
    send(upkeep.sweep(ctx, deps.now()))
    send(upkeep.poll_late(ctx, deps.now()))
    runs.rollup(ctx.engine, deps.now())


@dramatiq.actor(queue_name="upkeep", max_retries=0, time_limit=300_000)
def reset_stuck_jobs() -> None:
    ctx = deps.context()
    effects = upkeep.reset_stuck(ctx, deps.now())
    if effects.retried or effects.failed:
        log.warning("stuck reset: %d requeued, %d failed", effects.retried, effects.failed)
    send(effects)
