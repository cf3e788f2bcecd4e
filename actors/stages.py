"""The stage actor and the kicks that wake it."""

from __future__ import annotations

import logging

import dramatiq
import redis

from actors import deps, kicks
from pipeline import completing, submitting
from pipeline.effects import Effects

log = logging.getLogger(__name__)

#: How soon a stage held back by its service's jobs-in-flight cap looks for room again.
#: Room frees as jobs finish; one waiting message per stage re-checks, so a full cap costs
#: a few claims a second, and each refills all the room freed meanwhile in one batch.
ROOM_RECHECK_SECONDS = 0.1


@dramatiq.actor(queue_name="stages", max_retries=0, time_limit=60_000)
def process_stage(stage: str) -> None:
    """Claim a batch of ``stage``'s queued leads and submit it to the stage's service.

    No dramatiq retries: the database is the queue, and a failure here leaves rows that
    the stuck reset recovers. A full batch kicks the stage again before submitting, so the
    next batch is claimed by another thread while this one waits on the service.

    Backpressure (``actors.backpressure``) comes first: without a permit for the stage's
    service nothing is claimed, and one message per stage waits out the limiter's delay.
    """
    ctx, gate = deps.context(), deps.gate()
    permit = gate.admit(stage)
    if not permit.granted:
        if gate.should_wait(stage, permit):
            send(Effects(kicks=[(stage, permit.wait)]))
        return
    rows: list = []
    try:
        limit = min(permit.tokens, ctx.settings.queue_batch_size)
        claimed = submitting.claim(ctx, stage, deps.now(), limit)
        rows = claimed.rows
        if len(rows) >= limit:
            send(Effects(kicks=[(stage, 0.0)]))
        elif claimed.held_back and gate.should_look_for_room(stage, ROOM_RECHECK_SECONDS):
            send(Effects(kicks=[(stage, ROOM_RECHECK_SECONDS)]))
        effects = submitting.submit(ctx, stage, rows, deps.now())
    finally:
        woken = _quietly(gate.release, permit, stage, len(rows))
    _quietly(gate.record, effects.signals, permit)
    for waiting in woken or ():
        effects.kick(waiting)  # turned away while this slot was held: it is free now
    send(effects)


def _quietly(call, *args):
    """Limiter bookkeeping after the work is done: a Redis outage must not undo it (a
    lease expires by itself, a missed rate update is made up by the next one)."""
    try:
        return call(*args)
    except redis.RedisError as exc:
        log.warning("limiter bookkeeping skipped (%s)", exc)
        return None


@dramatiq.actor(queue_name="callbacks", max_retries=3, time_limit=120_000)
def fetch_batch_results(batch_id: str) -> None:
    """Fetch and settle the results of an LLM batch that called back without them."""
    ctx = deps.context()
    items = ctx.llm.results(batch_id)
    send(completing.apply_llm_results(ctx, batch_id, items, deps.now()))


def kick(stage: str, delay_seconds: float = 0.0) -> None:
    """Tell some worker to look at ``stage``. Cheap and lossy by design: the sweeper
    re-kicks any stage whose ready rows nobody came for. An immediate kick is not sent
    while another for the stage still waits (``actors.kicks``)."""
    if delay_seconds > 0:
        process_stage.send_with_options(args=(stage,), delay=int(delay_seconds * 1000))
    elif kicks.should_send(process_stage.broker, stage):
        process_stage.send(stage)


def send(effects: Effects) -> None:
    """Send the kicks; a broker that is down loses them (the sweeper re-kicks), it does
    not fail the work that was already committed."""
    for stage, delay in effects.kicks:
        try:
            kick(stage, delay)
        except redis.RedisError as exc:
            log.warning("kick of %s lost (%s); the sweeper will re-kick it", stage, exc)
