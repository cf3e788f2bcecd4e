"""The throwaway servers recorded in a data root, taken together: which run, and stopping them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from devtools.servers.common import DEFAULT_DATA_ROOT, KINDS
from devtools.servers.postgres import postgres_data_dir, postmaster_info, stop_recorded_postgres
from devtools.servers.processes import clear_state
from devtools.servers.redis import recorded_redis, stop_recorded_redis

_STOPPERS = {"postgres": stop_recorded_postgres, "redis": stop_recorded_redis}


def recorded_throwaway(data_root: Path, kind: str) -> tuple[int | None, int | None]:
    """(pid, port) of the ``kind`` throwaway server recorded in ``data_root``, where known."""
    if kind == "postgres":
        return postmaster_info(postgres_data_dir(data_root))
    if kind == "redis":
        pid, url = recorded_redis(data_root)
        return pid, urlsplit(url).port
    raise ValueError(f"unknown server kind {kind!r}")


def stop_throwaway(data_root: Path = DEFAULT_DATA_ROOT, kinds: Iterable[str] = KINDS) -> list[str]:
    """Stop the throwaway servers recorded in ``data_root``; returns what was stopped."""
    data_root = Path(data_root)
    stopped = []
    for kind in kinds:
        if kind not in _STOPPERS:
            raise ValueError(f"unknown server kind {kind!r}")
        if _STOPPERS[kind](data_root):
            stopped.append(kind)
        clear_state(data_root, kind)
    return stopped
