"""What a domain call asks its caller to do next (the domain never talks to the broker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.signals import Signal


@dataclass
class Effects:
    #: (stage, delay in seconds): stages that got claimable rows, now or after a delay.
    kicks: list[tuple[str, float]] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    retried: int = 0
    ignored: int = 0
    #: What the calls to services showed about their load (for backpressure).
    signals: list[Signal] = field(default_factory=list)

    def kick(self, stage: str, delay: float = 0.0) -> None:
        if (stage, delay) not in self.kicks:
            self.kicks.append((stage, delay))

    def kick_at(self, stage: str, when: datetime | None, now: datetime) -> None:
        delay = 0.0 if when is None else max(0.0, (when - now).total_seconds())
        # Retries of one batch share a message: round to 100 ms buckets.
        self.kick(stage, round(delay, 1))

    def merge(self, other: Effects) -> Effects:
        for stage, delay in other.kicks:
            self.kick(stage, delay)
        self.completed += other.completed
        self.failed += other.failed
        self.retried += other.retried
        self.ignored += other.ignored
        self.signals.extend(other.signals)
        return self
