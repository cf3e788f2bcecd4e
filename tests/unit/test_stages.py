import itertools

import pytest

from pipeline import queries
from pipeline.stages import FIRST_STAGE, STAGE_NAMES, STAGES, get_stage


def test_the_stages_run_scrape_intel_strategy_subject_messaging_in_order():
    assert STAGE_NAMES == ("scrape", "intel", "strategy", "subject", "messaging")
    assert [s.position for s in STAGES] == [1, 2, 3, 4, 5]
    assert FIRST_STAGE.name == "scrape"


def test_each_stage_names_the_one_after_it_and_the_last_names_none():
    for stage, following in itertools.pairwise(STAGES):
        assert stage.next == following.name
    assert STAGES[-1].next is None


def test_only_scrape_talks_to_the_scraper_and_the_rest_to_the_llm():
    assert [s.service for s in STAGES] == ["scraper", "llm", "llm", "llm", "llm"]


def test_every_stage_reads_only_results_of_stages_before_it():
    seen = {"company_url"}
    for stage in STAGES:
        assert set(stage.inputs) <= seen, stage.name
        seen.add(f"{stage.name}_result")


def test_every_stage_allows_a_bounded_number_of_retries_and_has_a_stuck_timeout():
    for stage in STAGES:
        assert 0 <= stage.max_retries <= 10
        assert stage.stuck_timeout.total_seconds() > 60


def test_an_unknown_stage_name_is_refused_with_the_valid_names():
    with pytest.raises(KeyError, match="scrape, intel"):
        get_stage("email")


def test_every_named_query_compiles_for_every_stage_it_applies_to():
    statements = queries.all_statements()
    names = {name for name, _, _ in statements}
    assert {"claim", "complete_and_queue_next", "complete_last", "retry", "fail"} <= names
    for name, stage, statement in statements:
        assert "${" not in str(statement), (name, stage)
    # The last stage has nothing to queue after it.
    assert ("complete_and_queue_next", "messaging") not in {(n, s) for n, s, _ in statements}


def test_a_query_that_needs_a_next_stage_is_refused_for_the_last_stage():
    with pytest.raises(ValueError, match="last"):
        queries.get("complete_and_queue_next", "messaging")
