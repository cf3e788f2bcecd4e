"""Retry delays: exponential, capped, with "equal jitter" so retries of a batch spread out."""

from __future__ import annotations

import random


def delay(
    retry_number: int,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry ``retry_number`` (0 for the first retry).

    The nominal delay is ``min(cap, base * 2**retry_number)``; the result lies in
    ``[nominal / 2, nominal]`` so delays keep growing while two leads that failed together
    do not come back together.
    """
    if retry_number < 0:
        raise ValueError("retry_number must be >= 0")
    nominal = min(cap, base * (2 ** min(retry_number, 62)))
    rng = rng or random
    return nominal / 2 + rng.random() * nominal / 2


def delays(
    max_retries: int, base: float, cap: float, rng: random.Random | None = None
) -> list[float]:
    """The delays for retries ``0 .. max_retries - 1``, as the retry query indexes them."""
    return [delay(n, base, cap, rng) for n in range(max(max_retries, 1))]
