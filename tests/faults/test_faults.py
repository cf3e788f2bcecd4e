"""500+ leads through the whole stack while faults are injected, each on its own and then
all together; after each run the invariants are read from the database and from the
local services' counters (see ``devtools.faults.judge``), and the recovery figures are
printed (``pytest -s`` shows them; they are also in the report on failure).

Every run also carries six leads whose sites fail hard (404, refused connection, empty
page): they must fail once, with their reason, and never go on.
"""

from __future__ import annotations

import pytest

from devtools.faults import injectors as fault
from devtools.faults.scenario import Outcome, Step, run_scenario

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

LEADS = 500


def run(own_servers, tmp_path, name: str, steps: list[Step], **options) -> Outcome:
    outcome = run_scenario(own_servers, name, steps, tmp_path / name, leads=LEADS, **options)
    print("\n" + outcome.describe())
    assert outcome.problems == [], outcome.describe()
    assert outcome.run_status == "completed"
    assert outcome.summary["completed"] == LEADS
    assert outcome.summary["hard_failed"] == 6
    return outcome


def test_without_faults_every_good_lead_finishes_once_and_every_hard_one_fails_at_once(
    own_servers, tmp_path
):
    outcome = run(own_servers, tmp_path, "baseline", [])
    assert outcome.summary["retries"] == 0


def test_workers_killed_at_random_moments_lose_nothing_and_orphans_are_requeued(
    own_servers, tmp_path
):
    steps = [Step(at, fault.kill_worker()) for at in (0.15, 0.45, 0.7)]
    outcome = run(own_servers, tmp_path, "kill", steps, seed=7)
    assert all(f["orphans_requeued_after_s"] is not None for f in outcome.faults)


def test_a_redis_flush_mid_run_costs_a_poll_interval_not_a_minute(own_servers, tmp_path):
    steps = [Step(0.05, fault.flush_redis("scraper")), Step(0.4, fault.flush_redis())]
    outcome = run(own_servers, tmp_path, "flush", steps)
    assert outcome.summary["llm_retries"] == 0
    waiting = outcome.faults[0]["first_scrape_claim_after_s"]
    assert waiting is not None
    assert waiting < 5, "the scrape stage got going again within seconds"


def test_a_redis_restart_mid_run_is_survived_by_web_and_workers(own_servers, tmp_path):
    steps = [
        Step(0.05, fault.restart_redis(while_refusing="scraper")),
        Step(0.4, fault.restart_redis()),
    ]
    outcome = run(own_servers, tmp_path, "redis", steps)
    assert outcome.summary["llm_retries"] == 0
    waiting = outcome.faults[0]["first_scrape_claim_after_s"]
    assert waiting is not None
    assert waiting < 8, "the workers' upkeep ticker restarted it, not the next minute's tick"
    assert outcome.faults[1]["first_claim_after_s"] is not None


def test_a_postgres_restart_mid_run_is_survived_by_web_and_workers(own_servers, tmp_path):
    outcome = run(own_servers, tmp_path, "postgres", [Step(0.3, fault.restart_postgres())])
    assert outcome.faults[0]["first_claim_after_s"] is not None


def test_lost_duplicated_and_early_callbacks_change_nothing_but_timing(own_servers, tmp_path):
    outcome = run(own_servers, tmp_path, "callbacks", [Step(0.0, fault.lossy_callbacks())])
    assert outcome.summary["retries"] == 0
    for service in ("scraper", "llm"):
        counts = outcome.summary["callbacks"][service]
        assert all(counts[k] > 0 for k in counts), f"the knobs really acted: {counts}"


def test_a_throttling_scraper_is_slowed_for_and_its_refusals_are_exactly_the_retries(
    own_servers, tmp_path
):
    outcome = run(own_servers, tmp_path, "throttle", [Step(0.02, fault.throttle("scraper"))])
    [timeline] = outcome.timelines.values()
    rates = [p["limiter_rate"] for p in timeline["scraper"] if p["limiter_rate"] is not None]
    assert min(rates) < 0.5 * max(rates), "the scraper's rate dropped"
    assert {p["limiter_rate"] for p in timeline["llm"]} <= {20.0, None}, "the LLM kept its pace"
    assert outcome.summary["scrape_retries"] == sum(outcome.summary["refused_submissions"].values())


def test_all_faults_together_lose_nothing_duplicate_nothing_and_finish_the_run(
    own_servers, tmp_path
):
    steps = [
        Step(0.0, fault.lossy_callbacks()),
        Step(0.1, fault.kill_worker()),
        Step(0.2, fault.flush_redis()),
        Step(0.25, fault.throttle("scraper", seconds_429=3.0, bursts=2)),
        Step(0.5, fault.restart_redis()),
        Step(0.6, fault.restart_postgres()),
        Step(0.75, fault.kill_worker()),
    ]
    run(own_servers, tmp_path, "all", steps, seed=11)
