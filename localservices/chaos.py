"""The submit-time misbehaviour both job services share: answering 429 or 503 at random."""

from __future__ import annotations

import falcon

from localservices.knobs import KnobPanel
from localservices.stats import Stats

CHAOS_COUNTERS = ("rejected_429", "rejected_5xx")


def maybe_refuse_submission(panel: KnobPanel, stats: Stats) -> None:
    """Raise 429 (with ``Retry-After``) or 503 as often as the knobs ask; else do nothing."""
    if panel.chance("rate_429"):
        stats.add("rejected_429")
        seconds = panel.knobs.retry_after_seconds
        raise falcon.HTTPTooManyRequests(
            title="Too Many Requests",
            description=f"rate limited; retry after {seconds} seconds",
            retry_after=seconds,
        )
    if panel.chance("rate_5xx"):
        stats.add("rejected_5xx")
        raise falcon.HTTPServiceUnavailable(
            title="Service Unavailable", description="temporarily overloaded; try again later"
        )
