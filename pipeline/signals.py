"""What a submit call to a service showed about that service's health.

The domain only observes; what to do about it (slowing down, pausing) is policy and lives
in ``actors.backpressure``. A signal is one call's outcome and latency:

* ``ok`` — the service accepted the request;
* ``throttled`` — it answered 429 (``retry_after``: the seconds it asked for, if it said);
* ``overloaded`` — 5xx, 408, a timeout or no connection: the service is struggling;
* ``rejected`` — another 4xx: this request was refused; says nothing about load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from pipeline.errors import parse_retry_after

Kind = Literal["ok", "throttled", "overloaded", "rejected"]


@dataclass(frozen=True)
class Signal:
    service: str
    kind: Kind
    latency: float
    retry_after: float | None = None


def observe(service: str, latency: float, exc: BaseException | None = None) -> Signal:
    """The signal of one call that took ``latency`` seconds and raised ``exc`` (or not)."""
    if exc is None:
        return Signal(service, "ok", latency)
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        if code == 429:
            return Signal(service, "throttled", latency, retry_after)
        if code >= 500 or code == 408:
            return Signal(service, "overloaded", latency, retry_after)
        return Signal(service, "rejected", latency)
    if isinstance(exc, httpx.TransportError):
        return Signal(service, "overloaded", latency)
    return Signal(service, "rejected", latency)
