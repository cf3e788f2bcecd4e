"""Leads through all five stages with real processes, Postgres, Redis and HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from localservices.companies import sample_companies

pytestmark = pytest.mark.e2e


def sample_leads(site: str, n: int, offset: int = 0) -> list[dict]:
    leads = []
    for c in sample_companies(n + offset)[offset:]:
        leads.append(
            {
                "name": c.contact_name,
                "email": c.contact_email,
                "company": c.name,
                "company_url": c.url(site),
            }
        )
    return leads


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().all()


def test_two_hundred_leads_reach_a_finished_email_that_names_their_company(leadpipe, engine):
    app = leadpipe()
    leads = sample_leads(app.site, 200)
    ids = app.create_leads(leads)
    report = app.customize(ids)
    assert len(report["queued"]) == 200
    app.wait_until_settled(timeout=120)
    done = rows(
        engine,
        "SELECT id, company, messaging_status, messaging_result, "
        "intel_result FROM leads ORDER BY id",
    )
    assert [r["messaging_status"] for r in done] == ["completed"] * 200
    for r in done:
        assert r["company"] in r["messaging_result"]["body"]
        assert 0 <= r["intel_result"]["fit_score"] <= 100
    attempts = rows(
        engine,
        "SELECT scrape_attempt + intel_attempt + strategy_attempt + "
        "subject_attempt + messaging_attempt AS n FROM leads",
    )
    assert {r["n"] for r in attempts} == {5}, "one attempt per stage: nothing ran twice"
