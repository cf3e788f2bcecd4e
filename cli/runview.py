"""``leadpipe runs`` and ``leadpipe run ID``: a run (``GET /runs/{id}``) as text, and the live
view that redraws it in place until the run ends. The bars come from ``cli.progress``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from cli.progress import (
    HIDE_CURSOR,
    SHOW_CURSOR,
    STAGE_NAMES,
    StageCounts,
    bar,
    charset_for,
    clip,
    details,
    expected,
    redraw,
)
from cli.tables import format_table

#: A run in these states may still change by itself.
LIVE = frozenset({"queued", "running", "paused"})


def stage_counts(run: Mapping[str, Any]) -> list[StageCounts]:
    """One ``StageCounts`` per stage from the run's ``counts`` (``{stage: {status: n}}``).

    A stage the roll-up has not counted yet has all zeros, so its bar expects every lead."""
    counts = run.get("counts") or {}
    return [
        StageCounts.from_row({"stage": name, **(counts.get(name) or {})}) for name in STAGE_NAMES
    ]


def money(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"${value:.4f}" if 0 < abs(value) < 1 else f"${value:.2f}"


def seconds(value: Any) -> str:
    if value is None:
        return "-"
    total = max(0, round(float(value)))
    if total < 60:
        return f"{total} s"
    minutes, rest = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def selection(run: Mapping[str, Any]) -> str:
    chosen = run.get("selection") or {}
    if chosen.get("import_id") is not None:
        return f"import {chosen['import_id']}"
    if chosen.get("all_pending"):
        return "all pending"
    if "lead_ids" in chosen:
        return f"{chosen['lead_ids']} ids"
    return "-"


def leads_done(run: Mapping[str, Any]) -> int:
    total = int(run.get("lead_count") or 0)
    active = (run.get("leads") or {}).get("active")
    return total - int(total if active is None else active)


def headline(run: Mapping[str, Any], *, spend: bool = True) -> str:
    """``Run 7 · running · 12/26 leads done (10 emails, 1 failed, 1 skipped) · ETA 8 s``,
    with `` · spent $0.0123`` unless ``spend`` is false (the full view has a line for it)."""
    leads = run.get("leads") or {}
    total = int(run.get("lead_count") or 0)
    outcome = ", ".join(
        f"{int(leads.get(k) or 0)} {label}"
        for k, label in (("completed", "emails"), ("failed", "failed"), ("skipped", "skipped"))
    )
    parts = [
        f"Run {run['id']}",
        str(run.get("status")),
        f"{leads_done(run)}/{total} leads done ({outcome})",
    ]
    if run.get("status") in ("queued", "running"):
        parts.append(f"ETA {seconds(run['eta_seconds'])}" if run.get("eta_seconds") else "ETA …")
    if spend:
        parts.append(f"spent {money(run.get('spent_usd'))}")
    return " · ".join(parts)


def cost_line(run: Mapping[str, Any]) -> str:
    """``spent $0.0123 of $2.00 budget · 1,234 in / 567 out tokens · avg fit 61``"""
    spent = f"spent {money(run.get('spent_usd'))}"
    spent += f" of {money(run['budget_usd'])} budget" if run.get("budget_usd") is not None else ""
    tokens = run.get("tokens") or {}
    used = f"{int(tokens.get('input') or 0):,} in / {int(tokens.get('output') or 0):,} out tokens"
    parts = [spent, used]
    if run.get("fit_score_avg") is not None:
        parts.append(f"avg fit {round(run['fit_score_avg'])}")
    return "  " + " · ".join(parts)


def run_lines(
    run: Mapping[str, Any], *, bar_width: int = 30, charset: Any = None, width: int = 0
) -> list[str]:
    """The run view: a headline, a bar per stage, the paused reason if any."""
    from cli.progress import UNICODE

    charset = charset or UNICODE
    counts = stage_counts(run)
    total = int(run.get("lead_count") or 0)
    lines = [headline(run, spend=False), cost_line(run)]
    if run.get("paused_reason"):
        lines.append(f"  paused: {run['paused_reason']}")
    name_width = max(len(name) for name in STAGE_NAMES)
    digits = len(str(max(total, 1)))
    for c, want in zip(counts, expected(counts, total), strict=True):
        cells = bar(c.completed, c.stopped, want, bar_width, charset)
        fraction = f"{c.finished:>{digits}}/{want:<{digits}}"
        lines.append(
            f"  {c.stage:<{name_width}}  {cells}  {fraction}  {details(c, charset.separator)}"
        )
    return [clip(line, width) for line in lines] if width else lines


def runs_table(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    headers = ["id", "status", "selection", "leads", "done", "emails", "failed", "spent", "budget"]
    headers.append("started (UTC)")
    rows = [
        [
            run["id"],
            run.get("status"),
            selection(run),
            run.get("lead_count"),
            leads_done(run),
            (run.get("leads") or {}).get("completed", 0),
            (run.get("leads") or {}).get("failed", 0),
            money(run.get("spent_usd")),
            money(run.get("budget_usd")) if run.get("budget_usd") is not None else "-",
            str(run.get("started_at") or run.get("created_at") or "-")[:19].replace("T", " "),
        ]
        for run in runs
    ]
    return format_table(headers, rows)


class RunDisplay:
    """Draws a run on ``stream``: redrawn in place on a terminal; elsewhere one headline per
    change, at most one every ``min_interval`` seconds (the last one always)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        columns: int | None = None,
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.columns = columns
        self.min_interval = min_interval
        self.clock = clock
        self.charset = charset_for(stream)
        self._height = 0
        self._last: str | None = None
        self._printed_at: float | None = None

    def _width(self) -> int:
        if self.columns is not None:
            return self.columns
        import shutil

        return shutil.get_terminal_size((100, 24)).columns

    def update(self, run: Mapping[str, Any], *, final: bool = False) -> None:
        if self.tty:
            width = self._width()
            lines = run_lines(
                run, bar_width=max(10, min(30, width - 60)), charset=self.charset, width=width
            )
            prefix = HIDE_CURSOR if self._height == 0 else ""
            self.stream.write(prefix + redraw(lines, self._height))
            self._height = len(lines)
            self.stream.flush()
            return
        if final:  # the whole view once at the end, for the log
            for line in run_lines(run, charset=self.charset):
                self.stream.write(line + "\n")
            self.stream.flush()
            return
        line = headline(run)
        now = self.clock()
        if line == self._last:
            return
        if self._printed_at is not None and now - self._printed_at < self.min_interval:
            return
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last, self._printed_at = line, now

    def close(self) -> None:
        if self.tty and self._height:
            self.stream.write(SHOW_CURSOR)
            self.stream.flush()


def follow(
    fetch: Callable[[], Mapping[str, Any]],
    display: RunDisplay,
    *,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Redraw the run every ``interval`` seconds until it is no longer live; the last run."""
    try:
        while True:
            run = fetch()
            live = run.get("status") in LIVE
            display.update(run, final=not live)
            if not live:
                return run
            sleep(interval)
    finally:
        display.close()
