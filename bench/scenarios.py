"""The measured runs: throughput (pipeline and naive baseline), latency (webhook, poller,
idle). Each starts a fresh Leadpipe (database, processes) and returns plain figures."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import machine, measure, workload
from bench.servers import Servers
from bench.stack import CLOCK_TICKS, Leadpipe, cpu_seconds, observer_url, process_tree
from devtools.procfile import ROOT, read_procfile
from pipeline.stages import STAGES

TRANSITIONS_PER_LEAD = len(STAGES)


def naive_worker() -> str:
    """The naive baseline's worker: the Procfile's worker command (its idle poll, sizing and
    restart delay, so the two designs get the same processes) running the naive actors.
    No clock (it checks completions itself), no callbacks."""
    deployed = read_procfile(ROOT / "Procfile")["worker"]
    if "dramatiq actors " not in deployed:
        raise ValueError(f"the Procfile's worker does not run 'dramatiq actors': {deployed}")
    return deployed.replace("dramatiq actors ", "dramatiq actors.naive --queues naive ", 1)


#: The naive design as specified has no jobs-in-flight cap. With one, its completion check
#: every 2 s would let at most 100 scrapes through per check (about 50 leads/s), so the
#: baseline would measure the cap, not the polling design (42.6 leads/s with it, 75 without).
NAIVE_ENV = {"SCRAPER_MAX_JOBS_IN_FLIGHT": "0"}


#: The stand-ins answer instantly and have no quota: the submit-rate ceilings meant for real
#: services (actors.backpressure) are lifted so they do not cap what is measured.
BENCH_ENV = {"SCRAPER_MAX_RATE": "100000", "LLM_MAX_RATE": "100000"}


@dataclass
class Config:
    log_root: Path
    #: Pages the scraper stand-in crawls per company (its CPU is not Leadpipe's).
    scraper_max_pages: int = 1
    env: dict[str, str] | None = None

    def env_for(self, **extra: str) -> dict[str, str]:
        return {
            **BENCH_ENV,
            "SCRAPER_MAX_PAGES": str(self.scraper_max_pages),
            **(self.env or {}),
            **extra,
        }


_serial = iter(range(1, 1_000_000))


def _start(servers: Servers, config: Config, label: str, **kwargs: Any) -> Leadpipe:
    n = next(_serial)
    name = f"bench_{n}_{label}"
    env = config.env_for(**kwargs.pop("env", {}))
    return Leadpipe(servers, name, config.log_root / name, env_overrides=env, **kwargs).start()


def _server_cpu(servers: Servers) -> dict[str, float]:
    out = {}
    if servers.postgres.pid:
        out["postgres"] = sum(cpu_seconds(p) for p in process_tree(servers.postgres.pid))
    if servers.redis.pid:
        out["redis"] = cpu_seconds(servers.redis.pid)
    return out


def _received(lp: Leadpipe) -> tuple[dict[str, float], dict[str, float]]:
    received: dict[str, float] = {}
    ended: dict[str, float] = {}
    for service in ("scraper", "llm"):
        r, e = measure.service_times(lp.urls[service])
        received.update(r)
        ended.update(e)
    return received, ended


def _pooled(per_transition: dict[str, list[float]]) -> list[float]:
    return [v for values in per_transition.values() for v in values]


def throughput(
    servers: Servers, config: Config, n: int, *, naive: bool = False, timeout: float = 900
) -> dict[str, Any]:
    """``n`` leads customized at once; leads/s from Customize to the last email, and the
    cost of every transition on the way."""
    overrides: dict[str, Any] = {}
    if naive:
        overrides = {
            "callbacks": False,
            "commands_override": {"worker": naive_worker(), "clock": None},
            "env": NAIVE_ENV,
        }
    lp = _start(servers, config, f"{'naive' if naive else 'tp'}{n}", **overrides)
    try:
        obs = observer_url(servers, lp.dbname)
        with lp.api() as api:
            ids = workload.create_leads(api, workload.lead_rows(n, lp.urls["site"]))
            for service in ("scraper", "llm"):
                measure.reset_service(lp.urls[service])
            window = measure.Window(observer_url(servers, "postgres"), lp.dbname, servers.redis.url)
            time.sleep(1.0)  # let the insert's stats settle before the window opens
            window.start()
            cpu0, srv0 = lp.cpu(), _server_cpu(servers)
            busy0, self0 = machine.busy_ticks(), _own_cpu()
            t0 = time.time()
            workload.customize(api, ids)
            workload.wait_until_settled(obs, timeout)
        counters = window.stop()
        cpu1, srv1 = lp.cpu(), _server_cpu(servers)
        busy1, self1 = machine.busy_ticks(), _own_cpu()
        memory = lp.memory()
        times = measure.LeadTimes.load(obs)
        received, _ = _received(lp)
        failed = lp.failed_processes()
        lp.stop(drop=False)
        time.sleep(1.5)  # exiting backends flush their table statistics
        tables = measure.table_stats(obs)
    finally:
        lp.stop()
    end = times.last_completion() or time.time()
    completed = times.completed()
    transitions = completed * TRANSITIONS_PER_LEAD
    cpu = {k: round(cpu1.get(k, 0) - v, 2) for k, v in cpu0.items()}
    cpu.update({k: round(srv1[k] - v, 2) for k, v in srv0.items()})
    cpu["harness"] = round(self1 - self0, 2)
    busy = (busy1[0] - busy0[0]) / CLOCK_TICKS
    capacity = (busy1[1] - busy0[1]) / CLOCK_TICKS
    return {
        "leads": n,
        "completed": completed,
        "states": times.states(),
        "seconds": round(end - t0, 3),
        "leads_per_second": round(completed / (end - t0), 1) if completed else 0.0,
        "transitions": transitions,
        "sql_per_transition": _per(counters["sql_total"], transitions),
        "sql_data_per_transition": _per(counters["sql_data"], transitions),
        "redis_per_transition": _per(counters["redis_sent"], transitions),
        "redis_executed_per_transition": _per(counters["redis_executed"], transitions),
        "wal_bytes_per_lead": round(counters["wal_bytes"] / completed) if completed else None,
        "counters": {k: v for k, v in counters.items() if k != "statements"},
        "top_statements": counters["statements"][:15],
        "cpu_seconds": cpu,
        "cpu_ms_per_lead": {k: round(v * 1000 / max(completed, 1), 2) for k, v in cpu.items()},
        "memory": memory,
        "machine_busy_share": round(busy / capacity, 3) if capacity else None,
        #: CPU the rest of the machine (other people's work) used during the run, in cores.
        "foreign_cores": round(max(0.0, busy - sum(cpu.values())) / max(end - t0, 1e-9), 2),
        "table": tables,
        "latency_under_load_ms": measure.percentiles(
            _pooled(times.transition_latencies_ms(received))
        ),
        "processes_died": failed,
    }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _per(total: int, transitions: int) -> float | None:
    return round(total / transitions, 3) if transitions else None


def webhook_latency(
    servers: Servers, config: Config, n: int, rate: float, group: int = 5
) -> dict[str, Any]:
    """``n`` leads fed at ``rate`` leads/s; callback accepted → next stage's submit arrives."""
    lp = _start(servers, config, "lat")
    try:
        obs = observer_url(servers, lp.dbname)
        with lp.api() as api:
            ids = workload.create_leads(api, workload.lead_rows(n, lp.urls["site"]))
            for service in ("scraper", "llm"):
                measure.reset_service(lp.urls[service])
            workload.paced_customize(api, ids, rate, group)
            workload.wait_until_settled(obs, 300)
        times = measure.LeadTimes.load(obs)
        received, ended = _received(lp)
    finally:
        lp.stop()
    per = times.transition_latencies_ms(received)
    return {
        "leads": n,
        "rate": rate,
        "from_service_end": measure.percentiles(_from_service_end(times, received, ended)),
        "completed": times.completed(),
        "all": measure.percentiles(_pooled(per)),
        "per_transition": {k: measure.percentiles(v) for k, v in per.items()},
        "first_pickup": measure.percentiles(times.first_pickup_ms(received)),
    }


def poller_latency(servers: Servers, config: Config, n: int, rate: float) -> dict[str, Any]:
    """Webhooks off: the clock's poller finds finished jobs (production defaults for its
    interval and grace). From the poller's recording of a completion to the next submit,
    and from the service's end of the job to the next submit."""
    lp = _start(servers, config, "poll", callbacks=False)
    try:
        obs = observer_url(servers, lp.dbname)
        with lp.api() as api:
            ids = workload.create_leads(api, workload.lead_rows(n, lp.urls["site"]))
            for service in ("scraper", "llm"):
                measure.reset_service(lp.urls[service])
            workload.paced_customize(api, ids, rate, 1)
            workload.wait_until_settled(obs, 600)
        times = measure.LeadTimes.load(obs)
        received, ended = _received(lp)
        settings = {
            k: lp.env.get(k, "default")
            for k in ("COMPLETION_POLL_INTERVAL", "WEBHOOK_GRACE_SECONDS")
        }
    finally:
        lp.stop()
    per = times.transition_latencies_ms(received)
    from_end = _from_service_end(times, received, ended)
    return {
        "leads": n,
        "completed": times.completed(),
        "settings": settings,
        "all": measure.percentiles(_pooled(per)),
        "from_service_end": measure.percentiles(from_end),
        "detection": measure.percentiles(times.detection_ms(ended)),
    }


def _from_service_end(
    times: measure.LeadTimes, received: dict[str, float], ended: dict[str, float]
) -> list[float]:
    """The service's end of a stage's job (just before it sends the callback) → the next
    stage's submit arrives: callback delivery and checks included."""
    values = []
    for st in STAGES:
        if st.next is None:
            continue
        for row in times.rows:
            ref = f"L{row['id']}-{st.name}-{row[f'{st.name}_attempt']}"
            nxt = f"L{row['id']}-{st.next}-{row[f'{st.next}_attempt']}"
            if ref in ended and nxt in received:
                values.append((received[nxt] - ended[ref]) * 1000)
    return values


def idle_pickup(servers: Servers, config: Config, samples: int, idle: float) -> dict[str, Any]:
    """The first lead after ``idle`` seconds with nothing in flight (the clock keeps
    ticking, as in production): its callback → next submit, and Customize → first submit."""
    lp = _start(servers, config, "idle")
    transition: list[float] = []
    pickup: list[float] = []
    try:
        obs = observer_url(servers, lp.dbname)
        with lp.api() as api:
            ids = workload.create_leads(api, workload.lead_rows(samples, lp.urls["site"]))
            for lead_id in ids:
                time.sleep(idle)
                workload.customize(api, [lead_id])
                workload.wait_until_settled(obs, 120, interval=0.05)
                times = measure.LeadTimes.load(obs, [lead_id])
                received, _ = _received(lp)
                per = times.transition_latencies_ms(received)
                transition.extend(per["scrape->intel"])
                pickup.extend(times.first_pickup_ms(received))
    finally:
        lp.stop()
    return {
        "samples": samples,
        "idle_seconds": idle,
        "callback_to_next_submit": measure.percentiles(transition),
        "first_pickup": measure.percentiles(pickup),
        "values_ms": [round(v, 2) for v in transition],
        "pickup_values_ms": [round(v, 2) for v in pickup],
    }
