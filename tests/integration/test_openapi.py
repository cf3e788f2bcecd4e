"""The OpenAPI document (``GET /openapi.json``, built in ``api/openapi.py``) against the app.

Schemathesis sends every operation the examples the document names, the boundary cases of
its parameters and bodies (coverage phase) and a bounded number of generated requests,
valid and invalid (fuzzing phase), in process through WSGI, with an API key of the default
account. All operations share one database, seeded with leads at several points of the
pipeline, two runs, an import with rejections, a replaced result and another account's
lead (objects with id 1 exist: the document's path examples), so what one operation
writes (odd names from ``POST /leads``, imports, cancelled runs) is read by the next ones.

No answer may be a 5xx, and each must be a status the document lists for the operation,
with the documented content type and a body its schema accepts. Webhook requests are
signed with the test secret, so their bodies get past the signature into the handlers.
Deterministic (a fixed seed, no example database): CI sees what a laptop sees.
"""

from __future__ import annotations

import collections
import json
import os
import re
import time
from collections.abc import Iterator

import falcon
import falcon.inspect
import falcon.testing
import hypothesis
import jsonschema_rs
import psycopg
import pytest
import schemathesis
from psycopg import sql
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import AppDeps
from api.openapi import document
from pipeline import imports, runs
from pipeline.config import Settings
from pipeline.context import Context
from pipeline.db import make_engine
from pipeline.signing import HEADER, sign
from tests.conftest import REDIS_URL, RUN_ID, database_url
from tests.integration.helpers import auth_headers, execute, make_leads, now

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Generated requests per operation in the fuzzing phase (examples and coverage come on top);
#: ``LEADPIPE_OPENAPI_EXAMPLES=500`` for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("LEADPIPE_OPENAPI_EXAMPLES", "25"))
SEED = 20240601

SEED_CSV = (
    b"Email,Name,Company,Website,Notes\n"
    b"imp1@beta.test,Imp One,Beta,https://beta.test,x\n"
    b"not-an-email,Imp Two,Beta,https://beta.test,x\n"
    b"imp1@beta.test,Imp Three,Beta,https://beta.test,x\n"
    b"imp4@beta.test,Imp Four,Beta,ftp://nope,x\n"
)

schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
        }
    ),
)

#: "METHOD /path" -> statuses answered, across the run (see the last test).
STATUSES: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


def _admin() -> psycopg.Connection:
    return psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def shared_settings(template_db: str, redis_namespace: str) -> Iterator[Settings]:
    """One database for the whole module (a fresh one per operation would cost more than
    the operation's requests), cloned from the session's template."""
    name = f"lpt_{RUN_ID}_openapi"
    with _admin() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield Settings(
        database_url=database_url(name),
        redis_url=REDIS_URL,
        redis_namespace=redis_namespace,
        webhook_secret="test-secret",
    )
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def shared_engine(shared_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(shared_settings)
    _seed(engine)
    yield engine
    engine.dispose()


def _seed(engine: Engine) -> None:
    ids = make_leads(engine, 6)
    make_leads(engine, 1, url=None)
    done, failed = ids[0], ids[1]
    assert done == 1
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'completed', scrape_result = '{\"pages\": []}',"
        ' intel_status = \'completed\', intel_result = \'{"text": "i", "fit_score": 87}\','
        " strategy_status = 'completed', strategy_result = '{\"text\": \"s\"}',"
        " subject_status = 'completed', subject_result = '{\"chosen\": \"Hi\"}',"
        " messaging_status = 'completed',"
        ' messaging_result = \'{"subject": "Hi", "body": "=1+1"}\','
        " llm_input_tokens = 1200, llm_output_tokens = 300 WHERE id = :id",
        id=done,
    )
    execute(
        engine,
        "UPDATE leads SET scrape_status = 'failed', scrape_error = 'HTTP 404' WHERE id = :id",
        id=failed,
    )
    # Run 1 regenerates lead 1's subject line (its old one becomes a version); run 2 has a cap.
    rerun = runs.start_run(engine, 1, runs.Selection(lead_ids=(done,)), now(), from_stage="subject")
    assert rerun.run_id == 1
    runs.start_run(engine, 1, runs.Selection(lead_ids=tuple(ids[2:4])), now(), budget_usd=5)
    runs.rollup(engine, now(), 3.0, 15.0)
    record = imports.import_csv(
        engine, 1, iter([SEED_CSV]), now=now(), max_bytes=1 << 20, filename="seed.csv"
    )
    assert record["id"] == 1 and record["rejected"] == 3
    execute(engine, "INSERT INTO accounts (name) VALUES ('other')")
    make_leads(engine, 1, account_id=2)


@pytest.fixture(scope="module")
def app(shared_settings: Settings, shared_engine: Engine) -> falcon.App:
    def check_database() -> None:
        with shared_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    deps = AppDeps(
        ctx=Context.build(shared_settings, engine=shared_engine),
        dispatch=lambda effects: None,
        fetch_results=lambda batch_id: None,
        health_checks={"database": check_database},
    )
    return create_app(deps)


@pytest.fixture(scope="module")
def key_headers(shared_engine: Engine) -> dict[str, str]:
    return auth_headers(shared_engine)


def _signed_call(case, app: falcon.App, secret: str):
    """Send a webhook case with its body signed as the service would sign it."""
    if isinstance(case.body, NotSet):
        body = b""
    elif isinstance(case.body, bytes):  # a negative case: not JSON at all
        body = case.body
    else:
        body = json.dumps(case.body, default=str).encode()
    signature = sign(secret, body, int(time.time()))
    return case.call_and_validate(app=app, headers={HEADER: signature}, data=body, checks=CHECKS)


@schema.parametrize()
@hypothesis.settings(suppress_health_check=list(hypothesis.HealthCheck))
def test_every_answer_is_one_the_document_describes(case, app, key_headers, shared_settings):
    if case.path.startswith("/webhooks/"):
        response = _signed_call(case, app, shared_settings.webhook_secret)
    else:
        response = case.call_and_validate(app=app, headers=key_headers, checks=CHECKS)
    STATUSES[f"{case.method.upper()} {case.path}"][response.status_code] += 1


def test_the_run_reached_past_validation_on_every_operation_it_sent():
    """Guards the run above against passing while testing little (a key that stopped
    working makes every answer a documented 401): each operation was answered 2xx at least
    once. Operations deselected with -k are not asked about."""
    documented = {
        f"{method.upper()} {path}" for path, item in document()["paths"].items() for method in item
    }
    sent = {
        operation: statuses for operation, statuses in STATUSES.items() if operation in documented
    }
    if not sent:
        pytest.skip("the schemathesis run did not run in this session")
    never_ok = sorted(
        op for op, statuses in sent.items() if not any(200 <= s < 300 for s in statuses)
    )
    assert never_ok == [], {op: dict(sent[op]) for op in never_ok}


# What the schemathesis run (and its negative-data checks) found, fixed, kept fixed:


def test_a_runs_cursor_past_the_largest_id_is_a_400_not_a_500(app, key_headers):
    client = falcon.testing.TestClient(app, headers=key_headers)
    assert client.simulate_get("/runs", params={"after": str(2**63)}).status_code == 400


def test_customize_only_starts_runs(app, key_headers):
    client = falcon.testing.TestClient(app, headers=key_headers)
    assert client.simulate_get("/customize").status_code == 405


@pytest.mark.parametrize("path", ["/runs", "/customize"])
def test_a_misspelt_run_option_is_a_422_and_starts_nothing(app, key_headers, shared_engine, path):
    client = falcon.testing.TestClient(app, headers=key_headers)
    with shared_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM runs")).scalar_one()
    response = client.simulate_post(path, json={"lead_ids": [5], "budget": 1})
    assert response.status_code == 422
    assert "budget" in response.json["description"]
    with shared_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == before


def test_retry_failed_with_a_misspelt_field_is_a_422_not_a_retry_of_everything(app, key_headers):
    client = falcon.testing.TestClient(app, headers=key_headers)
    response = client.simulate_post("/runs/2/retry-failed", json={"error_prefix": ["HTTP 503"]})
    assert response.status_code == 422


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*"])
def test_an_error_is_json_whatever_the_client_accepts(app, key_headers, accept):
    client = falcon.testing.TestClient(app, headers={**key_headers, "Accept": accept})
    response = client.simulate_get("/leads/999999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json["title"]


def test_the_document_is_an_openapi_3_1_document_of_valid_json_schemas():
    doc = document()
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(doc)]
    assert errors == []
    for name, component in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), name


def test_the_document_is_served_without_a_key(app):
    response = falcon.testing.TestClient(app).simulate_get("/openapi.json")
    assert response.status_code == 200
    assert response.json == document()
    assert response.json["openapi"].startswith("3.1")


def _template(path: str) -> str:
    """``/leads/{lead_id:int(min=1)}`` → ``/leads/{lead_id}``."""
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", path)


def test_every_route_of_the_app_is_in_the_document(app):
    routes = {
        (_template(route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }
    documented = {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    }
    assert sorted(routes - documented) == [], "routes missing from api/openapi.py"
    assert sorted(documented - routes) == [], "operations in api/openapi.py the app lacks"
