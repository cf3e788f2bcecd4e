"""API keys on a real database: who may call, and that an account sees only its own."""

from __future__ import annotations

from datetime import UTC, datetime

import falcon.testing
import pytest
from sqlalchemy import text

from api.app import create_app
from api.deps import AppDeps
from pipeline import accounts
from pipeline.context import Context
from tests.integration.helpers import api_key

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings, engine) -> falcon.testing.TestClient:
    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(
        ctx=ctx,
        dispatch=lambda e: None,
        fetch_results=lambda _: None,
        health_checks={"database": lambda: None},
    )
    return falcon.testing.TestClient(create_app(deps))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def other_account(engine) -> int:
    with engine.begin() as conn:
        account_id, created = accounts.ensure_account(conn, "other")
    assert created
    return account_id


def test_a_request_without_a_key_is_a_401_that_says_how_to_send_one(client):
    response = client.simulate_get("/status")
    assert response.status_code == 401
    assert response.json["title"] == "API key required"
    assert "X-API-Key" in response.json["description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer lp_" + "A" * 43},  # well formed, never issued
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "lp_short"},
    ],
)
def test_a_key_that_was_never_issued_is_a_401(client, engine, headers):
    api_key(engine)  # there are keys; just not this one
    response = client.simulate_get("/status", headers=headers)
    assert response.status_code == 401
    assert response.json["title"] == "Invalid API key"


def test_a_key_works_in_either_header(client, engine):
    key = api_key(engine)
    assert client.simulate_get("/status", headers=bearer(key)).status_code == 200
    assert client.simulate_get("/status", headers={"X-API-Key": key}).status_code == 200


def test_a_revoked_key_is_a_401_that_says_it_was_revoked(client, engine):
    new = accounts.create_key(engine)
    assert accounts.revoke_key(engine, new.id, datetime.now(UTC))
    assert not accounts.revoke_key(engine, new.id, datetime.now(UTC)), "revoking twice is a no-op"
    response = client.simulate_get("/status", headers=bearer(new.key))
    assert response.status_code == 401
    assert response.json["title"] == "Revoked API key"


def test_a_revocation_reaches_a_web_process_once_its_cache_time_has_passed(engine):
    now = [0.0]
    resolver = accounts.KeyResolver(engine, ttl=10, clock=lambda: now[0])
    new = accounts.create_key(engine)
    assert resolver.resolve(new.key).revoked is False
    accounts.revoke_key(engine, new.id, datetime.now(UTC))
    now[0] = 9.0
    assert resolver.resolve(new.key).revoked is False, "remembered for the cache time"
    now[0] = 10.5
    assert resolver.resolve(new.key).revoked is True


def test_only_the_hash_and_a_short_prefix_of_a_key_are_stored(engine):
    new = accounts.create_key(engine, label="ci")
    assert accounts.KEY_FORMAT.fullmatch(new.key)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": new.id}).one()
    assert bytes(row.key_hash) == accounts.hash_key(new.key)
    assert row.prefix == new.key[:11] and new.key not in str(tuple(row))


def test_health_dashboard_and_webhooks_need_no_key(client):
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/").status_code == 200
    webhook = client.simulate_post("/webhooks/scraper", json={})
    assert webhook.json["title"] == "Bad signature", "checked by its signature, not a key"


def test_a_second_account_sees_nothing_of_the_first(client, engine):
    mine = bearer(api_key(engine))
    theirs = bearer(api_key(engine, other_account(engine)))
    imported = client.simulate_post(
        "/imports",
        body=b"email,website\nada@acme.test,acme.test\nbad,acme.test\n",
        headers={**mine, "Content-Type": "text/csv"},
    ).json
    with engine.connect() as conn:
        lead_id = conn.execute(text("SELECT id FROM leads WHERE email = 'ada@acme.test'")).scalar()
    run = client.simulate_post("/customize", json={"lead_ids": [lead_id]}, headers=mine).json
    assert run["queued"] == [lead_id]

    for path, query in (
        (f"/leads/{lead_id}", ""),
        (f"/leads/{lead_id}/versions", ""),
        (f"/imports/{imported['id']}", ""),
        (f"/imports/{imported['id']}/rejections", ""),
        (f"/runs/{run['run_id']}", ""),
        ("/leads", f"import={imported['id']}"),
        ("/leads", f"run={run['run_id']}"),
        ("/exports/leads.csv", f"import={imported['id']}"),
    ):
        assert client.simulate_get(path, query_string=query, headers=mine).status_code == 200
        answer = client.simulate_get(path, query_string=query, headers=theirs)
        assert answer.status_code == 404, (path, query)
    for action in ("pause", "cancel"):
        response = client.simulate_post(f"/runs/{run['run_id']}/{action}", headers=theirs)
        assert response.status_code == 404, action
    budget = client.simulate_patch(f"/runs/{run['run_id']}", json={"budget_usd": 1}, headers=theirs)
    assert budget.status_code == 404
    again = client.simulate_post("/customize", json={"lead_ids": [lead_id]}, headers=theirs)
    assert again.json["not_found"] == [lead_id] and again.json["queued"] == []
    assert client.simulate_get("/imports", headers=theirs).json["items"] == []
    stages = client.simulate_get("/status", headers=theirs).json["stages"]
    assert sum(s[k] for s in stages for k in s if k != "stage") == 0

    # The same email is new to the other account: uniqueness is per account.
    same = client.simulate_post(
        "/imports",
        body=b"email\nada@acme.test\n",
        headers={**theirs, "Content-Type": "text/csv"},
    )
    assert same.json["accepted"] == 1
