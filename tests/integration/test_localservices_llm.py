"""The LLM service as a real process: batches, results and signed callbacks over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localservices.testing import CallbackRecorder, RunningService, start_service
from pipeline import signing

SECRET = "llm-test-secret"
TOKEN = "llm-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def llm() -> Iterator[RunningService]:
    with start_service("llm", webhook_secret=SECRET, auth_token=TOKEN) as service:
        yield service


@pytest.fixture
def recorder() -> Iterator[CallbackRecorder]:
    with CallbackRecorder() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _well_behaved(llm: RunningService) -> Iterator[None]:
    yield
    llm.knobs(latency_ms=0, callback_early=0.0, fail_rate=0.0)


def _request(custom_id: str, task: str, company: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": "claude-local",
            "system": f"You write sales copy.\nTask: {task}",
            "messages": [{"role": "user", "content": f"Company: {company}\nContact: Omar Haddad"}],
            "max_tokens": 800,
        },
    }


def _submit(llm: RunningService, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{llm.url}/v1/messages/batches", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _ended(llm: RunningService, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = httpx.get(f"{llm.url}/v1/messages/batches/{batch_id}", headers=AUTH).json()
        if batch["processing_status"] == "ended":
            return batch
        time.sleep(0.02)
    raise AssertionError("batch did not end")


def test_a_batch_ends_and_its_results_are_one_jsonl_line_per_request(llm) -> None:
    llm.knobs(latency_ms=200)
    body = {
        "requests": [
            _request("L1-intel-1", "intel", "Acme Robotics"),
            _request("L2-subject-1", "subject", "Lumen Farms"),
        ]
    }
    batch = _submit(llm, body)
    assert batch["processing_status"] == "in_progress"
    early = httpx.get(f"{llm.url}/v1/messages/batches/{batch['id']}/results", headers=AUTH)
    assert early.status_code == 409
    ended = _ended(llm, batch["id"])
    assert ended["request_counts"]["succeeded"] == 2
    response = httpx.get(ended["results_url"], headers=AUTH)
    assert response.headers["content-type"] == "application/x-jsonl"
    lines = [json.loads(line) for line in response.text.splitlines()]
    by_id = {line["custom_id"]: line["result"] for line in lines}
    intel = by_id["L1-intel-1"]["message"]["content"][0]["text"]
    subjects = by_id["L2-subject-1"]["message"]["content"][0]["text"].splitlines()
    assert "Acme Robotics" in intel and intel.splitlines()[-1].startswith("Fit score: ")
    assert len(subjects) == 3 and all("Lumen Farms" in line for line in subjects)


def test_an_ended_batch_calls_back_signed_with_the_batch_and_its_results(llm, recorder) -> None:
    batch = _submit(
        llm,
        {
            "requests": [_request("L3-strategy-1", "strategy", "Granite Energy")],
            "webhook_url": f"{recorder.url}/webhooks/llm",
        },
    )
    [callback] = recorder.wait_for(1)
    assert callback.path == "/webhooks/llm"
    signing.verify(SECRET, callback.body, callback.headers[signing.HEADER.lower()], time.time())
    payload = callback.json()
    assert payload["type"] == "message_batch.ended"
    assert payload["batch"]["id"] == batch["id"]
    assert payload["batch"]["processing_status"] == "ended"
    assert (
        payload["batch"]
        == httpx.get(f"{llm.url}/v1/messages/batches/{batch['id']}", headers=AUTH).json()
    )
    [result] = payload["results"]
    assert result["custom_id"] == "L3-strategy-1"
    assert "Granite Energy" in result["result"]["message"]["content"][0]["text"]


def test_an_early_batch_callback_arrives_before_the_submit_answers(llm, recorder) -> None:
    llm.knobs(callback_early=1.0)
    batch = _submit(
        llm,
        {
            "requests": [_request("L4-messaging-1", "messaging", "Maple Health")],
            "webhook_url": recorder.url,
        },
    )
    assert len(recorder.received) == 1
    assert batch["processing_status"] == "in_progress"
    assert recorder.received[0].json()["batch"]["id"] == batch["id"]


def test_fail_rate_errors_requests_with_overloaded_error(llm) -> None:
    llm.knobs(fail_rate=1.0)
    batch = _submit(llm, {"requests": [_request("L5-intel-1", "intel", "Zephyr Security")]})
    assert _ended(llm, batch["id"])["request_counts"]["errored"] == 1
    line = json.loads(
        httpx.get(f"{llm.url}/v1/messages/batches/{batch['id']}/results", headers=AUTH).text
    )
    assert line["result"]["error"]["error"]["type"] == "overloaded_error"


def test_a_request_without_the_token_is_refused(llm) -> None:
    response = httpx.post(f"{llm.url}/v1/messages/batches", json={"requests": []})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
