"""Reading JSON request bodies the same careful way in every local service."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import falcon


def read_json_object(req: falcon.Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 when larger than ``max_bytes``, 400 otherwise bad."""
    length = req.content_length
    if length is not None and length > max_bytes:
        raise falcon.HTTPContentTooLarge(description=f"body larger than {max_bytes} bytes")
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise falcon.HTTPContentTooLarge(description=f"body larger than {max_bytes} bytes")
    if not raw.strip():
        raise falcon.HTTPBadRequest(title="Bad Request", description="body must be a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise falcon.HTTPBadRequest(
            title="Bad Request", description=f"body is not valid JSON: {exc}"
        ) from None
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(title="Bad Request", description="body must be a JSON object")
    return body


def http_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
