"""The LLM service's Message Batches API: validation, auth, lifecycle and result shapes."""

from __future__ import annotations

import json
import time
from typing import Any

import falcon.testing
import pytest

from localservices.knobs import Knobs
from localservices.llm import create_app

TOKEN = "llm-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _params(task: str = "subject", company: str = "Acme Robotics") -> dict[str, Any]:
    return {
        "model": "claude-test",
        "system": f"Task: {task}",
        "messages": [{"role": "user", "content": f"Company: {company}\nContact: Jane Doe"}],
        "max_tokens": 1024,
        "temperature": 0.7,
    }


def _batch(*custom_ids: str, **params: Any) -> dict[str, Any]:
    return {"requests": [{"custom_id": cid, "params": _params(**params)} for cid in custom_ids]}


def _client(**kwargs: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(auth_token=TOKEN, **kwargs))


def _wait_ended(client: falcon.testing.TestClient, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        batch = client.simulate_get(f"/v1/messages/batches/{batch_id}", headers=AUTH).json
        if batch["processing_status"] == "ended":
            return batch
        time.sleep(0.01)
    raise AssertionError("batch did not end")


def _results(client: falcon.testing.TestClient, batch_id: str) -> list[dict[str, Any]]:
    response = client.simulate_get(f"/v1/messages/batches/{batch_id}/results", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-jsonl"
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def client() -> falcon.testing.TestClient:
    return _client()


def test_a_submitted_batch_is_in_progress_with_every_request_processing(client) -> None:
    response = client.simulate_post(
        "/v1/messages/batches", json=_batch("L1-subject-1", "L2-subject-1"), headers=AUTH
    )
    assert response.status_code == 200
    batch = response.json
    assert batch["id"].startswith("msgbatch_")
    assert batch["type"] == "message_batch"
    assert batch["processing_status"] == "in_progress"
    assert batch["request_counts"] == {
        "processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
    }  # fmt: skip
    assert batch["results_url"] is None and batch["ended_at"] is None
    assert batch["created_at"].endswith("Z")


def test_an_ended_batch_has_counts_a_results_url_and_one_result_per_custom_id(client) -> None:
    batch_id = client.simulate_post(
        "/v1/messages/batches", json=_batch("L1-subject-1", "L2-subject-1"), headers=AUTH
    ).json["id"]
    batch = _wait_ended(client, batch_id)
    assert batch["request_counts"]["succeeded"] == 2
    assert batch["request_counts"]["processing"] == 0
    assert batch["results_url"].endswith(f"/v1/messages/batches/{batch_id}/results")
    results = _results(client, batch_id)
    assert [line["custom_id"] for line in results] == ["L1-subject-1", "L2-subject-1"]
    message = results[0]["result"]["message"]
    assert results[0]["result"]["type"] == "succeeded"
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-test"
    assert message["stop_reason"] == "end_turn"
    assert message["content"][0]["type"] == "text"
    assert message["content"][0]["text"].startswith("1. ")
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0


def test_the_same_prompt_gets_the_same_text_in_different_batches(client) -> None:
    texts = []
    for custom_id in ("L1-intel-1", "L1-intel-2"):
        batch_id = client.simulate_post(
            "/v1/messages/batches", json=_batch(custom_id, task="intel"), headers=AUTH
        ).json["id"]
        _wait_ended(client, batch_id)
        texts.append(_results(client, batch_id)[0]["result"]["message"]["content"][0]["text"])
    assert texts[0] == texts[1]
    assert "Acme Robotics" in texts[0] and texts[0].splitlines()[-1].startswith("Fit score: ")


def test_usage_is_about_a_quarter_of_the_characters(client) -> None:
    batch_id = client.simulate_post(
        "/v1/messages/batches", json=_batch("L1-strategy-1", task="strategy"), headers=AUTH
    ).json["id"]
    _wait_ended(client, batch_id)
    message = _results(client, batch_id)[0]["result"]["message"]
    text = message["content"][0]["text"]
    prompt = "Task: strategy\nCompany: Acme Robotics\nContact: Jane Doe"
    assert message["usage"] == {"input_tokens": len(prompt) // 4, "output_tokens": len(text) // 4}


def test_results_before_the_batch_ends_are_a_409_with_a_clear_error() -> None:
    client = _client(knobs=Knobs(latency_ms=2_000))
    batch_id = client.simulate_post(
        "/v1/messages/batches", json=_batch("L1-subject-1"), headers=AUTH
    ).json["id"]
    response = client.simulate_get(f"/v1/messages/batches/{batch_id}/results", headers=AUTH)
    assert response.status_code == 409
    assert response.json["type"] == "error"
    assert "has not ended" in response.json["error"]["message"]


def test_a_cancelled_batch_ends_with_its_requests_canceled() -> None:
    client = _client(knobs=Knobs(latency_ms=5_000))
    batch_id = client.simulate_post(
        "/v1/messages/batches", json=_batch("L1-subject-1", "L2-subject-1"), headers=AUTH
    ).json["id"]
    cancelling = client.simulate_post(f"/v1/messages/batches/{batch_id}/cancel", headers=AUTH)
    assert cancelling.json["processing_status"] == "canceling"
    assert cancelling.json["cancel_initiated_at"]
    batch = _wait_ended(client, batch_id)
    assert batch["request_counts"]["canceled"] == 2
    assert {line["result"]["type"] for line in _results(client, batch_id)} == {"canceled"}


def test_invalid_params_become_an_errored_result_not_a_rejected_batch(client) -> None:
    body = {
        "requests": [
            {"custom_id": "good", "params": _params()},
            {"custom_id": "bad", "params": {"model": "m", "messages": []}},
        ]
    }
    batch_id = client.simulate_post("/v1/messages/batches", json=body, headers=AUTH).json["id"]
    assert _wait_ended(client, batch_id)["request_counts"]["errored"] == 1
    bad = _results(client, batch_id)[1]
    assert bad["result"]["type"] == "errored"
    assert bad["result"]["error"]["type"] == "error"
    assert bad["result"]["error"]["error"]["type"] == "invalid_request_error"
    assert bad["result"]["error"]["error"]["message"]


def test_a_reply_longer_than_max_tokens_is_cut_and_says_so(client) -> None:
    body = _batch("L1-strategy-1", task="strategy")
    body["requests"][0]["params"]["max_tokens"] = 5
    batch_id = client.simulate_post("/v1/messages/batches", json=body, headers=AUTH).json["id"]
    _wait_ended(client, batch_id)
    message = _results(client, batch_id)[0]["result"]["message"]
    assert message["stop_reason"] == "max_tokens"
    assert len(message["content"][0]["text"]) == 20


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "requests: Field required"),
        ({"requests": []}, "at least 1 item"),
        ({"requests": "x"}, "valid list"),
        ({"requests": [{"custom_id": "has space", "params": {}}]}, "custom_id"),
        ({"requests": [{"custom_id": "x" * 65, "params": {}}]}, "custom_id"),
        ({"requests": [{"custom_id": "a", "params": {}}] * 2}, "unique"),
        ({"requests": [{"custom_id": "a"}]}, "params"),
        ({"requests": [{"custom_id": str(n), "params": {}} for n in range(10_001)]}, "at most"),
        (_batch("a") | {"webhook_url": "ftp://x"}, "webhook_url"),
    ],
)
def test_a_malformed_batch_is_rejected_with_an_invalid_request_error(
    client, body: dict[str, Any], message: str
) -> None:
    response = client.simulate_post("/v1/messages/batches", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json["type"] == "error"
    assert response.json["error"]["type"] == "invalid_request_error"
    assert message in response.json["error"]["message"]


def test_a_body_that_is_not_json_is_rejected(client) -> None:
    response = client.simulate_post(
        "/v1/messages/batches", body=b"{nope", headers=AUTH | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json["error"]["type"] == "invalid_request_error"


def test_requests_without_the_token_are_401_and_an_api_key_header_also_works(client) -> None:
    no_token = client.simulate_post("/v1/messages/batches", json=_batch("a"))
    assert no_token.status_code == 401
    assert no_token.json["error"]["type"] == "authentication_error"
    wrong = client.simulate_get("/v1/messages/batches/x", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    api_key = client.simulate_post(
        "/v1/messages/batches", json=_batch("a"), headers={"x-api-key": TOKEN}
    )
    assert api_key.status_code == 200


def test_an_unknown_batch_is_a_not_found_error(client) -> None:
    response = client.simulate_get("/v1/messages/batches/msgbatch_nope", headers=AUTH)
    assert response.status_code == 404
    assert response.json["error"]["type"] == "not_found_error"


def test_a_service_without_a_token_asks_for_none() -> None:
    client = falcon.testing.TestClient(create_app())
    assert client.simulate_post("/v1/messages/batches", json=_batch("a")).status_code == 200


def test_the_chat_endpoint_answers_like_openai_with_the_same_text() -> None:
    client = _client()
    response = client.simulate_post(
        "/v1/chat/completions",
        headers=AUTH,
        json={
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "Task: subject"},
                {"role": "user", "content": "Company: Acme Robotics\nContact: Jane Doe"},
            ],
        },
    )
    assert response.status_code == 200
    body = response.json
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["finish_reason"] == "stop"
    text = body["choices"][0]["message"]["content"]
    assert text.splitlines()[0].startswith("1. ") and "Acme Robotics" in text
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_a_malformed_chat_request_gets_an_openai_style_error() -> None:
    response = _client().simulate_post(
        "/v1/chat/completions", headers=AUTH, json={"model": "m", "messages": []}
    )
    assert response.status_code == 400
    assert response.json["error"]["type"] == "invalid_request_error"
