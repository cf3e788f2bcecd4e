"""Webhook endpoints on a real database: signatures, duplicates, early and stale callbacks."""

from __future__ import annotations

import json
import time

import falcon.testing
import pytest

from api.app import create_app
from api.deps import AppDeps
from pipeline.context import Context
from pipeline.signing import HEADER, sign
from tests.integration.helpers import execute, make_leads, queue_scrape, row
from tests.integration.test_transitions import claim

pytestmark = pytest.mark.integration
SECRET = "test-secret"


@pytest.fixture
def app(settings, engine):
    sent = {"effects": [], "fetch": []}
    ctx = Context.build(settings, engine=engine)
    deps = AppDeps(ctx=ctx, dispatch=sent["effects"].append, fetch_results=sent["fetch"].append)
    client = falcon.testing.TestClient(create_app(deps))
    client.sent = sent
    return client


def post_signed(client, path, payload, *, secret=SECRET, at=None, body=None, headers=None):
    raw = body if body is not None else json.dumps(payload).encode()
    signature = sign(secret, raw, int(at if at is not None else time.time()))
    return client.simulate_post(
        path,
        body=raw,
        headers={"Content-Type": "application/json", HEADER: signature, **(headers or {})},
    )


def scrape_callback(lead_id, attempt=1, status="completed", text="Acme builds robots."):
    job = {"id": f"job-{lead_id}", "url": "https://acme.test", "status": status}
    if status == "completed":
        job["result"] = {
            "success": True,
            "pages": [
                {
                    "url": "https://acme.test",
                    "title": "Acme",
                    "content": text,
                    "wordCount": len(text.split()),
                }
            ],
        }
    else:
        job["error"] = text
    return {
        "event": f"job.{status}",
        "job": job,
        "metadata": {"reference": f"L{lead_id}-scrape-{attempt}"},
    }


@pytest.fixture
def started_lead(engine):
    [lead] = make_leads(engine, 1)
    queue_scrape(engine, [lead])
    claim(engine)
    return lead


def test_a_signed_scraper_callback_completes_scrape_and_queues_intel(app, engine, started_lead):
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead))
    assert response.status_code == 200
    assert response.json["completed"] == 1
    after = row(engine, started_lead)
    assert after["scrape_status"] == "completed"
    assert after["scrape_result"]["pages"][0]["content"] == "Acme builds robots."
    assert after["intel_status"] == "queued"
    assert app.sent["effects"][-1].kicks == [("intel", 0.0)]


def test_a_callback_arriving_before_the_job_id_was_stored_still_completes_its_row(
    app, engine, started_lead
):
    assert row(engine, started_lead)["scrape_job_id"] is None
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead))
    assert response.json["completed"] == 1
    assert row(engine, started_lead)["scrape_job_id"] == f"job-{started_lead}"


def test_a_duplicate_callback_is_answered_200_and_changes_nothing(app, engine, started_lead):
    post_signed(app, "/webhooks/scraper", scrape_callback(started_lead, text="first"))
    before = row(engine, started_lead)
    again = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead, text="second"))
    assert again.status_code == 200
    assert (again.json["completed"], again.json["ignored"]) == (0, 1)
    assert row(engine, started_lead) == before


def test_a_callback_for_an_older_attempt_is_answered_200_and_changes_nothing(
    app, engine, started_lead
):
    execute(engine, "UPDATE leads SET scrape_status = 'queued', scrape_run_after = now()")
    claim(engine)
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead, attempt=1))
    assert response.status_code == 200
    assert response.json["ignored"] == 1
    assert row(engine, started_lead)["scrape_status"] == "started"


def test_a_hard_site_error_in_a_callback_fails_the_lead_with_the_reason(app, engine, started_lead):
    payload = scrape_callback(started_lead, status="failed", text="HTTP 404 Not Found at x")
    assert post_signed(app, "/webhooks/scraper", payload).json["failed"] == 1
    after = row(engine, started_lead)
    assert after["scrape_status"] == "failed"
    assert "HTTP 404" in after["scrape_error"]


def test_a_site_with_no_text_fails_as_empty_content(app, engine, started_lead):
    payload = scrape_callback(started_lead, text="")
    assert post_signed(app, "/webhooks/scraper", payload).json["failed"] == 1
    assert row(engine, started_lead)["scrape_error"].startswith("empty content")


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"secret": "wrong"}, 401),
        ({"at": time.time() - 301}, 401),
        ({"headers": {HEADER: "t=1,v1=00"}}, 401),
        ({"headers": {"Content-Type": "text/plain"}}, 415),
    ],
)
def test_forged_expired_or_mistyped_callbacks_are_rejected_and_change_nothing(
    app, engine, started_lead, kwargs, status
):
    before = row(engine, started_lead)
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead), **kwargs)
    assert response.status_code == status
    assert response.json["title"]
    assert row(engine, started_lead) == before


def test_a_tampered_body_is_rejected(app, engine, started_lead):
    raw = json.dumps(scrape_callback(started_lead)).encode()
    signature = sign(SECRET, raw, int(time.time()))
    response = app.simulate_post(
        "/webhooks/scraper",
        body=raw.replace(b"robots", b"rockets"),
        headers={"Content-Type": "application/json", HEADER: signature},
    )
    assert response.status_code == 401
    assert row(engine, started_lead)["scrape_status"] == "started"


def test_an_oversized_callback_is_refused_before_it_is_read(app, started_lead):
    body = b"{" + b" " * (9 * 1024 * 1024) + b"}"
    response = post_signed(app, "/webhooks/scraper", None, body=body)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "payload",
    [[], {"job": "x", "metadata": {}}, {"job": {}, "metadata": {"reference": "nope"}}],
)
def test_a_signed_but_malformed_callback_is_a_400(app, payload):
    assert post_signed(app, "/webhooks/scraper", payload).status_code == 400


def llm_item(lead_id, stage, attempt=1, text=None, error_type=None):
    if error_type:
        result = {
            "type": "errored",
            "error": {"type": "error", "error": {"type": error_type, "message": "x"}},
        }
    else:
        result = {
            "type": "succeeded",
            "message": {
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": 100, "output_tokens": 20},
            },
        }
    return {"custom_id": f"L{lead_id}-{stage}-{attempt}", "result": result}


def test_an_llm_batch_callback_settles_each_lead_by_its_custom_id(app, engine):
    a, b, c = make_leads(engine, 3)
    execute(engine, "UPDATE leads SET intel_status = 'queued', intel_run_after = now()")
    claim(engine, stage="intel")
    payload = {
        "type": "message_batch.ended",
        "batch": {"id": "msgbatch_1"},
        "results": [
            llm_item(a, "intel", text="Acme report.\nFit score: 72"),
            llm_item(b, "intel", error_type="overloaded_error"),
            llm_item(c, "intel", error_type="invalid_request_error"),
        ],
    }
    response = post_signed(app, "/webhooks/llm", payload)
    assert response.json == {"completed": 1, "failed": 1, "retried": 1, "ignored": 0}
    ra, rb, rc = row(engine, a), row(engine, b), row(engine, c)
    assert ra["intel_result"]["fit_score"] == 72
    assert ra["intel_job_id"] == "msgbatch_1"
    assert ra["strategy_status"] == "queued"
    assert (rb["intel_status"], rb["intel_retry_count"]) == ("queued", 1)
    assert rc["intel_status"] == "failed"


def test_an_llm_callback_without_results_has_them_fetched_by_a_worker(app):
    payload = {
        "type": "message_batch.ended",
        "batch": {"id": "msgbatch_9", "processing_status": "ended"},
    }
    response = post_signed(app, "/webhooks/llm", payload)
    assert response.status_code == 202
    assert app.sent["fetch"] == ["msgbatch_9"]


def test_a_callback_about_a_lead_that_does_not_exist_is_a_404_and_changes_nothing(
    app, engine, started_lead
):
    before = row(engine, started_lead)
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead + 1000))
    assert response.status_code == 404
    assert "no lead" in response.json["description"]
    assert row(engine, started_lead) == before
    assert app.sent["effects"] == []


def test_llm_results_that_name_only_unknown_leads_are_a_404(app, engine, started_lead):
    payload = {
        "type": "message_batch.ended",
        "batch": {"id": "msgbatch_x"},
        "results": [llm_item(started_lead + 1000, "intel", text="Fit score: 5")],
    }
    before = row(engine, started_lead)
    assert post_signed(app, "/webhooks/llm", payload).status_code == 404
    assert row(engine, started_lead) == before


def test_a_stale_callback_about_a_lead_that_exists_is_still_answered_200(app, engine, started_lead):
    response = post_signed(app, "/webhooks/scraper", scrape_callback(started_lead, attempt=9))
    assert response.status_code == 200
    assert response.json["ignored"] == 1


def test_a_valid_callback_replayed_after_the_tolerance_is_refused_and_changes_nothing(
    settings, engine, started_lead
):
    raw = json.dumps(scrape_callback(started_lead)).encode()
    header = sign(SECRET, raw, int(time.time()))
    ctx = Context.build(settings, engine=engine)
    later = AppDeps(
        ctx=ctx, dispatch=lambda e: None, fetch_results=lambda b: None,
        wallclock=lambda: time.time() + 301,
    )  # fmt: skip
    replay = falcon.testing.TestClient(create_app(later))
    before = row(engine, started_lead)
    response = replay.simulate_post(
        "/webhooks/scraper",
        body=raw,
        headers={"Content-Type": "application/json", HEADER: header},
    )
    assert response.status_code == 401
    assert "tolerance" in response.json["description"]
    assert row(engine, started_lead) == before


@pytest.mark.parametrize("path", ["/webhooks/scraper", "/webhooks/llm"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({}, 415),
    ],
)
def test_every_webhook_refuses_a_body_that_is_not_json_by_its_content_type(
    app, engine, started_lead, path, headers, status
):
    raw = json.dumps(scrape_callback(started_lead)).encode()
    signed = {HEADER: sign(SECRET, raw, int(time.time()))}
    before = row(engine, started_lead)
    response = app.simulate_post(path, body=raw, headers={**signed, **headers})
    assert response.status_code == status
    assert row(engine, started_lead) == before


@pytest.mark.parametrize("path", ["/webhooks/scraper", "/webhooks/llm"])
def test_every_webhook_refuses_an_oversized_body_with_413(app, path):
    body = b"[" + b"0," * (4 * 1024 * 1024) + b"0]"
    assert post_signed(app, path, None, body=body).status_code == 413
