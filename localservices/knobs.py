"""Knobs: how badly a local service behaves, changeable while it runs.

One :class:`Knobs` value per service, replaced whole (never mutated) by
``POST /_knobs``; every decision that depends on chance draws from one seedable
``random.Random`` so a run with ``seed`` set repeats itself.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: Knobs that are probabilities (0.0 to 1.0).
RATES = (
    "fail_rate",
    "rate_429",
    "rate_5xx",
    "callback_loss",
    "callback_duplicate",
    "callback_early",
)


class KnobError(ValueError):
    """A knob name or value the service cannot use."""


@dataclass(frozen=True)
class Knobs:
    #: How long a job (scraper) or a batch / chat request (LLM) takes, in milliseconds.
    latency_ms: int = 0
    #: Fraction of jobs / requests that end in a *retriable* failure (503 / overloaded_error).
    fail_rate: float = 0.0
    #: Fraction of submit POSTs answered 429 with ``Retry-After: retry_after_seconds``.
    rate_429: float = 0.0
    retry_after_seconds: int = 1
    #: Fraction of submit POSTs answered 503.
    rate_5xx: float = 0.0
    #: Fraction of callbacks never sent.
    callback_loss: float = 0.0
    #: Fraction of callbacks sent twice.
    callback_duplicate: float = 0.0
    #: Fraction of submissions processed (and called back) before the submit is answered.
    callback_early: float = 0.0
    #: Seed of the random source; setting it (again) restarts the sequence.
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in RATES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise KnobError(f"{name} must be a number between 0 and 1")
            if not 0.0 <= value <= 1.0:
                raise KnobError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency_ms", "retry_after_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise KnobError(f"{name} must be a whole number >= 0")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise KnobError("seed must be a whole number or null")

    def with_changes(self, changes: Mapping[str, Any]) -> Knobs:
        """A copy with ``changes`` applied; unknown names and bad values raise KnobError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise KnobError(f"unknown knob(s): {', '.join(unknown)}; known: {sorted(known)}")
        values = dict(changes)
        # JSON has one number type: accept 1.0 for an integer knob, and 1 for a rate.
        for name in ("latency_ms", "retry_after_seconds", "seed"):
            value = values.get(name)
            if isinstance(value, float) and value.is_integer():
                values[name] = int(value)
        return replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class KnobPanel:
    """The current knobs of one service and its random source, safe to share across threads."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self._lock = threading.Lock()
        self._knobs = knobs or Knobs()
        self._random = random.Random(self._knobs.seed)

    @property
    def knobs(self) -> Knobs:
        return self._knobs

    def update(self, changes: Mapping[str, Any]) -> Knobs:
        with self._lock:
            self._knobs = self._knobs.with_changes(changes)
            if "seed" in changes:
                self._random.seed(self._knobs.seed)
            return self._knobs

    def chance(self, name: str) -> bool:
        """Draw once against the rate knob ``name``: True with that probability."""
        rate = getattr(self._knobs, name)
        if rate <= 0.0:
            return False  # no draw: a zero knob leaves the random sequence alone
        with self._lock:
            return self._random.random() < rate

    @property
    def latency_seconds(self) -> float:
        return self._knobs.latency_ms / 1000
