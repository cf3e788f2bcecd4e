"""``POST /estimate``: what Customize would do with a selection, and what it would cost."""

from __future__ import annotations

from typing import Any

import falcon

from api.deps import AppDeps
from api.http import read_json
from pipeline import estimates
from pipeline.listing import LeadFilter

MAX_IDS = 10_000


def _lead_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request", description="lead_ids must be a non-empty list of ids"
        )
    if len(value) > MAX_IDS:
        raise falcon.HTTPContentTooLarge(
            title="Too many ids", description=f"at most {MAX_IDS} ids per request"
        )
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in value):
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request", description="lead_ids must hold positive integer ids"
        )
    return value


class Estimate:
    """``{"lead_ids": [...]}`` or ``{"filter": {stage, state, status, run, import}}``."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        if not isinstance(body, dict) or len(body) != 1 or set(body) - {"lead_ids", "filter"}:
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request",
                description='send {"lead_ids": [...]} or {"filter": {...}}, one of the two',
            )
        settings = self._deps.ctx.settings
        prices = estimates.Prices(
            settings.llm_input_price_per_mtok, settings.llm_output_price_per_mtok
        )
        engine, account_id = self._deps.ctx.engine, req.context.account_id
        if "lead_ids" in body:
            ids = _lead_ids(body["lead_ids"])
            resp.media = estimates.estimate(engine, account_id, prices, lead_ids=ids)
            return
        if not isinstance(body["filter"], dict):
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request", description="filter must be an object"
            )
        flt = LeadFilter.parse(body["filter"])
        resp.media = estimates.estimate(engine, account_id, prices, flt=flt)
