"""``python -m bench [--quick] [--runs N] [--only PARTS]``: run the benchmark, write the report.

First the source tree is copied to a temp folder and the benchmark runs from the copy
(``PYTHONPATH``), so edits made while it runs cannot change what is measured halfway.
Then it starts its own PostgreSQL (with pg_stat_statements) and Redis, and for each
repetition a fresh Leadpipe per scenario (the Procfile's web, worker and clock plus the
local services, answering instantly). A full run writes ``bench/results/latest.{json,md}``;
``--quick`` writes ``bench/results/quick.{json,md}``; ``--only`` writes into
``bench/runs/<time>/``. Process logs of every scenario are kept in ``bench/runs/<time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import claimcost, floor, machine, report, scenarios
from bench.servers import start_servers

#: Where results and logs go: the bench folder of the tree the command was started in.
HERE = Path(os.environ.get("LEADPIPE_BENCH_HOME") or Path(__file__).resolve().parent)
SNAPSHOT_SKIP = {".venv", ".git", ".local", "__pycache__", ".pytest_cache", ".ruff_cache"}
PARTS = ("small", "naive", "large", "webhook", "poller", "idle", "claim", "floor")


@dataclass
class Plan:
    runs: int = 3
    #: Repetitions of the large run (None: ``runs``).
    large_runs: int | None = None
    small: int = 1_000
    large: int = 10_000
    webhook_leads: int = 600
    webhook_rate: float = 50.0
    poller_leads: int = 40
    poller_rate: float = 4.0
    idle_samples: int = 3
    idle_seconds: float = 60.0
    claim_sizes: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    claim_fraction: float = 0.01
    claim_repeats: int = 12
    floor_clients: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    floor_seconds: int = 5
    floor_repeats: int = 3


QUICK = Plan(
    runs=1,
    small=200,
    large=600,
    webhook_leads=100,
    poller_leads=10,
    idle_samples=1,
    idle_seconds=10.0,
    claim_sizes=[10_000, 100_000],
    claim_repeats=6,
    floor_clients=[1, 4],
    floor_seconds=2,
    floor_repeats=1,
)


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one small run of everything")
    parser.add_argument("--runs", type=int, help="repetitions of each throughput/latency run")
    parser.add_argument("--large-runs", type=int, help="repetitions of the large run")
    parser.add_argument("--small", type=int, help="leads of the small run and the baseline")
    parser.add_argument("--large", type=int, help="leads of the large run")
    parser.add_argument(
        "--only", help=f"comma-separated subset of {','.join(PARTS)} (writes to bench/runs/)"
    )
    parser.add_argument(
        "--pg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting instead of the machine's, e.g. autovacuum=on (repeatable)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=HERE / "results" / "before-fixes.json",
        metavar="JSON",
        help="an earlier report to put side by side (default: bench/results/before-fixes.json)",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="leave out the before/after comparison",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable for every Leadpipe process (repeatable)",
    )
    parser.add_argument(
        "--scraper-max-pages",
        type=int,
        default=1,
        help="pages the scraper stand-in crawls per company (its CPU is not Leadpipe's)",
    )
    return parser.parse_args(argv)


def run_from_snapshot(argv: list[str]) -> int:
    """Copy the tree to a temp folder and run the benchmark from there."""
    source = Path(__file__).resolve().parent.parent
    copy = Path(tempfile.mkdtemp(prefix="leadpipe-bench-src-")) / "leadpipe"

    def skip(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        return {
            name
            for name in names
            if name in SNAPSHOT_SKIP
            or name.endswith(".egg-info")
            or (here == source / "bench" and name in ("runs", "results"))
        }

    shutil.copytree(source, copy, ignore=skip)
    env = {**os.environ, "PYTHONPATH": str(copy), "LEADPIPE_BENCH_HOME": str(source / "bench")}
    env["LEADPIPE_BENCH_SNAPSHOT"] = str(copy)
    child = subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=copy, env=env)
    try:
        return child.wait()
    finally:
        if child.poll() is None:  # we were stopped: let the child stop its servers first
            child.send_signal(signal.SIGTERM)
            child.wait(120)
        shutil.rmtree(copy.parent, ignore_errors=True)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C does: every ``finally`` stops what it started.

    Only the first one: a second SIGTERM (``pkill`` reaching the snapshot's parent too,
    which then forwards its own) raised inside a ``finally`` would cut the stopping short
    and leave the scenario's processes running."""

    def stop(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _exit_on_sigterm()
    if not os.environ.get("LEADPIPE_BENCH_SNAPSHOT"):
        return run_from_snapshot(argv)
    args = parse(argv)
    plan = QUICK if args.quick else Plan()
    plan.runs = args.runs or plan.runs
    plan.large_runs = args.large_runs or plan.large_runs or plan.runs
    plan.small = args.small or plan.small
    plan.large = args.large or plan.large
    parts = set(PARTS if not args.only else args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        say(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = HERE / "runs" / stamp
    overrides = dict(item.split("=", 1) for item in args.env)
    config = scenarios.Config(
        log_root=run_dir / "logs", scraper_max_pages=args.scraper_max_pages, env=overrides
    )
    began = time.monotonic()
    load_start = machine.load_average()
    raw: dict[str, Any] = {k: [] for k in ("throughput_small", "naive_small", "throughput_large")}
    raw.update({"webhook_latency": [], "poller_latency": []})
    say("starting PostgreSQL (pg_stat_statements) and Redis for the benchmark")
    servers = start_servers(dict(item.split("=", 1) for item in args.pg))
    try:
        pg = servers.postgres
        postgres = {"version": pg.version(), "source": pg.source, "settings": pg.settings}
        for n in range(1, plan.runs + 1):
            tag = f"run {n}/{plan.runs}"
            if "small" in parts:
                say(f"{tag}: {plan.small} leads through the pipeline")
                raw["throughput_small"].append(scenarios.throughput(servers, config, plan.small))
                _show(raw["throughput_small"][-1])
            if "naive" in parts:
                say(f"{tag}: {plan.small} leads through the naive polling design")
                raw["naive_small"].append(
                    scenarios.throughput(servers, config, plan.small, naive=True)
                )
                _show(raw["naive_small"][-1])
            if "large" in parts and n <= plan.large_runs:
                say(f"{tag}: {plan.large} leads through the pipeline")
                raw["throughput_large"].append(scenarios.throughput(servers, config, plan.large))
                _show(raw["throughput_large"][-1])
            if "webhook" in parts:
                rate = _latency_rate(plan, raw["throughput_small"])
                say(f"{tag}: webhook latency, {plan.webhook_leads} leads at {rate}/s")
                result = scenarios.webhook_latency(servers, config, plan.webhook_leads, rate)
                raw["webhook_latency"].append(result)
                say(f"  webhook → next submit {result['all']}")
            if "poller" in parts:
                say(f"{tag}: poller latency (webhooks off), {plan.poller_leads} leads")
                result = scenarios.poller_latency(
                    servers, config, plan.poller_leads, plan.poller_rate
                )
                raw["poller_latency"].append(result)
                say(f"  poller: recorded → next submit {result['all']}")
        if "idle" in parts:
            say(f"idle pickup: {plan.idle_samples} x ({plan.idle_seconds:.0f} s idle, one lead)")
            raw["idle"] = scenarios.idle_pickup(
                servers, config, plan.idle_samples, plan.idle_seconds
            )
            say(f"  idle: {raw['idle']['values_ms']} ms")
        if "claim" in parts:
            say(f"claim cost at {plan.claim_sizes} leads")
            raw["claim"] = claimcost.run(
                servers, plan.claim_sizes, plan.claim_fraction, plan.claim_repeats
            )
            say("  " + ", ".join(f"{k}: {v}" for k, v in _claim_line(raw["claim"]).items()))
        if "floor" in parts:
            say(f"pgbench floor with {plan.floor_clients} clients")
            raw["floor"] = floor.run(
                servers, plan.floor_clients, plan.floor_seconds, plan.floor_repeats
            )
            say(f"  floor: {raw['floor']['leads_per_second']} leads/s")
        redis_version = servers.redis.version()
    finally:
        servers.stop()
    summary = report.summarize(raw)
    summary.update(
        {
            "started": stamp,
            "mode": "quick" if args.quick else ("partial" if args.only else "full"),
            "command": "python -m bench " + shlex.join(argv),
            "wall_seconds": round(time.monotonic() - began, 1),
            "load_start": load_start,
            "load_end": machine.load_average(),
            "machine": machine.describe(postgres, redis_version),
            "plan": plan.__dict__,
            "scraper_max_pages": args.scraper_max_pages,
            "env": {**scenarios.BENCH_ENV, **overrides},
        }
    )
    baseline = args.compare
    if not baseline.is_absolute():  # the run's cwd is the snapshot: read from the repository
        baseline = HERE.parent / baseline
    if not baseline.exists() and not args.no_compare:
        say(f"no {baseline} to compare with; the report has no before/after table")
    args.compare_label = (
        f"bench/results/{baseline.name}"
        if baseline.resolve().parent == (HERE / "results").resolve()
        else str(baseline)
    )
    if baseline.exists() and not args.no_compare:
        earlier = json.loads(baseline.read_text())
        earlier.pop("raw", None)
        earlier.pop("compared_with", None)
        summary["compared_with"] = {"label": args.compare_label, **earlier}
    summary["raw"] = raw
    if args.only:
        folder, stem = run_dir, "partial"
    else:
        folder, stem = HERE / "results", ("quick" if args.quick else "latest")
    json_path, md_path = report.write(summary, folder, stem)
    print(md_path.read_text())
    say(f"wrote {json_path.relative_to(HERE.parent)} and {md_path.relative_to(HERE.parent)}")
    return 0


def _latency_rate(plan: Plan, small_runs: list[dict[str, Any]]) -> float:
    """Latency is measured at a quarter of the throughput the small runs reached (at most
    ``plan.webhook_rate``): a loaded but not saturated pipeline, where a transition's wait
    is pickup, not a queue."""
    if not small_runs:
        return plan.webhook_rate
    best = max(r["leads_per_second"] for r in small_runs)
    return round(max(2.0, min(plan.webhook_rate, best / 4)), 1)


def _show(result: dict[str, Any]) -> None:
    say(
        f"  {result['completed']}/{result['leads']} leads in {result['seconds']} s = "
        f"{result['leads_per_second']} leads/s; SQL/transition {result['sql_per_transition']}, "
        f"Redis/transition {result['redis_per_transition']}, CPU ms/lead "
        + json.dumps(result["cpu_ms_per_lead"])
    )


def _claim_line(claim: dict[str, Any]) -> dict[str, Any]:
    return {k: v["claim_ms"] for k, v in claim.items() if isinstance(v, dict) and "claim_ms" in v}
