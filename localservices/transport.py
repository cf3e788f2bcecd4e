"""A lighter HTTP/1.1 transport for the stand-ins' httpx clients: ``http.client`` in a LIFO pool.

Why: the stand-ins share the benchmark's two cores with Leadpipe, and the scraper stand-in
makes two requests per lead (its crawl of the company site and its callback). Measured on
loopback against gunicorn (500-byte JSON), httpx's default transport (httpcore + h11, pure
Python) costs 0.34-0.35 ms of client CPU per request and this one 0.26; in a 6,000-lead
benchmark run the scraper stand-in's CPU per lead fell from 2.31 to 1.81 ms with it. The
callers still build an ``httpx.Client`` (timeouts, redirects, event hooks), only the
transport underneath is swapped. Leadpipe's own clients keep httpx's default transport:
for them the same change measured within noise (about 0.1 ms a lead), not worth a second
HTTP stack on the path to real services.

What it keeps from httpcore's behaviour:

- an idle connection is reused only if it is not readable (a server that closed it, or
  sent something unasked, makes it readable) and has been idle for less than
  ``keepalive_expiry``; a request is never re-sent after any byte of it went out;
- ``Connection: close`` (``will_close``) or an unread body retires the connection;
- errors arrive as httpx's own exceptions (``ConnectError``, ``ConnectTimeout``,
  ``ReadTimeout``, ``WriteError``, ``RemoteProtocolError`` …), the socket error chained as
  ``__cause__``, so the crawler's messages (``connect ECONNREFUSED host:port``) are the same.

What it does not do: HTTP/2, a cap on open connections (each caller thread holds at most
one at a time, so a process opens at most as many as it has threads), or proxies.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx

_CHUNK = 64 * 1024

Origin = tuple[str, str, int]


class _Connection:
    """One ``http.client`` connection and when it was last handed back."""

    __slots__ = ("http", "idle_since")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.http = conn
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        sock = self.http.sock
        if sock is None or now - self.idle_since > expiry:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable  # EOF or unasked bytes: the server is done with it

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.http.close()


class LightTransport(httpx.BaseTransport):
    """``httpx.BaseTransport`` over ``http.client``; thread-safe, one pool per origin."""

    def __init__(
        self,
        *,
        keepalive_expiry: float = 2.0,
        max_idle_per_origin: int = 32,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._expiry = keepalive_expiry
        self._max_idle = max_idle_per_origin
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- pool ---------------------------------------------------------------------------

    def _checkout(self, origin: Origin) -> _Connection | None:
        """The warmest usable idle connection; the lock is held only to pop, not for the
        readability check (a syscall) or closing a stale one."""
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                candidate = idle.pop()  # most recently used first
            if candidate.usable(now, self._expiry):
                return candidate
            candidate.close()

    def _release(self, origin: Origin, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def _connect(
        self, origin: Origin, request: httpx.Request, timeout: float | None
    ) -> _Connection:
        scheme, host, port = origin
        if scheme == "https":
            context = self._ssl_context or _default_ssl_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=context
            )
        elif scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
            conn.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(conn)

    # -- httpx.BaseTransport --------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        body = request.read()

        conn = self._checkout(origin)
        if conn is None:
            conn = self._connect(origin, request, timeouts.get("connect"))
        sock = conn.http.sock
        try:
            sock.settimeout(timeouts.get("write"))
            target = url.raw_path.decode("ascii")
            conn.http.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.http.putheader(name, value)
            conn.http.endheaders(body or None)
        except TimeoutError as exc:
            conn.close()
            raise httpx.WriteTimeout(str(exc) or "write timed out", request=request) from exc
        except OSError as exc:
            conn.close()
            raise httpx.WriteError(str(exc), request=request) from exc

        try:
            sock.settimeout(timeouts.get("read"))
            response = conn.http.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _read_error(exc, request) from exc
        except BaseException:
            conn.close()
            raise
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()]
        stream = _ResponseStream(self, origin, conn, response, request)
        return httpx.Response(
            response.status,
            headers=headers,
            stream=stream,
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()


class _ResponseStream(httpx.SyncByteStream):
    """The body as it arrives; the connection goes back to the pool once it is all read."""

    def __init__(
        self,
        transport: LightTransport,
        origin: Origin,
        conn: _Connection,
        response: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._conn: _Connection | None = conn
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._response.read(_CHUNK)
                if not chunk:
                    return
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            self._discard()
            raise _read_error(exc, self._request) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._transport._release(self._origin, conn)
        else:  # body left unread, or the server said it closes: never reuse
            self._response.close()
            conn.close()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _read_error(
    exc: OSError | http.client.HTTPException, request: httpx.Request
) -> httpx.HTTPError:
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return httpx.ReadTimeout(str(exc) or "read timed out", request=request)
    if isinstance(exc, http.client.HTTPException | ConnectionResetError | BrokenPipeError):
        # RemoteDisconnected, IncompleteRead, BadStatusLine, LineTooLong, a reset mid-read
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    return httpx.ReadError(str(exc), request=request)


_ssl_lock = threading.Lock()
_ssl_default: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi's CA bundle), built once: it is costly."""
    global _ssl_default
    with _ssl_lock:
        if _ssl_default is None:
            _ssl_default = httpx.create_ssl_context()
        return _ssl_default
