"""Webhook resources. Each verifies the signature over the raw body, then hands the
payload to ``pipeline.completing``. A duplicate or stale callback changes nothing and is
answered 200, so the sender stops retrying; a callback about a lead that does not exist
is answered 404."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import falcon

from api.http import parse_json, read_body, require_json
from pipeline import completing
from pipeline.context import Context
from pipeline.effects import Effects
from pipeline.payloads import llm_item_problem, scraper_job_problem
from pipeline.references import parse_reference
from pipeline.signing import HEADER, SignatureError, verify

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 8 * 1024 * 1024


class SignedJson:
    """Reads a callback: size and type first, then the signature, then the JSON."""

    def __init__(self, secret: str, wallclock: Callable[[], float]) -> None:
        self._secret = secret
        self._wallclock = wallclock

    def read(self, req: falcon.Request) -> dict[str, Any]:
        require_json(req)
        body = read_body(req, MAX_CALLBACK_BYTES)
        try:
            verify(self._secret, body, req.get_header(HEADER), self._wallclock())
        except SignatureError as exc:
            raise falcon.HTTPUnauthorized(title="Bad signature", description=str(exc)) from None
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise falcon.HTTPBadRequest(
                title="Malformed callback", description="body must be an object"
            )
        return payload


def _lead_ids(results: list[dict[str, Any]]) -> list[int]:
    ids = []
    for item in results:
        try:
            ids.append(parse_reference(item.get("custom_id")).lead_id)
        except ValueError:
            continue  # counted as ignored by the domain
    return ids


def _refuse_unknown(ctx: Context, lead_ids: list[int]) -> None:
    """404 when the callback names leads and none of them exists: not a late or duplicate
    callback (those are answered 200), but one about a job Leadpipe never had."""
    if lead_ids and completing.unknown_leads(ctx, lead_ids) == set(lead_ids):
        raise falcon.HTTPNotFound(
            title="Unknown job",
            description=f"no lead {', '.join(map(str, sorted(set(lead_ids))[:5]))} exists",
        )


def _moved(effects: Effects) -> bool:
    """Whether a callback changed any row. Only one that changed nothing can be about an
    unknown lead, so only then is the extra lookup made (not on every callback)."""
    return bool(effects.completed or effects.failed or effects.retried)


def _answer(resp: falcon.Response, effects: Effects) -> None:
    resp.media = {
        "completed": effects.completed,
        "failed": effects.failed,
        "retried": effects.retried,
        "ignored": effects.ignored,
    }


class ScraperCallback:
    """``{"event": "job.completed"|"job.failed", "job": {...}, "metadata": {"reference"}}``"""

    def __init__(
        self,
        ctx: Context,
        reader: SignedJson,
        dispatch: Callable[[Effects], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._ctx = ctx
        self._reader = reader
        self._dispatch = dispatch
        self._clock = clock

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        payload = self._reader.read(req)
        job = payload.get("job")
        metadata = payload.get("metadata")
        if not isinstance(job, dict) or not isinstance(metadata, dict):
            raise falcon.HTTPBadRequest(
                title="Malformed callback", description="job and metadata objects are required"
            )
        try:
            ref = parse_reference(metadata.get("reference"))
        except ValueError as exc:
            raise falcon.HTTPBadRequest(title="Malformed reference", description=str(exc)) from None
        problem = scraper_job_problem(job)
        if problem:
            raise falcon.HTTPBadRequest(title="Malformed callback", description=problem)
        effects = completing.apply_scraper_jobs(self._ctx, [(ref, job)], self._clock())
        if not _moved(effects):
            _refuse_unknown(self._ctx, [ref.lead_id])
        self._dispatch(effects)
        _answer(resp, effects)


class LlmCallback:
    """``{"type": "message_batch.ended", "batch": {"id", ...}, "results": [...]}``; a
    callback without results has them fetched by a worker."""

    def __init__(
        self,
        ctx: Context,
        reader: SignedJson,
        dispatch: Callable[[Effects], None],
        fetch_results: Callable[[str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._ctx = ctx
        self._reader = reader
        self._dispatch = dispatch
        self._fetch_results = fetch_results
        self._clock = clock

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        payload = self._reader.read(req)
        batch = payload.get("batch")
        if not isinstance(batch, dict) or not isinstance(batch.get("id"), str):
            raise falcon.HTTPBadRequest(
                title="Malformed callback", description="batch.id is required"
            )
        results = payload.get("results")
        if results is None:
            if batch.get("processing_status") == "ended":
                self._fetch_results(batch["id"])
            resp.status = falcon.HTTP_202
            resp.media = {"fetching": batch["id"]}
            return
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise falcon.HTTPBadRequest(
                title="Malformed callback", description="results must be a list of objects"
            )
        problem = next(filter(None, map(llm_item_problem, results)), None)
        if problem:
            raise falcon.HTTPBadRequest(title="Malformed callback", description=problem)
        effects = completing.apply_llm_results(self._ctx, batch["id"], results, self._clock())
        if not _moved(effects):
            _refuse_unknown(self._ctx, _lead_ids(results))
        self._dispatch(effects)
        _answer(resp, effects)
