"""The adaptive submit rate (pure: no Redis, no clock)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from actors.aimd import AimdParams, AimdState, initial, on_signal

PARAMS = AimdParams.for_ceiling(50.0)


def test_a_fresh_service_starts_at_its_ceiling():
    assert initial(PARAMS).rate == 50.0


def test_a_429_halves_the_rate():
    assert on_signal(PARAMS, initial(PARAMS), "throttled", 0.01, now=100.0).rate == 25.0


def test_a_burst_of_refusals_within_the_cooldown_counts_as_one_cut():
    state = initial(PARAMS)
    for n in range(10):
        state = on_signal(PARAMS, state, "overloaded", 0.01, now=100.0 + n * 0.05)
    assert state.rate == 25.0
    assert on_signal(PARAMS, state, "throttled", 0.01, now=101.1).rate == 12.5


def test_the_rate_never_falls_below_its_floor():
    state = initial(PARAMS)
    for n in range(50):
        state = on_signal(PARAMS, state, "throttled", 0.01, now=float(n * 2))
    assert state.rate == PARAMS.min_rate == 1.0


def test_successes_raise_the_rate_by_about_a_tenth_of_the_ceiling_per_second_of_work():
    state = AimdState(rate=10.0, decreased_at=0.0)
    for _ in range(10):  # one second's worth of successes at 10/s
        state = on_signal(PARAMS, state, "ok", 0.05, now=50.0)
    assert 14.0 < state.rate < 15.5


def test_recovery_from_the_floor_to_the_ceiling_is_gradual_not_a_jump():
    state, calls = AimdState(rate=PARAMS.min_rate, decreased_at=0.0), 0
    while state.rate < PARAMS.max_rate:
        state = on_signal(PARAMS, state, "ok", 0.05, now=50.0)
        calls += 1
    assert calls > 100, "about ten seconds of successes at the rising rate"
    assert state.rate == PARAMS.max_rate


def test_a_slow_success_is_a_gentle_cut_and_a_rejected_request_changes_nothing():
    state = initial(PARAMS)
    slow = on_signal(PARAMS, state, "ok", PARAMS.latency_target + 1, now=10.0)
    assert slow.rate == 40.0
    assert on_signal(PARAMS, state, "rejected", 0.01, now=10.0) == state


@given(
    kinds=st.lists(
        st.tuples(
            st.sampled_from(["ok", "throttled", "overloaded", "rejected"]),
            st.floats(min_value=0, max_value=60),
        ),
        max_size=200,
    ),
    ceiling=st.floats(min_value=0.01, max_value=10_000),
)
def test_whatever_happens_the_rate_stays_between_its_floor_and_its_ceiling(kinds, ceiling):
    params = AimdParams.for_ceiling(ceiling)
    state = initial(params)
    for n, (kind, latency) in enumerate(kinds):
        state = on_signal(params, state, kind, latency, now=n * 0.3)
        assert params.min_rate <= state.rate <= params.max_rate
        assert math.isfinite(state.rate)
