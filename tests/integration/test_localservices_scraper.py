"""The site and the scraper as real processes, talking real HTTP.

No database or broker is needed: these start ``python -m localservices`` processes only.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localservices.companies import company
from localservices.knobs import Knobs
from localservices.testing import (
    CallbackRecorder,
    ReceivedCallback,
    RunningService,
    ServiceError,
    start_service,
)
from pipeline import signing

SECRET = "scraper-test-secret"
_references = itertools.count(1)


@pytest.fixture(scope="module")
def site() -> Iterator[RunningService]:
    with start_service("site") as service:
        yield service


@pytest.fixture(scope="module")
def scraper(site: RunningService) -> Iterator[RunningService]:
    # Stopped before the site: its kept-alive connections would hold up the site's shutdown.
    with start_service(
        "scraper", allow_private=True, webhook_secret=SECRET, fetch_timeout_ms=500
    ) as service:
        yield service


@pytest.fixture(scope="module")
def recorder() -> Iterator[CallbackRecorder]:
    with CallbackRecorder() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _well_behaved(scraper: RunningService) -> Iterator[None]:
    yield
    scraper.knobs(**Knobs().as_dict())


def _reference() -> str:
    return f"L{next(_references)}-scrape-1"


def _submit(scraper: RunningService, url: str, **fields: Any) -> dict[str, Any]:
    response = httpx.post(f"{scraper.url}/jobs", json={"url": url, **fields}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def _finished(scraper: RunningService, job_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{scraper.url}/jobs/{job_id}", timeout=5).json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def _scrape(scraper: RunningService, url: str, **fields: Any) -> dict[str, Any]:
    return _finished(scraper, _submit(scraper, url, **fields)["id"])


def _callbacks_for(
    recorder: CallbackRecorder, reference: str, count: int = 1, timeout: float = 10
) -> list[ReceivedCallback]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in recorder.received if c.json()["metadata"].get("reference") == reference]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{count} callback(s) for {reference} did not arrive")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scraping_a_sample_company_returns_its_pages_with_its_name(site, scraper) -> None:
    c = company(17)
    job = _scrape(scraper, c.url(site.url), maxPages=10)
    assert job["status"] == "completed", job.get("error")
    result = job["result"]
    assert result["success"] is True
    assert result["totalPages"] == len(result["pages"]) == 5
    assert isinstance(result["duration"], int)
    home = result["pages"][0]
    assert home["url"] == c.url(site.url)
    assert home["title"] == c.name
    assert home["content"].startswith(f"# {c.name}")
    assert all(c.name in page["content"] for page in result["pages"])
    assert all(page["wordCount"] > 10 for page in result["pages"])
    assert all(page["url"].startswith(c.url(site.url)) for page in result["pages"])


def test_max_pages_limits_the_crawl(site, scraper) -> None:
    job = _scrape(scraper, company(2).url(site.url), maxPages=2, maxConcurrency=1)
    assert job["result"]["totalPages"] == 2


def test_include_sitemap_also_finds_pages_no_page_links_to(site, scraper) -> None:
    url = company(3).url(site.url)
    without = _scrape(scraper, url, maxPages=20)
    with_sitemap = _scrape(scraper, url, maxPages=20, includeSitemap=True)
    assert not any(p["url"].endswith("/careers") for p in without["result"]["pages"])
    assert any(p["url"].endswith("/careers") for p in with_sitemap["result"]["pages"])


def test_a_redirect_is_followed_to_the_company(site, scraper) -> None:
    c = company(4)
    job = _scrape(scraper, f"{site.url}/go/{c.slug}", maxPages=1)
    assert job["result"]["pages"][0]["url"] == c.url(site.url)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/missing/", "HTTP 404 Not Found at {site}/missing/"),
        ("/forbidden/", "HTTP 403 Forbidden at {site}/forbidden/"),
        ("/error/?code=503", "HTTP 503 Service Unavailable at {site}/error/?code=503"),
    ],
)
def test_a_job_for_a_failing_page_fails_with_the_http_status(
    site, scraper, path: str, error: str
) -> None:
    job = _scrape(scraper, site.url + path)
    assert job["status"] == "failed"
    assert job["error"] == error.format(site=site.url)
    assert "result" not in job


def test_a_refused_port_fails_with_econnrefused(scraper) -> None:
    port = _closed_port()
    job = _scrape(scraper, f"http://127.0.0.1:{port}/")
    assert job["error"] == f"connect ECONNREFUSED 127.0.0.1:{port}"


def test_an_unresolvable_host_fails_with_enotfound(scraper) -> None:
    job = _scrape(scraper, "http://no-such-host.invalid/")
    assert job["error"] == "getaddrinfo ENOTFOUND no-such-host.invalid"


def test_a_page_slower_than_the_fetch_timeout_fails_with_a_timeout(site, scraper) -> None:
    job = _scrape(scraper, f"{site.url}/slow/?ms=1500")
    assert job["error"] == "timeout of 500ms exceeded"


def test_an_empty_page_completes_with_zero_words(site, scraper) -> None:
    job = _scrape(scraper, f"{site.url}/empty/")
    assert job["status"] == "completed"
    assert [page["wordCount"] for page in job["result"]["pages"]] == [0]


def test_a_finished_job_calls_back_signed_with_its_body_and_metadata(
    site, scraper, recorder
) -> None:
    reference = _reference()
    job = _scrape(
        scraper,
        company(5).url(site.url),
        maxPages=1,
        webhookUrl=f"{recorder.url}/webhooks/scraper",
        metadata={"reference": reference, "lead": 5},
    )
    [callback] = _callbacks_for(recorder, reference)
    assert callback.path == "/webhooks/scraper"
    signing.verify(SECRET, callback.body, callback.headers[signing.HEADER.lower()], time.time())
    payload = callback.json()
    assert payload["event"] == "job.completed"
    assert payload["metadata"] == {"reference": reference, "lead": 5}
    assert payload["job"] == job


def test_a_failed_job_calls_back_job_failed_with_the_error(site, scraper, recorder) -> None:
    reference = _reference()
    _submit(
        scraper,
        f"{site.url}/missing/",
        webhookUrl=recorder.url,
        metadata={"reference": reference},
    )
    [callback] = _callbacks_for(recorder, reference)
    assert callback.json()["event"] == "job.failed"
    assert callback.json()["job"]["error"].startswith("HTTP 404 Not Found")


def test_an_early_callback_arrives_before_the_submit_answers(site, scraper, recorder) -> None:
    scraper.knobs(callback_early=1.0)
    reference = _reference()
    accepted = _submit(
        scraper,
        company(6).url(site.url),
        maxPages=1,
        webhookUrl=recorder.url,
        metadata={"reference": reference},
    )
    arrived = [c for c in recorder.received if c.json()["metadata"]["reference"] == reference]
    assert len(arrived) == 1, "the callback should already be there when the 202 arrives"
    assert accepted["status"] == "queued"
    assert arrived[0].json()["job"]["id"] == accepted["id"]
    assert arrived[0].json()["job"]["status"] == "completed"


def test_a_lost_callback_is_never_sent_but_polling_sees_the_result(site, scraper, recorder) -> None:
    scraper.knobs(callback_loss=1.0)
    before = scraper.stats()["callbacks_lost"]
    reference = _reference()
    job = _scrape(
        scraper,
        company(7).url(site.url),
        maxPages=1,
        webhookUrl=recorder.url,
        metadata={"reference": reference},
    )
    assert job["status"] == "completed"
    time.sleep(0.2)
    assert not [c for c in recorder.received if c.json()["metadata"]["reference"] == reference]
    assert scraper.stats()["callbacks_lost"] == before + 1


def test_a_duplicated_callback_is_sent_twice(site, scraper, recorder) -> None:
    scraper.knobs(callback_duplicate=1.0)
    reference = _reference()
    _submit(
        scraper,
        company(8).url(site.url),
        maxPages=1,
        webhookUrl=recorder.url,
        metadata={"reference": reference},
    )
    first, second = _callbacks_for(recorder, reference, count=2)
    assert first.body == second.body


def test_a_callback_answered_with_5xx_is_retried(site, scraper) -> None:
    before = scraper.stats()
    reference = _reference()
    with CallbackRecorder(statuses=[503, 502]) as flaky:
        _submit(
            scraper,
            company(9).url(site.url),
            maxPages=1,
            webhookUrl=flaky.url,
            metadata={"reference": reference},
        )
        attempts = flaky.wait_for(3)
    assert len({a.body for a in attempts}) == 1
    after = scraper.stats()
    assert after["callbacks_sent"] == before["callbacks_sent"] + 1
    assert after["callback_attempts"] == before["callback_attempts"] + 3


def test_fail_rate_fails_jobs_with_a_retriable_503(site, scraper) -> None:
    scraper.knobs(fail_rate=1.0)
    url = company(10).url(site.url)
    job = _scrape(scraper, url)
    assert job["error"] == f"HTTP 503 Service Unavailable at {url}"


def test_rate_429_refuses_submissions_with_retry_after(scraper) -> None:
    scraper.knobs(rate_429=1.0, retry_after_seconds=3)
    response = httpx.post(f"{scraper.url}/jobs", json={"url": "http://example.com/"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


def test_a_slow_job_stays_started_and_a_cancel_fails_it_as_cancelled(
    site, scraper, recorder
) -> None:
    scraper.knobs(latency_ms=10_000)
    reference = _reference()
    job_id = _submit(
        scraper,
        company(11).url(site.url),
        webhookUrl=recorder.url,
        metadata={"reference": reference},
    )["id"]
    time.sleep(0.1)
    assert httpx.get(f"{scraper.url}/jobs/{job_id}").json()["status"] == "started"
    cancelled = httpx.delete(f"{scraper.url}/jobs/{job_id}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["error"] == "cancelled"
    [callback] = _callbacks_for(recorder, reference)
    assert callback.json()["event"] == "job.failed"
    assert callback.json()["job"]["error"] == "cancelled"


def test_no_reference_is_reported_twice_unless_submitted_twice(site, scraper) -> None:
    reference = _reference()
    _submit(scraper, company(12).url(site.url), metadata={"reference": reference})
    assert reference not in scraper.stats()["duplicate_references"]
    _submit(scraper, company(12).url(site.url), metadata={"reference": reference})
    assert reference in scraper.stats()["duplicate_references"]


def test_the_auth_token_can_come_from_the_environment(site) -> None:
    with start_service(
        "scraper", allow_private=True, env={"LOCAL_SCRAPER_AUTH_TOKEN": "tok"}
    ) as guarded:
        body = {"url": company(1).url(site.url)}
        assert httpx.post(f"{guarded.url}/jobs", json=body).status_code == 401
        response = httpx.post(f"{guarded.url}/jobs", json=body, headers={"X-Auth-Token": "tok"})
        assert response.status_code == 202


def test_a_service_stops_promptly_on_sigterm_with_a_job_in_flight(site) -> None:
    service = start_service("scraper", allow_private=True, latency_ms=30_000)
    httpx.post(f"{service.url}/jobs", json={"url": company(1).url(site.url)})
    began = time.monotonic()
    assert service.stop() == 0
    assert time.monotonic() - began < 5


def test_a_service_that_cannot_start_is_reported_with_its_output() -> None:
    with pytest.raises(ServiceError, match="fail_rate must be between 0 and 1"):
        start_service("scraper", fail_rate=3)
