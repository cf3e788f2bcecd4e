"""``GET /exports/leads.csv`` and ``GET /exports/leads.xlsx``: the leads a filter selects."""

from __future__ import annotations

import falcon

from api.deps import AppDeps
from pipeline import exporting, listing
from pipeline.listing import LeadFilter

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _filename(flt: LeadFilter, extension: str) -> str:
    slug = flt.slug()
    return f"leads-{slug}.{extension}" if slug else f"leads.{extension}"


class LeadExport:
    """Same filters as ``GET /leads`` (stage, state, status, run, import); every matching
    lead in id order. CSV streams while the database is read; XLSX is built in a temporary
    file (flat memory), then sent."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get_csv(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = LeadFilter.parse(req.params)
        rows = listing.stream_leads(self._deps.ctx.engine, req.context.account_id, flt)
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = _filename(flt, "csv")
        resp.stream = exporting.CsvStream(rows)

    def on_get_xlsx(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = LeadFilter.parse(req.params)
        rows = listing.stream_leads(self._deps.ctx.engine, req.context.account_id, flt)
        out, size = exporting.xlsx_file(rows)
        resp.content_type = XLSX_TYPE
        resp.downloadable_as = _filename(flt, "xlsx")
        resp.content_length = size
        resp.stream = out


def handle_export_too_large(
    req: falcon.Request, resp: falcon.Response, ex: exporting.ExportTooLarge, params: object
) -> None:
    raise falcon.HTTPUnprocessableEntity(title="Export too large", description=str(ex)) from ex
