"""One fault run: a fresh database, a whole stack, N leads, faults injected as the run
progresses, then the verdict and the recovery figures.

A fault fires when the run has made a given share of the claims it needs (``at``: 0.3
means 30 % of ``5 * leads``), so it lands mid-run however fast the machine is. Faults are
injected one after another; each returns when the broken part is back.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.faults import probes
from devtools.faults.app import App
from devtools.faults.injectors import FaultRecord, Injector, Target
from devtools.faults.judge import judge
from devtools.faults.monitor import Monitor
from devtools.faults.servers import OwnServers
from pipeline.config import Settings
from pipeline.stages import STAGE_NAMES


@dataclass
class Step:
    at: float
    inject: Injector


@dataclass
class Outcome:
    name: str
    leads: int
    seconds: float
    problems: list[str]
    summary: dict[str, Any]
    faults: list[dict[str, Any]]
    run_status: str | None
    tracebacks: dict[str, int]
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [
            f"[{self.name}] {self.leads} leads settled in {self.seconds:.1f} s; run "
            f"{self.run_status}; retries {self.summary.get('retries')}; "
            f"refused {self.summary.get('refused_submissions')}"
        ]
        for fault in self.faults:
            figures = ", ".join(f"{k}={v}" for k, v in fault.items() if k not in ("name",))
            lines.append(f"  {fault['name']}: {figures}")
        for problem in self.problems:
            lines.append(f"  PROBLEM: {problem}")
        return "\n".join(lines)


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def run_scenario(
    servers: OwnServers,
    name: str,
    steps: list[Step],
    log_dir: Path,
    *,
    leads: int = 500,
    hard_each: int = 2,
    env: dict[str, str] | None = None,
    service_flags: str = "",
    timeout: float = 180.0,
    seed: int | None = None,
) -> Outcome:
    database = servers.database(f"faults_{name.replace('-', '_')}")
    servers.flush_redis()
    app = App.start(database, servers.redis.url, log_dir, env=env, service_flags=service_flags)
    monitor = Monitor(
        database, {"scraper": app.urls["scraper"], "llm": app.urls["llm"]}, servers.redis.url
    ).start()
    target = Target(app, servers, monitor, database, random.Random(seed))
    records: list[FaultRecord] = []
    try:
        _, run_id = app.create_and_customize(app.leads(leads, hard_each))
        started = time.time()
        needed = len(STAGE_NAMES) * leads
        for step in steps:
            _wait_for(
                lambda step=step: (
                    (s := monitor.latest()) is not None
                    and (s.claims >= step.at * needed or (s.active == 0 and s.claims > 0))
                ),
                timeout,
                f"{step.at:.0%} of the claims",
            )
            records.append(step.inject(target))
        _wait_for(
            lambda: (s := monitor.latest()) is not None and s.active == 0 and s.t > started,
            timeout,
            "every lead to settle",
        )
        settled = time.time()
        _wait_for(
            lambda: app.run(run_id).get("status") in ("completed", "failed", "cancelled"),
            30,
            f"run {run_id} to finish by itself",
        )
        run_status = app.run(run_id)["status"]
        time.sleep(0.6)  # a last service sample
        stats = {s: app.stats(s, references=True) for s in ("scraper", "llm")}
        with probes.connect(database) as conn:
            rows = probes.leads(conn)
    finally:
        monitor.stop()
        app.stop()
    batch = int(app.env.get("QUEUE_BATCH_SIZE") or Settings().queue_batch_size)
    problems, summary = judge(rows, app.hard_leads, stats, records, batch)
    faults = [_figures(monitor, record, settled) for record in records]
    timelines = {}
    for record in records:
        if "service" in record.metrics:
            window = (record.at - 3, record.resumed + 8)
            timelines[record.name] = {
                service: monitor.submit_rates(service, *window) for service in ("scraper", "llm")
            }
    return Outcome(
        name,
        len(rows),
        settled - started,
        problems,
        summary,
        faults,
        run_status,
        app.tracebacks(),
        timelines,
    )


def _figures(monitor: Monitor, record: FaultRecord, settled: float) -> dict[str, Any]:
    progress = monitor.first_progress(record.resumed)
    figures: dict[str, Any] = {
        "name": record.name,
        "outage_s": round(record.resumed - record.at, 2),
        "first_claim_after_s": None
        if progress is None
        else round(record.resumed - record.at + progress, 2),
        "longest_stall_s": round(monitor.longest_stall(record.at, settled), 2),
        "all_settled_after_s": round(settled - record.at, 2),
    }
    stage = record.metrics.get("watch_stage")
    if stage:
        wait = monitor.first_progress(record.resumed, stage)
        figures[f"first_{stage}_claim_after_s"] = None if wait is None else round(wait, 2)
    figures.update(
        {k: v for k, v in record.metrics.items() if k not in ("phase_5xx_at", "watch_stage")}
    )
    return figures
