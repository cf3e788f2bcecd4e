"""A fixed pool of daemon threads for background jobs.

Not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined at interpreter exit,
so one job sleeping through its latency would hold up a SIGTERM shutdown. A local service
that dies mid-job is exactly what its clients must survive anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundPool:
    def __init__(self, threads: int, name: str) -> None:
        if threads < 1:
            raise ValueError("a pool needs at least one thread")
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads = threads
        self._name = name
        self._started = False
        self._lock = threading.Lock()

    def submit(self, task: Callable[[], None]) -> None:
        self._start_once()
        self._queue.put(task)

    def _start_once(self) -> None:
        # Threads start on first use, so a pool built before gunicorn forks stays valid.
        with self._lock:
            if self._started:
                return
            for number in range(self._threads):
                threading.Thread(
                    target=self._work, name=f"{self._name}-{number}", daemon=True
                ).start()
            self._started = True

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            try:
                task()
            except Exception:
                log.exception("background task failed")
