"""Per-process dependencies of the actors: read the environment once, build lazily."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from actors.backpressure import Gate, build_gate
from pipeline.config import Settings
from pipeline.context import Context

settings = Settings.from_env()
_context: Context | None = None
_gate: Gate | None = None
_lock = threading.Lock()


def context() -> Context:
    """The process's Context (engine, HTTP clients), built on first use."""
    global _context
    if _context is None:
        with _lock:
            if _context is None:
                _context = Context.build(settings)
    return _context


def gate() -> Gate:
    """The process's backpressure gate (per-service limits in Redis), built on first use."""
    global _gate
    if _gate is None:
        with _lock:
            if _gate is None:
                _gate = build_gate(settings)
    return _gate


def now() -> datetime:
    """The clock, read at the edge and passed down."""
    return datetime.now(UTC)
