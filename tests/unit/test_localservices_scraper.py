"""The scraper service's submit validation and auth (the crawling itself is integration)."""

from __future__ import annotations

import falcon.testing
import pytest

from localservices.scraper import create_app


@pytest.fixture
def client() -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(allow_private=True))


def test_a_valid_submission_is_accepted_as_a_queued_job(client) -> None:
    response = client.simulate_post("/jobs", json={"url": "http://127.0.0.1:9/"})
    assert response.status_code == 202
    body = response.json
    assert set(body) == {"id", "url", "status", "createdAt"}
    assert body["status"] == "queued" and body["url"] == "http://127.0.0.1:9/"
    assert response.headers["location"] == f"/jobs/{body['id']}"
    job = client.simulate_get(f"/jobs/{body['id']}").json
    assert job["retryCount"] == 0 and job["createdAt"] == body["createdAt"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "url is required"),
        ({"url": 5}, 400, "url must be a string"),
        ({"url": "not a url"}, 422, "http or https"),
        ({"url": "ftp://example.com/"}, 422, "http or https"),
        ({"url": "file:///etc/passwd"}, 422, "http or https"),
        ({"url": "http://example.com/", "maxPages": 0}, 422, "maxPages"),
        ({"url": "http://example.com/", "maxPages": 101}, 422, "maxPages"),
        ({"url": "http://example.com/", "maxPages": "5"}, 400, "maxPages"),
        ({"url": "http://example.com/", "maxConcurrency": 11}, 422, "maxConcurrency"),
        ({"url": "http://example.com/", "includeSitemap": "yes"}, 400, "includeSitemap"),
        ({"url": "http://example.com/", "metadata": []}, 400, "metadata"),
        ({"url": "http://example.com/", "webhookUrl": "nope"}, 422, "webhookUrl"),
    ],
)
def test_an_invalid_submission_is_refused_with_a_clear_error(
    client, body: dict, status: int, message: str
) -> None:
    response = client.simulate_post("/jobs", json=body)
    assert response.status_code == status
    assert message in response.json["error"]


def test_a_body_that_is_not_json_is_a_400(client) -> None:
    response = client.simulate_post("/jobs", body=b"url=x", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json["error"]


def test_loopback_and_private_addresses_are_refused_unless_allowed() -> None:
    client = falcon.testing.TestClient(create_app())
    for url in ("http://127.0.0.1:8100/", "http://localhost/", "http://10.1.2.3/"):
        response = client.simulate_post("/jobs", json={"url": url})
        assert response.status_code == 422, url
        assert "non-public" in response.json["error"]


def test_an_unknown_job_is_404(client) -> None:
    response = client.simulate_get("/jobs/no-such-job")
    assert response.status_code == 404
    assert response.json == {"error": "job no-such-job not found"}


def test_the_auth_token_is_enforced_when_configured() -> None:
    client = falcon.testing.TestClient(create_app(auth_token="t0ken", allow_private=True))
    body = {"url": "http://127.0.0.1:9/"}
    assert client.simulate_post("/jobs", json=body).status_code == 401
    wrong = client.simulate_post("/jobs", json=body, headers={"X-Auth-Token": "nope"})
    assert wrong.status_code == 401
    right = client.simulate_post("/jobs", json=body, headers={"X-Auth-Token": "t0ken"})
    assert right.status_code == 202


def test_references_in_metadata_are_counted(client) -> None:
    for _ in range(2):
        client.simulate_post(
            "/jobs", json={"url": "http://127.0.0.1:9/", "metadata": {"reference": "L1-scrape-1"}}
        )
    stats = client.simulate_get("/_stats").json
    assert stats["submitted"] == 2
    assert stats["duplicate_references"] == ["L1-scrape-1"]
