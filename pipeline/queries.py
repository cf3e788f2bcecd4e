"""Loads ``queries.sql`` into named, per-stage SQLAlchemy ``text`` statements."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from string import Template

from sqlalchemy import TextClause, text

from pipeline.stages import STAGES, get_stage

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
QUERIES_FILE = Path(__file__).with_name("queries.sql")


def _parse(source: str) -> dict[str, str]:
    """Split the file at ``-- name:`` lines; the preamble before the first is dropped."""
    parts = _NAME.split(source)
    return {
        name: _strip_comments(body) for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _strip_comments(body: str) -> str:
    """Drop whole-line comments: they document the file, and ``:word`` in them would bind."""
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip()


@cache
def _raw() -> dict[str, str]:
    return _parse(QUERIES_FILE.read_text())


def names() -> list[str]:
    return list(_raw())


@cache
def get(name: str, stage: str | None = None) -> TextClause:
    """The statement ``name``, with stage placeholders filled from the stage table."""
    try:
        sql = _raw()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in {QUERIES_FILE.name}") from None
    if "${" not in sql:
        if stage is not None:
            raise ValueError(f"query {name!r} is not per-stage")
        return text(sql)
    if stage is None:
        raise ValueError(f"query {name!r} needs a stage")
    st = get_stage(stage)
    if "${next}" in sql and st.next is None:
        raise ValueError(f"query {name!r} needs a next stage; {stage!r} is the last")
    inputs = "".join(f", l.{column}" for column in st.inputs if column != "company_url")
    return text(Template(sql).substitute(stage=st.name, next=st.next or "", inputs=inputs))


def all_statements() -> list[tuple[str, str | None, TextClause]]:
    """Every (name, stage, statement) the file defines; used to check the file compiles."""
    out: list[tuple[str, str | None, TextClause]] = []
    for name, sql in _raw().items():
        if "${" not in sql:
            out.append((name, None, get(name)))
            continue
        for st in STAGES:
            if "${next}" in sql and st.next is None:
                continue
            out.append((name, st.name, get(name, st.name)))
    return out
