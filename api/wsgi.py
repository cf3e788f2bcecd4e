"""The gunicorn entry point: ``gunicorn api.wsgi:app``."""

from __future__ import annotations

import logging

from sqlalchemy import text

from actors import deps as actor_deps
from actors.broker import broker
from actors.stages import fetch_batch_results, send
from api.app import create_app
from api.deps import AppDeps

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _check_database() -> None:
    with actor_deps.context().engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis() -> None:
    broker.client.ping()  # type: ignore[attr-defined]


app = create_app(
    AppDeps(
        ctx=actor_deps.context(),
        dispatch=send,
        fetch_results=fetch_batch_results.send,
        health_checks={"database": _check_database, "redis": _check_redis},
    )
)
