"""Claim cost against table size: the real ``claim`` statement (queries.sql) at 10k, 100k
and 1M leads, a small fraction of them queued, measured with EXPLAIN (ANALYZE, BUFFERS).

The table grows in place (10k → 100k → 1M), each step VACUUM ANALYZEd and checkpointed
before it is measured. Each EXPLAIN runs in a transaction that is rolled back, so every
repetition claims the same rows; a short run of committed claims follows (their
round-trip time, as a worker sees it), which leaves dead index entries behind as the
pipeline does.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import text

from bench import dbfill
from bench.servers import Servers
from bench.stack import create_database, drop_database
from pipeline import queries
from pipeline.config import Settings
from pipeline.db import apply_schema, make_engine

STAGE = "intel"
LIMIT = 10
CHUNK = 10_000


def _explain(conn: Any, now: datetime) -> dict[str, Any]:
    claim = queries.get("claim", STAGE)
    plan = conn.execute(
        text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + claim.text),
        {"limit": LIMIT, "now": now, "cap": None},
    ).scalar_one()[0]
    top = plan["Plan"]
    return {
        "ms": plan["Execution Time"],
        "planning_ms": plan["Planning Time"],
        "shared_hit": top.get("Shared Hit Blocks", 0),
        "shared_read": top.get("Shared Read Blocks", 0),
        "rows": top.get("Actual Rows", 0),
    }


def _node_types(plan: dict[str, Any]) -> list[str]:
    out = [plan["Node Type"] + (f" on {plan['Index Name']}" if "Index Name" in plan else "")]
    for child in plan.get("Plans", []):
        out.extend(_node_types(child))
    return out


def measure_size(engine: Any, queued: int, repeats: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    samples = []
    for _ in range(repeats):
        with engine.connect() as conn:
            samples.append(_explain(conn, now))
            conn.rollback()
    with engine.connect() as conn:
        claim = queries.get("claim", STAGE)
        plan = conn.execute(
            text("EXPLAIN (FORMAT JSON) " + claim.text), {"limit": LIMIT, "now": now, "cap": None}
        ).scalar_one()[0]["Plan"]
        conn.rollback()
    warm = samples[2:] if len(samples) > 4 else samples
    committed = []
    for _ in range(min(50, queued // (2 * LIMIT))):
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                queries.get("claim", STAGE), {"limit": LIMIT, "now": datetime.now(UTC), "cap": None}
            )
        committed.append((time.perf_counter() - began) * 1000)
    return {
        "claim_ms": round(statistics.median(s["ms"] for s in warm), 3),
        "planning_ms": round(statistics.median(s["planning_ms"] for s in warm), 3),
        "buffers_hit": statistics.median(s["shared_hit"] for s in warm),
        "buffers_read": statistics.median(s["shared_read"] for s in warm),
        "first_ms": round(samples[0]["ms"], 3),
        "first_buffers_read": samples[0]["shared_read"],
        "rows_claimed": samples[0]["rows"],
        "committed_claim_roundtrip_ms": (
            round(statistics.median(committed), 3) if committed else None
        ),
        "committed_claims": len(committed),
        "plan": _node_types(plan),
    }


def run(servers: Servers, sizes: list[int], fraction: float, repeats: int) -> dict[str, Any]:
    name = "bench_claim"
    url = create_database(servers, name)
    engine = make_engine(Settings(database_url=url), pool_size=1, max_overflow=0)
    out: dict[str, Any] = {"stage": STAGE, "limit": LIMIT, "queued_fraction": fraction}
    try:
        apply_schema(engine)
        have = queued_total = 0
        build_seconds = 0.0
        for size in sizes:
            began = time.monotonic()
            with psycopg.connect(url, autocommit=True) as conn:
                while have < size:
                    count = min(CHUNK, size - have)
                    queued = max(1, round(count * fraction))
                    dbfill.insert_leads(conn, have + 1, count - queued, None)
                    dbfill.insert_leads(conn, have + count - queued + 1, queued, STAGE)
                    have += count
                    queued_total += queued
                conn.execute("VACUUM ANALYZE leads")
                conn.execute("CHECKPOINT")
                table_mb = conn.execute(
                    "SELECT pg_total_relation_size('leads') / 1048576.0"
                ).fetchone()[0]
            build_seconds += time.monotonic() - began
            figures = measure_size(engine, queued_total, repeats)
            figures.update(
                {"leads": have, "queued": queued_total, "table_mb": round(float(table_mb), 1)}
            )
            queued_total -= figures["committed_claims"] * LIMIT
            out[_label(size)] = figures
        out["build_seconds"] = round(build_seconds, 1)
        labels = [_label(s) for s in sizes]
        first, last = out[labels[0]]["claim_ms"], out[labels[-1]]["claim_ms"]
        out["growth"] = round(last / first, 2) if first else None
    finally:
        engine.dispose()
        drop_database(servers, name)
    return out


def _label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    return f"{size // 1000}k"
