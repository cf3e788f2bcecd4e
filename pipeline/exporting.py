"""Exports of a selection of leads as CSV and XLSX, written row by row as the rows arrive.

Both formats have the same columns (``COLUMNS``): the lead's fields, where it is now, every
stage's status and error, the fit score, the chosen subject and the finished email.

CSV is produced in chunks while the server-side cursor is read, so the first bytes leave
before the last row is fetched. A cell that a spreadsheet would run as a formula (it starts
with ``= + - @``, a tab or a carriage return) is written with a leading apostrophe, the
usual defence against formula injection: names, companies and emails come from uploads,
and subjects and bodies from a model that read other people's websites.

XLSX is written by xlsxwriter in ``constant_memory`` mode (each row is flushed once the
next begins) into an anonymous temporary file, which is then sent. Cells are typed (numbers,
UTC date-times, strings); strings are never turned into formulas or links.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

import xlsxwriter

from pipeline.listing import LeadStream
from pipeline.stages import STAGE_NAMES

COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "email",
    "company",
    "title",
    "company_url",
    "run_id",
    "import_id",
    "created_at",
    "updated_at",
    "current_stage",
    "current_state",
    *(f"{stage}_{part}" for stage in STAGE_NAMES for part in ("status", "error")),
    "fit_score",
    "subject",
    "email_subject",
    "email_body",
)
CSV_CHUNK_BYTES = 64 * 1024
#: Rows of one worksheet, less the header.
XLSX_MAX_ROWS = 1_048_575
#: Characters of one XLSX cell.
XLSX_MAX_CELL_CHARS = 32_767
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportTooLarge(ValueError):
    """More rows than the format can hold."""


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def csv_chunks(rows: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The CSV (header first, UTF-8, RFC 4180 quoting) in chunks of about 64 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(row[column]) for column in COLUMNS])
        if buffer.tell() >= CSV_CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


class CsvStream:
    """A WSGI response body: CSV chunks of a lead stream. The server calls ``close()`` when
    it is done or the client went away, which gives the database connection back even if
    no chunk was ever asked for."""

    def __init__(self, rows: LeadStream) -> None:
        self._rows = rows
        self._chunks = csv_chunks(rows)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        try:
            self._chunks.close()
        finally:
            self._rows.close()


def write_xlsx(
    rows: Iterable[Mapping[str, Any]], out: IO[bytes], max_rows: int = XLSX_MAX_ROWS
) -> int:
    """Write the workbook to ``out``; returns how many leads it holds."""
    workbook = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "tmpdir": tempfile.gettempdir(),
        },
    )
    try:
        sheet = workbook.add_worksheet("leads")
        header = workbook.add_format({"bold": True})
        when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        sheet.write_row(0, 0, COLUMNS, header)
        sheet.freeze_panes(1, 0)
        count = 0
        for count, row in enumerate(rows, start=1):
            if count > max_rows:
                raise ExportTooLarge(
                    f"more than {max_rows} leads do not fit one XLSX sheet; "
                    "export CSV or narrow the filter"
                )
            for col, column in enumerate(COLUMNS):
                _write_cell(sheet, count, col, row[column], when)
    finally:
        workbook.close()
    return count


def _write_cell(sheet: Any, row: int, col: int, value: Any, when: Any) -> None:
    if value is None:
        return
    if isinstance(value, datetime):
        sheet.write_datetime(row, col, value.astimezone(UTC).replace(tzinfo=None), when)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value)[:XLSX_MAX_CELL_CHARS])


def xlsx_file(rows: LeadStream, max_rows: int = XLSX_MAX_ROWS) -> tuple[IO[bytes], int]:
    """The workbook in an anonymous temporary file (gone once closed), rewound, and its size.
    The lead stream is closed either way."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    try:
        with rows:
            write_xlsx(rows, out, max_rows)
        size = out.seek(0, io.SEEK_END)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out, size
