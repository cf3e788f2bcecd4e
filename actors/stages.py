"""The stage actor and the kicks that wake it."""

from __future__ import annotations

import logging

import dramatiq

from actors import deps
from pipeline import completing, submitting
from pipeline.effects import Effects

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="stages", max_retries=0, time_limit=60_000)
def process_stage(stage: str) -> None:
    """Claim a batch of ``stage``'s queued leads and submit it to the stage's service.

    No dramatiq retries: the database is the queue, and a failure here leaves rows that
    the stuck reset recovers. A full batch kicks the stage again before submitting, so the
    next batch is claimed by another thread while this one waits on the service.
    """
    ctx = deps.context()
    rows = submitting.claim(ctx, stage, deps.now())
    if len(rows) >= ctx.settings.queue_batch_size:
        kick(stage)
    send(submitting.submit(ctx, stage, rows, deps.now()))


@dramatiq.actor(queue_name="callbacks", max_retries=3, time_limit=120_000)
def fetch_batch_results(batch_id: str) -> None:
    """Fetch and settle the results of an LLM batch that called back without them."""
    ctx = deps.context()
    items = ctx.llm.results(batch_id)
    send(completing.apply_llm_results(ctx, batch_id, items, deps.now()))


def kick(stage: str, delay_seconds: float = 0.0) -> None:
    """Tell some worker to look at ``stage``. Cheap and lossy by design: the sweeper
    re-kicks any stage whose ready rows nobody came for."""
    if delay_seconds > 0:
        process_stage.send_with_options(args=(stage,), delay=int(delay_seconds * 1000))
    else:
        process_stage.send(stage)


def send(effects: Effects) -> None:
    for stage, delay in effects.kicks:
        kick(stage, delay)
