import pytest

from pipeline.config import ConfigError, Settings


def test_the_backpressure_limits_come_from_the_environment():
    settings = Settings.from_env(
        {
            "SCRAPER_MAX_CONCURRENCY": "3",
            "SCRAPER_MAX_RATE": "2.5",
            "LLM_MAX_CONCURRENCY": "4",
            "LLM_MAX_RATE": "0.5",
            "SUBMIT_LATENCY_TARGET_SECONDS": "2",
            "SCRAPER_MAX_JOBS_IN_FLIGHT": "0",
        }
    )
    assert settings.scraper_max_jobs_in_flight == 0, "0 turns the cap off"
    assert (settings.scraper_max_concurrency, settings.scraper_max_rate) == (3, 2.5)
    assert (settings.llm_max_concurrency, settings.llm_max_rate) == (4, 0.5)
    assert settings.submit_latency_target_seconds == 2.0


def test_the_backpressure_limits_have_finite_defaults():
    settings = Settings.from_env({})
    assert settings.scraper_max_concurrency == settings.llm_max_concurrency == 8
    assert (settings.scraper_max_rate, settings.llm_max_rate) == (100.0, 50.0)
    assert settings.scraper_max_jobs_in_flight == 100


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCRAPER_MAX_CONCURRENCY", "0"),
        ("LLM_MAX_RATE", "0"),
        ("LLM_MAX_RATE", "x"),
        ("SCRAPER_MAX_JOBS_IN_FLIGHT", "-1"),
    ],
)
def test_a_limit_that_would_stop_all_work_is_a_config_error(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
