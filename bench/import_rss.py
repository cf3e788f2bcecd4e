"""Benchmark: import a 100,000-row CSV into a real web process; wall time and peak RSS.

Generates the CSV on disk, starts the Procfile's ``web`` command (gunicorn ``api.wsgi:app``,
one worker) against a scratch database, POSTs the file to ``/imports`` streamed from disk,
and reads the worker's peak resident memory (``VmHWM`` in /proc/<pid>/status). A warm-up
import of 1,000 rows runs first, so the baseline already includes the code the import uses.
Prints the numbers and writes them to ``bench/results/import.json``.

    .venv/bin/python bench/import_rss.py [--rows 100000]

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL, else 127.0.0.1); the scratch
database is dropped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.procfile import read_procfile  # noqa: E402
from devtools.stack import Stack, free_port, wait_for_http  # noqa: E402
from pipeline import accounts  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.db import apply_schema, make_engine  # noqa: E402

SERVER_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS = ROOT / "bench" / "results" / "import.json"


def database_url(name: str) -> str:
    base, _, rest = SERVER_URL.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def admin() -> psycopg.Connection:
    return psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5)


def write_csv(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """``rows`` leads; about 1 % malformed emails and 0.5 % repeats of an earlier email."""
    rng = random.Random(seed)
    bad = repeats = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Email,Full Name,Company,Website,Job Title\n")
        for n in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email, bad = f"person{n}-at-nowhere", bad + 1
            elif roll < 0.015 and n:
                earlier = rng.randrange(n)
                email, repeats = f"person{earlier}@company{earlier % 5000}.example", repeats + 1
            else:
                email = f"person{n}@company{n % 5000}.example"
            out.write(
                f'{email},"Person {n}",Company {n % 5000},https://company{n % 5000}.example,'
                f"Head of Things {n % 17}\n"
            )
    return {"malformed": bad, "repeats": repeats}


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def memory_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def post(url: str, key: str, path: Path) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    with path.open("rb") as body:
        response = httpx.post(
            url,
            content=body,  # streamed from the file in chunks
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "text/csv",
                "Content-Length": str(path.stat().st_size),
            },
            timeout=600,
        )
    return response, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    name = f"lp_bench_import_{os.getpid()}"
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db_url = database_url(name)
    stack = None
    try:
        engine = make_engine(Settings(database_url=db_url), pool_size=1, max_overflow=0)
        apply_schema(engine)
        key = accounts.create_key(engine, label="bench").key

        workdir = Path(tempfile.mkdtemp(prefix="leadpipe-bench-"))
        big, warm = workdir / "leads.csv", workdir / "warmup.csv"
        mix = write_csv(big, args.rows)
        warm.write_text("email\n" + "".join(f"warm{n}@warmup.example\n" for n in range(1000)))

        port = free_port()
        stack = Stack(
            env={
                "DATABASE_URL": db_url,
                "REDIS_URL": REDIS_URL,
                "REDIS_NAMESPACE": f"leadpipe-bench-{uuid.uuid4().hex[:8]}",
                "WEB_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": "1",
                "WEB_THREADS": "4",
            },
            log_dir=workdir / "logs",
        )
        stack.start("web", read_procfile(ROOT / "Procfile")["web"])
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/healthz", timeout=30, proc=stack.procs["web"])
        [worker] = children(stack.procs["web"].pid)

        warmup, _ = post(base + "/imports", key, warm)
        assert warmup.status_code == 201, warmup.text
        before = memory_kb(worker)
        response, seconds = post(base + "/imports", key, big)
        after = memory_kb(worker)
        if response.status_code != 201:
            print(response.status_code, response.text[:500], stack.log("web"), file=sys.stderr)
            return 1
        record = response.json()
        with engine.connect() as conn:
            landed = conn.exec_driver_sql(
                f"SELECT count(*) FROM leads WHERE import_id = {int(record['id'])}"
            ).scalar_one()
        engine.dispose()

        size = big.stat().st_size
        result = {
            "rows": record["rows"],
            "file_bytes": size,
            "file_mib": round(size / 2**20, 2),
            "accepted": record["accepted"],
            "rejected": record["rejected"],
            "duplicates": record["duplicates"],
            "generated": mix,
            "leads_in_database": landed,
            "wall_seconds": round(seconds, 2),
            "rows_per_second": round(record["rows"] / seconds),
            "worker_rss_before_kib": before["VmRSS"],
            "worker_peak_rss_kib": after["VmHWM"],
            "worker_peak_rss_mib": round(after["VmHWM"] / 1024, 1),
            "peak_growth_mib": round((after["VmHWM"] - before["VmRSS"]) / 1024, 1),
            "web": "gunicorn api.wsgi:app, 1 gthread worker",
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        for key_name, value in result.items():
            print(f"{key_name:>24}: {value}")
        print(f"written to {RESULTS.relative_to(ROOT)}")
        for path in (big, warm):
            path.unlink()
        return 0 if landed == record["accepted"] else 1
    finally:
        if stack is not None:
            stack.stop_all()
        with admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    raise SystemExit(main())
