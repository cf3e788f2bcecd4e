import httpx
import pytest

from pipeline.errors import (
    EmptyContent,
    classify_llm_error,
    classify_service_error,
    classify_target_error,
    parse_retry_after,
)


def _status_error(code: int, headers: dict | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://scraper/jobs")
    response = httpx.Response(code, headers=headers, request=request, text="nope")
    return httpx.HTTPStatusError("x", request=request, response=response)


@pytest.mark.parametrize(
    "message",
    [
        "getaddrinfo ENOTFOUND acme.invalid",
        "connect ECONNREFUSED 127.0.0.1:9",
        "HTTP 404 Not Found at http://acme.test/",
        "HTTP 403 Forbidden at http://acme.test/",
    ],
)
def test_a_site_that_cannot_be_reached_or_found_fails_the_lead_at_once(message):
    failure = classify_target_error(message)
    assert failure.kind == "hard"
    assert message in failure.reason


@pytest.mark.parametrize(
    "message",
    ["HTTP 503 Service Unavailable at http://acme.test/", "timeout of 30000ms exceeded", None],
)
def test_a_site_that_is_only_temporarily_unwell_is_retried(message):
    assert classify_target_error(message).kind == "retriable"


def test_a_429_from_a_service_is_retried_after_the_time_it_asks_for():
    failure = classify_service_error(_status_error(429, {"Retry-After": "7"}))
    assert failure.kind == "retriable"
    assert failure.retry_after == 7.0


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408])
def test_a_5xx_or_timeout_status_from_a_service_is_retried(code):
    assert classify_service_error(_status_error(code)).kind == "retriable"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_a_service_that_rejects_the_request_fails_it_at_once(code):
    failure = classify_service_error(_status_error(code))
    assert failure.kind == "hard"
    assert f"HTTP {code}" in failure.reason


def test_a_service_that_is_down_or_slow_is_an_outage_and_is_retried():
    request = httpx.Request("GET", "http://scraper/jobs/1")
    assert classify_service_error(httpx.ConnectError("refused", request=request)).retriable
    assert classify_service_error(httpx.ReadTimeout("slow", request=request)).retriable


def test_empty_content_is_a_hard_failure_and_any_other_crash_is_retried():
    assert classify_service_error(EmptyContent("no text")).kind == "hard"
    crash = classify_service_error(RuntimeError("boom"))
    assert crash.kind == "retriable"
    assert "crash" in crash.reason


def test_an_overloaded_llm_is_retried_and_an_invalid_request_is_not():
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    assert classify_llm_error(overloaded).kind == "retriable"
    assert classify_llm_error(invalid).kind == "hard"


def test_retry_after_accepts_seconds_and_http_dates_and_caps_at_an_hour():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("999999") == 3600.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
