"""Counters read around a measured window, and the latencies computed after it.

* SQL: ``pg_stat_statements`` of the run's database, the pipeline's role only (the harness
  reads as ``bench_observer``), reset at the start of the window. ``BEGIN``/``COMMIT`` and
  the pool's pre-ping ``SELECT 1`` are statements too and are counted; the report gives the
  total and the part that reads or writes data.
* Redis: ``INFO commandstats`` of the benchmark's own server, reset at the start. Commands
  that Dramatiq's Lua scripts run inside the server are listed by ``commandstats`` too; the
  report counts what clients send (a script call is one command) and, apart, everything
  the server executed.
* WAL: ``pg_current_wal_lsn()`` before and after (the benchmark's server is used by nothing
  else).
* Latency: ``<stage>_completed_at`` is stamped by the web process with the clock it read on
  accepting the callback (after the signature check, before the transaction), and the local
  services note when each reference's submit request arrived (``/_stats?times=true``).
  Latency = arrival of ``L<id>-<next>-<attempt>`` minus ``<stage>_completed_at``; both are
  this machine's wall clock. Nothing is timed inside Leadpipe.
"""

from __future__ import annotations

import glob
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from pipeline.stages import STAGES

#: Statements that only frame a transaction or check a pooled connection.
OVERHEAD = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SELECT \$?1\s*$|select pg_catalog\.version)", re.I
)

#: The completion poller's claim (queries.sql ``claim_late``): its rows are the attempts
#: asked about.
POLL_CLAIM = re.compile(r"SET \w+_polled_at = \$\d+\s+FROM", re.I)

#: Commands Leadpipe's Python code sends itself (see actors/) that its Lua scripts also
#: run: they are counted as sent, so the figure errs high rather than low.
DIRECT_COMMANDS = {"set", "del", "hset", "hmget", "zrem", "hincrbyfloat", "expire", "blpop"}


def _script_commands() -> set[str]:
    """Commands that only Lua scripts run inside Redis (a script call is the one command
    its client sent): Dramatiq's scripts and Leadpipe's own (limiter, doorbell)."""
    import dramatiq.brokers.redis as module

    names: set[str] = set()
    folder = os.path.join(os.path.dirname(module.__file__), "redis")
    for path in glob.glob(os.path.join(folder, "*.lua")):
        with open(path) as f:
            names.update(re.findall(r'redis\.call\("(\w+)"', f.read()))
    actors = Path(__file__).resolve().parent.parent / "actors"
    for path in actors.glob("*.py"):
        own = re.findall(r"redis\.call\(['\"](\w+)['\"]", path.read_text())
        names.update(name.lower() for name in own if name.lower() not in DIRECT_COMMANDS)
    return names


SCRIPT_COMMANDS = _script_commands()
HARNESS_COMMANDS = {"info", "config"}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        # nearest rank: the smallest value with at least q of the values at or below it
        index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered) - 1e-9) - 1))
        return round(ordered[index], 2)

    return {
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
        "n": len(ordered),
    }


@dataclass
class Window:
    """Counters reset/read around one measured stretch of a run."""

    admin_url: str  # the benchmark server's postgres database, as the observer
    dbname: str
    redis_url: str
    wal_start: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
            self.wal_start = _lsn(conn)
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.config_resetstat()
        finally:
            client.close()

    def stop(self) -> dict[str, Any]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            wal = _lsn(conn) - self.wal_start
            rows = conn.execute(
                """
                SELECT s.query, s.calls, s.total_exec_time, s.rows
                FROM pg_stat_statements s
                JOIN pg_database d ON d.oid = s.dbid
                JOIN pg_roles r ON r.oid = s.userid
                WHERE d.datname = %s AND r.rolname = 'postgres'
                ORDER BY s.calls DESC
                """,
                (self.dbname,),
            ).fetchall()
        client = redis.Redis.from_url(self.redis_url)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        statements = [
            {"query": q, "calls": int(c), "ms": round(float(t), 1), "rows": int(r)}
            for q, c, t, r in rows
        ]
        total = sum(s["calls"] for s in statements)
        overhead = sum(s["calls"] for s in statements if OVERHEAD.match(s["query"]))
        commands = {
            name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()
        }
        sent = {
            name: calls
            for name, calls in commands.items()
            if name.split("|")[0] not in SCRIPT_COMMANDS | HARNESS_COMMANDS
        }
        executed = {
            name: calls
            for name, calls in commands.items()
            if name.split("|")[0] not in HARNESS_COMMANDS
        }
        self.data = {
            # Attempts the completion poller asked a service about (claim_late's rows):
            # with callbacks on, each is one a callback had not settled within the grace.
            "polled_attempts": sum(s["rows"] for s in statements if POLL_CLAIM.search(s["query"])),
            "wal_bytes": wal,
            "sql_total": total,
            "sql_overhead": overhead,
            "sql_data": total - overhead,
            "statements": statements,
            "redis_sent": sum(sent.values()),
            "redis_executed": sum(executed.values()),
            "redis_commands": commands,
        }
        return self.data


def _lsn(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])


def table_stats(url: str, table: str = "leads") -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """
            SELECT n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_hot_upd,
                   pg_total_relation_size(relid), pg_relation_size(relid),
                   pg_indexes_size(relid)
            FROM pg_stat_user_tables WHERE relname = %s
            """,
            (table,),
        ).fetchone()
    live, dead, ins, upd, hot, total, heap, indexes = (int(v) for v in row)
    return {
        "live_tuples": live,
        "dead_tuples": dead,
        "inserts": ins,
        "updates": upd,
        "hot_updates": hot,
        "hot_ratio": round(hot / upd, 4) if upd else None,
        "dead_per_live": round(dead / live, 2) if live else None,
        "total_mb": round(total / 2**20, 1),
        "heap_mb": round(heap / 2**20, 1),
        "indexes_mb": round(indexes / 2**20, 1),
    }


def service_times(base_url: str) -> tuple[dict[str, float], dict[str, float]]:
    body = httpx.get(f"{base_url}/_stats", params={"times": "true"}, timeout=60).json()
    return body.get("received_at", {}), body.get("ended_at", {})


def reset_service(base_url: str) -> None:
    httpx.delete(f"{base_url}/_stats", timeout=10).raise_for_status()


@dataclass
class LeadTimes:
    """Per lead: each stage's status, attempt, completion time (epoch s) and claim time."""

    rows: list[dict[str, Any]]

    @classmethod
    def load(cls, url: str, ids: list[int] | None = None) -> LeadTimes:
        columns = ["id", "extract(epoch FROM scrape_run_after) AS customized_at"]
        for st in STAGES:
            columns += [
                f"{st.name}_status",
                f"{st.name}_attempt",
                f"extract(epoch FROM {st.name}_completed_at) AS {st.name}_completed_at",
                f"extract(epoch FROM {st.name}_started_at) AS {st.name}_started_at",
            ]
        query = f"SELECT {', '.join(columns)} FROM leads"
        params: tuple[Any, ...] = ()
        if ids is not None:
            query += " WHERE id = ANY(%s)"
            params = (ids,)
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(query + " ORDER BY id", params)
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for row in rows:
            for key, value in row.items():
                if key.endswith("_at") and value is not None:
                    row[key] = float(value)
        return cls(rows)

    def completed(self) -> int:
        return sum(r["messaging_status"] == "completed" for r in self.rows)

    def states(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for st in STAGES:
            counts: dict[str, int] = {}
            for r in self.rows:
                counts[r[f"{st.name}_status"]] = counts.get(r[f"{st.name}_status"], 0) + 1
            out[st.name] = counts
        return out

    def last_completion(self) -> float | None:
        times = [r["messaging_completed_at"] for r in self.rows if r["messaging_completed_at"]]
        return max(times) if times else None

    def transition_latencies_ms(
        self, received: dict[str, float], since: str = "completed"
    ) -> dict[str, list[float]]:
        """Per transition ``stage→next``: next submit's arrival minus the stage's completion
        (``since="completed"``) — or minus the service's end of the stage's job
        (``since="ended"``, ``received`` then holds both maps merged by the caller)."""
        out: dict[str, list[float]] = {}
        for st in STAGES:
            if st.next is None:
                continue
            key = f"{st.name}->{st.next}"
            values = out.setdefault(key, [])
            for r in self.rows:
                done = r[f"{st.name}_completed_at"]
                if r[f"{st.name}_status"] != "completed" or done is None:
                    continue
                ref = f"L{r['id']}-{st.next}-{r[f'{st.next}_attempt']}"
                arrived = received.get(ref)
                if arrived is not None:
                    values.append((arrived - done) * 1000)
        return out

    def detection_ms(self, ended: dict[str, float]) -> list[float]:
        """Service's end of a job → the pipeline's completion (poller delay)."""
        values = []
        for r in self.rows:
            for st in STAGES:
                done = r[f"{st.name}_completed_at"]
                ref = f"L{r['id']}-{st.name}-{r[f'{st.name}_attempt']}"
                if done is not None and ref in ended:
                    values.append((done - ended[ref]) * 1000)
        return values

    def first_pickup_ms(self, received: dict[str, float]) -> list[float]:
        """Customize accepted (scrape_run_after) → scrape submit arrives at the scraper."""
        values = []
        for r in self.rows:
            ref = f"L{r['id']}-scrape-{r['scrape_attempt']}"
            if r["customized_at"] is not None and ref in received and r["scrape_attempt"] == 1:
                values.append((received[ref] - r["customized_at"]) * 1000)
        return values
