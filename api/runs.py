"""Runs: ``POST /customize`` and ``/runs`` (create, list, read, pause, resume, cancel,
retry-failed). Run-state errors are mapped once in ``create_app`` (404 / 409)."""

from __future__ import annotations

from typing import Any

import falcon

from api.deps import AppDeps
from api.http import read_json
from pipeline import runs
from pipeline.runs import Selection
from pipeline.stages import STAGE_NAMES

SELECTION_KEYS = ("lead_ids", "import_id", "all_pending")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    raise falcon.HTTPUnprocessableEntity(
        title="Invalid request", description=f"{name} must be a positive integer id"
    )


def selection_from(body: Any) -> Selection:
    """``{"lead_ids": [...]}``, ``{"import_id": N}`` or ``{"all_pending": true}``."""
    if not isinstance(body, dict):
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request",
            description='send {"lead_ids": [...]}, {"import_id": N} or {"all_pending": true}',
        )
    unknown = sorted(set(body) - set(SELECTION_KEYS))
    if unknown:
        # A misspelt option (``budget``) must not start a run without it.
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request",
            description=f"unknown field(s): {', '.join(map(str, unknown))[:200]}; expected "
            "one of lead_ids, import_id, all_pending, and optionally from_stage, budget_usd",
        )
    given = [key for key in SELECTION_KEYS if key in body]
    if len(given) != 1:
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request",
            description="give exactly one of lead_ids, import_id, all_pending",
        )
    if "import_id" in body:
        return Selection(import_id=_positive_int(body["import_id"], "import_id"))
    if "all_pending" in body:
        if body["all_pending"] is not True:
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request", description="all_pending must be true"
            )
        return Selection(all_pending=True)
    ids = body["lead_ids"]
    if not isinstance(ids, list) or not ids:
        raise falcon.HTTPUnprocessableEntity(
            title="Invalid request", description="lead_ids must be a non-empty list of ids"
        )
    if len(ids) > runs.MAX_SELECTION:
        raise falcon.HTTPContentTooLarge(
            title="Too many ids", description=f"at most {runs.MAX_SELECTION} ids per run"
        )
    return Selection(lead_ids=tuple(_positive_int(i, "lead_ids") for i in ids))


def _budget(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e9:
        return float(value)
    raise falcon.HTTPUnprocessableEntity(
        title="Invalid request", description="budget_usd must be a number >= 0, or null"
    )


def run_options(body: Any) -> dict[str, Any]:
    """``from_stage`` (re-run from that stage) and ``budget_usd`` (a cap on LLM spend)."""
    if not isinstance(body, dict):
        return {}
    options: dict[str, Any] = {}
    if "from_stage" in body:
        if body["from_stage"] not in STAGE_NAMES:
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request",
                description=f"from_stage must be one of {', '.join(STAGE_NAMES)}",
            )
        options["from_stage"] = body["from_stage"]
    if "budget_usd" in body:
        options["budget_usd"] = _budget(body["budget_usd"])
    return options


class StartRun:
    """``POST /customize``: start a run (the same as ``POST /runs``)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        options = run_options(body)
        selection = selection_from(
            {k: v for k, v in body.items() if k not in options} if isinstance(body, dict) else body
        )
        report = runs.start_run(
            self._deps.ctx.engine,
            req.context.account_id,
            selection,
            self._deps.clock(),
            **options,
        )
        self._deps.dispatch(report.effects)
        resp.status = falcon.HTTP_201 if report.run_id else falcon.HTTP_200
        resp.media = report.as_dict()


class Runs(StartRun):
    """``POST /runs``: start a run; ``GET /runs``: the account's runs, newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = req.get_param_as_int("limit", min_value=1, max_value=200, default=50)
        after = req.get_param_as_int("after", min_value=1, max_value=2**63 - 1)
        items = runs.list_runs(
            self._deps.ctx.engine, req.context.account_id, self._deps.clock(), after, limit
        )
        resp.media = {
            "items": items,
            "next": items[-1]["id"] if len(items) == limit else None,
        }


class Run:
    """``GET /runs/{id}``: status, progress per stage, counts, cost, times, ETA, events.
    ``PATCH /runs/{id}`` ``{"budget_usd": N | null}``: change the cap (then resume a run
    the cap paused)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: int) -> None:
        resp.media = runs.get_run(
            self._deps.ctx.engine, req.context.account_id, run_id, self._deps.clock()
        )

    def on_patch(self, req: falcon.Request, resp: falcon.Response, run_id: int) -> None:
        body = read_json(req)
        if not isinstance(body, dict) or set(body) != {"budget_usd"}:
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request", description='send {"budget_usd": N} or null'
            )
        engine, account, now = self._deps.ctx.engine, req.context.account_id, self._deps.clock()
        runs.set_budget(engine, account, run_id, _budget(body["budget_usd"]), now)
        resp.media = runs.get_run(engine, account, run_id, now)


class RunAction:
    """``POST /runs/{id}/{pause|resume|cancel|retry-failed}``."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response, run_id: int, action: str):
        engine, account, now = self._deps.ctx.engine, req.context.account_id, self._deps.clock()
        detail: dict[str, Any] = {}
        if action == "pause":
            runs.pause(engine, account, run_id, now)
        elif action == "resume":
            self._deps.dispatch(runs.resume(engine, account, run_id, now))
        elif action == "cancel":
            detail["cancelled_leads"] = runs.cancel(engine, account, run_id, now)
        elif action == "retry-failed":
            prefixes = self._prefixes(req)
            requeued, effects = runs.retry_failed(engine, account, run_id, now, prefixes)
            self._deps.dispatch(effects)
            detail["requeued"] = requeued
        else:
            raise falcon.HTTPNotFound(
                title="No such action",
                description="use pause, resume, cancel or retry-failed",
            )
        resp.media = {"run": runs.get_run(engine, account, run_id, now), **detail}

    @staticmethod
    def _prefixes(req: falcon.Request) -> list[str]:
        if not req.content_length:
            return []
        body = read_json(req)
        known = isinstance(body, dict) and set(body) <= {"error_prefixes"}
        prefixes = body.get("error_prefixes", []) if known else None
        if not isinstance(prefixes, list) or not all(
            isinstance(p, str) and 0 < len(p) <= 200 for p in prefixes
        ):
            raise falcon.HTTPUnprocessableEntity(
                title="Invalid request",
                description='send {"error_prefixes": ["HTTP 404", ...]} or no body',
            )
        return prefixes
