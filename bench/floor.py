"""The floor: the pipeline's own claim / record-job / complete SQL (read from queries.sql)
run by ``pgbench`` with several clients, with no HTTP, no Python and no broker in between.

Two scripts, weighted as a lead's five stages are: one scrape stage (claim 10, store their
job ids, then one completion per lead: the scraper calls back per job) to four LLM stages
(claim 10, store the batch id, one completion for the whole batch). Each script moves ten
(lead, stage) transitions, and every statement is its own transaction, as in the pipeline.
A floor figure is transitions/s ÷ 5 = leads/s through five stages.

pgbench needs the claimed ids in later statements, so each claim runs inside
``<claim's WITH>, claimed_out AS (<its final SELECT>) SELECT <ids, attempts, rows as text>
\\gset``; ``:now`` becomes ``now()``, ``:limit`` 10 and ``:cap`` NULL (no cap).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import dbfill
from bench.servers import Servers
from bench.stack import create_database, drop_database
from pipeline import queries
from pipeline.config import Settings
from pipeline.db import apply_schema, make_engine
from pipeline.stages import STAGES

LIMIT = 10
SCRAPE_QUEUE = 40_000
INTEL_QUEUE = 120_000
#: What a completion stores (about the size of the stand-in's results).
LLM_RESULT = dbfill.RESULT
SCRAPE_RESULT = dbfill.SCRAPE_RESULT


def _sql(name: str, stage: str) -> str:
    body = queries.get(name, stage).text
    body = body.replace(":now", "now()").replace(":limit", str(LIMIT))
    return " ".join(line.strip() for line in body.splitlines()).rstrip(";")


def _claim_gset(stage: str, result: str, singles: int) -> str:
    obj = (
        "jsonb_build_object('id', id, 'attempt', attempt, 'job_id', 'job-' || id, "
        f"'result', CAST('{result}' AS jsonb))"
    )
    picks = "".join(
        f", coalesce(jsonb_agg({obj}) FILTER (WHERE n = {n}), '[]')::text AS r{n}"
        for n in range(1, singles + 1)
    )
    # The claim is a WITH statement whose CTE updates rows, and such a WITH cannot nest:
    # its final SELECT becomes one more CTE of the same WITH.
    claim = _sql("claim", stage).replace(":cap", "NULL")
    final = claim.rindex("SELECT claimed.*")
    return (
        f"{claim[:final].rstrip()}, claimed_out AS ({claim[final:]}), "
        "numbered AS (SELECT id, attempt, row_number() OVER (ORDER BY id) AS n "
        "FROM claimed_out WHERE id IS NOT NULL) "
        "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text AS ids, "
        "coalesce(array_agg(attempt ORDER BY id), '{}')::text AS attempts, "
        "coalesce(array_agg('job-' || id ORDER BY id), '{}')::text AS job_ids, "
        f"coalesce(jsonb_agg({obj} ORDER BY id), '[]')::text AS rows{picks} FROM numbered\n"
        "\\gset\n"
    )


def scripts() -> dict[str, str]:
    scrape = _claim_gset("scrape", SCRAPE_RESULT, LIMIT)
    scrape += _sql("record_job", "scrape") + ";\n"
    for n in range(1, LIMIT + 1):
        scrape += _sql("complete_and_queue_next", "scrape").replace(":rows", f":r{n}") + ";\n"
    llm = _claim_gset("intel", LLM_RESULT, 0)
    llm += _sql("record_job", "intel") + ";\n"
    llm += _sql("complete_and_queue_next", "intel") + ";\n"
    return {"scrape": scrape, "llm": llm}


def _fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE leads RESTART IDENTITY CASCADE")
        dbfill.insert_leads(conn, 1, SCRAPE_QUEUE, "scrape")
        dbfill.insert_leads(conn, SCRAPE_QUEUE + 1, INTEL_QUEUE, "intel")
        conn.execute("VACUUM ANALYZE leads")
        conn.execute("CHECKPOINT")


def _left(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            st: int(
                conn.execute(f"SELECT count(*) FROM leads WHERE {st}_status = 'queued'").fetchone()[
                    0
                ]
            )
            for st in ("scrape", "intel")
        }


def run(
    servers: Servers, clients: list[int], seconds: int, repeats: int, pgbench: str = "pgbench"
) -> dict[str, Any]:
    name = "bench_floor"
    url = create_database(servers, name)
    engine = make_engine(Settings(database_url=url), pool_size=1, max_overflow=0)
    folder = Path(tempfile.mkdtemp(prefix="leadpipe-pgbench-"))
    out: dict[str, Any] = {"seconds": seconds, "clients": {}, "stages_per_lead": len(STAGES)}
    try:
        apply_schema(engine)
        engine.dispose()
        paths = []
        for script, weight in (("scrape", 1), ("llm", len(STAGES) - 1)):
            path = folder / f"{script}.sql"
            path.write_text(scripts()[script])
            paths += ["-f", f"{path}@{weight}"]
        for count in clients:
            runs = []
            for _ in range(repeats):
                _fill(url)
                argv = [pgbench, "-n", "-M", "prepared", "-c", str(count)]
                argv += ["-j", str(min(count, 2)), "-T", str(seconds), *paths]
                argv += ["-h", "127.0.0.1", "-p", str(servers.postgres.port), "-U", "postgres"]
                began = time.monotonic()
                done = subprocess.run([*argv, name], capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
                match = re.search(r"tps = ([\d.]+) \(without initial", done.stdout)
                tps = float(match.group(1)) if match else 0.0
                left = _left(url)
                runs.append(
                    {
                        "tps": round(tps, 1),
                        "transitions_per_second": round(tps * LIMIT, 1),
                        "leads_per_second": round(tps * LIMIT / len(STAGES), 1),
                        "queues_left": left,
                        "valid": min(left.values()) >= LIMIT,
                        "wall": round(time.monotonic() - began, 1),
                    }
                )
            valid = [r for r in runs if r["valid"]] or runs
            out["clients"][str(count)] = {
                "leads_per_second": statistics.median(r["leads_per_second"] for r in valid),
                "runs": runs,
            }
        best = max(out["clients"].items(), key=lambda item: item[1]["leads_per_second"])
        out["best_clients"] = int(best[0])
        out["leads_per_second"] = best[1]["leads_per_second"]
        out["transitions_per_second"] = round(best[1]["leads_per_second"] * len(STAGES), 1)
    finally:
        engine.dispose()
        drop_database(servers, name)
    return out
