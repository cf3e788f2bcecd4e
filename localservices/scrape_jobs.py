"""The scraper's jobs: what one is, how it is shown, and the one-way road to its end.

A job is ``queued`` → ``started`` → ``completed`` | ``failed``; the first terminal
transition wins (a cancel racing a finishing crawl leaves exactly one outcome), and the
caller that made it is the one that sends the callback.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from localservices.clock import utc_now_iso

TERMINAL = frozenset({"completed", "failed"})


@dataclass
class ScrapeJob:
    url: str
    max_pages: int
    max_concurrency: int
    include_sitemap: bool
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "queued"
    retry_count: int = 0
    created_at: str = field(default_factory=utc_now_iso)
    updated_at: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    #: Set when the job is cancelled, so a sleeping or crawling worker stops early.
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    @property
    def reference(self) -> str | None:
        value = (self.metadata or {}).get("reference")
        return value if isinstance(value, str) else None

    def accepted(self) -> dict[str, Any]:
        """The ``202`` body of ``POST /jobs``."""
        return {"id": self.id, "url": self.url, "status": self.status, "createdAt": self.created_at}

    def as_dict(self) -> dict[str, Any]:
        """The ``GET /jobs/{id}`` body (``result`` and ``error`` only when present)."""
        body: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "status": self.status,
            "retryCount": self.retry_count,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body


class JobBook:
    """All jobs of the service, keyed by id, with the transitions done under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, ScrapeJob] = {}

    def add(self, job: ScrapeJob) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> ScrapeJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def view(self, job: ScrapeJob) -> dict[str, Any]:
        """A consistent snapshot of ``job``'s public body."""
        with self._lock:
            return job.as_dict()

    def start(self, job: ScrapeJob) -> bool:
        with self._lock:
            if job.status != "queued":
                return False
            self._set(job, "started")
            return True

    def complete(self, job: ScrapeJob, result: dict[str, Any]) -> bool:
        with self._lock:
            if job.status in TERMINAL:
                return False
            job.result = result
            self._set(job, "completed")
            return True

    def fail(self, job: ScrapeJob, error: str) -> bool:
        with self._lock:
            if job.status in TERMINAL:
                return False
            job.error = error
            self._set(job, "failed")
            return True

    @staticmethod
    def _set(job: ScrapeJob, status: str) -> None:
        job.status = status
        job.updated_at = utc_now_iso()
