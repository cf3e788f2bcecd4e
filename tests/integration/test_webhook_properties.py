"""Property tests of the webhook endpoints on a real database: whatever a correctly signed
sender (or anyone else) posts, the answer is never a 5xx, a refused callback changes
nothing, and an accepted one leaves every lead in a consistent state."""

from __future__ import annotations

import json
import time

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.deps import AppDeps
from pipeline.context import Context
from pipeline.signing import HEADER, sign
from tests.integration.helpers import make_leads, queue_scrape, row
from tests.integration.test_transitions import claim

pytestmark = pytest.mark.integration
SECRET = "test-secret"
PATHS = ("/webhooks/scraper", "/webhooks/llm")
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture
def world(settings, engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(ctx=ctx, dispatch=lambda e: None, fetch_results=lambda b: None)
    return falcon.testing.TestClient(create_app(deps)), engine, lead


def references(lead: int):
    stages = st.sampled_from(["scrape", "intel", "strategy", "nope"])
    return st.one_of(
        st.builds(lambda s, a: f"L{lead}-{s}-{a}", stages, st.integers(0, 3)),
        st.text(max_size=20),
        json_values,
    )


def scraper_payloads(lead: int):
    job = st.fixed_dictionaries(
        {},
        optional={
            "id": json_values,
            "status": st.sampled_from(["completed", "failed", "started", "x"]) | json_values,
            "result": json_values
            | st.fixed_dictionaries(
                {
                    "pages": st.lists(
                        st.dictionaries(
                            st.sampled_from(["content", "wordCount", "url"]), json_values
                        ),
                        max_size=3,
                    )
                },
                optional={"success": st.booleans()},
            ),
            "error": json_values,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "event": json_values,
            "job": job | json_values,
            "metadata": st.fixed_dictionaries({}, optional={"reference": references(lead)})
            | json_values,
        },
    )


def llm_payloads(lead: int):
    result = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["succeeded", "errored", "canceled", "x"]) | json_values,
            "message": json_values
            | st.fixed_dictionaries(
                {
                    "content": st.lists(
                        st.dictionaries(st.sampled_from(["type", "text"]), json_values), max_size=2
                    )
                }
            ),
            "error": json_values,
        },
    )
    item = st.fixed_dictionaries(
        {}, optional={"custom_id": references(lead), "result": result | json_values}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "batch": st.fixed_dictionaries(
                {},
                optional={
                    "id": json_values | st.just("msgbatch_1"),
                    "processing_status": json_values,
                },
            )
            | json_values,
            "results": st.lists(item | json_values, max_size=4) | json_values,
        },
    )


def snapshot(engine, lead):
    return row(engine, lead)


def post(client, path, raw: bytes, signed: bool = True):
    headers = {"Content-Type": "application/json"}
    if signed:
        headers[HEADER] = sign(SECRET, raw, int(time.time()))
    return client.simulate_post(path, body=raw, headers=headers)


def assert_consistent(after):
    if after["scrape_status"] == "completed":
        assert after["scrape_result"] is not None and after["intel_status"] == "queued"
    if after["scrape_status"] == "failed":
        assert after["scrape_error"] and after["intel_status"] == "pending"
    if after["intel_status"] == "completed":
        assert after["strategy_status"] == "queued"


def check(client, engine, lead, path, raw, signed=True):
    before = snapshot(engine, lead)
    response = post(client, path, raw, signed)
    assert response.status_code < 500, (response.status_code, response.text, raw[:300])
    after = snapshot(engine, lead)
    if response.status_code >= 300:
        assert after == before, "a refused callback changed the database"
    else:
        assert_consistent(after)
        assert after["scrape_attempt"] == before["scrape_attempt"]


@PROPERTY
@given(data=st.data())
def test_signed_arbitrary_bytes_never_cause_a_5xx_or_a_write(world, data):
    client, engine, lead = world
    raw = data.draw(st.binary(max_size=500))
    check(client, engine, lead, data.draw(st.sampled_from(PATHS)), raw)


@PROPERTY
@given(data=st.data())
def test_signed_arbitrary_json_never_causes_a_5xx_or_a_partial_write(world, data):
    client, engine, lead = world
    payload = data.draw(json_values)
    check(client, engine, lead, data.draw(st.sampled_from(PATHS)), json.dumps(payload).encode())


@PROPERTY
@given(data=st.data())
def test_signed_scraper_callbacks_of_any_shape_leave_the_lead_consistent(world, data):
    client, engine, lead = world
    payload = data.draw(scraper_payloads(lead))
    check(client, engine, lead, "/webhooks/scraper", json.dumps(payload).encode())


@PROPERTY
@given(data=st.data())
def test_signed_llm_callbacks_of_any_shape_leave_the_lead_consistent(world, data):
    client, engine, lead = world
    payload = data.draw(llm_payloads(lead))
    check(client, engine, lead, "/webhooks/llm", json.dumps(payload).encode())


@PROPERTY
@given(data=st.data())
def test_unsigned_callbacks_of_any_shape_are_refused_401_and_change_nothing(world, data):
    client, engine, lead = world
    payload = data.draw(scraper_payloads(lead))
    before = snapshot(engine, lead)
    response = post(client, "/webhooks/scraper", json.dumps(payload).encode(), signed=False)
    assert response.status_code == 401
    assert snapshot(engine, lead) == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event": "job.completed", "job": {"status": "completed", "result": {"duration": NaN}}}',
        b'{"job": {"status": Infinity}, "metadata": {}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_json_that_python_reads_but_postgres_would_not_store_is_a_400(world, raw):
    client, engine, lead = world
    before = snapshot(engine, lead)
    assert post(client, "/webhooks/scraper", raw).status_code == 400
    assert snapshot(engine, lead) == before


def test_text_with_nul_characters_completes_the_lead_with_the_nuls_dropped(world):
    client, engine, lead = world
    page = {"url": "https://acme.test/\x00", "title": "Ac\x00me", "content": "Acme \x00 robots"}
    payload = {
        "event": "job.completed",
        "job": {"id": "j1", "status": "completed", "result": {"success": True, "pages": [page]}},
        "metadata": {"reference": f"L{lead}-scrape-1"},
    }
    response = post(client, "/webhooks/scraper", json.dumps(payload).encode())
    assert response.status_code == 200, response.text
    after = snapshot(engine, lead)
    assert after["scrape_status"] == "completed"
    assert after["scrape_result"]["pages"][0]["content"] == "Acme  robots"


def test_an_error_message_with_nul_characters_fails_the_lead_with_its_reason(world):
    client, engine, lead = world
    payload = {
        "event": "job.failed",
        "job": {"id": "j1", "status": "failed", "error": "HTTP 404 Not Found at \x00x"},
        "metadata": {"reference": f"L{lead}-scrape-1"},
    }
    assert post(client, "/webhooks/scraper", json.dumps(payload).encode()).status_code == 200
    after = snapshot(engine, lead)
    assert (after["scrape_status"], after["scrape_error"]) == ("failed", "HTTP 404 Not Found at x")


@PROPERTY
@given(data=st.data())
def test_any_unicode_in_a_callback_never_causes_a_5xx(world, data):
    client, engine, lead = world
    text = data.draw(st.text(st.characters(codec=None, categories=None), max_size=40))
    page = {"url": text, "title": text, "content": f"words {text}"}
    payload = {
        "event": "job.completed",
        "job": {"id": text, "status": "completed", "error": text, "result": {"pages": [page]}},
        "metadata": {"reference": f"L{lead}-scrape-{data.draw(st.integers(0, 2))}"},
    }
    raw = json.dumps(payload).encode()  # lone surrogates travel as \\ud800 escapes
    check(client, engine, lead, "/webhooks/scraper", raw)


def test_a_lone_surrogate_in_a_callback_is_not_a_5xx(world):
    client, engine, lead = world
    raw = (
        '{"event": "job.completed", "job": {"id": "j", "status": "completed", "result": '
        '{"pages": [{"content": "words \\ud800 here"}]}}, "metadata": {"reference": '
        f'"L{lead}-scrape-1"}}}}'
    ).encode()
    check(client, engine, lead, "/webhooks/scraper", raw)
