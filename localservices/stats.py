"""Counters a test or benchmark reads from ``GET /_stats`` to see what a service went through.

Besides plain counters it remembers every reference (scraper ``metadata.reference``, LLM
``custom_id``) it accepted, so "no (lead, stage, attempt) was ever submitted twice" is one
assertion on ``duplicate_references``. It also remembers when each reference first reached
the service and when its job ended (``?times=true``): the benchmark measures the pipeline's
transition latency from these, without timing anything inside Leadpipe itself.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class Stats:
    def __init__(self, counters: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._names = ("submitted", *counters)
        self._counts: Counter[str] = Counter()
        self._references: Counter[str] = Counter()
        self._received_at: dict[str, float] = {}
        self._ended_at: dict[str, float] = {}

    def add(self, name: str, amount: int = 1) -> None:
        if name not in self._names:
            raise KeyError(f"unknown counter {name!r}")
        with self._lock:
            self._counts[name] += amount

    def submitted(
        self, references: list[str], counter: str = "submitted", at: float | None = None
    ) -> None:
        """Count one accepted submission carrying ``references`` (may be empty); ``at`` is
        when its request arrived (unix seconds; default now)."""
        if counter not in self._names:
            raise KeyError(f"unknown counter {counter!r}")
        at = time.time() if at is None else at
        with self._lock:
            self._counts[counter] += 1
            self._references.update(references)
            for reference in references:
                self._received_at.setdefault(reference, at)

    def ended(self, references: list[str]) -> None:
        """Note that the job or batch carrying ``references`` has just ended."""
        at = time.time()
        with self._lock:
            for reference in references:
                self._ended_at.setdefault(reference, at)

    def snapshot(self, per_reference: bool = False, times: bool = False) -> dict[str, Any]:
        """The counters; with ``per_reference`` also ``reference_counts``, with ``times`` also
        ``received_at`` and ``ended_at`` (reference → unix seconds; both may be large)."""
        with self._lock:
            body: dict[str, Any] = {name: self._counts[name] for name in self._names}
            body["references"] = len(self._references)
            body["duplicate_references"] = sorted(
                ref for ref, count in self._references.items() if count > 1
            )
            if per_reference:
                body["reference_counts"] = dict(self._references)
            if times:
                body["received_at"] = dict(self._received_at)
                body["ended_at"] = dict(self._ended_at)
            return body

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._references.clear()
            self._received_at.clear()
            self._ended_at.clear()
