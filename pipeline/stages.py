"""The stage table: the one place that says what each stage is and how it behaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Service = Literal["scraper", "llm"]

#: Every status a stage can have; mirrored by the CHECK constraints in schema.sql.
STATUSES = ("pending", "queued", "started", "completed", "failed", "skipped", "cancelled")
#: A stage in one of these will not move again without a person asking for it.
TERMINAL_STATUSES = frozenset({"completed", "failed", "skipped", "cancelled"})
#: A stage in one of these is work Leadpipe still owes.
ACTIVE_STATUSES = frozenset({"queued", "started"})


@dataclass(frozen=True)
class Stage:
    name: str
    position: int
    service: Service
    #: The stage queued when this one completes (None for the last).
    next: str | None
    #: Retries after the first attempt: at most ``1 + max_retries`` attempts in all.
    max_retries: int
    #: A started attempt older than this is asked about and, if the service no longer
    #: runs it, reset.
    stuck_timeout: timedelta
    #: Columns of earlier stages the stage's input is built from (see ``pipeline.prompts``).
    inputs: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage(
        name="scrape",
        position=1,
        service="scraper",
        next="intel",
        max_retries=3,
        stuck_timeout=timedelta(minutes=10),
        inputs=("company_url",),
    ),
    Stage(
        name="intel",
        position=2,
        service="llm",
        next="strategy",
        max_retries=3,
        stuck_timeout=timedelta(minutes=15),
        inputs=("scrape_result",),
    ),
    Stage(
        name="strategy",
        position=3,
        service="llm",
        next="subject",
        max_retries=3,
        stuck_timeout=timedelta(minutes=15),
        inputs=("intel_result",),
    ),
    Stage(
        name="subject",
        position=4,
        service="llm",
        next="messaging",
        max_retries=3,
        stuck_timeout=timedelta(minutes=15),
        inputs=("strategy_result",),
    ),
    Stage(
        name="messaging",
        position=5,
        service="llm",
        next=None,
        max_retries=3,
        stuck_timeout=timedelta(minutes=15),
        inputs=("strategy_result", "subject_result"),
    ),
)

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
_BY_NAME = {stage.name: stage for stage in STAGES}
FIRST_STAGE = STAGES[0]


def get_stage(name: str) -> Stage:
    """Return the stage called ``name``; raise KeyError with the valid names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}"
        ) from None


#: Columns every stage input needs besides the stage's own ``inputs``.
LEAD_COLUMNS = ("name", "email", "company", "title", "company_url")
