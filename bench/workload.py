"""Leads in, over the public API: create them, press Customize, wait until they are done."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from localservices.companies import sample_companies

#: Rows that are not finished yet, counted through the partial indexes (cheap at any size).
ACTIVE_SQL = " + ".join(
    f"(SELECT count(*) FROM leads WHERE {stage}_status = '{state}')"
    for stage in ("scrape", "intel", "strategy", "subject", "messaging")
    for state in ("queued", "started")
)


def lead_rows(n: int, site_url: str, offset: int = 0) -> list[dict[str, Any]]:
    """``n`` leads of distinct sample companies (distinct sites: no scrape is reused)."""
    companies = sample_companies(offset + n)[offset:]
    return [
        {
            "name": c.contact_name,
            "email": c.contact_email,
            "company": c.name,
            "company_url": c.url(site_url),
        }
        for c in companies
    ]


def create_leads(api: httpx.Client, rows: list[dict[str, Any]]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), 1000):
        response = api.post("/leads", json={"leads": rows[start : start + 1000]})
        response.raise_for_status()
        ids.extend(response.json()["ids"])
    return ids


def customize(api: httpx.Client, ids: list[int]) -> dict[str, Any]:
    response = api.post("/customize", json={"lead_ids": ids})
    response.raise_for_status()
    return response.json()


def active(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(f"SELECT {ACTIVE_SQL}").fetchone()[0])


def wait_until_settled(url: str, timeout: float, interval: float = 1.0) -> float:
    """Until no stage has queued or started rows; returns the seconds waited.

    Throughput is measured from the rows' own completion times, so how often this looks
    does not change it. It does change PostgreSQL's CPU, which the report charges to the
    pipeline: with autovacuum off the partial indexes fill with dead entries that each count
    visits. In 10,000-lead runs PostgreSQL spent 5.2 and 6.4 ms of CPU per lead with five
    looks a second, and 3.2 ms with one.
    """
    began = time.monotonic()
    deadline = began + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            left = int(conn.execute(f"SELECT {ACTIVE_SQL}").fetchone()[0])
            if left == 0:
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} stage rows still active after {timeout:.0f}s")
            time.sleep(interval)


def paced_customize(api: httpx.Client, ids: list[int], per_second: float, group: int) -> float:
    """Customize ``ids`` in groups of ``group`` at ``per_second`` leads a second; the
    seconds it took."""
    began = time.monotonic()
    for n, start in enumerate(range(0, len(ids), group)):
        due = began + n * group / per_second
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        customize(api, ids[start : start + group])
    return time.monotonic() - began
