import random

import pytest

from pipeline.backoff import delay, delays


def test_the_nominal_delay_doubles_with_each_retry():
    rng = random.Random(1)
    for n in range(6):
        nominal = 2.0 * 2**n
        samples = [delay(n, base=2.0, cap=1e9, rng=rng) for _ in range(200)]
        assert min(samples) >= nominal / 2
        assert max(samples) <= nominal


def test_jitter_spreads_retries_across_the_upper_half_of_the_nominal_delay():
    rng = random.Random(7)
    samples = [delay(3, base=1.0, cap=1e9, rng=rng) for _ in range(1000)]
    assert 4.0 <= min(samples) < 4.2
    assert 7.8 < max(samples) <= 8.0
    assert len({round(s, 3) for s in samples}) > 500


def test_the_delay_never_exceeds_the_cap():
    rng = random.Random(3)
    assert all(delay(n, base=2.0, cap=30.0, rng=rng) <= 30.0 for n in range(100))


def test_a_negative_retry_number_is_a_programming_error():
    with pytest.raises(ValueError):
        delay(-1, 1.0, 10.0)


def test_delays_lists_one_delay_per_allowed_retry():
    assert len(delays(4, 1.0, 10.0, random.Random(0))) == 4
    assert len(delays(0, 1.0, 10.0, random.Random(0))) == 1
