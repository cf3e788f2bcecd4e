"""Live per-stage progress of the demo: pure functions from ``/status`` rows to lines, plus a
small display that draws them in place on a terminal or as occasional log lines elsewhere.

How far a stage can get: a lead that fails or is skipped at one stage stays ``pending`` in
every later stage for good, so a later stage's "expected" count is not simply the number of
leads. It is the leads that are not pending there, plus those still in flight (queued or
started) at an earlier stage -- a lead is in flight at one stage at most, so that sum is exact
whatever order failures, skips and cancellations happened in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TextIO

from pipeline.stages import STAGES

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)

#: Cursor control (ECMA-48): up N lines to column 1, clear the line, hide / show the cursor.
CSI = "\x1b["
HIDE_CURSOR = f"{CSI}?25l"
SHOW_CURSOR = f"{CSI}?25h"
CLEAR_LINE = f"{CSI}2K"


@dataclass(frozen=True)
class Charset:
    """Bar cells: completed, stopped (failed / skipped / cancelled), not finished yet."""

    completed: str
    stopped: str
    rest: str
    separator: str


UNICODE = Charset(completed="█", stopped="▒", rest="░", separator=" · ")
ASCII = Charset(completed="#", stopped="x", rest=".", separator=", ")


def charset_for(stream: TextIO) -> Charset:
    """Block characters when the stream can encode them, ASCII otherwise."""
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
    return UNICODE if encoding in ("utf8", "utf16", "utf32") else ASCII


@dataclass(frozen=True)
class StageCounts:
    """How many leads one stage has in each state (one row of ``/status``)."""

    stage: str
    pending: int = 0
    queued: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StageCounts:
        counts = {f.name: int(row.get(f.name) or 0) for f in fields(cls) if f.name != "stage"}
        return cls(stage=str(row["stage"]), **counts)

    @property
    def in_flight(self) -> int:
        return self.queued + self.started

    @property
    def stopped(self) -> int:
        """Finished without a result: failed, skipped or cancelled."""
        return self.failed + self.skipped + self.cancelled

    @property
    def finished(self) -> int:
        return self.completed + self.stopped

    def minus(self, other: StageCounts) -> StageCounts:
        """Per-state difference, never below zero (see :func:`subtract`)."""
        values = {
            f.name: max(0, getattr(self, f.name) - getattr(other, f.name))
            for f in fields(self)
            if f.name != "stage"
        }
        return StageCounts(stage=self.stage, **values)


def normalize(
    rows: Iterable[Mapping[str, Any]], stages: Sequence[str] = STAGE_NAMES
) -> list[StageCounts]:
    """One entry per stage, in pipeline order; a stage with no leads (the views return no row
    for it) counts zero everywhere."""
    by_stage = {str(row["stage"]): StageCounts.from_row(row) for row in rows}
    return [by_stage.get(name, StageCounts(stage=name)) for name in stages]


def subtract(current: Sequence[StageCounts], baseline: Sequence[StageCounts]) -> list[StageCounts]:
    """``current`` without the leads ``baseline`` already had (leads of earlier runs).

    Exact while the earlier leads stand still; earlier leads still in flight when the
    baseline was taken are the one case it cannot separate, hence the clamp at zero.
    """
    before = {c.stage: c for c in baseline}
    return [c.minus(before[c.stage]) if c.stage in before else c for c in current]


def total_in_flight(counts: Iterable[StageCounts]) -> int:
    return sum(c.in_flight for c in counts)


def expected(counts: Sequence[StageCounts], total: int) -> list[int]:
    """How many of ``total`` leads each stage will see finish (see the module docstring)."""
    out: list[int] = []
    in_flight_before = 0
    for c in counts:
        out.append(max(0, min(total, total - c.pending + in_flight_before)))
        in_flight_before += c.in_flight
    return out


def bar(completed: int, stopped: int, expected_total: int, width: int, charset: Charset) -> str:
    """A bar of ``width`` cells. Cells round down, so a bar is full only when all is done."""
    if width <= 0:
        return ""
    if expected_total <= 0:
        return charset.rest * width
    completed = min(completed, expected_total)
    finished = min(completed + stopped, expected_total)
    ok_cells = width * completed // expected_total
    done_cells = width * finished // expected_total
    return (
        charset.completed * ok_cells
        + charset.stopped * (done_cells - ok_cells)
        + charset.rest * (width - done_cells)
    )


def details(c: StageCounts, separator: str = " · ") -> str:
    """The non-zero states of a stage, finished ones first: ``24 completed · 1 failed``."""
    parts = [
        f"{n} {label}"
        for n, label in (
            (c.completed, "completed"),
            (c.failed, "failed"),
            (c.skipped, "skipped"),
            (c.cancelled, "cancelled"),
            (c.queued, "queued"),
            (c.started, "started"),
        )
        if n
    ]
    return separator.join(parts) if parts else "waiting"


def bar_lines(
    counts: Sequence[StageCounts],
    total: int,
    elapsed: float,
    *,
    bar_width: int = 30,
    charset: Charset = UNICODE,
) -> list[str]:
    """The terminal view: a header, then one bar per stage."""
    flying = total_in_flight(counts)
    lines = [f"Pipeline progress  {elapsed:6.1f} s  {flying} in flight"]
    name_width = max((len(c.stage) for c in counts), default=0)
    digits = len(str(max(total, 1)))
    for c, want in zip(counts, expected(counts, total), strict=True):
        cells = bar(c.completed, c.stopped, want, bar_width, charset)
        fraction = f"{c.finished:>{digits}}/{want:<{digits}}"
        lines.append(
            f"  {c.stage:<{name_width}}  {cells}  {fraction}  {details(c, charset.separator)}"
        )
    return lines


def log_line(counts: Sequence[StageCounts], total: int, elapsed: float) -> str:
    """The non-terminal view, one line: ``[  4.0 s] scrape 5/7 (1 failed), intel 2/5, ...``."""
    parts = []
    for c, want in zip(counts, expected(counts, total), strict=True):
        stopped = ", ".join(
            f"{n} {label}"
            for n, label in (
                (c.failed, "failed"),
                (c.skipped, "skipped"),
                (c.cancelled, "cancelled"),
            )
            if n
        )
        parts.append(f"{c.stage} {c.finished}/{want}" + (f" ({stopped})" if stopped else ""))
    return f"[{elapsed:6.1f} s] " + ", ".join(parts) + f"; {total_in_flight(counts)} in flight"


def clip(line: str, width: int) -> str:
    """Cut a line to the terminal width: a wrapped line would break the cursor arithmetic."""
    if width <= 1 or len(line) < width:
        return line
    return line[: width - 2] + "…"


def redraw(lines: Sequence[str], previous_height: int) -> str:
    """The text that replaces the ``previous_height`` lines drawn last time with ``lines``."""
    up = f"{CSI}{previous_height}F" if previous_height else ""
    body = "".join(f"{CLEAR_LINE}{line}\n" for line in lines)
    # If the block shrank, clear what is left of the old one below it.
    leftover = max(0, previous_height - len(lines))
    tail = f"{CLEAR_LINE}\n" * leftover + (f"{CSI}{leftover}F" if leftover else "")
    return up + body + tail


class ProgressDisplay:
    """Draws progress on ``stream``: in place on a terminal, else one line per change and
    at most one every ``min_interval`` seconds (a log file or CI output stays short)."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        tty: bool | None = None,
        columns: int | None = None,
        min_interval: float = 2.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty() if tty is None else tty
        self.columns = columns
        self.min_interval = min_interval
        self.clock = clock
        self.charset = charset_for(stream)
        self._height = 0
        self._last_key: tuple[StageCounts, ...] | None = None
        self._last_printed: float | None = None

    def _columns(self) -> int:
        if self.columns is not None:
            return self.columns
        import shutil

        return shutil.get_terminal_size((100, 24)).columns

    def update(self, counts: Sequence[StageCounts], elapsed: float, *, force: bool = False) -> None:
        if self.tty:
            width = self._columns()
            bar_width = max(10, min(30, width - 60))
            lines = [
                clip(line, width)
                for line in bar_lines(
                    counts, self.total, elapsed, bar_width=bar_width, charset=self.charset
                )
            ]
            prefix = HIDE_CURSOR if self._height == 0 else ""
            self.stream.write(prefix + redraw(lines, self._height))
            self._height = len(lines)
            self.stream.flush()
            return
        key = tuple(counts)
        now = self.clock()
        if key == self._last_key:
            return
        if (
            not force
            and self._last_printed is not None
            and now - self._last_printed < self.min_interval
        ):
            return
        self.stream.write(log_line(counts, self.total, elapsed) + "\n")
        self.stream.flush()
        self._last_key, self._last_printed = key, now

    def close(self) -> None:
        """Give the cursor back (call from ``finally``: Ctrl-C must not leave it hidden)."""
        if self.tty and self._height:
            self.stream.write(SHOW_CURSOR)
            self.stream.flush()
