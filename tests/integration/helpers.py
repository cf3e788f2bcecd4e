"""Small helpers for integration tests that talk to a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from pipeline import accounts, runs, transitions


def now() -> datetime:
    return datetime.now(UTC)


def make_leads(engine: Engine, n: int, *, url: str | None = "https://acme.test", account_id=1):
    rows = [
        {
            "name": f"Person {i}",
            "email": f"p{i}@acme.test",
            "company": f"Company {i}",
            "company_url": url,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        return transitions.insert_leads(conn, account_id, rows)


def queue_scrape(engine: Engine, ids: list[int]) -> int | None:
    """Customize: a run over ``ids`` with their scrape stage queued; returns the run id."""
    return runs.start_run(engine, 1, runs.Selection(lead_ids=tuple(ids)), now()).run_id


def row(engine: Engine, lead_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM leads WHERE id = :id"), {"id": lead_id})
            .mappings()
            .one()
        )


def execute(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def api_key(engine: Engine, account_id: int = accounts.DEFAULT_ACCOUNT_ID) -> str:
    """A new API key for the account (the default one unless told)."""
    return accounts.create_key(engine, account_id, label="test").key


def auth_headers(engine: Engine, account_id: int = accounts.DEFAULT_ACCOUNT_ID) -> dict[str, str]:
    """Headers that authenticate a request as the account (a new key each call)."""
    return {"Authorization": f"Bearer {api_key(engine, account_id)}"}
