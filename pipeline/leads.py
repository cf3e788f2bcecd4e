"""Leads: creating them, pressing Customize, reading them back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from pipeline import queries, transitions
from pipeline.effects import Effects
from pipeline.stages import FIRST_STAGE, STAGES
from pipeline.validation import validate_lead

MAX_BULK = 1000


class InvalidLeads(ValueError):
    """Some leads in a request are invalid; nothing was written."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} invalid lead(s)")
        self.problems = problems


def create_leads(engine: Engine, account_id: int, items: Sequence[Mapping[str, Any]]) -> list[int]:
    """Validate every lead first; write all of them in one statement or none."""
    clean: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        lead, errors = validate_lead(item)
        if errors:
            problems.append({"index": index, "errors": errors})
        clean.append(lead)
    if problems:
        raise InvalidLeads(problems)
    with engine.begin() as conn:
        return transitions.insert_leads(conn, account_id, clean)


@dataclass
class CustomizeReport:
    queued: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    already_started: list[int] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)

    def as_dict(self) -> dict[str, list[int]]:
        return {
            "queued": self.queued,
            "skipped": self.skipped,
            "already_started": self.already_started,
            "not_found": self.not_found,
        }


def customize(
    engine: Engine, account_id: int, lead_ids: Sequence[int], now: datetime
) -> CustomizeReport:
    """Queue the first stage for pending leads. Leads without a URL are skipped; leads
    already queued, running or finished are reported and left alone."""
    report = CustomizeReport()
    wanted = list(dict.fromkeys(lead_ids))
    with engine.begin() as conn:
        transitions.lock_leads(conn, wanted)
        moved = transitions.customize(conn, account_id, wanted, now)
        leftover = [i for i in wanted if i not in moved]
        existing = set()
        if leftover:
            rows = conn.execute(
                queries.get("lead_status"), {"ids": leftover, "account_id": account_id}
            )
            existing = {row.id for row in rows}
    for lead_id in wanted:
        status = moved.get(lead_id)
        if status == "queued":
            report.queued.append(lead_id)
        elif status == "skipped":
            report.skipped.append(lead_id)
        elif lead_id in existing:
            report.already_started.append(lead_id)
        else:
            report.not_found.append(lead_id)
    if report.queued:
        report.effects.kick(FIRST_STAGE.name)
    return report


def get_lead(engine: Engine, account_id: int, lead_id: int) -> dict[str, Any] | None:
    """One lead with every stage's data, grouped by stage."""
    with engine.connect() as conn:
        row = (
            conn.execute(queries.get("get_lead"), {"id": lead_id, "account_id": account_id})
            .mappings()
            .first()
        )
    if row is None:
        return None
    lead = {
        k: row[k]
        for k in (
            "id",
            "account_id",
            "name",
            "email",
            "company",
            "title",
            "company_url",
            "created_at",
            "updated_at",
        )
    }
    lead["stages"] = {
        st.name: {
            "status": row[f"{st.name}_status"],
            "attempt": row[f"{st.name}_attempt"],
            "retry_count": row[f"{st.name}_retry_count"],
            "job_id": row[f"{st.name}_job_id"],
            "error": row[f"{st.name}_error"],
            "started_at": row[f"{st.name}_started_at"],
            "completed_at": row[f"{st.name}_completed_at"],
            "run_after": row[f"{st.name}_run_after"],
            "result": row[f"{st.name}_result"],
        }
        for st in STAGES
    }
    return lead


def pipeline_status(engine: Engine, account_id: int | None = None) -> dict[str, Any]:
    """Counts per stage and state from the monitoring views."""
    with engine.connect() as conn:
        if account_id is None:
            depth = conn.execute(queries.get("queue_depth")).mappings().all()
        else:
            depth = (
                conn.execute(queries.get("account_queue_depth"), {"account_id": account_id})
                .mappings()
                .all()
            )
        durations = conn.execute(queries.get("stage_durations")).mappings().all()
    return {
        "stages": [dict(row) for row in depth],
        "durations": [dict(row) for row in durations] if account_id is None else [],
    }
