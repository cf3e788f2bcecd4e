"""Every endpoint that takes a body refuses one over its limit with 413, and writes nothing."""

from __future__ import annotations

import falcon.testing
import pytest
from sqlalchemy import text

from api.app import create_app
from api.deps import AppDeps
from api.http import MAX_JSON_BYTES
from pipeline.context import Context
from tests.integration.helpers import auth_headers, make_leads, queue_scrape

pytestmark = pytest.mark.integration
IMPORT_LIMIT = 10_000


@pytest.fixture
def api(settings, engine):
    ctx = Context.build(settings.with_(import_max_bytes=IMPORT_LIMIT), engine=engine)
    deps = AppDeps(ctx=ctx, dispatch=lambda e: None, fetch_results=lambda b: None)
    return falcon.testing.TestClient(create_app(deps), headers=auth_headers(engine))


def counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("leads", "runs", "run_events")
        )


def json_body_over(limit: int) -> bytes:
    return b'{"leads": [' + b'{"name": "x"},' * (limit // 14 + 1) + b'{"name": "x"}]}'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/leads"),
        ("POST", "/customize"),
        ("POST", "/runs"),
        ("POST", "/estimate"),
        ("PATCH", "/runs/{run}"),
        ("POST", "/runs/{run}/retry-failed"),
    ],
)
def test_a_json_body_over_the_limit_is_refused_with_413_and_writes_nothing(
    api, engine, method, path
):
    [lead] = make_leads(engine, 1)
    run = queue_scrape(engine, [lead])
    before = counts(engine)
    response = api.simulate_request(
        method,
        path.format(run=run),
        body=json_body_over(MAX_JSON_BYTES),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json["title"]
    assert counts(engine) == before


def test_a_csv_import_over_its_limit_is_refused_with_413_and_writes_nothing(api, engine):
    before = counts(engine)
    body = b"email,name\n" + b"a@b.test,A\n" * (IMPORT_LIMIT // 10)
    response = api.simulate_post("/imports", body=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 413, response.text
    assert counts(engine) == before
