"""CSV imports: ``POST /imports``, ``GET /imports``, ``GET /imports/{id}`` and
``GET /imports/{id}/rejections``.

The body is a CSV file, raw (``Content-Type: text/csv``) or as the file part of a
``multipart/form-data`` form; it is read in chunks and handed to
:func:`pipeline.imports.import_csv` as it arrives, never held whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import falcon

from api.deps import AppDeps
from pipeline import imports
from pipeline.imports import DEDUPE_MODES

CSV_TYPES = frozenset({"text/csv", "application/csv"})
CHUNK_BYTES = 64 * 1024
#: Room for the multipart boundaries and part headers around the file.
MULTIPART_SLACK = 64 * 1024
MAX_PAGE = 1000
STATUS_OF = {
    "empty": (falcon.HTTP_400, "Empty file"),
    "not_csv": (falcon.HTTP_400, "Not a CSV file"),
    "header": (falcon.HTTP_422, "Unusable header"),
    "too_large": (falcon.HTTP_413, "File too large"),
}


def handle_csv_format(req: falcon.Request, resp: falcon.Response, ex, params) -> None:
    """``CsvFormatError`` → 400 / 413 / 422 saying what is wrong; nothing was written."""
    status, title = STATUS_OF.get(ex.kind, (falcon.HTTP_400, "Unusable file"))
    resp.status = status
    resp.media = {"title": title, "description": f"{ex.message}; nothing was imported"}


def handle_import_conflict(req: falcon.Request, resp: falcon.Response, ex, params) -> None:
    resp.status = falcon.HTTP_409
    resp.media = {"title": "Concurrent import", "description": str(ex)}


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        try:
            data = stream.read(CHUNK_BYTES)
        except OSError as exc:  # the client went away mid-upload
            raise falcon.HTTPBadRequest(
                title="Upload cut off",
                description=f"the body could not be read to its end ({exc}); nothing was imported",
            ) from None
        if not data:
            return
        yield data


def _media_type(req: falcon.Request) -> tuple[str, dict[str, str]]:
    raw = req.content_type or ""
    kind, *rest = raw.split(";")
    params = {}
    for item in rest:
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def _too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="File too large",
        description=f"the limit is {limit} bytes; nothing was imported",
    )


def _base_name(name: str | None) -> str | None:
    if not name:
        return None
    return name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def _raw_body(req: falcon.Request, limit: int) -> Iterator[bytes]:
    if req.content_length is not None and req.content_length > limit:
        raise _too_large(limit)
    chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
    stream = req.stream if chunked and req.content_length is None else req.bounded_stream
    return _chunks(stream)


def _file_part(req: falcon.Request, limit: int) -> tuple[Iterator[bytes], str | None]:
    """The form's file part (named ``file``, else the first part with a file name)."""
    if req.content_length is not None and req.content_length > limit + MULTIPART_SLACK:
        raise _too_large(limit)
    form = req.get_media()
    for part in form:
        if part.name == "file" or part.filename:
            return _chunks(part.stream), _base_name(part.filename)
    raise falcon.HTTPUnprocessableEntity(
        title="No file",
        description="the form has no file part; send the CSV file in a part named 'file'",
    )


def _page_limit(req: falcon.Request) -> int:
    return req.get_param_as_int("limit", min_value=1, max_value=MAX_PAGE, default=100)


class Imports:
    """``POST /imports``: import a CSV file of leads (201 with the import record);
    ``GET /imports``: the account's imports, newest first (``after`` = an import id)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        dedupe = req.get_param("dedupe", default="email")
        if dedupe not in DEDUPE_MODES:
            raise falcon.HTTPInvalidParam(f"must be one of: {', '.join(DEDUPE_MODES)}", "dedupe")
        limit = self._deps.ctx.settings.import_max_bytes
        kind, params = _media_type(req)
        if kind in CSV_TYPES:
            if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
                raise falcon.HTTPUnsupportedMediaType(
                    title="Unsupported charset",
                    description="CSV files must be UTF-8 (a byte order mark is fine)",
                )
            chunks = _raw_body(req, limit)
            filename = _base_name(req.get_param("filename"))
        elif kind == "multipart/form-data":
            chunks, filename = _file_part(req, limit)
        else:
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported media type",
                description="send the CSV file as text/csv, or as the 'file' part of "
                "multipart/form-data",
            )
        record = imports.import_csv(
            self._deps.ctx.engine,
            req.context.account_id,
            chunks,
            now=self._deps.clock(),
            max_bytes=limit,
            filename=filename,
            dedupe=dedupe,
        )
        record["rejections_url"] = f"/imports/{record['id']}/rejections"
        resp.status = falcon.HTTP_201
        resp.location = f"/imports/{record['id']}"
        resp.media = record

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = req.get_param_as_int("after", min_value=1, max_value=2**63 - 1)
        limit = _page_limit(req)
        items = imports.list_imports(self._deps.ctx.engine, req.context.account_id, after, limit)
        resp.media = {
            "items": items,
            "next": items[-1]["id"] if len(items) == limit else None,
        }


class Import:
    """``GET /imports/{id}``: the import record (counts, columns, times)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, import_id: int) -> None:
        record = imports.get_import(self._deps.ctx.engine, req.context.account_id, import_id)
        if record is None:
            raise falcon.HTTPNotFound(title="No such import", description=f"import {import_id}")
        record["rejections_url"] = f"/imports/{import_id}/rejections"
        resp.media = record


class ImportRejections:
    """``GET /imports/{id}/rejections?after=<line>&limit=<n>``: rejected rows in line
    order; ``next`` is the ``after`` of the next page (null on the last)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, import_id: int) -> None:
        after = req.get_param_as_int("after", min_value=0, max_value=2**31 - 1, default=0)
        limit = _page_limit(req)
        items: list[dict[str, Any]] | None = imports.rejections(
            self._deps.ctx.engine, req.context.account_id, import_id, after, limit
        )
        if items is None:
            raise falcon.HTTPNotFound(title="No such import", description=f"import {import_id}")
        resp.media = {
            "items": items,
            "next": items[-1]["line"] if len(items) == limit else None,
        }
