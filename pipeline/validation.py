"""Checking lead fields before anything is written (bad input never corrupts state)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_LENGTHS = {"name": 200, "email": 320, "company": 200, "title": 200, "company_url": 2048}
FIELDS = tuple(MAX_LENGTHS)
_EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def normalize_url(raw: str) -> str:
    """``acme.com`` → ``https://acme.com``; raise ValueError for anything not http(s)."""
    value = raw.strip()
    if not value:
        raise ValueError("empty URL")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"only http and https URLs can be scraped, not {parts.scheme}:")
    host = parts.hostname or ""
    if not host or not (_HOST.match(host) or _is_ip_literal(parts.netloc)):
        raise ValueError("URL has no valid host name")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("URL has an invalid port") from None
    if any(ch.isspace() for ch in value):
        raise ValueError("URL contains white space")
    return value


def _is_ip_literal(netloc: str) -> bool:
    host = netloc.rsplit("@", 1)[-1]
    return bool(re.match(r"^\[[0-9a-fA-F:.]+\](:\d+)?$|^\d{1,3}(\.\d{1,3}){3}(:\d+)?$", host))


def validate_lead(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (clean fields, {field: problem}); a lead with problems must not be written."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if not isinstance(data, Mapping):
        return {}, {"lead": "must be a JSON object"}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["fields"] = f"unknown field(s): {', '.join(map(str, unknown))[:200]}"
    for field, limit in MAX_LENGTHS.items():
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[field] = "must be a string"
            continue
        value = value.strip()
        if "\x00" in value:
            errors[field] = "contains a NUL character"
        elif len(value) > limit:
            errors[field] = f"longer than {limit} characters"
        else:
            clean[field] = value
    email = clean.get("email", "")
    if "email" not in errors:
        if not email:
            errors["email"] = "is required"
        elif not _EMAIL.match(email):
            errors["email"] = "is not a valid email address"
        else:
            clean["email"] = email.lower()
    url = clean.get("company_url")
    if url and "company_url" not in errors:
        try:
            clean["company_url"] = normalize_url(url)
        except ValueError as exc:
            errors["company_url"] = str(exc)
    elif not url:
        clean["company_url"] = None
    return clean, errors
