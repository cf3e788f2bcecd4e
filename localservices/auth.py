"""Token authentication middleware, enforced only when a service is given a token.

The ``/_knobs``, ``/_stats`` and ``/_health`` control endpoints are exempt: they exist for
the tests and benchmarks that drive a local service, not for the client under test.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import falcon

#: Extracts the presented token from a request (None when there is none).
TokenReader = Callable[[falcon.Request], str | None]


def scraper_token(req: falcon.Request) -> str | None:
    """The scraper service reads ``X-Auth-Token``."""
    return req.get_header("X-Auth-Token")


def bearer_or_api_key(req: falcon.Request) -> str | None:
    """The LLM service reads ``Authorization: Bearer <token>`` or ``x-api-key``."""
    authorization = req.get_header("Authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return req.get_header("x-api-key")


class TokenAuth:
    def __init__(self, token: str, read_token: TokenReader) -> None:
        self._token = token
        self._read_token = read_token

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._token or req.path.startswith("/_"):
            return
        presented = self._read_token(req)
        if presented is None:
            raise falcon.HTTPUnauthorized(title="Unauthorized", description="missing auth token")
        if not hmac.compare_digest(presented.encode(), self._token.encode()):
            raise falcon.HTTPUnauthorized(title="Unauthorized", description="invalid auth token")
