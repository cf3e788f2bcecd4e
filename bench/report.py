"""Medians of the runs, the targets of issue 6, and the report (JSON + markdown)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

TARGETS = {
    "leads_per_second": (">=", 300, "leads/s through five stages (10,000 leads)"),
    "webhook_p50": ("<=", 5, "webhook → next submit p50 (ms)"),
    "webhook_p99": ("<=", 20, "webhook → next submit p99 (ms)"),
    "idle": ("<=", 50, "idle pickup (ms, worst sample)"),
    "sql_per_transition": ("<=", 2, "SQL statements per transition"),
    "redis_per_transition": ("<=", 2, "Redis commands per transition"),
    "claim_growth": ("<=", 2, "claim time 1M ÷ 10k"),
    "floor_fraction": (">=", 0.7, "fraction of the pgbench floor"),
}


def median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    if not values:
        return None
    m = statistics.median(values)
    return round(m, 3) if isinstance(m, float) else m


def median_percentiles(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: median([r.get(k) for r in runs]) for k in ("p50", "p95", "p99", "max", "n")}


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: the keys issue 6 asks for at the top, details below."""
    large = raw.get("throughput_large", [])
    small = raw.get("throughput_small", [])
    naive = raw.get("naive_small", [])
    webhook = raw.get("webhook_latency", [])
    poller = raw.get("poller_latency", [])
    idle = raw.get("idle")
    claim = raw.get("claim") or {}
    floor = raw.get("floor") or {}

    lps = median([r["leads_per_second"] for r in large])
    ratios = [
        p["leads_per_second"] / n["leads_per_second"]
        for p, n in zip(small, naive, strict=False)
        if n["leads_per_second"]
    ]
    memory: dict[str, Any] = {}
    for name in large[0]["memory"] if large else {}:
        memory[name] = median([r["memory"].get(name, {}).get("peak_rss_mb_sum") for r in large])
    out: dict[str, Any] = {
        "leads_per_second": lps,
        "leads_per_second_1k": median([r["leads_per_second"] for r in small]),
        "transition_latency_ms": {
            "webhook": median_percentiles([r["all"] for r in webhook]),
            "poller": median_percentiles([r["all"] for r in poller]),
            "idle": idle["callback_to_next_submit"] if idle else None,
        },
        "sql_per_transition": median([r["sql_per_transition"] for r in large]),
        "redis_per_transition": median([r["redis_per_transition"] for r in large]),
        "wal_bytes_per_lead": median([r["wal_bytes_per_lead"] for r in large]),
        "claim_ms": {k: claim[k]["claim_ms"] for k in ("10k", "100k", "1m") if k in claim},
        "floor_fraction": (
            round(lps / floor["leads_per_second"], 3)
            if lps and floor.get("leads_per_second")
            else None
        ),
        "peak_rss_mb": memory,
        "baseline_ratio": round(statistics.median(ratios), 2) if ratios else None,
    }
    out["details"] = {
        "leads_large": large[0]["leads"] if large else None,
        "leads_small": small[0]["leads"] if small else None,
        "runs": len(large),
        "naive_leads_per_second": median([r["leads_per_second"] for r in naive]),
        "sql_data_per_transition": median([r["sql_data_per_transition"] for r in large]),
        "redis_executed_per_transition": median(
            [r["redis_executed_per_transition"] for r in large]
        ),
        "naive_sql_per_transition": median([r["sql_per_transition"] for r in naive]),
        "naive_redis_per_transition": median([r["redis_per_transition"] for r in naive]),
        "sql_per_transition_1k": median([r["sql_per_transition"] for r in small]),
        "redis_per_transition_1k": median([r["redis_per_transition"] for r in small]),
        "webhook_latency_per_transition": webhook[-1]["per_transition"] if webhook else None,
        "webhook_rate": webhook[0]["rate"] if webhook else None,
        "webhook_leads": webhook[0]["leads"] if webhook else None,
        "first_pickup_ms": median_percentiles([r["first_pickup"] for r in webhook]),
        "webhook_from_service_end_ms": median_percentiles([r["from_service_end"] for r in webhook]),
        "poller_from_service_end_ms": median_percentiles([r["from_service_end"] for r in poller]),
        "poller_settings": poller[0]["settings"] if poller else None,
        "idle": idle,
        "latency_under_load_ms": median_percentiles([r["latency_under_load_ms"] for r in large]),
        "polled_attempts_large_run": median([r["counters"].get("polled_attempts") for r in large]),
        "table_after_large_run": large[len(large) // 2]["table"] if large else None,
        "cpu_ms_per_lead": {
            name: median([r["cpu_ms_per_lead"].get(name) for r in large])
            for name in (large[0]["cpu_ms_per_lead"] if large else {})
        },
        "cpu_budget": cpu_budget(large),
        "foreign_cores": [r["foreign_cores"] for r in large + small],
        "memory_large_run": large[len(large) // 2]["memory"] if large else None,
        "claim": claim,
        "floor": floor,
        "top_statements_large_run": large[len(large) // 2]["top_statements"] if large else None,
        "redis_commands_large_run": (
            large[len(large) // 2]["counters"]["redis_commands"] if large else None
        ),
    }
    out["targets"] = check_targets(out)
    return out


LEADPIPE_TYPES = ("web", "worker", "clock", "postgres", "redis")
STAND_IN_TYPES = ("site", "scraper", "llm")


def cpu_budget(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """CPU per lead of Leadpipe (its processes, PostgreSQL, Redis) and of the stand-ins,
    and the leads/s the machine's cores could carry at that cost if nothing else ran."""
    if not runs:
        return None
    cores = os.cpu_count() or 1
    app = median([sum(r["cpu_ms_per_lead"].get(k, 0) for k in LEADPIPE_TYPES) for r in runs])
    stand = median([sum(r["cpu_ms_per_lead"].get(k, 0) for k in STAND_IN_TYPES) for r in runs])
    return {
        "leadpipe_ms_per_lead": app,
        "stand_ins_ms_per_lead": stand,
        "cores": cores,
        "cpu_bound_leads_per_second": round(cores * 1000 / (app + stand), 1) if app else None,
        "leadpipe_only_leads_per_second": round(cores * 1000 / app, 1) if app else None,
    }


def check_targets(out: dict[str, Any]) -> dict[str, Any]:
    lat = out["transition_latency_ms"]
    claim = out["claim_ms"]
    values = {
        "leads_per_second": out["leads_per_second"],
        "webhook_p50": (lat["webhook"] or {}).get("p50"),
        "webhook_p99": (lat["webhook"] or {}).get("p99"),
        "idle": (lat["idle"] or {}).get("max"),
        "sql_per_transition": out["sql_per_transition"],
        "redis_per_transition": out["redis_per_transition"],
        "claim_growth": (
            round(claim["1m"] / claim["10k"], 2) if claim.get("1m") and claim.get("10k") else None
        ),
        "floor_fraction": out["floor_fraction"],
    }
    result = {}
    for key, (op, bar, label) in TARGETS.items():
        value = values[key]
        met = None if value is None else (value >= bar if op == ">=" else value <= bar)
        result[key] = {"label": label, "value": value, "target": f"{op} {bar}", "met": met}
    return result


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(report: dict[str, Any]) -> str:
    d = report["details"]
    m = report["machine"]
    lines = [
        "# Leadpipe benchmark",
        "",
        f"Run {report['started']} ({report['mode']} mode, {report['wall_seconds']:.0f} s); "
        f"figures are medians of {report.get('plan', {}).get('runs')} runs "
        f"({report.get('plan', {}).get('large_runs')} of the large one). "
        f"Command: `{report['command']}`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}, PostgreSQL {m['postgres']['version']} "
        f"({m['postgres']['source']} binaries), Redis {m['redis']}; "
        f"git {m['git']['commit']} + {m['git']['uncommitted_files']} uncommitted files. "
        f"Load average at start {report['load_start']}, end {report['load_end']}; "
        f"other processes used {_fmt(min(d['foreign_cores'] or [0]))}-"
        f"{_fmt(max(d['foreign_cores'] or [0]))} cores during the throughput runs.",
        "",
        "| target | measured | bar | met |",
        "|---|---|---|---|",
    ]
    for item in report["targets"].values():
        met = {True: "yes", False: "**no**", None: "—"}[item["met"]]
        lines.append(f"| {item['label']} | {_fmt(item['value'])} | {item['target']} | {met} |")
    lat = report["transition_latency_ms"]
    lines += [
        "",
        "## Figures",
        "",
        f"- Throughput: **{_fmt(report['leads_per_second'])} leads/s** with "
        f"{_fmt(d['leads_large'])} leads, {_fmt(report['leads_per_second_1k'])} leads/s "
        f"with {_fmt(d['leads_small'])}; the naive polling design "
        f"{_fmt(d['naive_leads_per_second'])} leads/s with {_fmt(d['leads_small'])} "
        f"(ratio **{_fmt(report['baseline_ratio'])}x**).",
        f"- Transition latency (callback accepted → next submit arrives), webhook at "
        f"{_fmt(d['webhook_rate'])} leads/s: p50 {_fmt(lat['webhook']['p50'])} ms, "
        f"p95 {_fmt(lat['webhook']['p95'])} ms, p99 {_fmt(lat['webhook']['p99'])} ms. "
        f"Customize → first submit p50 {_fmt(d['first_pickup_ms']['p50'])} ms; service's "
        f"end of the job (callback delivery, checks included) → next submit p50 "
        f"{_fmt(d['webhook_from_service_end_ms']['p50'])} / p99 "
        f"{_fmt(d['webhook_from_service_end_ms']['p99'])} ms.",
        f"- Poller only (webhooks off, {d['poller_settings']}): completion recorded → next "
        f"submit p50 {_fmt(lat['poller']['p50'])} / p99 {_fmt(lat['poller']['p99'])} ms; "
        f"service's end of the job → next submit p50 "
        f"{_fmt(d['poller_from_service_end_ms']['p50'])} ms.",
    ]
    if d["idle"]:
        idle = d["idle"]
        lines.append(
            f"- Idle pickup (first lead after {idle['idle_seconds']:.0f} s idle, "
            f"{idle['samples']} samples): callback → next submit {idle['values_ms']} ms; "
            f"Customize → first submit {idle['pickup_values_ms']} ms."
        )
    lines += [
        f"- Under full load ({_fmt(d['leads_large'])} leads at once) the same latency is "
        f"p50 {_fmt(d['latency_under_load_ms']['p50'])} / p99 "
        f"{_fmt(d['latency_under_load_ms']['p99'])} ms (queueing, not pickup); the poller "
        f"asked the services about {_fmt(d.get('polled_attempts_large_run'))} attempts whose "
        "callback had not come within the grace.",
        f"- Cost per transition (one lead through one stage): "
        f"{_fmt(report['sql_per_transition'])} SQL statements "
        f"({_fmt(d['sql_data_per_transition'])} reading/writing data, the rest BEGIN/COMMIT "
        f"and pool pings), {_fmt(report['redis_per_transition'])} Redis commands sent "
        f"({_fmt(d['redis_executed_per_transition'])} executed counting those inside "
        f"Dramatiq's Lua scripts); {_fmt(report['wal_bytes_per_lead'])} WAL bytes per lead. "
        f"Naive design: {_fmt(d['naive_sql_per_transition'])} SQL, "
        f"{_fmt(d['naive_redis_per_transition'])} Redis.",
    ]
    table = d["table_after_large_run"] or {}
    claim = d["claim"] or {}
    if claim:
        parts = [
            f"{k} {claim[k]['claim_ms']} ms / {claim[k]['buffers_hit']:.0f} buffers"
            for k in ("10k", "100k", "1m")
            if k in claim
        ]
        lines.append(
            f"- Claim (EXPLAIN ANALYZE, {claim['queued_fraction']:.0%} queued): "
            + ", ".join(parts)
            + f" (growth {claim.get('growth')}x)."
        )
    if table:
        lines.append(
            f"- After a {_fmt(d['leads_large'])}-lead run: {table['dead_tuples']:,} dead tuples "
            f"for {table['live_tuples']:,} live, HOT updates {table['hot_ratio']:.1%} of "
            f"{table['updates']:,} (autovacuum "
            f"{m['postgres']['settings'].get('autovacuum', 'on')}, as on this machine's server)."
        )
    floor = d["floor"] or {}
    if floor:
        lines.append(
            f"- pgbench floor (the same claim/record/complete SQL, "
            f"{floor['best_clients']} clients): {_fmt(floor['leads_per_second'])} leads/s; "
            f"the pipeline reaches {_fmt(report['floor_fraction'])} of it. Per client count: "
            + ", ".join(f"{c}: {_fmt(v['leads_per_second'])}" for c, v in floor["clients"].items())
            + "."
        )
    rss = report["peak_rss_mb"]
    lines.append(
        "- Peak RSS (VmHWM, summed over each type's processes): "
        + ", ".join(f"{k} {_fmt(v)} MB" for k, v in rss.items())
        + "."
    )
    lines.append(
        "- CPU per lead (ms): "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in d["cpu_ms_per_lead"].items())
        + "."
    )
    budget = d.get("cpu_budget")
    if budget:
        lines.append(
            f"- CPU budget: Leadpipe (web, worker, clock, PostgreSQL, Redis) "
            f"{_fmt(budget['leadpipe_ms_per_lead'])} ms per lead, the stand-ins "
            f"{_fmt(budget['stand_ins_ms_per_lead'])} ms: {budget['cores']} idle cores could "
            f"carry {_fmt(budget['cpu_bound_leads_per_second'])} leads/s at that cost, "
            f"{_fmt(budget['leadpipe_only_leads_per_second'])} if the stand-ins ran elsewhere."
        )
    lines += compare(report)
    lines += ["", "Method and caveats: bench/README.md. Raw figures: latest.json."]
    return "\n".join(lines) + "\n"


COMPARED = (
    ("leads/s (large run)", ("leads_per_second",)),
    ("leads/s (1,000)", ("leads_per_second_1k",)),
    ("webhook → next submit p50 ms", ("transition_latency_ms", "webhook", "p50")),
    ("webhook → next submit p99 ms", ("transition_latency_ms", "webhook", "p99")),
    ("idle pickup max ms", ("transition_latency_ms", "idle", "max")),
    ("SQL / transition", ("sql_per_transition",)),
    ("Redis / transition", ("redis_per_transition",)),
    ("WAL bytes / lead", ("wal_bytes_per_lead",)),
    ("Leadpipe CPU ms / lead", ("details", "cpu_budget", "leadpipe_ms_per_lead")),
    ("floor fraction", ("floor_fraction",)),
    ("baseline ratio", ("baseline_ratio",)),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def compare(report: dict[str, Any]) -> list[str]:
    """A before/after table when the report carries the figures of an earlier run."""
    before = report.get("compared_with")
    if not before:
        return []
    lines = [
        "",
        f"## Compared with {before.get('label', 'an earlier run')} ({before.get('started')})",
        "",
        "| figure | before | now |",
        "|---|---|---|",
    ]
    for label, path in COMPARED:
        lines.append(f"| {label} | {_fmt(_dig(before, path))} | {_fmt(_dig(report, path))} |")
    return lines


def write(report: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{stem}.json"
    md_path = folder / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
