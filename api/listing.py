"""``GET /leads`` pages, and the error mapping of filters (lists, exports, estimates)."""

from __future__ import annotations

import falcon

from api.deps import AppDeps
from pipeline import listing


def leads_page(deps: AppDeps, req: falcon.Request) -> dict[str, object]:
    """The page ``GET /leads`` answers (``resources.Leads.on_get``)."""
    flt, page = listing.parse_query(req.params)
    return listing.list_leads(deps.ctx.engine, req.context.account_id, flt, page).as_dict()


def handle_invalid_filter(
    req: falcon.Request, resp: falcon.Response, ex: listing.InvalidFilter, params: object
) -> None:
    """A bad filter, page size, order or cursor: 400 in a query string, 422 in a JSON body
    (as every other bad body field)."""
    if req.method == "GET":
        raise falcon.HTTPBadRequest(title="Invalid query", description=str(ex)) from ex
    raise falcon.HTTPUnprocessableEntity(title="Invalid filter", description=str(ex)) from ex


def handle_unknown_selection(
    req: falcon.Request, resp: falcon.Response, ex: listing.UnknownSelection, params: object
) -> None:
    """A filter naming a run or import outside the caller's account: 404, as the thing."""
    raise falcon.HTTPNotFound(title="Not found", description=str(ex)) from ex
