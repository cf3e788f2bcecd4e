"""Knobs and stats: how a local service is told to misbehave, and what it counted."""

from __future__ import annotations

import falcon.testing
import pytest

from localservices import llm, scraper
from localservices.knobs import KnobError, KnobPanel, Knobs
from localservices.stats import Stats


def _batch(*custom_ids: str) -> dict:
    params = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return {"requests": [{"custom_id": cid, "params": params} for cid in custom_ids]}


def test_knobs_default_to_a_well_behaved_service() -> None:
    knobs = Knobs()
    assert knobs.latency_ms == 0 and knobs.fail_rate == 0.0 and knobs.rate_429 == 0.0
    assert knobs.callback_loss == knobs.callback_duplicate == knobs.callback_early == 0.0


@pytest.mark.parametrize(
    "changes",
    [{"fail_rate": 1.5}, {"rate_429": -0.1}, {"latency_ms": -1}, {"latency_ms": "x"},
     {"seed": "abc"}, {"no_such_knob": 1}],
)  # fmt: skip
def test_a_knob_out_of_range_or_unknown_is_refused(changes: dict) -> None:
    with pytest.raises(KnobError):
        Knobs().with_changes(changes)


def test_a_whole_float_is_accepted_for_an_integer_knob() -> None:
    assert Knobs().with_changes({"latency_ms": 250.0}).latency_ms == 250


def test_the_same_seed_makes_the_same_decisions() -> None:
    def draws(seed: int) -> list[bool]:
        panel = KnobPanel(Knobs(fail_rate=0.5, seed=seed))
        return [panel.chance("fail_rate") for _ in range(50)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_rates_of_zero_and_one_never_and_always_fire() -> None:
    panel = KnobPanel(Knobs(fail_rate=1.0))
    assert all(panel.chance("fail_rate") for _ in range(100))
    assert not any(panel.chance("rate_429") for _ in range(100))


def test_knobs_are_read_and_changed_over_http() -> None:
    client = falcon.testing.TestClient(scraper.create_app())
    assert client.simulate_get("/_knobs").json["latency_ms"] == 0
    changed = client.simulate_post("/_knobs", json={"latency_ms": 300, "rate_5xx": 0.25})
    assert changed.status_code == 200
    assert changed.json["latency_ms"] == 300 and changed.json["rate_5xx"] == 0.25
    assert client.simulate_get("/_knobs").json["rate_5xx"] == 0.25


def test_a_bad_knob_change_is_a_400_and_changes_nothing() -> None:
    client = falcon.testing.TestClient(scraper.create_app())
    response = client.simulate_post("/_knobs", json={"fail_rate": 2})
    assert response.status_code == 400
    assert "fail_rate" in response.json["error"]
    assert client.simulate_get("/_knobs").json["fail_rate"] == 0.0


def test_knob_endpoints_need_no_token_even_when_the_service_does() -> None:
    client = falcon.testing.TestClient(llm.create_app(auth_token="secret"))
    assert client.simulate_get("/_knobs").status_code == 200
    assert client.simulate_get("/_stats").status_code == 200


def test_rate_429_answers_submissions_with_retry_after_and_counts_them() -> None:
    client = falcon.testing.TestClient(
        llm.create_app(knobs=Knobs(rate_429=1.0, retry_after_seconds=7))
    )
    response = client.simulate_post("/v1/messages/batches", json=_batch("a"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json["error"]["type"] == "rate_limit_error"
    stats = client.simulate_get("/_stats").json
    assert stats["rejected_429"] == 1 and stats["submitted"] == 0


def test_rate_5xx_answers_scraper_submissions_with_503() -> None:
    client = falcon.testing.TestClient(scraper.create_app(knobs=Knobs(rate_5xx=1.0)))
    response = client.simulate_post("/jobs", json={"url": "http://example.com/"})
    assert response.status_code == 503
    assert client.simulate_get("/_stats").json["rejected_5xx"] == 1


def test_fail_rate_makes_batch_requests_error_with_overloaded_error() -> None:
    import json
    import time

    client = falcon.testing.TestClient(llm.create_app(knobs=Knobs(fail_rate=1.0)))
    batch_id = client.simulate_post("/v1/messages/batches", json=_batch("a", "b")).json["id"]
    for _ in range(500):
        if client.simulate_get(f"/v1/messages/batches/{batch_id}").json["processing_status"] == (
            "ended"
        ):
            break
        time.sleep(0.01)
    lines = client.simulate_get(f"/v1/messages/batches/{batch_id}/results").text.splitlines()
    errors = [json.loads(line)["result"]["error"]["error"]["type"] for line in lines]
    assert errors == ["overloaded_error", "overloaded_error"]
    assert client.simulate_get("/_stats").json["injected_failures"] == 2


def test_stats_report_each_reference_submitted_more_than_once() -> None:
    client = falcon.testing.TestClient(llm.create_app())
    client.simulate_post("/v1/messages/batches", json=_batch("L1-intel-1", "L2-intel-1"))
    client.simulate_post("/v1/messages/batches", json=_batch("L1-intel-1", "L3-intel-1"))
    stats = client.simulate_get("/_stats").json
    assert stats["submitted"] == 2
    assert stats["requests"] == 4
    assert stats["references"] == 3
    assert stats["duplicate_references"] == ["L1-intel-1"]


def test_stats_can_be_reset() -> None:
    stats = Stats(("completed",))
    stats.submitted(["a"])
    stats.add("completed")
    stats.reset()
    assert stats.snapshot() == {
        "submitted": 0, "completed": 0, "references": 0, "duplicate_references": [],
    }  # fmt: skip


def test_stats_can_list_the_submissions_of_every_reference() -> None:
    client = falcon.testing.TestClient(llm.create_app())
    client.simulate_post("/v1/messages/batches", json=_batch("L1-intel-1", "L2-intel-1"))
    client.simulate_post("/v1/messages/batches", json=_batch("L1-intel-1"))
    stats = client.simulate_get("/_stats", params={"references": "true"}).json
    assert stats["reference_counts"] == {"L1-intel-1": 2, "L2-intel-1": 1}
    assert "reference_counts" not in client.simulate_get("/_stats").json
