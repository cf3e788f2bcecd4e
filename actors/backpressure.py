"""Backpressure: how many submit calls each service gets, and how fast, across all workers.

Policy lives here, in the actors layer; the domain only reports what it saw
(``Effects.signals``, see ``pipeline.signals``). Before a stage actor claims anything it
asks the gate of the stage's service for a permit:

* a concurrency slot (``SCRAPER_MAX_CONCURRENCY`` / ``LLM_MAX_CONCURRENCY``), so 1,000
  queued leads never mean 1,000 requests at once, however many workers run;
* tokens at the service's current rate (ceiling ``SCRAPER_MAX_RATE`` / ``LLM_MAX_RATE``
  submit calls per second): one per scrape job, one per LLM batch. The scrape stage claims
  only as many rows as it got tokens;
* nothing while the service's ``Retry-After`` runs.

The scraper's jobs-in-flight cap (``SCRAPER_MAX_JOBS_IN_FLIGHT``) is not a permit: the
count lives in Postgres (the stage's started rows), so the claim itself takes only the
room left (``pipeline.submitting.claim``). A claim held back by it leaves one message per
stage to look again shortly (``should_look_for_room``).

No permit: nothing is claimed (rows stay ``queued``, so a wait never looks like a dead
worker), and the actor re-sends its message after the wait it was told, unless another
message of the same stage is already waiting. A stage turned away for want of a slot is
also woken by whoever releases a slot of its service: before that, a busy scraper whose
waiter re-sent its message while the mark of the previous wait was still set dropped the
message, and scraping stopped for seconds until the sweeper's next look (the benchmark's
submit log showed 3 to 4 s gaps). After the submit, the signals adjust the
rate of that service only (``actors.aimd``), so a throttled LLM never slows the scraper.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

import redis

from actors.aimd import AimdParams
from actors.limits import Permit, ServiceLimiter
from pipeline.config import Settings
from pipeline.signals import Signal
from pipeline.stages import STAGES, get_stage

log = logging.getLogger(__name__)

#: A lease outlives the stage actor's time limit (60 s): no live holder keeps one longer.
LEASE_SECONDS = 65.0


class Gate(Protocol):
    def admit(self, stage: str) -> Permit: ...

    def release(self, permit: Permit, stage: str, used: int) -> list[str]: ...

    def record(self, signals: Iterable[Signal], permit: Permit | None = None) -> None: ...

    def should_wait(self, stage: str, permit: Permit) -> bool: ...

    def should_look_for_room(self, stage: str, seconds: float) -> bool: ...


class OpenGate:
    """No limits (the unit tests' stub broker has no Redis)."""

    def __init__(self, batch_size: int) -> None:
        self._batch = batch_size

    def admit(self, stage: str) -> Permit:
        return Permit(self._batch)

    def release(self, permit: Permit, stage: str, used: int) -> list[str]:
        return []

    def record(self, signals: Iterable[Signal], permit: Permit | None = None) -> None:
        pass

    def should_wait(self, stage: str, permit: Permit) -> bool:
        return True

    def should_look_for_room(self, stage: str, seconds: float) -> bool:
        return True


class ServiceGates:
    """One limiter per service; the stage says which."""

    def __init__(self, limiters: dict[str, ServiceLimiter], batch_size: int) -> None:
        self.limiters = limiters
        self._batch = batch_size

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis) -> ServiceGates:
        target = settings.submit_latency_target_seconds
        limits = {
            "scraper": (settings.scraper_max_concurrency, settings.scraper_max_rate),
            "llm": (settings.llm_max_concurrency, settings.llm_max_rate),
        }
        limiters = {
            service: ServiceLimiter(
                client,
                settings.redis_namespace,
                service,
                max_concurrency=concurrency,
                params=AimdParams.for_ceiling(rate, target),
                lease_seconds=LEASE_SECONDS,
            )
            for service, (concurrency, rate) in limits.items()
        }
        return cls(limiters, settings.queue_batch_size)

    def _limiter(self, stage: str) -> ServiceLimiter:
        return self.limiters[get_stage(stage).service]

    def admit(self, stage: str) -> Permit:
        # A scrape job is one call per lead; an LLM batch is one call for the whole batch.
        want = self._batch if get_stage(stage).service == "scraper" else 1
        try:
            permit = self._limiter(stage).acquire(want)
        except redis.RedisError as exc:
            # Redis is away: no message can arrive either, so only the ones in hand run;
            # they do their work rather than being dropped.
            log.warning("%s limiter unreachable (%s); admitting without limits", stage, exc)
            return Permit(self._batch, reason="unlimited")
        if get_stage(stage).service == "llm" and permit.granted:
            return replace(permit, tokens=self._batch)
        return permit

    def release(self, permit: Permit, stage: str, used: int) -> list[str]:
        """``used``: rows claimed (scraper: calls made; LLM: one call if any row).

        Returns the stages of this service that were turned away for want of a slot
        while this one was held: they are to be woken now that it is free.
        """
        service = get_stage(stage).service
        unused = permit.tokens - used if service == "scraper" else int(not used)
        waiters = [s.name for s in STAGES if s.service == service]
        return self._limiter(stage).release(permit, unused, waiters)

    def record(self, signals: Iterable[Signal], permit: Permit | None = None) -> None:
        """``permit``: the one the signals' calls were made under (its rate lets a
        limiter skip an update that would change nothing)."""
        signals = list(signals)
        for limiter in self.limiters.values():
            state = limiter.record(signals, permit.rate if permit is not None else None)
            if state is not None and any(s.kind != "ok" for s in signals):
                log.info("%s submit rate now %.2f/s", limiter.service, state.rate)

    def should_wait(self, stage: str, permit: Permit) -> bool:
        try:
            return self._limiter(stage).claim_waiter(stage, permit.wait)
        except redis.RedisError:
            return False  # the sweeper re-kicks the stage once Redis is back

    def should_look_for_room(self, stage: str, seconds: float) -> bool:
        """True for one caller per stage held back by its jobs-in-flight cap: the one that
        sends the message that looks again in ``seconds``. Its mark is not the slot
        waiter's: a released slot clears those to wake the stage at once, and a full cap
        woken at once would only be turned away again, in a loop."""
        try:
            return self._limiter(stage).claim_waiter(f"{stage}:room", seconds)
        except redis.RedisError:
            return False


def build_gate(settings: Settings) -> Gate:
    if os.environ.get("LEADPIPE_STUB_BROKER") == "1":
        return OpenGate(settings.queue_batch_size)
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=10
    )
    return ServiceGates.from_settings(settings, client)
