"""The clock's work: one tick a minute (periodiq's granularity), and the upkeep actors.

periodiq fires ``clock_tick`` once a minute, and may fire it twice around a restart or
from two clock processes; a lease row in Postgres lets exactly one tick per minute act.
That tick sends one completion poll and one stuck-job reset: the minute backstop. The
sub-minute rhythm (a poll every ``COMPLETION_POLL_INTERVAL`` seconds, a stuck reset soon
after ``SUBMIT_TIMEOUT_SECONDS``) comes from the workers' upkeep ticker
(``actors.ticker``), which keeps no schedule in Redis, so a flushed or restarted Redis
stalls upkeep for one poll interval, not until the next minute.
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
    poll_completions.send()
    reset_stuck_jobs.send()


@dramatiq.actor(queue_name="upkeep", max_retries=0, time_limit=60_000)
def poll_completions() -> None:
    """Sweep (re-kick stages with ready rows), ask services about overdue jobs, and roll up
    the active runs (which finishes those with nothing left to do).

    Sent every ``COMPLETION_POLL_INTERVAL`` by the workers' upkeep ticker (one sender per
    period, chosen by a Postgres lease; see ``actors.ticker``) and once a minute by the
    clock. The schedule is never a delayed message in Redis, so a flushed or restarted
    Redis cannot stop it: the next period's ticker sends the next poll."""
    ctx = deps.context()
    send(upkeep.sweep(ctx, deps.now()))
    send(upkeep.poll_late(ctx, deps.now()))
    runs.rollup(
        ctx.engine,
        deps.now(),
        ctx.settings.llm_input_price_per_mtok,
        ctx.settings.llm_output_price_per_mtok,
    )


@dramatiq.actor(queue_name="upkeep", max_retries=0, time_limit=300_000)
def reset_stuck_jobs() -> None:
    ctx = deps.context()
    effects = upkeep.reset_stuck(ctx, deps.now())
    if effects.retried or effects.failed:
        log.warning("stuck reset: %d requeued, %d failed", effects.retried, effects.failed)
    send(effects)
