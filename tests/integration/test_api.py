"""The JSON API on a real database."""

from __future__ import annotations

import falcon.testing
import pytest

from api.app import create_app
from api.deps import AppDeps
from pipeline.context import Context
from tests.integration.helpers import auth_headers, execute, make_leads

pytestmark = pytest.mark.integration


@pytest.fixture
def api(settings, engine):
    effects = []
    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(
        ctx=ctx,
        dispatch=effects.append,
        fetch_results=lambda _: None,
        health_checks={"database": lambda: None},
    )
    client = falcon.testing.TestClient(create_app(deps), headers=auth_headers(engine))
    client.effects = effects
    return client


LEAD = {
    "name": "Ada",
    "email": "ada@acme.test",
    "company": "Acme",
    "company_url": "https://acme.test",
}


def test_one_lead_is_created_from_a_json_object(api):
    response = api.simulate_post("/leads", json=LEAD)
    assert response.status_code == 201
    lead = api.simulate_get(f"/leads/{response.json['id']}").json
    assert lead["email"] == "ada@acme.test"
    assert set(lead["stages"]) == {"scrape", "intel", "strategy", "subject", "messaging"}
    assert lead["stages"]["scrape"]["status"] == "pending"


def test_many_leads_are_created_in_one_request(api):
    response = api.simulate_post("/leads", json={"leads": [LEAD, dict(LEAD, email="b@acme.test")]})
    assert response.status_code == 201
    assert len(response.json["ids"]) == 2


def test_a_bulk_request_with_bad_rows_is_a_422_naming_each_bad_field_and_writes_nothing(
    api, engine
):
    bad = [LEAD, {"email": "nope", "company_url": "ftp://x"}, {"name": "no email"}]
    response = api.simulate_post("/leads", json={"leads": bad})
    assert response.status_code == 422
    problems = response.json["problems"]
    assert [p["index"] for p in problems] == [1, 2]
    assert set(problems[0]["errors"]) == {"email", "company_url"}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM leads").scalar() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"name=x", "application/x-www-form-urlencoded", 415),
        (b"", "application/json", 400),
        (b"[]", "application/json", 422),
    ],
)
def test_a_body_that_is_not_a_json_lead_gets_a_clear_4xx(api, body, content_type, status):
    response = api.simulate_post("/leads", body=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json["title"]


def test_customize_reports_what_it_queued_skipped_left_alone_and_could_not_find(api, engine):
    a, b = make_leads(engine, 2)
    [no_url] = make_leads(engine, 1, url=None)
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'queued', scrape_run_after = now() WHERE id = :id",
        id=b,
    )
    response = api.simulate_post("/customize", json={"lead_ids": [a, b, no_url, 999999]})
    assert response.status_code == 201
    assert response.json == {
        "run_id": response.json["run_id"],
        "queued": [a],
        "skipped": [no_url],
        "already_active": [b],
        "not_found": [999999],
    }
    assert api.effects[-1].kicks == [("scrape", 0.0)]


@pytest.mark.parametrize(
    "body", [{}, {"lead_ids": []}, {"lead_ids": ["1"]}, {"lead_ids": [0]}, {"lead_ids": [True]}]
)
def test_customize_with_bad_ids_is_a_422(api, body):
    assert api.simulate_post("/customize", json=body).status_code == 422


def test_another_accounts_lead_is_not_found(api, engine):
    execute(engine, "INSERT INTO accounts (name) VALUES ('other')")
    [theirs] = make_leads(engine, 1, account_id=2)
    assert api.simulate_get(f"/leads/{theirs}").status_code == 404
    assert api.simulate_post("/customize", json={"lead_ids": [theirs]}).json["not_found"] == [
        theirs
    ]


def test_status_counts_leads_per_stage_and_state(api, engine):
    a, _b = make_leads(engine, 2)
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'started', "
        "intel_started_at = now() WHERE id = :id",
        id=a,
    )
    stages = {s["stage"]: s for s in api.simulate_get("/status").json["stages"]}
    assert (stages["scrape"]["pending"], stages["scrape"]["completed"]) == (1, 1)
    assert stages["intel"]["started"] == 1
    assert stages["messaging"]["pending"] == 2


def test_healthz_is_200_when_every_check_passes_and_503_naming_the_one_that_fails(settings, engine):
    def broken():
        raise ConnectionError("redis down")

    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(
        ctx=ctx,
        dispatch=lambda e: None,
        fetch_results=lambda _: None,
        health_checks={"database": lambda: None, "redis": broken},
    )
    response = falcon.testing.TestClient(create_app(deps)).simulate_get("/healthz")
    assert response.status_code == 503
    assert list(response.json["problems"]) == ["redis"]
