"""Runs: what pressing Customize creates, and what people do to it afterwards.

A run owns the leads it queued until none of them has queued or started work left; then
the roll-up finishes it. Pausing parks the run's queued rows (claims skip them); resuming
puts them back; cancelling marks every unfinished stage ``cancelled`` (a late result is
stored, nothing chains); retry-failed requeues failed stages with their retry budget reset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from pipeline import queries
from pipeline.effects import Effects
from pipeline.stages import FIRST_STAGE, STAGE_NAMES, get_stage

MAX_SELECTION = 100_000


class RunNotFound(LookupError):
    """No such run in this account."""


class SelectionNotFound(LookupError):
    """The import a run was asked to cover is not in this account."""


class RunStateError(ValueError):
    """The run is not in a state that allows this action."""


@dataclass(frozen=True)
class Selection:
    """Which leads a run covers: explicit ids, an import, or every pending lead."""

    lead_ids: tuple[int, ...] = ()
    import_id: int | None = None
    all_pending: bool = False

    def as_json(self) -> dict[str, Any]:
        if self.import_id is not None:
            return {"import_id": self.import_id}
        if self.all_pending:
            return {"all_pending": True}
        return {"lead_ids": len(self.lead_ids)}


@dataclass
class RunReport:
    run_id: int | None = None
    queued: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    already_active: list[int] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "queued": self.queued,
            "skipped": self.skipped,
            "already_active": self.already_active,
            "not_found": self.not_found,
        }


def _selected_ids(conn: Connection, account_id: int, selection: Selection) -> list[int]:
    if selection.import_id is not None:
        found = conn.execute(
            queries.get("import_in_account"),
            {"import_id": selection.import_id, "account_id": account_id},
        ).first()
        if found is None:
            raise SelectionNotFound(f"import {selection.import_id}")
        rows = conn.execute(
            queries.get("import_lead_ids"),
            {
                "account_id": account_id,
                "import_id": selection.import_id,
                "first_id": found.first_lead_id or 0,
                "last_id": found.last_lead_id or 0,
                "limit": MAX_SELECTION,
            },
        )
        return [row.id for row in rows]
    if selection.all_pending:
        rows = conn.execute(
            queries.get("pending_lead_ids"), {"account_id": account_id, "limit": MAX_SELECTION}
        )
        return [row.id for row in rows]
    return list(dict.fromkeys(selection.lead_ids))


def start_run(
    engine: Engine,
    account_id: int,
    selection: Selection,
    now: datetime,
    *,
    from_stage: str | None = None,
    budget_usd: float | None = None,
) -> RunReport:
    """Create a run and queue the leads it can take, in one transaction.

    Without ``from_stage`` (Customize) the run starts leads that never started: their
    scrape is queued. With it (a re-run) the run starts leads at that stage: earlier
    results are kept, the replaced ones are saved as versions. Leads in another active run
    (or, for a re-run, whose earlier stages are not all completed) are reported and left
    alone. When no lead could be taken, no run is created.
    """
    first = get_stage(from_stage or FIRST_STAGE.name)
    report = RunReport()
    with engine.begin() as conn:
        wanted = _selected_ids(conn, account_id, selection)
        run_id = conn.execute(
            queries.get("create_run"),
            {
                "account_id": account_id,
                "selection": json.dumps(selection.as_json()),
                "from_stage": first.name,
                "budget_usd": budget_usd,
                "now": now,
            },
        ).scalar_one()
        params = {"ids": wanted, "account_id": account_id, "run_id": run_id, "now": now}
        if from_stage is None:
            statement = queries.get("customize")
        else:
            statement = queries.get("rerun_from")
            params["pos"] = first.position
        moved = {row.id: row.status for row in conn.execute(statement, params)}
        leftover = [i for i in wanted if i not in moved]
        existing: set[int] = set()
        if leftover:
            rows = conn.execute(
                queries.get("lead_status"), {"ids": leftover, "account_id": account_id}
            )
            existing = {row.id for row in rows}
        if moved:
            conn.execute(queries.get("set_run_size"), {"run_id": run_id, "lead_count": len(moved)})
            report.run_id = run_id
        else:
            conn.execute(queries.get("delete_empty_run"), {"run_id": run_id})
    for lead_id in wanted:
        status = moved.get(lead_id)
        if status == "queued":
            report.queued.append(lead_id)
        elif status == "skipped":
            report.skipped.append(lead_id)
        elif lead_id in existing:
            report.already_active.append(lead_id)
        else:
            report.not_found.append(lead_id)
    if report.queued:
        report.effects.kick(first.name)
    return report


def _record(conn: Connection, run_id: int, kind: str, detail: dict[str, Any]) -> None:
    conn.execute(
        queries.get("add_run_event"),
        {"run_id": run_id, "kind": kind, "detail": json.dumps(detail)},
    )


def _transition(conn: Connection, name: str, account_id: int, run_id: int, now: datetime) -> None:
    """Apply a guarded run transition; explain why when it does not apply."""
    moved = conn.execute(
        queries.get(name), {"run_id": run_id, "account_id": account_id, "now": now}
    ).first()
    if moved is None:
        run = conn.execute(
            queries.get("get_run"), {"run_id": run_id, "account_id": account_id}
        ).first()
        if run is None:
            raise RunNotFound(f"run {run_id}")
        action = name.removesuffix("_run")
        raise RunStateError(f"run {run_id} is {run.status}; it cannot {action}")


def pause(engine: Engine, account_id: int, run_id: int, now: datetime) -> None:
    with engine.begin() as conn:
        _transition(conn, "pause_run", account_id, run_id, now)
        conn.execute(queries.get("park_run_leads"), {"run_id": run_id})
        _record(conn, run_id, "paused", {})


def resume(engine: Engine, account_id: int, run_id: int, now: datetime) -> Effects:
    effects = Effects()
    with engine.begin() as conn:
        _transition(conn, "resume_run", account_id, run_id, now)
        rows = conn.execute(queries.get("unpark_run_leads"), {"run_id": run_id, "now": now})
        _record(conn, run_id, "resumed", {"requeued": len(rows.all())})
    for stage in STAGE_NAMES:
        effects.kick(stage)
    return effects


def cancel(engine: Engine, account_id: int, run_id: int, now: datetime) -> int:
    """Cancel the run; returns how many leads had unfinished stages cancelled."""
    with engine.begin() as conn:
        _transition(conn, "cancel_run", account_id, run_id, now)
        rows = conn.execute(queries.get("cancel_run_leads"), {"run_id": run_id, "now": now})
        count = len(rows.all())
        _record(conn, run_id, "cancelled", {"leads": count})
    return count


def retry_failed(
    engine: Engine,
    account_id: int,
    run_id: int,
    now: datetime,
    error_prefixes: Sequence[str] = (),
) -> tuple[dict[str, int], Effects]:
    """Requeue the run's failed stages (optionally only errors starting with a prefix)."""
    patterns = [_like_prefix(p) for p in error_prefixes] or ["%"]
    effects = Effects()
    requeued: dict[str, int] = {}
    with engine.begin() as conn:
        _transition(conn, "reopen_run", account_id, run_id, now)
        for stage in STAGE_NAMES:
            rows = conn.execute(
                queries.get("requeue_failed", stage),
                {"run_id": run_id, "patterns": patterns, "now": now},
            ).all()
            if rows:
                requeued[stage] = len(rows)
                effects.kick(stage)
        _record(
            conn,
            run_id,
            "retry_failed",
            {"requeued": requeued, "error_prefixes": list(error_prefixes)},
        )
    return requeued, effects


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def rollup(
    engine: Engine, now: datetime, input_price: float = 0.0, output_price: float = 0.0
) -> list[tuple[int, str]]:
    """Refresh every active run's counts and cost; finish the ones with nothing left to do;
    pause (and park) the ones whose spend would pass their budget. Prices are USD per
    million tokens."""
    with engine.begin() as conn:
        rows = conn.execute(
            queries.get("rollup_runs"),
            {"now": now, "input_price": input_price, "output_price": output_price},
        ).all()
        for row in rows:
            if row.status == "paused" and (row.paused_reason or "").startswith("budget"):
                conn.execute(queries.get("park_run_leads"), {"run_id": row.id})
        return [(row.id, row.status) for row in rows]


def set_budget(
    engine: Engine, account_id: int, run_id: int, budget_usd: float | None, now: datetime
) -> None:
    """Change a run's budget cap (None removes it); resume it to continue after a cap."""
    with engine.begin() as conn:
        moved = conn.execute(
            queries.get("set_run_budget"),
            {"run_id": run_id, "account_id": account_id, "budget_usd": budget_usd, "now": now},
        ).first()
        if moved is None:
            raise RunNotFound(f"run {run_id}")
        _record(conn, run_id, "budget", {"budget_usd": budget_usd})


def get_run(engine: Engine, account_id: int, run_id: int, now: datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(queries.get("get_run"), {"run_id": run_id, "account_id": account_id})
            .mappings()
            .first()
        )
        if row is None:
            raise RunNotFound(f"run {run_id}")
        events = conn.execute(queries.get("run_events"), {"run_id": run_id}).mappings().all()
    run = describe(row, now)
    run["events"] = [dict(e) for e in events]
    return run


def list_runs(
    engine: Engine, account_id: int, now: datetime, after: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = (
            conn.execute(
                queries.get("list_runs"), {"account_id": account_id, "after": after, "limit": limit}
            )
            .mappings()
            .all()
        )
    return [describe(row, now) for row in rows]


def describe(row: Any, now: datetime) -> dict[str, Any]:
    """A run as the API shows it, with progress per stage and an ETA from the rate so far."""
    states = dict(row["lead_states"] or {})
    total = row["lead_count"]
    done = total - int(states.get("active", total))
    eta = None
    elapsed = (now - row["started_at"]).total_seconds() if row["started_at"] else 0
    if row["status"] == "running" and 0 < done < total and elapsed > 0:
        eta = round((total - done) / (done / elapsed), 1)
    counts = row["counts"] or {}
    progress = {}
    for stage in STAGE_NAMES:
        per = counts.get(stage, {})
        finished = sum(per.get(s, 0) for s in ("completed", "failed", "skipped", "cancelled"))
        progress[stage] = round(finished / total, 4) if total else 0.0
    return {
        "id": row["id"],
        "status": row["status"],
        "selection": row["selection"],
        "lead_count": total,
        "leads": states,
        "counts": counts,
        "progress": progress,
        "fit_score_avg": row["fit_score_avg"],
        "from_stage": row["from_stage"],
        "budget_usd": row["budget_usd"],
        "spent_usd": round(row["spent_usd"], 6),
        "tokens": {"input": row["input_tokens"], "output": row["output_tokens"]},
        "paused_reason": row["paused_reason"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "paused_at": row["paused_at"],
        "finished_at": row["finished_at"],
        "eta_seconds": eta,
    }
