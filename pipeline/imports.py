"""CSV import, persist first: a file's rows land in Postgres in batches as they stream in.

One import is one transaction: its ``imports`` row, its leads and its rejections commit
together, or (a bad header, a body over the limit, a client that went away, a crash) not at
all. Rows are validated by :func:`pipeline.validation.validate_lead`; a bad row is
rejected with its line number and reason and the good rows still land. Duplicates (an
email the account already has, or one an earlier row of the file has; with
``dedupe="domain"`` also a company domain the account or the file already has) are
rejected too (and also counted as duplicates). Emails are claimed in ``lead_emails`` (unique per
account), so two concurrent imports cannot both insert the same email: the later one waits
for the earlier to commit and reports those rows as duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from pipeline import queries
from pipeline.csvparse import CsvFormatError, CsvStream, Header, Record
from pipeline.validation import validate_lead

BATCH_ROWS = 1000
#: Rejections listed in the answer to the upload; the rest are paged through the API.
PREVIEW = 100
DEDUPE_MODES = ("email", "domain")
DEADLOCK = "40P01"


class ImportConflict(RuntimeError):
    """A concurrent import of the same emails got in the way; nothing was written."""


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    message: str
    lead_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "reason": self.reason,
            "message": self.message,
            "lead_id": self.lead_id,
        }


@dataclass
class _Tally:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    first_lead_id: int | None = None
    last_lead_id: int | None = None
    preview: list[Rejection] = field(default_factory=list)


def _show(value: Any, limit: int = 80) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def rejection_for(line: int, lead: Mapping[str, Any], errors: Mapping[str, str]) -> Rejection:
    """The reason code and message of a row ``validate_lead`` found problems with."""
    parts = [f"{name} {problem}" for name, problem in errors.items()]
    message = "; ".join(parts)
    email_problem = errors.get("email", "")
    url_problem = errors.get("company_url", "")
    if email_problem == "is required":
        reason = "missing_email"
    elif any("longer than" in p for p in errors.values()):
        reason = "too_long"
    elif any("NUL" in p for p in errors.values()):
        reason = "bad_character"
    elif email_problem:
        reason = "malformed_email"
        message += f": {_show(lead.get('email', ''))}"
    elif url_problem:
        reason = "malformed_url"
        message += f": {_show(lead.get('company_url', ''))}"
    else:
        reason = "invalid"
    return Rejection(line, reason, message)


def _field_count(header: Header, record: Record) -> Rejection | None:
    values = record.values or []
    if len(values) == len(header.columns):
        return None
    return Rejection(
        record.line,
        "wrong_field_count",
        f"expected {len(header.columns)} fields (as in the header), found {len(values)}",
    )


@dataclass
class _Screened:
    """A batch's records after the checks that need no database: rows to write (distinct
    emails), rejections, and the rows that repeat an email of an earlier row."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    first_line: dict[str, int] = field(default_factory=dict)
    repeats: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def of(cls, header: Header, records: Sequence[Record]) -> _Screened:
        out = cls()
        for record in records:
            if record.problem is not None:
                out.rejections.append(Rejection(record.line, *record.problem))
                continue
            wrong = _field_count(header, record)
            if wrong is not None:
                out.rejections.append(wrong)
                continue
            fields = header.lead(record.values or [])
            lead, errors = validate_lead(fields)
            if errors:
                out.rejections.append(rejection_for(record.line, fields, errors))
            elif lead["email"] in out.first_line:
                out.repeats.append((record.line, lead["email"]))
            else:
                out.first_line[lead["email"]] = record.line
                out.rows.append({"line": record.line, **lead})
        return out

    def repeat_rejections(
        self, inserted: Mapping[int, int], taken: Mapping[str, int]
    ) -> list[Rejection]:
        """Rows whose email an earlier row of the batch has, naming that row's lead."""
        out = []
        for line, email in self.repeats:
            earlier = self.first_line[email]
            lead_id = inserted.get(earlier) or taken.get(email)
            where = f"line {earlier}" + (f" (lead {lead_id})" if lead_id else "")
            out.append(
                Rejection(
                    line, "duplicate_email", f"duplicate email {email}: {where} has it", lead_id
                )
            )
        return out


class _Batch:
    """Up to BATCH_ROWS records: validated, checked for duplicates, then written at once."""

    def __init__(self, conn: Connection, account_id: int, import_id: int, by_domain: bool):
        self.conn = conn
        self.account_id = account_id
        self.import_id = import_id
        self.by_domain = by_domain

    def write(
        self, header: Header, records: Sequence[Record], now: datetime
    ) -> tuple[list[tuple[int, int]], list[Rejection]]:
        """([(line, new lead id)], rejections) for these records."""
        screened = _Screened.of(header, records)
        taken = self._taken([row["email"] for row in screened.rows])
        fresh = [row for row in screened.rows if row["email"] not in taken]
        rejections = screened.rejections + [
            Rejection(
                row["line"],
                "duplicate_email",
                f"duplicate email {row['email']}: lead {taken[row['email']]} has it",
                taken[row["email"]],
            )
            for row in screened.rows
            if row["email"] in taken
        ]
        inserted, left_out = self._insert(fresh, now)
        rejections += left_out + screened.repeat_rejections(dict(inserted), taken)
        rejections.sort(key=lambda r: r.line)
        if rejections:
            self.conn.execute(
                queries.get("insert_rejections"),
                {"import_id": self.import_id, "rows": _json(r.as_dict() for r in rejections)},
            )
        return inserted, rejections

    def _taken(self, emails: list[str]) -> dict[str, int]:
        if not emails:
            return {}
        result = self.conn.execute(
            queries.get("emails_taken"), {"account_id": self.account_id, "emails": emails}
        )
        return {row.email: int(row.lead_id) for row in result}

    def _insert(
        self, rows: list[dict[str, Any]], now: datetime
    ) -> tuple[list[tuple[int, int]], list[Rejection]]:
        if not rows:
            return [], []
        result = self.conn.execute(
            queries.get("import_leads"),
            {
                "account_id": self.account_id,
                "import_id": self.import_id,
                "by_domain": self.by_domain,
                "rows": _json(rows),
                "now": now,
            },
        )
        inserted: list[tuple[int, int]] = []
        left_out: list[Rejection] = []
        for row in result:
            if row.lead_id is not None:
                inserted.append((row.line, int(row.lead_id)))
            elif not row.considered:
                owner = row.domain_lead_id
                has = f": lead {owner} has it" if owner else ""
                left_out.append(
                    Rejection(
                        row.line,
                        "duplicate_domain",
                        f"duplicate company domain {row.domain}{has}",
                        owner,
                    )
                )
            else:
                left_out.append(
                    Rejection(
                        row.line,
                        "duplicate_email",
                        "duplicate email: a concurrent import added it",
                    )
                )
        return inserted, left_out


def _json(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(rows), separators=(",", ":"), default=str)


def import_csv(
    engine: Engine,
    account_id: int,
    chunks: Iterable[bytes],
    *,
    now: datetime,
    max_bytes: int,
    filename: str | None = None,
    dedupe: str = "email",
    batch_rows: int = BATCH_ROWS,
) -> dict[str, Any]:
    """Import a CSV body read from ``chunks``; the import record with the first
    rejections. Raises :class:`~pipeline.csvparse.CsvFormatError` (nothing written) for a
    body that is not a usable CSV file of leads, :class:`ImportConflict` when a concurrent
    import deadlocked with this one (nothing written)."""
    if dedupe not in DEDUPE_MODES:
        raise ValueError(f"dedupe must be one of {', '.join(DEDUPE_MODES)}")
    stream = CsvStream(chunks, max_bytes)
    header = stream.header()  # a body that is not CSV fails here, before any write
    try:
        with engine.begin() as conn:
            return _run(conn, account_id, stream, header, now, filename, dedupe, batch_rows)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == DEADLOCK:
            raise ImportConflict(
                "a concurrent import of the same emails got in the way; nothing was "
                "written, send the file again"
            ) from None
        raise


def _run(
    conn: Connection,
    account_id: int,
    stream: CsvStream,
    header: Header,
    now: datetime,
    filename: str | None,
    dedupe: str,
    batch_rows: int,
) -> dict[str, Any]:
    import_id = conn.execute(
        queries.get("create_import"),
        {
            "account_id": account_id,
            "filename": (filename or None) and filename[:255],
            "dedupe": dedupe,
            "columns": json.dumps(header.mapping),
            "ignored": json.dumps(header.ignored[:100]),
            "now": now,
        },
    ).scalar_one()
    batch = _Batch(conn, account_id, import_id, by_domain=dedupe == "domain")
    tally = _Tally()
    pending: list[Record] = []

    def flush() -> None:
        inserted, rejections = batch.write(header, pending, now)
        tally.rows += len(pending)
        tally.accepted += len(inserted)
        tally.rejected += len(rejections)
        tally.duplicates += sum(r.reason.startswith("duplicate_") for r in rejections)
        if inserted:
            ids = [lead_id for _, lead_id in inserted]
            tally.first_lead_id = min([*ids, tally.first_lead_id or ids[0]])
            tally.last_lead_id = max([*ids, tally.last_lead_id or ids[0]])
        room = PREVIEW - len(tally.preview)
        tally.preview.extend(rejections[:room])
        pending.clear()

    for record in stream.records():
        pending.append(record)
        if len(pending) >= batch_rows:
            flush()
    if pending:
        flush()
    if tally.rows == 0:
        raise CsvFormatError("empty", "the file has a header but no rows")
    row = (
        conn.execute(
            queries.get("finish_import"),
            {
                "import_id": import_id,
                "bytes": stream.bytes_read,
                "rows_total": tally.rows,
                "accepted": tally.accepted,
                "rejected": tally.rejected,
                "duplicates": tally.duplicates,
                "first_lead_id": tally.first_lead_id,
                "last_lead_id": tally.last_lead_id,
                "now": now,
            },
        )
        .mappings()
        .one()
    )
    record = describe(row)
    record["rejections"] = [r.as_dict() for r in tally.preview]
    record["rejections_complete"] = tally.rejected <= PREVIEW
    return record


def describe(row: Mapping[str, Any]) -> dict[str, Any]:
    """An ``imports`` row as the API shows it."""
    return {
        "id": row["id"],
        "filename": row["filename"],
        "dedupe": row["dedupe"],
        "columns": row["columns"],
        "ignored_columns": row["ignored"],
        "bytes": row["bytes"],
        "rows": row["rows_total"],
        "accepted": row["accepted"],
        "rejected": row["rejected"],
        "duplicates": row["duplicates"],
        "first_lead_id": row["first_lead_id"],
        "last_lead_id": row["last_lead_id"],
        "created_at": row["created_at"],
        "completed_at": row["completed_at"],
    }


def get_import(engine: Engine, account_id: int, import_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                queries.get("get_import"), {"import_id": import_id, "account_id": account_id}
            )
            .mappings()
            .first()
        )
    return None if row is None else describe(row)


def list_imports(
    engine: Engine, account_id: int, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            queries.get("list_imports"),
            {"account_id": account_id, "after_id": after_id, "limit": limit},
        ).mappings()
        return [describe(row) for row in rows]


def rejections(
    engine: Engine, account_id: int, import_id: int, after_line: int, limit: int
) -> list[dict[str, Any]] | None:
    """A page of an import's rejections in line order; None when the account has no such
    import."""
    with engine.connect() as conn:
        found = conn.execute(
            queries.get("get_import"), {"import_id": import_id, "account_id": account_id}
        ).first()
        if found is None:
            return None
        rows = conn.execute(
            queries.get("import_rejections"),
            {"import_id": import_id, "after_line": after_line, "limit": limit},
        ).mappings()
        return [dict(row) for row in rows]
