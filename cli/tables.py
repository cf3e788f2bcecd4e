"""Aligned plain-text tables (``leadpipe status``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from numbers import Number


def cell(value: object, decimals: int = 2) -> str:
    """How one value prints: ``-`` for NULL, fixed decimals for fractions."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | Decimal):
        return f"{value:.{decimals}f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a table: numbers right-aligned, text left-aligned, two spaces between columns.

    A column is numeric when every non-NULL value in it is a number; its header is
    right-aligned too, so it sits above the digits.
    """
    texts = [[cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], Number) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [max([len(headers[i]), *(len(row[i]) for row in texts)]) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in texts)]
