"""Which failures are worth retrying.

Two sources of failure are classified differently on purpose:

* the **target** (the company's website, as the scraper reports it, or a request the LLM
  rejects): a DNS failure, a refused connection, 404, 403 or empty content will not fix
  itself, so the stage fails at once with the reason stored;
* the **service** we call (scraper or LLM API): a refused connection or a timeout there is
  an outage of our infrastructure, not a fault of the lead, so it is retried with backoff.
  A 4xx other than 408/409/429 means the service rejected this request: hard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

Kind = Literal["hard", "retriable"]


@dataclass(frozen=True)
class Failure:
    kind: Kind
    reason: str
    #: Seconds the service asked us to wait (Retry-After), if it said.
    retry_after: float | None = None

    @property
    def retriable(self) -> bool:
        return self.kind == "retriable"


def hard(reason: str) -> Failure:
    return Failure("hard", reason[:1000])


def retriable(reason: str, retry_after: float | None = None) -> Failure:
    return Failure("retriable", reason[:1000], retry_after)


class EmptyContent(Exception):
    """The scraper finished but found no text: nothing to write an email from."""


class ServiceResponseError(Exception):
    """A service answered with something that does not follow its contract."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped at 1 h."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if now is None:
            return None
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), 3600.0)


def classify_service_error(exc: BaseException, now: float | None = None) -> Failure:
    """Classify an exception raised while calling a service (submit, poll)."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        code = response.status_code
        reason = f"{response.request.method} {response.request.url.path}: HTTP {code}"
        detail = _short_body(response)
        if detail:
            reason = f"{reason}: {detail}"
        if code == 429:
            return retriable(reason, parse_retry_after(response.headers.get("Retry-After"), now))
        if code >= 500 or code in (408, 409):
            return retriable(reason, parse_retry_after(response.headers.get("Retry-After"), now))
        return hard(reason)
    if isinstance(exc, httpx.TimeoutException):
        return retriable(f"service timeout: {type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        return retriable(f"service unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, EmptyContent):
        return hard(f"empty content: {exc}")
    if isinstance(exc, ServiceResponseError):
        return retriable(f"bad service response: {exc}")
    return retriable(f"crash: {type(exc).__name__}: {exc}")


# What a crawler says when the *site* is the problem. Matched case-insensitively.
_HARD_TARGET_PATTERNS = (
    (
        re.compile(
            r"ENOTFOUND|getaddrinfo|name or service not known|nodename nor servname|"
            r"no address associated|name resolution|DNS",
            re.I,
        ),
        "DNS failure",
    ),
    (re.compile(r"ECONNREFUSED|connection refused", re.I), "connection refused"),
    (re.compile(r"\b404\b|not found", re.I), "HTTP 404"),
    (re.compile(r"\b403\b|forbidden", re.I), "HTTP 403"),
    (re.compile(r"\b410\b|\bgone\b", re.I), "HTTP 410"),
    (
        re.compile(
            r"invalid url|unsupported protocol|not allowed|private address|non-public address",
            re.I,
        ),
        "URL refused",
    ),
)


def classify_target_error(message: str | None) -> Failure:
    """Classify the error a scraper job reports about the site it was asked to fetch."""
    message = (message or "unknown scraper error").strip()
    for pattern, label in _HARD_TARGET_PATTERNS:
        if pattern.search(message):
            return hard(message if label.lower() in message.lower() else f"{label}: {message}")
    return retriable(message)


def classify_llm_error(error: dict | None) -> Failure:
    """Classify an ``errored`` result of a message batch."""
    inner = (error or {}).get("error", error) or {}
    kind = str(inner.get("type", "unknown_error"))
    message = str(inner.get("message", ""))[:500]
    reason = f"{kind}: {message}" if message else kind
    if kind in (
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
    ):
        return hard(reason)
    return retriable(reason)


def _short_body(response: httpx.Response) -> str:
    try:
        body = response.text
    except Exception:  # an undecodable body is no reason to lose the status code
        return ""
    return " ".join(body.split())[:200]
