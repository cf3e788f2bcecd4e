"""What the web app needs, injected into ``create_app``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.context import Context
from pipeline.effects import Effects


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppDeps:
    ctx: Context
    #: Acts on a domain call's effects (sends the kicks); the broker lives behind it.
    dispatch: Callable[[Effects], None]
    #: Asks a worker to fetch an LLM batch's results.
    fetch_results: Callable[[str], None]
    clock: Callable[[], datetime] = utcnow
    wallclock: Callable[[], float] = time.time
    #: name -> check raising on failure; ``/healthz`` runs them all.
    health_checks: dict[str, Callable[[], None]] = field(default_factory=dict)
