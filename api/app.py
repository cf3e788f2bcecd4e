"""``create_app(deps)``: the web process's Falcon app (API, webhooks, dashboard)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import falcon

from api import estimates, exports, listing, resources, runs
from api import imports as import_api
from api.auth import ApiKeyAuth
from api.deps import AppDeps
from api.http import (
    handle_conflict,
    handle_invalid_leads,
    handle_not_found,
    handle_unexpected,
    json_handler,
    serialize_error,
)
from api.openapi import OpenApiDocument
from pipeline.accounts import KeyResolver
from pipeline.csvparse import CsvFormatError
from pipeline.exporting import ExportTooLarge
from pipeline.imports import ImportConflict
from pipeline.leads import InvalidLeads
from pipeline.listing import InvalidFilter, UnknownSelection
from pipeline.runs import RunNotFound, RunStateError, SelectionNotFound
from webhooks.resources import LlmCallback, ScraperCallback, SignedJson

STATIC = Path(__file__).with_name("static")


class Dashboard:
    """``GET /``: the dashboard page. Its script and stylesheet come from ``/static/`` with a
    version derived from their files, so a browser never mixes an old script with a new page."""

    ASSETS = ("app.js", "app.css")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        stats = [(STATIC / name).stat() for name in self.ASSETS]
        version = hashlib.sha256(repr([(s.st_mtime_ns, s.st_size) for s in stats]).encode())
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-cache"]
        resp.text = (
            (STATIC / "dashboard.html").read_text().replace("{{version}}", version.hexdigest()[:12])
        )


def create_app(deps: AppDeps) -> falcon.App:
    keys = KeyResolver(deps.ctx.engine, ttl=deps.ctx.settings.api_key_cache_seconds)
    # Every request acts for its API key's account (api/auth.py lists the open paths).
    app = falcon.App(middleware=[ApiKeyAuth(keys)])
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(InvalidLeads, handle_invalid_leads)
    app.add_error_handler(CsvFormatError, import_api.handle_csv_format)
    app.add_error_handler(ImportConflict, import_api.handle_import_conflict)
    app.add_error_handler(RunNotFound, handle_not_found)
    app.add_error_handler(SelectionNotFound, handle_not_found)
    app.add_error_handler(RunStateError, handle_conflict)
    app.add_error_handler(InvalidFilter, listing.handle_invalid_filter)
    app.add_error_handler(UnknownSelection, listing.handle_unknown_selection)
    app.add_error_handler(ExportTooLarge, exports.handle_export_too_large)

    app.add_route("/healthz", resources.Health(deps))
    app.add_route("/leads", resources.Leads(deps))
    app.add_route("/leads/{lead_id:int(min=1)}", resources.Lead(deps))
    app.add_route("/leads/{lead_id:int(min=1)}/versions", resources.LeadVersions(deps))
    app.add_route("/customize", runs.StartRun(deps))
    app.add_route("/runs", runs.Runs(deps))
    app.add_route("/runs/{run_id:int(min=1)}", runs.Run(deps))
    app.add_route("/runs/{run_id:int(min=1)}/{action}", runs.RunAction(deps))
    app.add_route("/status", resources.Status(deps))
    app.add_route("/imports", import_api.Imports(deps))
    app.add_route("/imports/{import_id:int(min=1)}", import_api.Import(deps))
    app.add_route("/imports/{import_id:int(min=1)}/rejections", import_api.ImportRejections(deps))
    lead_export = exports.LeadExport(deps)
    app.add_route("/exports/leads.csv", lead_export, suffix="csv")
    app.add_route("/exports/leads.xlsx", lead_export, suffix="xlsx")
    app.add_route("/estimate", estimates.Estimate(deps))
    app.add_route("/", Dashboard())
    app.add_route("/openapi.json", OpenApiDocument())
    app.add_static_route("/static", STATIC)

    reader = SignedJson(deps.ctx.settings.webhook_secret, deps.wallclock)
    app.add_route("/webhooks/scraper", ScraperCallback(deps.ctx, reader, deps.dispatch, deps.clock))
    app.add_route(
        "/webhooks/llm",
        LlmCallback(deps.ctx, reader, deps.dispatch, deps.fetch_results, deps.clock),
    )
    return app
