"""What the demo reports once the leads have settled: where each lead ended up, and one
finished email. Pure functions of ``GET /leads/{id}`` bodies."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.errors import one_line
from pipeline.stages import STAGES

#: Email bodies are wrapped to this width for the terminal (the stored text is not changed).
BODY_WIDTH = 88


@dataclass
class Summary:
    """Where each lead ended up: the first stage that did not complete decides."""

    completed: list[dict[str, Any]] = field(default_factory=list)
    #: (lead, stage, reason) for each of failed, skipped and cancelled.
    failed: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    skipped: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    cancelled: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    unfinished: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)

    def unhappy(self) -> list[tuple[str, list[tuple[dict[str, Any], str, str]]]]:
        return [
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("cancelled", self.cancelled),
            ("still running", self.unfinished),
        ]


def summarize(leads: Sequence[Mapping[str, Any]]) -> Summary:
    summary = Summary()
    for lead in leads:
        stages = lead.get("stages") or {}
        for st in STAGES:
            info = stages.get(st.name) or {}
            status = info.get("status")
            if status == "completed":
                continue
            reason = one_line(info.get("error") or "") or status or "unknown"
            bucket = {
                "failed": summary.failed,
                "skipped": summary.skipped,
                "cancelled": summary.cancelled,
            }.get(status or "", summary.unfinished)
            bucket.append((dict(lead), st.name, reason))
            break
        else:
            summary.completed.append(dict(lead))
    return summary


def email_of(lead: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of a finished lead; the subject stage's choice when the email's own
    first line carried none."""
    stages = lead.get("stages") or {}
    message = (stages.get("messaging") or {}).get("result") or {}
    subject = message.get("subject") or ((stages.get("subject") or {}).get("result") or {}).get(
        "chosen", ""
    )
    body = message.get("body") or message.get("text") or ""
    return str(subject), str(body)


def summary_lines(summary: Summary, elapsed: float, limit: int = 10) -> list[str]:
    """Counts per outcome; each lead that did not finish is listed with its stage and reason
    (up to ``limit`` per outcome)."""
    total = len(summary.completed) + sum(len(items) for _, items in summary.unhappy())
    lines = [f"Summary: {total} leads in {elapsed:.1f} s"]
    lines.append(f"  {len(summary.completed):>4} completed (a finished email each)")
    for label, items in summary.unhappy():
        if not items and label not in ("failed", "skipped"):
            continue
        lines.append(f"  {len(items):>4} {label}")
        for lead, stage, reason in items[:limit]:
            where = lead.get("company_url") or "no URL"
            lines.append(
                f"         lead {lead.get('id')} {lead.get('company') or '?'} ({where}) "
                f"at {stage}: {reason}"
            )
        if len(items) > limit:
            lines.append(f"         … and {len(items) - limit} more")
    return lines


def email_lines(lead: Mapping[str, Any]) -> list[str]:
    subject, body = email_of(lead)
    lines = [
        f"One finished email (lead {lead.get('id')}, {lead.get('company')}):",
        "",
        f"  To: {lead.get('name')} <{lead.get('email')}>",
        f"  Subject: {subject}",
        "",
    ]
    for line in body.splitlines():
        wrapped = textwrap.wrap(line, BODY_WIDTH) or [""]
        lines.extend(f"  {part}".rstrip() for part in wrapped)
    return lines
