"""``leadpipe status``: the monitoring views, queue depth and stage durations, as tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from cli.db import cli_engine, database_errors, database_name, server_of
from cli.progress import STAGE_NAMES, normalize
from cli.tables import format_table
from pipeline import queries
from pipeline.config import Settings

DEPTH_COLUMNS = ("pending", "queued", "started", "completed", "failed", "skipped", "cancelled")
DURATION_COLUMNS = ("completed", "avg_seconds", "p50_seconds", "p95_seconds", "max_seconds")


def depth_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``stage_queue_depth`` as a table; stages without leads show zeros."""
    counts = normalize(rows)
    body = [[c.stage, *(getattr(c, col) for col in DEPTH_COLUMNS)] for c in counts]
    return format_table(["stage", *DEPTH_COLUMNS], body)


def durations_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``stage_durations`` as a table; a stage nothing has completed in shows ``-``."""
    by_stage = {row["stage"]: row for row in rows}
    body: list[list[object]] = []
    for stage in STAGE_NAMES:
        row = by_stage.get(stage)
        if row is None:
            body.append([stage, 0, None, None, None, None])
        else:
            body.append([stage, *(_number(row[col]) for col in DURATION_COLUMNS)])
    headers = ["stage", "completed", "avg s", "p50 s", "p95 s", "max s"]
    return format_table(headers, body)


def _number(value: Any) -> Any:
    """Decimals from ``avg``/``extract`` print like floats."""
    return value if value is None or isinstance(value, int) else float(value)


def show(settings: Settings, *, out: TextIO) -> None:
    engine = cli_engine(settings)
    try:
        with database_errors(settings.database_url), engine.connect() as conn:
            depth = conn.execute(queries.get("queue_depth")).mappings().all()
            durations = conn.execute(queries.get("stage_durations")).mappings().all()
    finally:
        engine.dispose()
    where = (
        f"database {database_name(settings.database_url)!r} on {server_of(settings.database_url)}"
    )
    print(f"Queue depth ({where})", file=out)
    for line in depth_table(depth):
        print(f"  {line}", file=out)
    print("\nStage durations (claim to completion, seconds)", file=out)
    for line in durations_table(durations):
        print(f"  {line}", file=out)
