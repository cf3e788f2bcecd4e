"""Webhook signatures: ``X-Leadpipe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC covers ``"<t>.<raw body>"`` so that a captured callback cannot be replayed with a
new timestamp, and a callback older than the tolerance cannot be replayed at all.
Verification refuses to run without a secret: an unset secret is a configuration error,
not a reason to accept everything.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Leadpipe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, expired or does not match."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the header value for ``body`` signed at ``timestamp`` (unix seconds)."""
    if not secret:
        raise SignatureError("no webhook secret configured")
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def parse_header(value: str | None) -> tuple[int, list[str]]:
    """Split ``t=…,v1=…[,v1=…]`` into the timestamp and the candidate signatures."""
    if not value:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header")
        if key == "t":
            # isdigit() alone accepts '²' and other digits int() refuses.
            if not (val.isascii() and val.isdigit()) or len(val) > 12:
                raise SignatureError(f"malformed timestamp in {HEADER} header")
            timestamp = int(val)
        elif key == "v1":
            signatures.append(val)
    if timestamp is None or not signatures:
        raise SignatureError(f"{HEADER} header needs t= and v1=")
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` against ``body``; return the signed timestamp or raise SignatureError.

    Several ``v1=`` values are accepted so that a secret can be rotated without downtime.
    """
    if not secret:
        raise SignatureError("no webhook secret configured; refusing unsigned callbacks")
    timestamp, signatures = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance (expired or replayed)")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("signature does not match")
    return timestamp
