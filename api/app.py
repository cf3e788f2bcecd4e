"""``create_app(deps)``: the web process's Falcon app (API, webhooks, dashboard)."""

from __future__ import annotations

from pathlib import Path

import falcon

from api import resources, runs
from api.deps import AppDeps
from api.http import (
    handle_conflict,
    handle_invalid_leads,
    handle_not_found,
    handle_unexpected,
    json_handler,
)
from pipeline.leads import InvalidLeads
from pipeline.runs import RunNotFound, RunStateError
from webhooks.resources import LlmCallback, ScraperCallback, SignedJson

STATIC = Path(__file__).with_name("static")


class AccountContext:
    """Sets ``req.context.account_id``. Until API keys land, every request acts for the
    default account; webhooks are authenticated by their signature instead."""

    def __init__(self, default_account_id: int) -> None:
        self._default = default_account_id

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.account_id = self._default


class Dashboard:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = (STATIC / "dashboard.html").read_text()


def create_app(deps: AppDeps) -> falcon.App:
    app = falcon.App(middleware=[AccountContext(deps.default_account_id)])
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(InvalidLeads, handle_invalid_leads)
    app.add_error_handler(RunNotFound, handle_not_found)
    app.add_error_handler(RunStateError, handle_conflict)

    app.add_route("/healthz", resources.Health(deps))
    app.add_route("/leads", resources.Leads(deps))
    app.add_route("/leads/{lead_id:int(min=1)}", resources.Lead(deps))
    app.add_route("/customize", runs.Runs(deps))
    app.add_route("/runs", runs.Runs(deps))
    app.add_route("/runs/{run_id:int(min=1)}", runs.Run(deps))
    app.add_route("/runs/{run_id:int(min=1)}/{action}", runs.RunAction(deps))
    app.add_route("/status", resources.Status(deps))
    app.add_route("/", Dashboard())

    reader = SignedJson(deps.ctx.settings.webhook_secret, deps.wallclock)
    app.add_route("/webhooks/scraper", ScraperCallback(deps.ctx, reader, deps.dispatch, deps.clock))
    app.add_route(
        "/webhooks/llm",
        LlmCallback(deps.ctx, reader, deps.dispatch, deps.fetch_results, deps.clock),
    )
    return app
