"""Smoke tests of the benchmark harness's pure pieces (the benchmark itself is not a test:
``python -m bench``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import floor, measure, report
from devtools.procfile import ROOT


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    got = measure.percentiles(values)
    assert (got["p50"], got["p95"], got["p99"], got["n"]) == (50.0, 95.0, 99.0, 100)
    assert measure.percentiles([])["n"] == 0


def _row(lead: int, done: dict[str, float], started: str) -> dict[str, object]:
    row: dict[str, object] = {"id": lead, "customized_at": 99.0}
    for stage in ("scrape", "intel", "strategy", "subject", "messaging"):
        row[f"{stage}_status"] = "completed" if stage in done else "pending"
        row[f"{stage}_attempt"] = 1 if stage in done or stage == started else 0
        row[f"{stage}_completed_at"] = done.get(stage)
        row[f"{stage}_started_at"] = None
    return row


def test_transition_latency_pairs_a_completion_with_the_next_submit() -> None:
    times = measure.LeadTimes([_row(7, {"scrape": 100.0, "intel": 101.0}, "strategy")])
    received = {"L7-scrape-1": 99.5, "L7-intel-1": 100.004, "L7-strategy-1": 101.010}
    got = times.transition_latencies_ms(received)
    assert round(got["scrape->intel"][0], 1) == 4.0
    assert round(got["intel->strategy"][0], 1) == 10.0
    assert got["strategy->subject"] == []
    assert [round(v) for v in times.first_pickup_ms(received)] == [500]


def test_redis_script_commands_are_not_counted_as_sent() -> None:
    assert {"zadd", "rpush", "hset"} <= measure.SCRIPT_COMMANDS
    assert "evalsha" not in measure.SCRIPT_COMMANDS


def test_floor_scripts_use_the_pipeline_sql_with_pgbench_variables() -> None:
    scripts = floor.scripts()
    assert set(scripts) == {"scrape", "llm"}
    assert scripts["llm"].count("\\gset") == 1
    assert "intel_status = 'started'" in scripts["llm"]  # the real claim
    assert ":ids" in scripts["llm"] and ":rows" in scripts["llm"]
    assert ":now" not in scripts["llm"] and ":limit" not in scripts["llm"]
    assert scripts["scrape"].count(":r10") == 1


def test_report_summarizes_partial_raw_figures() -> None:
    run = {
        "leads": 10,
        "leads_per_second": 5.0,
        "sql_per_transition": 1.5,
        "sql_data_per_transition": 1.0,
        "redis_per_transition": 2.5,
        "redis_executed_per_transition": 9.0,
        "wal_bytes_per_lead": 1000,
        "memory": {"web": {"peak_rss_mb_sum": 100.0}},
        "latency_under_load_ms": measure.percentiles([1.0, 2.0]),
        "table": None,
        "cpu_ms_per_lead": {"web": 1.0},
        "foreign_cores": 0.1,
        "top_statements": [],
        "counters": {"redis_commands": {}},
    }
    naive = {**run, "leads_per_second": 2.0}
    raw = {"throughput_small": [run], "naive_small": [naive], "throughput_large": [run]}
    summary = report.summarize(raw)
    assert summary["leads_per_second"] == 5.0
    assert summary["baseline_ratio"] == 2.5
    assert summary["targets"]["leads_per_second"]["met"] is False
    assert summary["targets"]["sql_per_transition"]["met"] is True
    summary.update(
        started="now",
        mode="partial",
        command="python -m bench",
        wall_seconds=1.0,
        load_start=[0.0],
        load_end=[0.0],
        machine={
            "cpu": "cpu",
            "cores": 2,
            "memory_gb": 1.0,
            "os": "os",
            "python": "3",
            "postgres": {"version": "15", "source": "system", "settings": {}},
            "redis": "7",
            "git": {"commit": "abc", "uncommitted_files": 0},
        },
    )
    assert "5.00 leads/s" in report.markdown(summary)


def test_the_naive_driver_imports_as_its_own_actors_module() -> None:
    env = {**os.environ, "LEADPIPE_STUB_BROKER": "1"}
    code = (
        "import actors.naive as n, dramatiq; "
        "b = dramatiq.get_broker(); "
        "print(sorted(a for a in b.get_declared_actors() if a.startswith('naive')), "
        "n.naive_poll.queue_name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['naive_check', 'naive_poll'] naive"


def test_the_harness_reads_a_sizing_default_from_the_deployed_procfile() -> None:
    from devtools.procfile import ROOT, default_of, read_procfile

    worker = read_procfile(ROOT / "Procfile")["worker"]
    assert default_of(worker, "WORKER_PROCESSES") == "1"
    assert default_of(worker, "WORKER_THREADS") == "8"
    assert default_of(worker, "NO_SUCH_VARIABLE") is None
    assert default_of("run ${A_B:-x y} ${A:-3}", "A") == "3"


def test_a_second_sigterm_cannot_cut_the_benchmarks_cleanup_short() -> None:
    import signal

    from bench.cli import _exit_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        _exit_on_sigterm()
        with pytest.raises(SystemExit) as exited:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs right after this call
        assert exited.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: the cleanup goes on
    finally:
        signal.signal(signal.SIGTERM, before)


def test_the_naive_baseline_runs_the_deployed_worker_command_with_its_own_actors() -> None:
    from bench.scenarios import naive_worker
    from devtools.procfile import default_of, read_procfile

    deployed = read_procfile(ROOT / "Procfile")["worker"]
    naive = naive_worker()
    assert "dramatiq actors.naive --queues naive " in naive
    for variable in ("WORKER_PROCESSES", "WORKER_THREADS", "WORKER_IDLE_MS"):
        assert default_of(naive, variable) == default_of(deployed, variable) is not None
