"""Crawling one site: fetch the start URL, then same-origin links breadth-first.

Failures read like the messages of the Node.js crawler the real scraper service is, because
that is what a client classifies: ``getaddrinfo ENOTFOUND <host>``,
``connect ECONNREFUSED <host:port>``, ``HTTP 404 Not Found at <url>``,
``timeout of <n>ms exceeded``. Only a failure of the start page fails the crawl; a broken
subpage is skipped. A page without text is not a failure: it comes back with
``wordCount`` 0 and the client decides.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser

from localservices.extract import Page, extract
from localservices.netguard import PrivateAddressError, ensure_public
from localservices.transport import LightTransport

MAX_BODY_BYTES = 5_000_000
USER_AGENT = "LeadpipeLocalScraper/1.0 (+https://github.com/leadpipe)"


class CrawlError(Exception):
    """The crawl failed; ``str(exc)`` is the crawler-style message a client sees."""


class CrawlCancelled(Exception):
    """The job was cancelled while crawling."""


@dataclass(frozen=True)
class CrawledPage:
    url: str
    page: Page

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.page.title,
            "content": self.page.content,
            "wordCount": self.page.word_count,
        }


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _host_port(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def connect_error_message(exc: BaseException, url: httpx.URL) -> str:
    """``getaddrinfo ENOTFOUND host`` / ``connect ECONNREFUSED host:port`` / ``connect E… …``."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"getaddrinfo ENOTFOUND {url.host}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connect ECONNREFUSED {_host_port(url)}"
        if isinstance(cause, OSError) and cause.errno in errno.errorcode:
            return f"connect {errno.errorcode[cause.errno]} {_host_port(url)}"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return f"getaddrinfo ENOTFOUND {url.host}"
    if "Connection refused" in text:
        return f"connect ECONNREFUSED {_host_port(url)}"
    return f"connect ECONNRESET {_host_port(url)}"


class Crawler:
    """Fetches pages for many jobs at once over one pooled, thread-safe HTTP client."""

    def __init__(self, timeout_ms: int = 10_000, allow_private: bool = False) -> None:
        self._timeout_ms = timeout_ms
        self._allow_private = allow_private
        self._client = httpx.Client(
            timeout=timeout_ms / 1000,
            follow_redirects=True,
            max_redirects=10,
            headers={"User-Agent": USER_AGENT},
            # Idle connections are dropped before the site's keep-alive timeout (the local
            # site's is 5 s, httpx's default expiry too): reusing one the server is closing
            # at that moment fails the page with "socket hang up". The fault suite saw four
            # scrapes fail at once after the workers' pause left the pool idle for 5 s.
            transport=LightTransport(keepalive_expiry=2.0, max_idle_per_origin=50),
            # No proxy from the environment: what the crawler sees is what the network does.
            trust_env=False,
            event_hooks={"request": [self._guard]},
        )

    def _guard(self, request: httpx.Request) -> None:
        # Runs for every request, redirects included, so a redirect cannot reach inside.
        if self._allow_private:
            return
        try:
            ensure_public(request.url.host)
        except PrivateAddressError as exc:
            raise CrawlError(f"refused: {exc}") from None

    def crawl(
        self,
        url: str,
        max_pages: int,
        max_concurrency: int = 1,
        include_sitemap: bool = False,
        cancelled: threading.Event | None = None,
    ) -> list[CrawledPage]:
        """Crawl from ``url``; raise CrawlError if the start page fails, CrawlCancelled if asked."""
        cancelled = cancelled or threading.Event()
        start = self.fetch_page(url)  # its failure is the job's failure
        origin = _origin(start.url)
        pages = [start]
        seen = {url, start.url}  # URLs queued or fetched
        collected = {start.url}  # final URLs (after redirects) of the pages kept
        frontier: deque[str] = deque()

        def enqueue(links: tuple[str, ...] | list[str]) -> None:
            for link in links:
                if link not in seen and _origin(link) == origin:
                    seen.add(link)
                    frontier.append(link)

        enqueue(start.page.links)
        if include_sitemap:
            enqueue(self._sitemap_urls(start.url))
        while frontier and len(pages) < max_pages:
            if cancelled.is_set():
                raise CrawlCancelled()
            take = min(max_concurrency, max_pages - len(pages), len(frontier))
            batch = [frontier.popleft() for _ in range(take)]
            for outcome in self._fetch_many(batch):
                if isinstance(outcome, CrawledPage) and outcome.url not in collected:
                    collected.add(outcome.url)
                    seen.add(outcome.url)
                    pages.append(outcome)
                    enqueue(outcome.page.links)
        if cancelled.is_set():
            raise CrawlCancelled()
        return pages

    def fetch_page(self, url: str) -> CrawledPage:
        response, body = self._get(url)
        final_url = str(response.url)
        content_type = response.headers.get("content-type", "").lower()
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if "html" in content_type or not content_type:
            page = extract(text, final_url)
        elif content_type.startswith("text/"):
            page = Page(title="", content=text.strip(), links=())
        else:
            page = Page(title="", content="", links=())
        return CrawledPage(url=final_url, page=page)

    def _fetch_many(self, urls: list[str]) -> list[CrawledPage | CrawlError]:
        results: list[CrawledPage | CrawlError] = [CrawlError("not fetched")] * len(urls)

        def fetch(index: int) -> None:
            try:
                results[index] = self.fetch_page(urls[index])
            except CrawlError as exc:
                results[index] = exc

        if len(urls) == 1:
            fetch(0)
            return results
        # Daemon threads, so a shutdown never waits for a slow site.
        threads = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(len(urls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def _sitemap_urls(self, start_url: str) -> list[str]:
        """``<loc>``s of the sitemap next to the start page, else of the one at the root."""
        candidates = dict.fromkeys(
            [urljoin(start_url, "sitemap.xml"), urljoin(start_url, "/sitemap.xml")]
        )
        for candidate in candidates:
            try:
                _, body = self._get(candidate)
            except CrawlError:
                continue
            tree = LexborHTMLParser(body.decode("utf-8", errors="replace"))
            locs = [" ".join(node.text().split()) for node in tree.css("loc")]
            return [loc for loc in locs if loc.startswith(("http://", "https://"))]
        return []

    def _get(self, url: str) -> tuple[httpx.Response, bytes]:
        request_url = httpx.URL(url)
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise CrawlError(
                        f"HTTP {response.status_code} {_reason(response.status_code)} "
                        f"at {response.url}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BODY_BYTES:
                        break
                return response, bytes(body[:MAX_BODY_BYTES])
        except httpx.TimeoutException:
            raise CrawlError(f"timeout of {self._timeout_ms}ms exceeded") from None
        except httpx.TooManyRedirects:
            raise CrawlError("Maximum number of redirects exceeded") from None
        except httpx.ConnectError as exc:
            raise CrawlError(connect_error_message(exc, request_url)) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            raise CrawlError("socket hang up") from None
        except httpx.UnsupportedProtocol:
            raise CrawlError(f"unsupported protocol in {url}") from None
        except httpx.HTTPError as exc:
            raise CrawlError(f"request to {url} failed: {exc}") from None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"
