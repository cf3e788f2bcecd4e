"""Shape checks of what the services report, before anything is read from it.

A signed callback or a polled answer that does not follow the service's contract (a
status that is not a string, a result that is not an object, ...) must not crash the
reader half-way: the webhooks refuse it with 400 and change nothing, the poller treats it
as a bad service response (retriable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _is(value: Any, kind: type | tuple[type, ...], optional: bool = True) -> bool:
    return (optional and value is None) or isinstance(value, kind)


def scraper_job_problem(job: Any) -> str | None:
    """What is wrong with a scraper job body (``GET /jobs/{id}`` shape), or None."""
    if not isinstance(job, Mapping):
        return "job must be an object"
    if not isinstance(job.get("status"), str):
        return "job.status must be a string"
    if not _is(job.get("error"), str):
        return "job.error must be a string"
    result = job.get("result")
    if not _is(result, Mapping):
        return "job.result must be an object"
    if isinstance(result, Mapping):
        pages = result.get("pages")
        if not _is(pages, list) or not all(isinstance(p, Mapping) for p in pages or []):
            return "job.result.pages must be a list of objects"
        if not _is(result.get("error"), str):
            return "job.result.error must be a string"
    return None


def llm_item_problem(item: Any) -> str | None:
    """What is wrong with one line of a batch's results, or None."""
    if not isinstance(item, Mapping):
        return "a result line must be an object"
    result = item.get("result")
    if not isinstance(result, Mapping) or not isinstance(result.get("type"), str):
        return "result must be an object with a type"
    message = result.get("message")
    if not _is(message, Mapping):
        return "result.message must be an object"
    if isinstance(message, Mapping):
        content = message.get("content")
        if not _is(content, list) or not all(isinstance(b, Mapping) for b in content or []):
            return "result.message.content must be a list of objects"
        if not all(_is(b.get("text"), str) and _is(b.get("type"), str) for b in content or []):
            return "content blocks need text and type strings"
        if not _is(message.get("usage"), Mapping):
            return "result.message.usage must be an object"
    error = result.get("error")
    if not _is(error, Mapping) or (
        isinstance(error, Mapping) and not _is(error.get("error"), Mapping)
    ):
        return "result.error must be an object"
    return None


def word_count(value: Any, content: str) -> int:
    """A page's word count as reported, when it is a sane number; else counted."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return len(content.split())


def finite_number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None
