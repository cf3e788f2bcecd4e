"""Waking an idle worker the moment a kick is sent, instead of letting it poll for one.

Dramatiq's Redis consumers poll: an idle one sleeps between looks at its queue. For the
stage queue that was up to 10 ms added to a transition, and up to a hundred empty fetches
a second per worker process. With the doorbell, a traced pickup (kick sent → actor runs)
took 1.4 ms at the median.

``WakingBroker`` adds a doorbell to the stage queue. Enqueueing a message there (a kick,
or a delayed kick coming due) also pushes a token on ``<namespace>:wake:stages``, and an
idle consumer of that queue waits on the list with ``BLPOP`` instead of sleeping. The
first idle consumer on any machine wakes within a round trip, fetches, and goes back to
waiting. The other queues (callbacks, upkeep, delay queues) poll as before.

- The list holds at most ``WAKE_TOKENS`` tokens. A token nobody was waiting for (every
  consumer busy) only makes the next consumer that goes idle look once more.
- A consumer that may not fetch (its prefetch is full) sleeps briefly instead of waiting,
  so it never takes a token another consumer could act on.
- The wait is bounded (``WORKER_KICK_WAIT_MS``): a lost token costs at most that, and a
  stopping worker waits at most that for its consumer thread.
- No wake is lost between "fetched nothing" and "started waiting": a token pushed in
  between is still in the list when the BLPOP starts.
"""

from __future__ import annotations

import logging
import time

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

from actors.kicks import KICK_QUEUE

log = logging.getLogger(__name__)

#: The queue whose consumers wait on the doorbell (the stage actor's queue).
WAKE_QUEUE = KICK_QUEUE
#: The most tokens the doorbell list keeps.
WAKE_TOKENS = 4
#: A consumer with a full prefetch looks again after this long.
FULL_SLEEP_SECONDS = 0.01

_PUSH = """
if redis.call('llen', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('lpush', KEYS[1], '1')
end
return 1
"""


def wake_key(namespace: str, queue_name: str = WAKE_QUEUE) -> str:
    return f"{namespace}:wake:{queue_name}"


class WakingBroker(RedisBroker):
    """A RedisBroker whose stage-queue consumers are woken by the message's sender."""

    def __init__(self, *args, wait_ms: int = 500, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.wait_seconds = max(wait_ms, 1) / 1000
        self._push = self.client.register_script(_PUSH)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000):
        if queue_name == WAKE_QUEUE:
            return _WakingConsumer(self, queue_name, prefetch, self.wait_seconds)
        return super().consume(queue_name, prefetch, timeout)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        sent = super().enqueue(message, delay=delay)
        if delay is None and message.queue_name == WAKE_QUEUE:
            self.ring(WAKE_QUEUE)
        return sent

    def ring(self, queue_name: str) -> None:
        """Wake one idle consumer of ``queue_name``. A failure is not the sender's problem:
        the message is queued, and a consumer finds it at the end of its bounded wait."""
        try:
            self._push(keys=[wake_key(self.namespace, queue_name)], args=[WAKE_TOKENS])
        except redis.RedisError as exc:
            log.debug("could not ring for %s (%s)", queue_name, exc)


class _WakingConsumer(_RedisConsumer):
    """Dramatiq's consumer with its idle sleep replaced by a wait on the doorbell.

    The parent is given a zero timeout, so on a miss it returns at once (``sleep(0)``);
    what to wait for is decided here.
    """

    def __init__(
        self, broker: WakingBroker, queue_name: str, prefetch: int, wait_seconds: float
    ) -> None:
        super().__init__(broker, queue_name, prefetch, 0)
        self._key = wake_key(broker.namespace, queue_name)
        self._wait_seconds = wait_seconds

    def __next__(self):
        message = super().__next__()
        if message is not None:
            return message
        if self.outstanding_message_count >= self.prefetch:
            time.sleep(FULL_SLEEP_SECONDS)
            return None
        try:
            self.broker.client.blpop([self._key], timeout=self._wait_seconds)
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
        return None
