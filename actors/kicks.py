"""Coalesced kicks: at most one immediate kick per stage waits in the broker at a time.

A kick only says "look at stage X", and one that is still waiting already covers every
row committed before a worker takes it: that worker claims after it starts. So a sender
first marks the stage pending (``SET <namespace>:kick-pending:<stage> NX PX``) and sends
the message only if it set the mark; the worker clears the mark when it starts the
message, *before* it claims, so a row committed after that point gets a fresh kick.

Without this, every scrape callback sent its own kick for intel, and each kick claimed
the one or two rows committed so far: LLM batches of one, and a message, a claim and a
batch per lead. With it, rows that arrive while a kick waits ride in one batch.

The mark expires by itself after ``PENDING_MS``: a message that is lost, or that waits
behind busy threads longer than that, costs at most that delay before a new kick can go
(and the sweeper re-kicks any stage with ready rows regardless). Delayed kicks (retry
backoff, limiter waits) are never coalesced. Without Redis (the unit tests' stub broker)
every kick is sent.

A worker picks a kick up the moment it is sent: ``actors.wakeup`` rings a doorbell
that idle consumers of the stage queue wait on.
"""

from __future__ import annotations

import logging

import dramatiq
import redis

log = logging.getLogger(__name__)

#: How long a kick counts as waiting if no worker takes it.
PENDING_MS = 1000
#: The actor whose messages are kicks (its only argument is the stage), and its queue.
KICK_ACTOR = "process_stage"
KICK_QUEUE = "stages"


def _mark(broker: dramatiq.Broker, stage: str) -> str:
    return f"{broker.namespace}:kick-pending:{stage}"  # type: ignore[attr-defined]


def should_send(broker: dramatiq.Broker, stage: str) -> bool:
    """Mark ``stage``'s kick pending; False if one already was (nothing to send)."""
    client = getattr(broker, "client", None)
    if client is None:
        return True
    try:
        return bool(client.set(_mark(broker, stage), 1, nx=True, px=PENDING_MS))
    except redis.RedisError:
        return True  # sending is then the best we can do; it fails or it helps


class ClearPendingKick(dramatiq.Middleware):
    """Clears a stage's pending mark as its kick starts (before the actor claims)."""

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        client = getattr(broker, "client", None)
        if client is None or message.actor_name != KICK_ACTOR or not message.args:
            return
        try:
            client.delete(_mark(broker, str(message.args[0])))
        except redis.RedisError as exc:
            log.warning("could not clear the pending kick of %s (%s)", message.args[0], exc)
