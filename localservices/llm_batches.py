"""Message batches: what one is, how it is shown, and its one-way road to ``ended``.

``in_progress`` → (``canceling``) → ``ended``; results exist only once ended, in request
order, one per ``custom_id``.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localservices.clock import utc_now_iso

RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


def _in_24_hours() -> str:
    later = datetime.now(UTC) + timedelta(hours=24)
    return later.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Batch:
    requests: list[dict[str, Any]]
    #: ``scheme://host`` the batch was submitted to, for its absolute ``results_url``.
    base_url: str
    webhook_url: str | None = None
    id: str = field(default_factory=lambda: f"msgbatch_{uuid.uuid4().hex}")
    processing_status: str = "in_progress"
    created_at: str = field(default_factory=lambda: utc_now_iso("microseconds"))
    expires_at: str = field(default_factory=_in_24_hours)
    ended_at: str | None = None
    cancel_initiated_at: str | None = None
    results: list[dict[str, Any]] | None = None
    #: Set when a cancel is requested, so a worker waiting out the latency wakes up.
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def custom_ids(self) -> list[str]:
        return [request["custom_id"] for request in self.requests]

    def as_dict(self) -> dict[str, Any]:
        counts = {name: 0 for name in RESULT_TYPES}
        if self.results is None:
            processing = len(self.requests)
        else:
            processing = 0
            counts.update(Counter(line["result"]["type"] for line in self.results))
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": {"processing": processing, **counts},
            "ended_at": self.ended_at,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "cancel_initiated_at": self.cancel_initiated_at,
            "archived_at": None,
            "results_url": (
                f"{self.base_url}/v1/messages/batches/{self.id}/results"
                if self.processing_status == "ended"
                else None
            ),
        }


class BatchBook:
    """All batches of the service, keyed by id, with the transitions done under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    def add(self, batch: Batch) -> None:
        with self._lock:
            self._batches[batch.id] = batch

    def get(self, batch_id: str) -> Batch | None:
        with self._lock:
            return self._batches.get(batch_id)

    def view(self, batch: Batch) -> dict[str, Any]:
        with self._lock:
            return batch.as_dict()

    def results(self, batch: Batch) -> list[dict[str, Any]] | None:
        with self._lock:
            return batch.results

    def begin_cancel(self, batch: Batch) -> bool:
        with self._lock:
            if batch.processing_status != "in_progress":
                return False
            batch.processing_status = "canceling"
            batch.cancel_initiated_at = utc_now_iso("microseconds")
            batch.cancelled.set()
            return True

    def finish(self, batch: Batch, results: list[dict[str, Any]]) -> bool:
        with self._lock:
            if batch.processing_status == "ended":
                return False
            batch.results = results
            batch.processing_status = "ended"
            batch.ended_at = utc_now_iso("microseconds")
            return True
