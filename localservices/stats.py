"""Counters a test or benchmark reads from ``GET /_stats`` to see what a service went through.

Besides plain counters it remembers every reference (scraper ``metadata.reference``, LLM
``custom_id``) it accepted, so "no (lead, stage, attempt) was ever submitted twice" is one
assertion on ``duplicate_references``.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self, counters: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._names = ("submitted", *counters)
        self._counts: Counter[str] = Counter()
        self._references: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        if name not in self._names:
            raise KeyError(f"unknown counter {name!r}")
        with self._lock:
            self._counts[name] += amount

    def submitted(self, references: list[str], counter: str = "submitted") -> None:
        """Count one accepted submission carrying ``references`` (may be empty)."""
        if counter not in self._names:
            raise KeyError(f"unknown counter {counter!r}")
        with self._lock:
            self._counts[counter] += 1
            self._references.update(references)

    def snapshot(self, per_reference: bool = False) -> dict[str, Any]:
        """The counters; with ``per_reference`` also ``reference_counts`` (may be large)."""
        with self._lock:
            body: dict[str, Any] = {name: self._counts[name] for name in self._names}
            body["references"] = len(self._references)
            body["duplicate_references"] = sorted(
                ref for ref, count in self._references.items() if count > 1
            )
            if per_reference:
                body["reference_counts"] = dict(self._references)
            return body

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._references.clear()
