"""Helpers for the tests of lists, exports and estimates: an API client, and leads, runs and
imports put straight into the database in the states a test needs."""

from __future__ import annotations

import itertools
import json
from typing import Any

import falcon.testing
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import AppDeps
from pipeline import transitions
from pipeline.config import Settings
from pipeline.context import Context
from tests.integration.helpers import auth_headers

_serial = itertools.count(1)


def client(settings: Settings, engine: Engine, account_id: int = 1) -> falcon.testing.TestClient:
    """The app, with an API key of ``account_id`` on every request."""
    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(ctx=ctx, dispatch=lambda _: None, fetch_results=lambda _: None)
    return falcon.testing.TestClient(create_app(deps), headers=auth_headers(engine, account_id))


def add_leads(
    engine: Engine,
    n: int,
    *,
    account_id: int = 1,
    url: str | None = "https://acme.test",
    **fields: str,
) -> list[int]:
    rows = []
    for _ in range(n):
        k = next(_serial)
        rows.append(
            {
                "name": fields.get("name", f"Person {k}"),
                "email": fields.get("email", f"person{k}@acme.test"),
                "company": fields.get("company", f"Company {k}"),
                "title": fields.get("title", ""),
                "company_url": url,
            }
        )
    with engine.begin() as conn:
        return transitions.insert_leads(conn, account_id, rows)


def sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def add_account(engine: Engine, name: str = "other") -> int:
    return sql(engine, "INSERT INTO accounts (name) VALUES (:name) RETURNING id", name=name)[0].id


def add_run(engine: Engine, lead_ids: list[int], *, account_id: int = 1) -> int:
    """A run covering ``lead_ids`` (its rows only; nothing is queued)."""
    run_id = sql(
        engine,
        "INSERT INTO runs (account_id, status, lead_count) VALUES (:a, 'completed', :n) "
        "RETURNING id",
        a=account_id,
        n=len(lead_ids),
    )[0].id
    sql(
        engine,
        "INSERT INTO run_leads (run_id, lead_id) SELECT :r, unnest(CAST(:ids AS bigint[]))",
        r=run_id,
        ids=lead_ids,
    )
    sql(engine, "UPDATE leads SET run_id = :r WHERE id = ANY(:ids)", r=run_id, ids=lead_ids)
    return run_id


def add_import(engine: Engine, n: int, *, account_id: int = 1) -> tuple[int, list[int]]:
    """An import record and the ``n`` leads it created (ids in its id range)."""
    ids = add_leads(engine, n, account_id=account_id)
    import_id = sql(
        engine,
        "INSERT INTO imports (account_id, accepted, first_lead_id, last_lead_id) "
        "VALUES (:a, :n, :first, :last) RETURNING id",
        a=account_id,
        n=n,
        first=min(ids),
        last=max(ids),
    )[0].id
    sql(engine, "UPDATE leads SET import_id = :i WHERE id = ANY(:ids)", i=import_id, ids=ids)
    return import_id, ids


def finish(
    engine: Engine,
    lead_id: int,
    *,
    fit_score: int | None = 80,
    subject: str = "A subject",
    body: str = "Hello,\nthe body.",
    usage: dict[str, int] | None = None,
) -> None:
    """Every stage completed, with results like the pipeline's (``usage`` on each LLM one)."""

    def result(text_: str, **extra: Any) -> str:
        return json.dumps({"text": text_, "usage": usage or {}, **extra})

    sql(
        engine,
        """
        UPDATE leads SET
            scrape_status = 'completed',
            scrape_result = CAST(:scrape AS jsonb),
            intel_status = 'completed', intel_result = CAST(:intel AS jsonb),
            strategy_status = 'completed', strategy_result = CAST(:strategy AS jsonb),
            subject_status = 'completed', subject_result = CAST(:subject AS jsonb),
            messaging_status = 'completed', messaging_result = CAST(:messaging AS jsonb),
            updated_at = now()
        WHERE id = :id
        """,
        id=lead_id,
        scrape=json.dumps({"pages": [{"url": "https://acme.test", "content": "x" * 5000}]}),
        intel=result(f"Report. Fit score: {fit_score}", fit_score=fit_score),
        strategy=result("Strategy."),
        subject=result(f"1. {subject}", options=[subject], chosen=subject),
        messaging=result(f"Subject: {subject}\n\n{body}", subject=subject, body=body),
    )


def fail_intel(engine: Engine, lead_id: int, error: str = "the model refused") -> None:
    sql(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'failed', "
        "intel_error = :error, updated_at = now() WHERE id = :id",
        id=lead_id,
        error=error,
    )
