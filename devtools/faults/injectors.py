"""The faults: each one is injected into a running stack and returns what it did.

A ``FaultRecord`` says when the fault began (``at``), when the broken part was back
(``resumed``), and which attempts it may legitimately have sent round again
(``explained``: attempts a killed worker had claimed but not submitted, or that were
running when Postgres went away). The judge allows retries only for those, and for the
submissions a throttling service refused, which it counts itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.faults import probes
from devtools.faults.app import App
from devtools.faults.monitor import Monitor
from devtools.faults.servers import OwnServers


@dataclass
class Target:
    app: App
    servers: OwnServers
    monitor: Monitor
    database_url: str
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class FaultRecord:
    name: str
    at: float
    resumed: float
    explained: set[tuple[int, str, int]] = field(default_factory=set)
    metrics: dict[str, Any] = field(default_factory=dict)


Injector = Callable[[Target], FaultRecord]


def _wait_until(check: Callable[[], bool], timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.1)
    return None


def kill_worker(max_pause: float = 1.0) -> Injector:
    """SIGKILL the worker process group (no acks, no cleanup), restart it after a pause,
    and wait until the attempts it had claimed but not submitted are requeued."""

    def inject(target: Target) -> FaultRecord:
        at = time.time()
        target.app.kill("worker")
        time.sleep(target.rng.uniform(0.1, max_pause))
        # Orphans are read after the pause, not at once: a claim the killed worker had sent
        # still commits in Postgres after its client died, and read too early its rows were
        # missing from the orphans, so their requeue looked like an unexplained retry. No
        # one else claims while no worker runs.
        with probes.connect(target.database_url) as conn:
            orphans = probes.attempts_of(conn, probes.ORPHANS)
        target.app.restart("worker")
        resumed = time.time()
        with probes.connect(target.database_url) as conn:
            requeued = _wait_until(lambda: probes.still_started(conn, orphans) == 0, 90)
        return FaultRecord(
            "worker SIGKILL",
            at,
            resumed,
            explained=orphans,
            metrics={
                "orphaned_attempts": len(orphans),
                "orphans_requeued_after_s": None if requeued is None else round(requeued - at, 2),
            },
        )

    return inject


def flush_redis(while_refusing: str | None = None, refuse_seconds: float = 1.5) -> Injector:
    """FLUSHALL. With ``while_refusing``, that service first refuses every submit for a
    moment, so the flush lands while the work waits on delayed retry messages, which it
    loses: only the upkeep loop can get the work going again."""

    def inject(target: Target) -> FaultRecord:
        if while_refusing:
            target.app.knobs(while_refusing, rate_5xx=1.0)
            time.sleep(refuse_seconds)
        at = time.time()
        target.servers.flush_redis()
        if while_refusing:
            target.app.knobs(while_refusing, rate_5xx=0.0)
        if not while_refusing:
            return FaultRecord("Redis FLUSHALL", at, at)
        stage = "scrape" if while_refusing == "scraper" else "intel"
        return FaultRecord(
            f"Redis FLUSHALL while {stage} retries wait", at, at, metrics={"watch_stage": stage}
        )

    return inject


def restart_redis(down: float = 1.0, while_refusing: str | None = None) -> Injector:
    """Kill Redis and start it again, empty. A worker whose connection breaks also drops
    the delayed messages it held in memory (dramatiq clears its delay queue), so with
    ``while_refusing`` the restart lands while retries wait on such messages."""

    def inject(target: Target) -> FaultRecord:
        if while_refusing:
            target.app.knobs(while_refusing, rate_5xx=1.0)
            time.sleep(1.5)
        at = time.time()
        target.servers.redis.stop()
        if while_refusing:
            target.app.knobs(while_refusing, rate_5xx=0.0)
        time.sleep(down)
        target.servers.redis.start()
        resumed = time.time()
        # A worker that claimed rows and then blocked on the dead Redis (its next kick) may
        # pass the submit timeout: those attempts, unsubmitted now, may be sent round again.
        with probes.connect(target.database_url) as conn:
            stalled = probes.attempts_of(conn, probes.ORPHANS)
        metrics: dict[str, Any] = {"down_s": down, "attempts_at_risk": len(stalled)}
        name = "Redis restart"
        if while_refusing:
            metrics["watch_stage"] = "scrape" if while_refusing == "scraper" else "intel"
            name += f" while {metrics['watch_stage']} retries wait"
        return FaultRecord(name, at, resumed, explained=stalled, metrics=metrics)

    return inject


def restart_postgres(down: float = 1.0) -> Injector:
    """Stop PostgreSQL (fast: connections cut), start it again on the same port. The
    attempts it may cut off are the ones running before, and the ones claimed while it
    went down (still running, unsubmitted, right after it is back)."""

    def inject(target: Target) -> FaultRecord:
        with probes.connect(target.database_url) as conn:
            running = probes.attempts_of(conn, probes.STARTED)
        at = time.time()
        resumed = target.servers.restart_postgres(down)
        with probes.connect(target.database_url) as conn:
            running |= probes.attempts_of(conn, probes.ORPHANS)
        return FaultRecord(
            "Postgres restart",
            at,
            resumed,
            explained=running,
            metrics={"down_s": down, "attempts_at_risk": len(running)},
        )

    return inject


def throttle(
    service: str,
    seconds_429: float = 4.0,
    bursts: int = 3,
    burst_seconds: float = 1.0,
    retry_after: int = 1,
) -> Injector:
    """``service`` answers most submits 429 with Retry-After for a while, then has bursts
    of 503s, then recovers."""

    def inject(target: Target) -> FaultRecord:
        app = target.app
        before = app.stats(service)
        at = time.time()
        app.knobs(service, rate_429=0.8, retry_after_seconds=retry_after)
        time.sleep(seconds_429)
        app.knobs(service, rate_429=0.0)
        five_xx_at = time.time()
        for _ in range(bursts):
            app.knobs(service, rate_5xx=0.7)
            time.sleep(burst_seconds)
            app.knobs(service, rate_5xx=0.0)
            time.sleep(burst_seconds)
        resumed = time.time()
        after = app.stats(service)
        return FaultRecord(
            f"{service} 429 then 5xx bursts",
            at,
            resumed,
            metrics={
                "service": service,
                "rejected_429": after["rejected_429"] - before["rejected_429"],
                "rejected_5xx": after["rejected_5xx"] - before["rejected_5xx"],
                "phase_5xx_at": five_xx_at,
            },
        )

    return inject


def lossy_callbacks(loss: float = 0.1, duplicate: float = 0.1, early: float = 0.1) -> Injector:
    """From now on both services lose, duplicate and send early a share of callbacks."""

    def inject(target: Target) -> FaultRecord:
        at = time.time()
        for service in ("scraper", "llm"):
            target.app.knobs(
                service,
                callback_loss=loss,
                callback_duplicate=duplicate,
                callback_early=early,
                seed=target.rng.randrange(1 << 30),
            )
        return FaultRecord("callbacks lost/duplicated/early", at, at)

    return inject
