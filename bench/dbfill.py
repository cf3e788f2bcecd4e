"""Filling a benchmark database with leads in a chosen state, fast (one INSERT … SELECT).

Finished leads carry small results (a few hundred bytes per stage); the claim and the
completion touch an index and the claimed rows, not the others' payloads, so the width of
finished rows barely matters for what is measured here.
"""

from __future__ import annotations

import psycopg

from pipeline.stages import STAGES

RESULT = '{"text": "%s", "usage": {"input_tokens": 900, "output_tokens": 300}}' % ("x" * 300)
SCRAPE_RESULT = (
    '{"pages": [{"url": "https://example.com/", "title": "Example", "content": "%s", '
    '"wordCount": 300}], "totalPages": 1, "wordCount": 300}' % ("word " * 300)
)


def _stage_values(queued: str | None) -> dict[str, str]:
    """Column → SQL expression for every stage: stages before ``queued`` completed,
    ``queued`` queued, later ones pending; every stage completed when ``queued`` is None."""
    out: dict[str, str] = {}
    before = True
    for st in STAGES:
        if st.name == queued:
            out[f"{st.name}_status"] = "'queued'"
            out[f"{st.name}_run_after"] = "now() - interval '1 hour' + g * interval '1 ms'"
            before = False
        elif before:
            result = SCRAPE_RESULT if st.name == "scrape" else RESULT
            out[f"{st.name}_status"] = "'completed'"
            out[f"{st.name}_attempt"] = "1"
            out[f"{st.name}_job_id"] = f"'job-{st.name}-' || g"
            out[f"{st.name}_result"] = f"CAST('{result}' AS jsonb)"
            out[f"{st.name}_started_at"] = "now() - interval '2 hours'"
            out[f"{st.name}_completed_at"] = "now() - interval '119 minutes'"
        else:
            out[f"{st.name}_status"] = "'pending'"
    return out


def insert_leads(conn: psycopg.Connection, first: int, count: int, queued: str | None) -> None:
    """Leads ``first`` … ``first + count - 1`` (series numbers, not ids)."""
    values = _stage_values(queued)
    columns = ["name", "email", "company", "company_url", "title", *values]
    exprs = [
        "'Lead ' || g",
        "'lead' || g || '@example.com'",
        "'Company ' || g",
        "'https://company-' || g || '.example.com/'",
        "'Head of Sales'",
        *values.values(),
    ]
    conn.execute(
        f"INSERT INTO leads ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM generate_series(%s::bigint, %s::bigint) AS g",
        (first, first + count - 1),
    )
