"""Per-process dependencies of the actors: read the environment once, build lazily."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from pipeline.config import Settings
from pipeline.context import Context

settings = Settings.from_env()
_context: Context | None = None
_lock = threading.Lock()


def context() -> Context:
    """The process's Context (engine, HTTP clients), built on first use."""
    global _context
    if _context is None:
        with _lock:
            if _context is None:
                _context = Context.build(settings)
    return _context


def now() -> datetime:
    """The clock, read at the edge and passed down."""
    return datetime.now(UTC)
