"""``leadpipe import FILE.csv``: what an import report (``POST /imports``) says, as lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.tables import format_table

#: Rejected rows listed in full; the rest are counted (the API has them all).
SHOWN_REJECTIONS = 20


def report_lines(record: Mapping[str, Any], shown: int = SHOWN_REJECTIONS) -> list[str]:
    name = record.get("filename") or "the file"
    duplicates = int(record.get("duplicates") or 0)
    rejected = int(record.get("rejected") or 0)
    lines = [
        f"Imported {name} as import {record['id']}: {record.get('rows', 0)} rows, "
        f"{record.get('accepted', 0)} accepted, {rejected} rejected"
        + (f" ({duplicates} duplicates)" if duplicates else "")
    ]
    columns = record.get("columns") or {}
    if columns:
        lines.append(
            "Columns: " + ", ".join(f"{field} <- {column!r}" for field, column in columns.items())
        )
    if record.get("ignored_columns"):
        lines.append("Ignored columns: " + ", ".join(record["ignored_columns"]))
    rejections = list(record.get("rejections") or [])
    if rejections:
        lines.append("Rejected rows:")
        rows = [
            [r.get("line"), r.get("reason"), r.get("message") or "", r.get("lead_id")]
            for r in rejections[:shown]
        ]
        lines.extend(
            f"  {line}" for line in format_table(["line", "reason", "message", "lead"], rows)
        )
        if rejected > min(shown, len(rejections)):
            lines.append(
                f"  … {rejected - min(shown, len(rejections))} more: "
                f"GET /imports/{record['id']}/rejections"
            )
    if record.get("accepted"):
        lines.append(f"Next: leadpipe customize --import {record['id']}")
    return lines


def run_started_lines(report: Mapping[str, Any]) -> list[str]:
    """What ``POST /runs`` answered, for ``leadpipe customize``."""
    counts = (
        f"{len(report.get('queued') or [])} queued, {len(report.get('skipped') or [])} skipped "
        f"(no URL), {len(report.get('already_active') or [])} already in an active run, "
        f"{len(report.get('not_found') or [])} not found"
    )
    if report.get("run_id") is None:
        return [f"no run started: {counts}"]
    return [
        f"Run {report['run_id']} started: {counts}",
        f"Watch it: leadpipe run {report['run_id']}",
    ]
