"""The local scraper service: the crawler job API the pipeline's scrape stage talks to.

``POST /jobs {url, maxPages, maxConcurrency, includeSitemap}`` → ``202 {id, url, status,
createdAt}``; ``GET /jobs/{id}``; ``DELETE /jobs/{id}`` (cancel). Auth is ``X-Auth-Token``
when a token is configured. Our extension: ``webhookUrl`` + ``metadata`` in the POST body
make the service POST ``{"event": "job.completed" | "job.failed", "job": <GET body>,
"metadata": ...}``, signed with ``X-Leadpipe-Signature``, when the job ends (a cancelled
job ends too: it is ``failed`` with error ``cancelled``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import falcon

from localservices.admin import add_admin_routes
from localservices.auth import TokenAuth, scraper_token
from localservices.callbacks import CALLBACK_COUNTERS, CallbackSender
from localservices.chaos import CHAOS_COUNTERS, maybe_refuse_submission
from localservices.crawler import CrawlCancelled, Crawler, CrawlError
from localservices.jsonio import http_url, read_json_object
from localservices.knobs import KnobPanel, Knobs
from localservices.netguard import PrivateAddressError, ensure_public
from localservices.pool import BackgroundPool
from localservices.scrape_jobs import JobBook, ScrapeJob
from localservices.stats import Stats

log = logging.getLogger(__name__)

MAX_PAGES_LIMIT = 100
MAX_CONCURRENCY_LIMIT = 10
DEFAULT_MAX_PAGES = 20
DEFAULT_MAX_CONCURRENCY = 5
MAX_BODY_BYTES = 1_000_000

SCRAPER_COUNTERS = (
    "completed",
    "failed",
    "cancelled",
    "injected_failures",
    "processed_early",
    *CHAOS_COUNTERS,
    *CALLBACK_COUNTERS,
)


class Unprocessable(falcon.HTTPUnprocessableEntity):
    def __init__(self, description: str) -> None:
        super().__init__(title="Unprocessable Entity", description=description)


class BadRequest(falcon.HTTPBadRequest):
    def __init__(self, description: str) -> None:
        super().__init__(title="Bad Request", description=description)


def _int_field(body: dict[str, Any], name: str, default: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer")
    if not 1 <= value <= high:
        raise Unprocessable(f"{name} must be between 1 and {high}, got {value}")
    return value


def parse_job_request(body: dict[str, Any], allow_private: bool) -> ScrapeJob:
    """Validate a ``POST /jobs`` body: 400 for a malformed one, 422 for one we refuse."""
    url = body.get("url")
    if url is None or url == "":
        raise BadRequest("url is required")
    if not isinstance(url, str):
        raise BadRequest("url must be a string")
    url = url.strip()
    if not http_url(url):
        raise Unprocessable(f"url must be an absolute http or https URL, got {url[:200]!r}")
    if not allow_private:
        try:
            ensure_public(urlsplit(url).hostname or "")
        except PrivateAddressError as exc:
            raise Unprocessable(f"url refused: {exc}") from None
    include_sitemap = body.get("includeSitemap", False)
    if not isinstance(include_sitemap, bool):
        raise BadRequest("includeSitemap must be true or false")
    webhook_url = body.get("webhookUrl")
    if webhook_url is not None and not http_url(webhook_url):
        raise Unprocessable("webhookUrl must be an absolute http or https URL")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("metadata must be a JSON object")
    return ScrapeJob(
        url=url,
        max_pages=_int_field(body, "maxPages", DEFAULT_MAX_PAGES, MAX_PAGES_LIMIT),
        max_concurrency=_int_field(
            body, "maxConcurrency", DEFAULT_MAX_CONCURRENCY, MAX_CONCURRENCY_LIMIT
        ),
        include_sitemap=include_sitemap,
        webhook_url=webhook_url,
        metadata=metadata,
    )


class ScrapeRunner:
    """Runs jobs (in the background or, for an early callback, right away) and reports them."""

    def __init__(
        self,
        book: JobBook,
        crawler: Crawler,
        panel: KnobPanel,
        stats: Stats,
        callbacks: CallbackSender,
        pool: BackgroundPool,
    ) -> None:
        self._book = book
        self._crawler = crawler
        self._panel = panel
        self._stats = stats
        self._callbacks = callbacks
        self._pool = pool

    def enqueue(self, job: ScrapeJob) -> None:
        self._pool.submit(lambda: self.run(job))

    def run(self, job: ScrapeJob) -> None:
        if not self._book.start(job):
            return  # cancelled while queued
        inject_failure = self._panel.chance("fail_rate")
        if job.cancelled.wait(self._panel.latency_seconds):
            return
        began = time.monotonic()
        try:
            if inject_failure:
                self._stats.add("injected_failures")
                raise CrawlError(f"HTTP 503 Service Unavailable at {job.url}")
            pages = self._crawler.crawl(
                job.url, job.max_pages, job.max_concurrency, job.include_sitemap, job.cancelled
            )
        except CrawlCancelled:
            return
        except CrawlError as exc:
            ended = self._book.fail(job, str(exc))
        except Exception as exc:  # a bug here must still end the job, not strand it
            log.exception("job %s crashed", job.id)
            ended = self._book.fail(job, f"internal error: {type(exc).__name__}: {exc}")
        else:
            result = {
                "success": True,
                "pages": [page.as_dict() for page in pages],
                "totalPages": len(pages),
                "duration": round((time.monotonic() - began) * 1000),
            }
            ended = self._book.complete(job, result)
        if ended:
            self._stats.add("completed" if job.status == "completed" else "failed")
            if job.reference:
                self._stats.ended([job.reference])
            self.notify(job)

    def cancel(self, job: ScrapeJob) -> None:
        if self._book.fail(job, "cancelled"):
            job.cancelled.set()
            self._stats.add("cancelled")
            self._pool.submit(lambda: self.notify(job))

    def notify(self, job: ScrapeJob) -> None:
        if job.webhook_url is None:
            return
        view = self._book.view(job)
        event = "job.completed" if view["status"] == "completed" else "job.failed"
        self._callbacks.deliver(
            job.webhook_url, {"event": event, "job": view, "metadata": job.metadata}
        )


class JobsResource:
    """``POST /jobs``: submit a crawl."""

    def __init__(
        self,
        book: JobBook,
        runner: ScrapeRunner,
        panel: KnobPanel,
        stats: Stats,
        allow_private: bool,
    ) -> None:
        self._book = book
        self._runner = runner
        self._panel = panel
        self._stats = stats
        self._allow_private = allow_private

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        arrived = time.time()
        maybe_refuse_submission(self._panel, self._stats)
        job = parse_job_request(read_json_object(req, MAX_BODY_BYTES), self._allow_private)
        self._book.add(job)
        self._stats.submitted([job.reference] if job.reference else [], at=arrived)
        accepted = job.accepted()
        if self._panel.chance("callback_early"):
            # The job runs and calls back before the client has even seen its id.
            self._stats.add("processed_early")
            self._runner.run(job)
        else:
            self._runner.enqueue(job)
        resp.status = falcon.HTTP_202
        resp.location = f"/jobs/{job.id}"
        resp.media = accepted


class JobResource:
    """``GET /jobs/{id}`` (status and result) and ``DELETE /jobs/{id}`` (cancel)."""

    def __init__(self, book: JobBook, runner: ScrapeRunner) -> None:
        self._book = book
        self._runner = runner

    def _job(self, job_id: str) -> ScrapeJob:
        job = self._book.get(job_id)
        if job is None:
            raise falcon.HTTPNotFound(title="Not Found", description=f"job {job_id} not found")
        return job

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        resp.media = self._book.view(self._job(job_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Best effort: a job that already ended is left as it is."""
        job = self._job(job_id)
        self._runner.cancel(job)
        resp.media = self._book.view(job)


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Errors as ``{"error": "<message>"}``, the way the crawler service writes them."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps({"error": exc.description or exc.title}).encode()


def create_app(
    *,
    auth_token: str = "",
    webhook_secret: str = "",
    allow_private: bool = False,
    knobs: Knobs | None = None,
    fetch_timeout_ms: int = 10_000,
    job_threads: int = 32,
    panel: KnobPanel | None = None,
    stats: Stats | None = None,
    crawler: Crawler | None = None,
) -> falcon.App:
    """The scraper service. ``allow_private`` lets it crawl 127.0.0.1 (dev and tests only)."""
    panel = panel or KnobPanel(knobs)
    stats = stats or Stats(SCRAPER_COUNTERS)
    crawler = crawler or Crawler(timeout_ms=fetch_timeout_ms, allow_private=allow_private)
    book = JobBook()
    runner = ScrapeRunner(
        book,
        crawler,
        panel,
        stats,
        CallbackSender(webhook_secret, panel, stats),
        BackgroundPool(job_threads, "scrape-job"),
    )
    app = falcon.App(middleware=[TokenAuth(auth_token, scraper_token)])
    app.set_error_serializer(serialize_error)
    app.add_route("/jobs", JobsResource(book, runner, panel, stats, allow_private))
    app.add_route("/jobs/{job_id}", JobResource(book, runner))
    add_admin_routes(app, "scraper", panel, stats)
    return app
