"""The adaptive submit rate of one service: additive increase, multiplicative decrease.

Pure functions over a small state, so the policy can be tested without Redis or a clock;
``actors.limits`` stores the state in Redis so every worker process shares one rate.

* A 429 or an overload (5xx, timeout, refused connection) halves the rate, at most once
  per ``cooldown_seconds``: ten requests in flight that all come back 429 are one signal,
  not ten (TCP decreases once per round trip for the same reason).
* A success slower than ``latency_target`` is an early sign of overload: a gentler cut.
* Every quick success adds ``increase_per_second / rate``, so at full pace the rate climbs
  by about ``increase_per_second`` each second: from the floor back to the ceiling in
  about ``max_rate / increase_per_second`` seconds of good answers.
* A rejected request (another 4xx) says nothing about load and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AimdParams:
    max_rate: float
    min_rate: float
    increase_per_second: float
    decrease_factor: float = 0.5
    latency_decrease_factor: float = 0.8
    latency_target: float = 5.0
    cooldown_seconds: float = 1.0

    @classmethod
    def for_ceiling(cls, max_rate: float, latency_target: float = 5.0) -> AimdParams:
        """Defaults scaled to a service's configured ceiling (requests per second)."""
        return cls(
            max_rate=max_rate,
            min_rate=min(max_rate, max(0.1, max_rate * 0.02)),
            increase_per_second=max_rate / 10,
            latency_target=latency_target,
        )


@dataclass(frozen=True)
class AimdState:
    rate: float
    #: When the rate was last cut (unix seconds), for the cooldown.
    decreased_at: float = float("-inf")


def initial(params: AimdParams) -> AimdState:
    return AimdState(rate=params.max_rate)


def _clamp(params: AimdParams, rate: float) -> float:
    return min(params.max_rate, max(params.min_rate, rate))


def _cut(params: AimdParams, state: AimdState, factor: float, now: float) -> AimdState:
    if now - state.decreased_at < params.cooldown_seconds:
        return state
    return AimdState(rate=_clamp(params, state.rate * factor), decreased_at=now)


def on_signal(
    params: AimdParams, state: AimdState, kind: str, latency: float, now: float
) -> AimdState:
    """The state after one observed call (``kind`` as in ``pipeline.signals``)."""
    if kind in ("throttled", "overloaded"):
        return _cut(params, state, params.decrease_factor, now)
    if kind != "ok":
        return state
    if latency > params.latency_target:
        return _cut(params, state, params.latency_decrease_factor, now)
    step = params.increase_per_second / max(state.rate, params.min_rate)
    return replace(state, rate=_clamp(params, state.rate + step))
