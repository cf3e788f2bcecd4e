"""One resource class per noun. Each reads the account from ``req.context``."""

from __future__ import annotations

from typing import Any

import falcon

from api import listing
from api.deps import AppDeps
from api.http import read_json
from pipeline import leads
from pipeline.leads import MAX_BULK
from pipeline.stages import STAGE_NAMES


def _ids(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request", description=f"{name} must be a non-empty list of ids"
        )
    if len(value) > 10_000:
        raise falcon.HTTPContentTooLarge(
            title="Too many ids", description="at most 10000 ids per request"
        )
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in value):
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request", description=f"{name} must hold positive integer ids"
        )
    return value


class Leads:
    """``POST /leads``: one lead (an object), or many (a list, or ``{"leads": [...]}``).
    ``GET /leads``: a page of lead summaries (filters and cursor: ``pipeline.listing``)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = listing.leads_page(self._deps, req)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        single = isinstance(body, dict) and "leads" not in body
        items = [body] if single else body.get("leads") if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request",
                description='send a lead object, a list of leads, or {"leads": [...]}',
            )
        if len(items) > MAX_BULK:
            raise falcon.HTTPContentTooLarge(
                title="Too many leads", description=f"at most {MAX_BULK} leads per request"
            )
        ids = leads.create_leads(self._deps.ctx.engine, req.context.account_id, items)
        resp.status = falcon.HTTP_201
        resp.media = {"id": ids[0]} if single else {"ids": ids}


class Lead:
    """``GET /leads/{id}``: the lead with every stage's status, result and error."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, lead_id: int) -> None:
        lead = leads.get_lead(self._deps.ctx.engine, req.context.account_id, lead_id)
        if lead is None:
            raise falcon.HTTPNotFound(title="No such lead", description=f"lead {lead_id}")
        settings = self._deps.ctx.settings
        lead["cost_usd"] = round(
            (
                lead["tokens"]["input"] * settings.llm_input_price_per_mtok
                + lead["tokens"]["output"] * settings.llm_output_price_per_mtok
            )
            / 1e6,
            6,
        )
        resp.media = lead


class LeadVersions:
    """``GET /leads/{id}/versions[?stage=]``: results that re-runs replaced."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, lead_id: int) -> None:
        engine, account = self._deps.ctx.engine, req.context.account_id
        stage = req.get_param("stage")
        if stage is not None and stage not in STAGE_NAMES:
            raise falcon.HTTPBadRequest(
                title="Invalid stage", description=f"stage must be one of {', '.join(STAGE_NAMES)}"
            )
        if leads.get_lead(engine, account, lead_id) is None:
            raise falcon.HTTPNotFound(title="No such lead", description=f"lead {lead_id}")
        resp.media = {"items": leads.versions(engine, account, lead_id, stage)}


class Status:
    """``GET /status``: counts per stage and state, from the monitoring views."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = leads.pipeline_status(self._deps.ctx.engine, req.context.account_id)


class Health:
    """``GET /healthz``: 200 when every dependency answers, 503 naming the ones that don't."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        problems = {}
        for name, check in self._deps.health_checks.items():
            try:
                check()
            except Exception as exc:  # a health check reports, it never raises
                problems[name] = f"{type(exc).__name__}: {exc}"[:300]
        resp.status = falcon.HTTP_503 if problems else falcon.HTTP_200
        resp.media = {"ok": not problems, "problems": problems}
