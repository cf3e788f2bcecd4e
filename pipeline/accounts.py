"""Accounts and their API keys.

A key looks like ``lp_<43 url-safe characters>`` (32 random bytes). Only its sha256 is
stored; the key itself exists once, in the answer to :func:`create_key`. A presented key is
found by its hash through a unique index, so no stored secret is ever compared with it, and
``prefix`` (the key's first characters) names a key in listings without revealing it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from pipeline import queries

KEY_PREFIX = "lp_"
#: The account leads belong to when nobody says otherwise (created by schema.sql).
DEFAULT_ACCOUNT_ID = 1
DEFAULT_ACCOUNT_NAME = "default"
KEY_FORMAT = re.compile(r"lp_[A-Za-z0-9_-]{43}")
#: How much of a key listings show: "lp_" and 8 characters (48 of its 256 bits).
DISPLAY_CHARS = 11


class AccountError(ValueError):
    """A name or key id that cannot be used; the message says why."""


@dataclass(frozen=True)
class NewKey:
    id: int
    account_id: int
    key: str
    prefix: str
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """What a presented key stands for."""

    id: int
    account_id: int
    revoked: bool


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise AccountError("an account name has 1 to 200 characters")
    return name


def ensure_account(conn: Connection, name: str) -> tuple[int, bool]:
    """(id of the account called ``name``, whether it was created now)."""
    row = conn.execute(queries.get("ensure_account"), {"name": _check_name(name)}).one()
    return int(row.id), bool(row.created)


def account_id_by_name(conn: Connection, name: str) -> int | None:
    row = conn.execute(queries.get("account_by_name"), {"name": name.strip()}).first()
    return None if row is None else int(row.id)


def insert_key(conn: Connection, account_id: int, label: str = "") -> NewKey:
    if len(label) > 200:
        raise AccountError("a key label has at most 200 characters")
    key = new_key()
    row = conn.execute(
        queries.get("insert_api_key"),
        {
            "account_id": account_id,
            "key_hash": hash_key(key),
            "prefix": key[:DISPLAY_CHARS],
            "label": label,
        },
    ).one()
    return NewKey(int(row.id), account_id, key, key[:DISPLAY_CHARS], row.created_at)


def create_key(engine: Engine, account_id: int = DEFAULT_ACCOUNT_ID, label: str = "") -> NewKey:
    """A new key for an existing account; the returned ``key`` is never readable again."""
    with engine.begin() as conn:
        return insert_key(conn, account_id, label)


def create_key_for(engine: Engine, account_name: str, label: str = "") -> tuple[NewKey, bool]:
    """A new key for the account called ``account_name`` (created if missing): (key,
    whether the account was created)."""
    with engine.begin() as conn:
        account_id, created = ensure_account(conn, account_name)
        return insert_key(conn, account_id, label), created


def find_key(conn: Connection, key: str) -> KeyInfo | None:
    """The key ``key`` is, by its hash; None for a key that was never issued."""
    if not KEY_FORMAT.fullmatch(key):
        return None
    row = conn.execute(queries.get("find_api_key"), {"key_hash": hash_key(key)}).first()
    if row is None:
        return None
    return KeyInfo(int(row.id), int(row.account_id), bool(row.revoked))


def revoke_key(engine: Engine, key_id: int, now: datetime) -> bool:
    """Revoke a key; False when there is no such key or it was revoked already. Web
    processes notice within their cache time (``API_KEY_CACHE_SECONDS``)."""
    with engine.begin() as conn:
        return (
            conn.execute(queries.get("revoke_api_key"), {"id": key_id, "now": now}).first()
            is not None
        )


def list_keys(engine: Engine, account_id: int | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(queries.get("list_api_keys"), {"account_id": account_id})
        return [dict(row) for row in rows.mappings()]


class KeyResolver:
    """Resolves presented keys to accounts for a web process, remembering each answer
    about an issued key for ``ttl`` seconds (keys that were never issued are not
    remembered, so guessing cannot fill the memory; it costs one indexed lookup)."""

    def __init__(
        self,
        engine: Engine,
        ttl: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._cache: dict[bytes, tuple[float, KeyInfo]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str) -> KeyInfo | None:
        if not KEY_FORMAT.fullmatch(key):
            return None
        digest = hash_key(key)
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self._engine.connect() as conn:
            info = find_key(conn, key)
        if info is not None and self._ttl > 0:
            with self._lock:
                if len(self._cache) >= self._max:
                    self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
                    if len(self._cache) >= self._max:
                        self._cache.clear()
                self._cache[digest] = (now + self._ttl, info)
        return info

    def forget(self) -> None:
        """Drop every remembered answer (after a revoke in this process, in tests)."""
        with self._lock:
            self._cache.clear()
