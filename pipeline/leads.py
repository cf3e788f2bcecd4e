"""Leads: creating them and reading them back (Customize lives in ``pipeline.runs``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from pipeline import queries, transitions
from pipeline.stages import STAGES
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
            "run_id",
        )
    }
    lead["tokens"] = {"input": row["llm_input_tokens"], "output": row["llm_output_tokens"]}
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


def versions(
    engine: Engine, account_id: int, lead_id: int, stage: str | None = None
) -> list[dict[str, Any]]:
    """Results a re-run replaced, oldest first (empty for another account's lead)."""
    with engine.connect() as conn:
        rows = conn.execute(
            queries.get("lead_versions"),
            {"lead_id": lead_id, "account_id": account_id, "stage": stage},
        ).mappings()
        return [dict(row) for row in rows]


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
