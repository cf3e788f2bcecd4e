"""Watching a run from outside: claims per stage from the database, submissions as the
services count them, and the shared submit rate the limiter holds in Redis.

Recovery after a fault is read off these samples:

* ``first_progress(t)``: seconds from ``t`` to the first new claim after it;
* ``longest_stall(t)``: the longest stretch after ``t`` in which some stage had ready rows
  and nothing at all was claimed (a lost message nobody replaced shows up here);
* ``drained_at``: when no lead had queued or started work left.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import redis

from devtools.faults import probes
from pipeline.stages import STAGE_NAMES


@dataclass
class Sample:
    t: float
    active: int
    attempts: dict[str, int]
    ready: dict[str, int]

    @property
    def claims(self) -> int:
        return sum(self.attempts.values())

    @property
    def any_ready(self) -> bool:
        return any(self.ready.values())


@dataclass
class ServiceSample:
    t: float
    service: str
    submitted: int
    rejected: int
    rate: float | None


@dataclass
class Monitor:
    database_url: str
    service_urls: dict[str, str]
    redis_url: str
    namespace: str = "leadpipe"
    interval: float = 0.2
    samples: list[Sample] = field(default_factory=list)
    services: list[ServiceSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch_db, daemon=True),
            threading.Thread(target=self._watch_services, daemon=True),
        ]

    def start(self) -> Monitor:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _watch_db(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.wait(self.interval):
            try:
                if conn is None or conn.closed:
                    conn = probes.connect(self.database_url)
                row = probes.progress(conn)
            except psycopg.Error:
                conn = None  # Postgres is down or restarting: no sample
                continue
            self.samples.append(
                Sample(
                    time.time(),
                    int(row["active"]),
                    {s: int(row[f"{s}_attempts"]) for s in STAGE_NAMES},
                    {s: int(row[f"{s}_ready"]) for s in STAGE_NAMES},
                )
            )

    def _watch_services(self) -> None:
        client = redis.Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=1)
        while not self._stop.wait(0.5):
            for service, url in self.service_urls.items():
                try:
                    stats = httpx.get(f"{url}/_stats", timeout=2).json()
                except httpx.HTTPError:
                    continue
                rate = None
                try:
                    raw = client.hget(f"{self.namespace}:limits:{service}:aimd", "rate")
                    rate = float(raw) if raw is not None else None
                except redis.RedisError:
                    pass
                self.services.append(
                    ServiceSample(
                        time.time(),
                        service,
                        int(stats["submitted"]),
                        int(stats.get("rejected_429", 0)) + int(stats.get("rejected_5xx", 0)),
                        rate,
                    )
                )

    # -- reading the samples ------------------------------------------------------------

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def _before(self, t: float) -> Sample | None:
        earlier = [s for s in self.samples if s.t < t]
        return earlier[-1] if earlier else None

    def first_progress(self, t: float, stage: str | None = None) -> float | None:
        """Seconds from ``t`` to the first sample that shows a claim (of ``stage``, or of
        any stage) made after ``t``."""
        base = self._before(t)
        if base is None:
            return None

        def claims(sample: Sample) -> int:
            return sample.attempts[stage] if stage else sample.claims

        for sample in self.samples:
            if sample.t >= t and claims(sample) > claims(base):
                return sample.t - t
        return None

    def longest_stall(self, t: float, until: float | None = None) -> float:
        """The longest time after ``t`` with ready rows and no claim at all."""
        longest, last_claim, previous = 0.0, t, self._before(t)
        for sample in self.samples:
            if sample.t < t or (until is not None and sample.t > until):
                continue
            if previous is not None and sample.claims > previous.claims:
                last_claim = sample.t
            elif sample.any_ready:
                longest = max(longest, sample.t - last_claim)
            else:
                last_claim = sample.t  # nothing was waiting: not a stall
            previous = sample
        return longest

    def drained_at(self, after: float) -> float | None:
        for sample in self.samples:
            if sample.t >= after and sample.active == 0:
                return sample.t
        return None

    def submit_rates(self, service: str, start: float, end: float) -> list[dict[str, Any]]:
        """Per sample interval: submit calls per second (accepted and refused) and the
        limiter's rate, between ``start`` and ``end`` (times relative to ``start``)."""
        points = [s for s in self.services if s.service == service and start <= s.t <= end]
        out = []
        for a, b in itertools.pairwise(points):
            span = b.t - a.t
            if span <= 0:
                continue
            out.append(
                {
                    "t": round(b.t - start, 2),
                    "accepted_per_s": round((b.submitted - a.submitted) / span, 2),
                    "refused_per_s": round((b.rejected - a.rejected) / span, 2),
                    "limiter_rate": None if b.rate is None else round(b.rate, 2),
                }
            )
        return out
