"""Is a server reachable? Real connections (psycopg, redis-py) and stdlib-only handshakes.

``postgres_reachable`` / ``redis_reachable`` import psycopg / redis when called; the
``*_answers`` checks speak just enough of each protocol by hand to run before the virtualenv
exists (``start-system``, ``status``).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable

from devtools.servers.common import ADMIN_DB, HOST, POSTGRES_PORT, POSTGRES_USER, REDIS_PORT


def postgres_reachable(url: str, timeout: float = 3.0) -> str | None:
    """None if ``SELECT 1`` works over ``url``, else the reason it does not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(2, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def redis_reachable(url: str, timeout: float = 2.0) -> str | None:
    """None if PING works over ``url``, else the reason it does not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def postgres_answers(host: str = HOST, port: int = POSTGRES_PORT, timeout: float = 2.0) -> bool:
    """Stdlib-only: does a PostgreSQL server there accept a startup message?

    Any authentication request or an error other than "starting up / shutting down" counts as
    up; this is for waiting on the machine's own service before psycopg is installed.
    """
    params = f"user\0{POSTGRES_USER}\0database\0{ADMIN_DB}\0\0".encode()
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(startup)
            kind = _recv_exact(sock, 1)
            (length,) = struct.unpack("!i", _recv_exact(sock, 4))
            body = _recv_exact(sock, min(length - 4, 4096))
            with contextlib.suppress(OSError):
                sock.sendall(b"X\0\0\0\4")
    except (OSError, struct.error):
        return False
    if kind == b"R":
        return True
    if kind == b"E":
        fields = {f[:1]: f[1:] for f in body.split(b"\0") if f}
        return fields.get(b"C") not in (b"57P03", b"57P01", b"57P02")  # cannot connect now
    return False


def redis_answers(host: str = HOST, port: int = REDIS_PORT, timeout: float = 2.0) -> bool:
    """Stdlib-only: does a Redis server there answer PING (or ask for a password)?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-WRONGPASS"))


#: The stdlib-only check of each kind of server: ``ANSWERS[kind](host, port) -> bool``.
ANSWERS: dict[str, Callable[..., bool]] = {"postgres": postgres_answers, "redis": redis_answers}
