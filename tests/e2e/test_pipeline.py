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
    assert app.tracebacks() == []


def assert_every_lead_finished_once(app, engine, n: int) -> None:
    done = rows(engine, "SELECT messaging_status, company, messaging_result FROM leads")
    assert [r["messaging_status"] for r in done] == ["completed"] * n
    assert all(r["company"] in r["messaging_result"]["body"] for r in done)
    for service in ("scraper", "llm"):
        assert app.service_stats(service)["duplicate_references"] == []
    assert app.tracebacks() == []


def test_with_a_tenth_of_callbacks_lost_the_poller_still_finishes_every_lead(leadpipe, engine):
    flags = "--callback-loss 0.1 --seed 11"
    app = leadpipe(scraper_flags=flags, llm_flags=flags)
    ids = app.create_leads(sample_leads(app.site, 200))
    app.customize(ids)
    app.wait_until_settled(timeout=120)
    assert_every_lead_finished_once(app, engine, 200)
    lost = (
        app.service_stats("scraper")["callbacks_lost"] + app.service_stats("llm")["callbacks_lost"]
    )
    assert lost > 0, "the knob really dropped callbacks"
    polled = rows(
        engine,
        "SELECT count(*) AS n FROM leads WHERE scrape_polled_at IS NOT NULL "
        "OR intel_polled_at IS NOT NULL OR strategy_polled_at IS NOT NULL "
        "OR subject_polled_at IS NOT NULL OR messaging_polled_at IS NOT NULL",
    )
    assert polled[0]["n"] > 0, "those leads were finished by the poller"


def test_duplicate_and_early_callbacks_never_complete_a_stage_twice(leadpipe, engine):
    flags = "--callback-duplicate 0.3 --callback-early 0.3 --seed 5"
    app = leadpipe(scraper_flags=flags, llm_flags=flags)
    ids = app.create_leads(sample_leads(app.site, 200))
    app.customize(ids)
    app.wait_until_settled(timeout=120)
    assert_every_lead_finished_once(app, engine, 200)
    attempts = rows(
        engine,
        "SELECT scrape_attempt + intel_attempt + strategy_attempt + "
        "subject_attempt + messaging_attempt AS n FROM leads",
    )
    assert {r["n"] for r in attempts} == {5}
    scraper, llm = app.service_stats("scraper"), app.service_stats("llm")
    assert scraper["callbacks_duplicated"] > 0 and llm["processed_early"] > 0


def test_a_site_that_answers_404_fails_its_lead_at_scrape_and_the_others_finish(leadpipe, engine):
    app = leadpipe()
    leads = sample_leads(app.site, 20)
    leads.append(
        {
            "name": "Nobody",
            "email": "no@missing.example",
            "company": "Missing Inc",
            "company_url": f"{app.site}/missing/",
        }
    )
    ids = app.create_leads(leads)
    app.customize(ids)
    app.wait_until_settled(timeout=60)
    missing = rows(engine, "SELECT * FROM leads WHERE id = :id", id=ids[-1])[0]
    assert missing["scrape_status"] == "failed"
    assert "404" in missing["scrape_error"]
    assert missing["scrape_retry_count"] == 0, "a hard error is not retried"
    assert missing["intel_status"] == "pending"
    others = rows(engine, "SELECT messaging_status FROM leads WHERE id <> :id", id=ids[-1])
    assert [r["messaging_status"] for r in others] == ["completed"] * 20


def test_with_callbacks_switched_off_the_poller_alone_finishes_every_lead(leadpipe, engine):
    app = leadpipe(callbacks=False)
    ids = app.create_leads(sample_leads(app.site, 50))
    app.customize(ids)
    app.wait_until_settled(timeout=120)
    assert_every_lead_finished_once(app, engine, 50)
    assert app.service_stats("scraper")["callbacks_sent"] == 0
