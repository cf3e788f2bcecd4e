"""``python -m localservices`` options: flags, environment defaults and knob validation."""

from __future__ import annotations

import pytest

from localservices.cli import knobs_from, parse_args


def test_flags_set_the_service_and_its_knobs() -> None:
    args = parse_args(
        ["scraper", "--port", "0", "--latency-ms", "250", "--fail-rate", "0.1", "--seed", "3"],
        env={},
    )
    assert (args.service, args.port) == ("scraper", 0)
    knobs = knobs_from(args)
    assert (knobs.latency_ms, knobs.fail_rate, knobs.seed) == (250, 0.1, 3)


def test_each_service_has_its_own_default_port() -> None:
    ports = {kind: parse_args([kind], env={}).port for kind in ("site", "scraper", "llm")}
    assert ports == {"site": 8100, "scraper": 8101, "llm": 8102}


def test_environment_variables_are_defaults_and_service_specific_ones_win() -> None:
    env = {
        "LOCAL_WEBHOOK_SECRET": "shared",
        "LOCAL_AUTH_TOKEN": "generic",
        "LOCAL_LLM_AUTH_TOKEN": "llm-only",
        "LOCAL_RATE_429": "0.5",
        "LOCAL_ALLOW_PRIVATE": "true",
    }
    args = parse_args(["llm"], env=env)
    assert args.webhook_secret == "shared"
    assert args.auth_token == "llm-only"
    assert args.allow_private is True
    assert knobs_from(args).rate_429 == 0.5
    assert parse_args(["scraper"], env=env).auth_token == "generic"


def test_a_flag_beats_the_environment() -> None:
    args = parse_args(["llm", "--latency-ms", "5"], env={"LOCAL_LATENCY_MS": "900"})
    assert knobs_from(args).latency_ms == 5


def test_an_environment_value_of_the_wrong_type_stops_the_runner() -> None:
    with pytest.raises(SystemExit, match="LATENCY"):
        parse_args(["llm"], env={"LOCAL_LATENCY_MS": "soon"})
