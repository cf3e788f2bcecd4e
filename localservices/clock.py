"""Timestamps as the services print them: RFC 3339, UTC, ``Z`` suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso(timespec: str = "milliseconds") -> str:
    """``2025-01-31T12:00:00.123Z`` (JavaScript's ``toISOString`` form by default)."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
