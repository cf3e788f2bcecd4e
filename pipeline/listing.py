"""Reading leads back: the filters lists, exports and estimates share, and keyset pages.

Two orders:

* ``id`` (the default) is the keyset walk. A lead's id never changes, so a walk over
  pages neither skips nor repeats a lead however the pipeline moves leads meanwhile. The
  primary key drives it (``run_leads``' primary key when a run is named).
* ``updated`` is a change feed over ``(updated_at, id)``. A lead that changes after it was
  read comes again with its new state (what a change feed is for); none is skipped, because
  ``updated_at`` never moves backwards (a trigger in ``schema.sql``). No index has
  ``updated_at``, so each page scans the account's matching leads once (see the query).

A lead created during a walk may be missed by it when its transaction took its id (or
timestamp) before the walk passed that point and committed after; start a new walk to see
new leads.

The cursor is opaque to clients: base64url of a small JSON object naming its order and
position. Anything that does not decode to a position of the requested order is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Result, RowMapping, TextClause

from pipeline import queries
from pipeline.stages import FIRST_STAGE, STAGE_NAMES, STATUSES

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
ORDERS = ("id", "updated")
#: Query keys of a filter (``GET /leads``, the exports) and keys of an estimate's filter.
FILTER_KEYS = ("stage", "state", "status", "run", "import")
PAGE_KEYS = ("limit", "after", "order")
#: Rows a server-side cursor fetches per round trip when a whole selection is streamed.
STREAM_BATCH = 500
_MAX_CURSOR_CHARS = 200
_MAX_ID = 2**63 - 1


class InvalidFilter(ValueError):
    """A filter, page size, order or cursor the API cannot use."""


class UnknownSelection(LookupError):
    """A filter names a run or an import that is not in the caller's account."""


@dataclass(frozen=True)
class LeadFilter:
    """Which leads: ANDed conditions, every one optional.

    ``stage`` with ``state``: that stage's status is ``state`` (``stage=intel&state=failed``).
    ``stage`` alone: the lead's current stage (the first one not completed) is ``stage``.
    ``status``: the lead's current state (the status of its current stage).
    ``run_id``: leads the run covers. ``import_id``: leads the import created.
    """

    stage: str | None = None
    state: str | None = None
    status: str | None = None
    run_id: int | None = None
    import_id: int | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> LeadFilter:
        """From query parameters (strings) or a JSON object; blank values count as absent."""
        _refuse_unknown(values, FILTER_KEYS)
        stage = _choice(values, "stage", STAGE_NAMES)
        state = _choice(values, "state", STATUSES)
        if state is not None and stage is None:
            raise InvalidFilter(
                "state filters one stage's status: give stage too (stage=intel&state=failed),"
                " or use status for the state of the stage each lead is at now"
            )
        return cls(
            stage=stage,
            state=state,
            status=_choice(values, "status", STATUSES),
            run_id=_id(values, "run"),
            import_id=_id(values, "import"),
        )

    @property
    def query_stage(self) -> str:
        """The stage the per-stage queries are built for (any stage when no state is asked)."""
        return self.stage if self.state is not None and self.stage else FIRST_STAGE.name

    def params(self) -> dict[str, Any]:
        """The filter block's parameters, before ``bind`` adds the id range."""
        return {
            "state": self.state,
            "current_stage": self.stage if self.state is None else None,
            "current_state": self.status,
            "run_id": self.run_id,
            "import_id": self.import_id,
            "first_id": 1,
            "last_id": _MAX_ID,
        }

    def bind(self, conn: Connection, account_id: int) -> dict[str, Any]:
        """The parameters of the filter block for ``account_id``. A run or import of another
        account (or none) raises ``UnknownSelection``: it is not found, not merely empty."""
        params = {"account_id": account_id, **self.params()}
        if self.run_id is not None:
            found = conn.execute(
                queries.get("run_in_account"), {"run_id": self.run_id, "account_id": account_id}
            ).first()
            if found is None:
                raise UnknownSelection(f"run {self.run_id}")
        if self.import_id is not None:
            found = conn.execute(
                queries.get("import_in_account"),
                {"import_id": self.import_id, "account_id": account_id},
            ).first()
            if found is None:
                raise UnknownSelection(f"import {self.import_id}")
            if found.first_lead_id is None or found.last_lead_id is None:
                params.update(first_id=1, last_id=0)
            else:
                params.update(first_id=found.first_lead_id, last_id=found.last_lead_id)
        return params

    def slug(self) -> str:
        """A short name for files: ``run-7``, ``import-3-intel-failed`` …"""
        parts = []
        if self.run_id is not None:
            parts.append(f"run-{self.run_id}")
        if self.import_id is not None:
            parts.append(f"import-{self.import_id}")
        parts.extend(p for p in (self.stage, self.state, self.status) if p)
        return "-".join(parts)


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last lead's id, and its updated_at in the change feed."""

    order: str
    id: int
    updated_at: datetime | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"o": self.order, "id": self.id}
        if self.updated_at is not None:
            data["t"] = self.updated_at.isoformat()
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str, order: str) -> Position:
        problem = InvalidFilter("after is not a cursor this API handed out (use next as given)")
        if len(token) > _MAX_CURSOR_CHARS:
            raise problem
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
        except (binascii.Error, ValueError):
            raise problem from None
        if not isinstance(data, dict) or data.get("o") not in ORDERS:
            raise problem
        if data["o"] != order:
            raise InvalidFilter(f"this cursor continues order={data['o']}, not order={order}")
        lead_id = data.get("id")
        if not _is_id(lead_id):
            raise problem
        if order == "id":
            return cls(order, lead_id)
        try:
            updated_at = datetime.fromisoformat(data["t"])
        except (KeyError, TypeError, ValueError):
            raise problem from None
        if updated_at.tzinfo is None:
            raise problem
        return cls(order, lead_id, updated_at)


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    order: str = "id"
    after: Position | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> PageRequest:
        order = _choice(values, "order", ORDERS) or "id"
        limit = _blank_to_none(values.get("limit"))
        if limit is None:
            size = DEFAULT_LIMIT
        else:
            size = _int(limit, "limit")
            if not 1 <= size <= MAX_LIMIT:
                raise InvalidFilter(f"limit must be between 1 and {MAX_LIMIT}, got {size}")
        after = _blank_to_none(values.get("after"))
        if after is not None and not isinstance(after, str):
            raise InvalidFilter("after must be a cursor string")
        return cls(size, order, Position.decode(after, order) if after else None)


@dataclass
class Page:
    items: list[dict[str, Any]]
    next: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next": self.next}


def parse_query(values: Mapping[str, Any]) -> tuple[LeadFilter, PageRequest]:
    """``GET /leads`` parameters: a filter and a page request; anything else is refused."""
    _refuse_unknown(values, FILTER_KEYS + PAGE_KEYS)
    filters = {k: v for k, v in values.items() if k in FILTER_KEYS}
    pages = {k: v for k, v in values.items() if k in PAGE_KEYS}
    return LeadFilter.parse(filters), PageRequest.parse(pages)


def list_leads(engine: Engine, account_id: int, flt: LeadFilter, page: PageRequest) -> Page:
    """One page of lead summaries and the cursor of the next (None on the last page)."""
    with engine.connect() as conn:
        params = flt.bind(conn, account_id)
        params["limit"] = page.limit + 1
        if page.order == "updated":
            statement = queries.get("list_leads_by_update", flt.query_stage)
            params["after_updated_at"] = page.after.updated_at if page.after else None
            params["after_id"] = page.after.id if page.after else None
        else:
            statement = _walk_statement(flt)
            params["after_id"] = page.after.id if page.after else 0
        rows = conn.execute(statement, params).mappings().all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        updated_at = last["updated_at"] if page.order == "updated" else None
        next_cursor = Position(page.order, last["id"], updated_at).encode()
    return Page([summary(row) for row in rows], next_cursor)


class LeadStream:
    """Every matching lead's ``lead_summaries`` row in id order, fetched ``STREAM_BATCH`` at a
    time through a server-side cursor, so memory stays flat however many leads match.
    ``close()`` (also at the end, and on ``with``) gives the connection back."""

    def __init__(self, conn: Connection, result: Result[Any]) -> None:
        self._conn = conn
        self._result = result
        self._rows = iter(result.mappings())

    def __iter__(self) -> Iterator[RowMapping]:
        return self

    def __next__(self) -> RowMapping:
        try:
            return next(self._rows)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            self._result.close()
        finally:
            self._conn.close()

    def __enter__(self) -> LeadStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_leads(engine: Engine, account_id: int, flt: LeadFilter) -> LeadStream:
    """Open the stream of a selection. The filter is checked and the cursor declared before
    this returns, so an unknown run or import raises before a caller sends anything."""
    conn = engine.connect()
    try:
        params = {**flt.bind(conn, account_id), "after_id": 0, "limit": None}
        result = conn.execution_options(yield_per=STREAM_BATCH).execute(
            _walk_statement(flt), params
        )
    except BaseException:
        conn.close()
        raise
    return LeadStream(conn, result)


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The small item a list shows: who, where it is, fit score and chosen subject."""
    current = row["current_stage"]
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "company": row["company"],
        "company_url": row["company_url"],
        "run_id": row["run_id"],
        "import_id": row["import_id"],
        "current_stage": current,
        "current_state": row["current_state"],
        "error": row[f"{current}_error"],
        "stages": {stage: row[f"{stage}_status"] for stage in STAGE_NAMES},
        "fit_score": row["fit_score"],
        "subject": row["subject"],
        "updated_at": row["updated_at"],
    }


def _walk_statement(flt: LeadFilter) -> TextClause:
    name = "list_run_leads" if flt.run_id is not None else "list_leads"
    return queries.get(name, flt.query_stage)


def _refuse_unknown(values: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidFilter(
            f"unknown parameter(s): {', '.join(map(str, unknown))[:200]}; "
            f"expected: {', '.join(allowed)}"
        )


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, list):
        raise InvalidFilter("each parameter may be given once")
    return None if value is None or value == "" else value


def _choice(values: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = _blank_to_none(values.get(key))
    if value is None:
        return None
    if value not in allowed:
        raise InvalidFilter(f"{key} must be one of {', '.join(allowed)}, got {str(value)[:50]!r}")
    return str(value)


def _id(values: Mapping[str, Any], key: str) -> int | None:
    value = _blank_to_none(values.get(key))
    if value is None:
        return None
    number = _int(value, key)
    if not _is_id(number):
        raise InvalidFilter(f"{key} must be a positive id, got {number}")
    return number


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise InvalidFilter(f"{key} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise InvalidFilter(f"{key} must be a whole number, got {str(value)[:50]!r}")


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
