"""The scraper's guard against server-side request forgery: only http(s), and (unless the
dev setup allows it) only public addresses — checked again on every redirect."""

from __future__ import annotations

import socket

import falcon.testing
import httpx
import pytest

from localservices import netguard
from localservices.crawler import Crawler, CrawlError
from localservices.scraper import create_app
from pipeline.errors import classify_target_error

PUBLIC_IP = "93.184.216.34"
FAKE_DNS = {
    "public.example": PUBLIC_IP,
    "sneaky.example": "127.0.0.1",
    "metadata.example": "169.254.169.254",
    "v6.example": "::1",
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        address = FAKE_DNS.get(host)
        if address is None:
            return real(host, *args, **kwargs)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "http://sneaky.example/",  # a DNS name that resolves to loopback
        "http://metadata.example/latest/meta-data/",  # cloud metadata, link-local
        "http://v6.example/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0.0.0.0/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
    ],
)
def test_a_job_for_a_non_public_address_is_refused_at_submit(url):
    client = falcon.testing.TestClient(create_app())
    response = client.simulate_post("/jobs", json={"url": url})
    assert response.status_code == 422, url
    assert "non-public" in response.json["error"]


@pytest.mark.parametrize(
    "url", ["gopher://public.example/", "file:///etc/passwd", "javascript:alert(1)", "//x/"]
)
def test_a_job_for_a_scheme_other_than_http_is_refused_at_submit(url):
    client = falcon.testing.TestClient(create_app())
    assert client.simulate_post("/jobs", json={"url": url}).status_code == 422


def test_a_public_host_passes_the_guard():
    netguard.ensure_public("public.example")


def crawler_behind(handler) -> Crawler:
    crawler = Crawler(timeout_ms=1000, allow_private=False)
    crawler._client._transport = httpx.MockTransport(handler)  # no network in unit tests
    return crawler


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1:9/admin", "http://sneaky.example/", "http://[::1]/"]
)
def test_a_redirect_from_a_public_site_to_a_private_address_is_not_followed(location):
    fetched = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        if request.url.host == "public.example":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, text="<html><body>internal secrets</body></html>")

    with pytest.raises(CrawlError, match="non-public"):
        crawler_behind(handler).crawl("http://public.example/", max_pages=3)
    assert fetched == ["http://public.example/"], "the private address was never requested"


def test_a_redirect_between_public_pages_is_followed():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(302, headers={"Location": "http://public.example/home"})
        return httpx.Response(
            200,
            text="<html><body><p>Public words here.</p></body></html>",
            headers={"Content-Type": "text/html"},
        )

    [page] = crawler_behind(handler).crawl("http://public.example/", max_pages=1)
    assert page.url == "http://public.example/home"


def test_the_pipeline_fails_a_refused_address_at_once_instead_of_retrying_it():
    message = "refused: sneaky.example resolves to a non-public address (127.0.0.1)"
    assert classify_target_error(message).kind == "hard"
