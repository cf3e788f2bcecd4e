"""API keys: the middleware that sets ``req.context.account_id`` from the request's key.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A missing,
unknown or revoked key is a 401 that says which. The health check, the OpenAPI document,
the webhooks (they carry a signature instead) and the dashboard page with its static files
need no key.
"""

from __future__ import annotations

from collections.abc import Iterable

import falcon

from pipeline.accounts import KeyResolver

OPEN_PATHS = frozenset({"/", "/healthz", "/openapi.json"})
OPEN_PREFIXES = ("/webhooks/", "/static/")
HOW = "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def presented_key(req: falcon.Request) -> str | None:
    """The key the request carries, if any (the Authorization header wins)."""
    auth = req.get_header("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # an Authorization header of another kind: a key that is not valid
    key = req.get_header("X-API-Key")
    return key.strip() if key is not None else None


class ApiKeyAuth:
    """Falcon middleware: every request outside the open paths acts for its key's account."""

    def __init__(
        self,
        keys: KeyResolver,
        open_paths: Iterable[str] = OPEN_PATHS,
        open_prefixes: tuple[str, ...] = OPEN_PREFIXES,
    ) -> None:
        self._keys = keys
        self._open_paths = frozenset(open_paths)
        self._open_prefixes = open_prefixes

    def is_open(self, path: str) -> bool:
        return path in self._open_paths or path.startswith(self._open_prefixes)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.is_open(req.path):
            return
        key = presented_key(req)
        if key is None:
            raise falcon.HTTPUnauthorized(
                title="API key required",
                description=f"this endpoint needs an API key; {HOW}",
                challenges=["Bearer"],
            )
        info = self._keys.resolve(key) if key else None
        if info is None:
            raise falcon.HTTPUnauthorized(
                title="Invalid API key",
                description="the API key is not one this server issued; create one with "
                "'leadpipe keys create' and " + HOW,
                challenges=['Bearer error="invalid_token"'],
            )
        if info.revoked:
            raise falcon.HTTPUnauthorized(
                title="Revoked API key",
                description="this API key was revoked; create a new one with "
                "'leadpipe keys create'",
                challenges=['Bearer error="invalid_token"'],
            )
        req.context.account_id = info.account_id
        req.context.api_key_id = info.id
