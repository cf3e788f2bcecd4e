"""Request-body reading and error mapping shared by the API and the webhook endpoints."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import falcon
import falcon.media

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 2 * 1024 * 1024


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


json_handler = falcon.media.JSONHandler(
    dumps=partial(json.dumps, default=_default, ensure_ascii=False),
    loads=json.loads,
)


def read_body(req: falcon.Request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The raw body, refusing more than ``limit`` bytes whatever Content-Length says."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"the limit is {limit} bytes"
        )
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"the limit is {limit} bytes"
        )
    return body


def require_json(req: falcon.Request) -> None:
    if not req.content_type or req.content_type.split(";")[0].strip() != "application/json":
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description="send application/json"
        )


def parse_json(body: bytes) -> Any:
    if not body:
        raise falcon.HTTPBadRequest(title="Empty body", description="a JSON body is required")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise falcon.HTTPBadRequest(title="Malformed JSON", description=str(exc)[:200]) from None


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python accepts them; PostgreSQL's jsonb does not)."""
    raise ValueError(f"{name} is not a JSON value")


def read_json(req: falcon.Request, limit: int = MAX_JSON_BYTES) -> Any:
    require_json(req)
    return parse_json(read_body(req, limit))


def handle_invalid_leads(req: falcon.Request, resp: falcon.Response, ex, params) -> None:
    """``pipeline.leads.InvalidLeads`` → 422 listing every bad lead and field."""
    resp.status = falcon.HTTP_422
    resp.media = {
        "title": "Invalid leads",
        "description": f"{len(ex.problems)} lead(s) have invalid fields; nothing was written",
        "problems": ex.problems,
    }


def handle_not_found(req: falcon.Request, resp: falcon.Response, ex, params) -> None:
    """A domain lookup that found nothing in the caller's account → 404."""
    raise falcon.HTTPNotFound(title="Not found", description=str(ex)) from ex


def handle_conflict(req: falcon.Request, resp: falcon.Response, ex, params) -> None:
    """An action the object's current state does not allow → 409, saying why."""
    raise falcon.HTTPConflict(title="Not allowed in this state", description=str(ex)) from ex


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params) -> None:
    """Anything not mapped is a bug: log it with its traceback, answer a plain 500."""
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(
        title="Internal error", description="the error was logged"
    ) from ex


def serialize_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError) -> None:
    """Every error body is JSON ``{title, description}`` whatever the client accepts (what
    the OpenAPI document promises); falcon's default answers XML to ``Accept: …/xml`` and
    an empty body to ``Accept: text/html``."""
    resp.data = ex.to_json(json_handler)
    resp.content_type = falcon.MEDIA_JSON
