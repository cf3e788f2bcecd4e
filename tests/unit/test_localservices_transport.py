"""The stand-ins' light httpx transport, against a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from localservices.crawler import connect_error_message
from localservices.transport import LightTransport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(200, b"x" * 10)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/json":
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json"})
        elif parts.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif parts.path == "/close":
            self._send(200, b"bye", {"Connection": "close"})
            self.close_connection = True
        elif parts.path == "/drop":
            # Answers as if it keeps the connection, then closes it (a keep-alive timeout).
            self._send(200, b"dropped")
            self.close_connection = True
        elif parts.path == "/slow":
            time.sleep(int(query["ms"][0]) / 1000)
            self._send(200, b"slow")
        elif parts.path == "/big":
            self._send(200, b"b" * 300_000)
        elif parts.path == "/go":
            self._send(302, b"", {"Location": "/json"})
        elif parts.path == "/empty":
            self._send(204, b"")
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = {
            "body": body.decode(),
            "host": self.headers.get("Host"),
            "x_test": self.headers.get("X-Test"),
            "path": self.path,
        }
        self._send(201, json.dumps(answer).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.connections = 0  # type: ignore[attr-defined]
    httpd.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _base(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def _client(server: ThreadingHTTPServer, **transport_options) -> httpx.Client:
    return httpx.Client(
        base_url=_base(server),
        timeout=5,
        transport=LightTransport(**transport_options),
        follow_redirects=True,
    )


def test_requests_to_one_origin_reuse_one_connection(server):
    with _client(server) as client:
        for _ in range(5):
            assert client.get("/json").json() == {"ok": True}
    assert server.connections == 1


def test_a_post_arrives_with_its_body_host_and_headers(server):
    with _client(server) as client:
        response = client.post("/things?x=1", json={"a": 1}, headers={"X-Test": "yes"})
    assert response.status_code == 201
    echoed = response.json()
    assert json.loads(echoed["body"]) == {"a": 1}
    assert echoed["host"] == _base(server).removeprefix("http://")
    assert echoed["x_test"] == "yes"
    assert echoed["path"] == "/things?x=1"


def test_a_chunked_body_is_read_whole(server):
    with _client(server) as client:
        assert client.get("/chunked").text == "hello chunked world"
        assert client.get("/json").status_code == 200
    assert server.connections == 1


def test_a_head_and_a_204_leave_the_connection_usable(server):
    with _client(server) as client:
        assert client.head("/anything").content == b""
        assert client.get("/empty").status_code == 204
        assert client.get("/json").json() == {"ok": True}
    assert server.connections == 1


def test_a_connection_the_server_says_it_closes_is_not_reused(server):
    with _client(server) as client:
        assert client.get("/close").text == "bye"
        assert client.get("/json").status_code == 200
    assert server.connections == 2


def test_an_idle_connection_the_server_dropped_is_replaced_not_failed(server):
    with _client(server) as client:
        assert client.get("/drop").text == "dropped"
        time.sleep(0.1)  # the server's close reaches the client's socket
        assert client.get("/json").json() == {"ok": True}
    assert server.connections == 2


def test_a_connection_idle_past_the_expiry_is_not_reused(server):
    with _client(server, keepalive_expiry=0.05) as client:
        client.get("/json")
        time.sleep(0.15)
        client.get("/json")
    assert server.connections == 2


def test_a_body_left_unread_retires_its_connection(server):
    with _client(server) as client:
        with client.stream("GET", "/big") as response:
            first = next(response.iter_bytes())
            assert first
        assert client.get("/json").json() == {"ok": True}
    assert server.connections == 2


def test_a_redirect_is_followed_by_the_client(server):
    with _client(server) as client:
        response = client.get("/go")
    assert response.json() == {"ok": True}
    assert [r.status_code for r in response.history] == [302]


def test_a_slow_answer_is_an_httpx_read_timeout(server):
    client = httpx.Client(base_url=_base(server), timeout=0.1, transport=LightTransport())
    with client, pytest.raises(httpx.ReadTimeout):
        client.get("/slow?ms=600")


def test_a_refused_connection_is_a_connect_error_the_crawler_names_econnrefused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request: nobody listens
    client = httpx.Client(timeout=2, transport=LightTransport())
    url = f"http://127.0.0.1:{port}/"
    with client, pytest.raises(httpx.ConnectError) as caught:
        client.get(url)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    message = connect_error_message(caught.value, httpx.URL(url))
    assert message == f"connect ECONNREFUSED 127.0.0.1:{port}"


def test_an_unknown_host_is_a_connect_error_the_crawler_names_enotfound():
    client = httpx.Client(timeout=2, transport=LightTransport())
    url = "http://no-such-host.invalid/"
    with client, pytest.raises(httpx.ConnectError) as caught:
        client.get(url)
    assert connect_error_message(caught.value, httpx.URL(url)) == (
        "getaddrinfo ENOTFOUND no-such-host.invalid"
    )


def test_threads_share_the_pool_without_mixing_answers(server):
    errors: list[BaseException] = []
    with _client(server) as client:

        def work(n: int) -> None:
            try:
                for i in range(20):
                    body = client.post("/echo", content=f"{n}-{i}").json()["body"]
                    assert body == f"{n}-{i}"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert server.connections <= 8


def test_a_closed_transport_keeps_no_connection(server):
    transport = LightTransport()
    client = httpx.Client(base_url=_base(server), transport=transport)
    client.get("/json")
    client.close()
    assert transport._idle == {}
