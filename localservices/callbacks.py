"""Signed callbacks from a local service to its client (our extension; the real ones poll only).

The body is serialised once and signed with :func:`pipeline.signing.sign` at every attempt.
A connection error, a timeout or a 5xx is retried a few times with a short delay; any other
answer ends the delivery. The knobs may drop a callback (``callback_loss``) or deliver it a
second time (``callback_duplicate``); both are counted in the stats.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from localservices.knobs import KnobPanel
from localservices.stats import Stats
from localservices.transport import LightTransport
from pipeline import signing

log = logging.getLogger(__name__)

CALLBACK_COUNTERS = (
    "callbacks_sent",
    "callbacks_failed",
    "callbacks_lost",
    "callbacks_duplicated",
    "callback_attempts",
)


class CallbackSender:
    def __init__(
        self,
        secret: str,
        panel: KnobPanel,
        stats: Stats,
        retries: int = 3,
        retry_delay: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        self._secret = secret
        self._panel = panel
        self._stats = stats
        self._retries = retries
        self._retry_delay = retry_delay
        # Callbacks go to our own client, never through a proxy from the environment. Idle
        # connections are dropped after 1 s, before the receiver's keep-alive timeout
        # (gunicorn's default, Leadpipe's web, is 2 s) can close one as it is reused.
        transport = LightTransport(keepalive_expiry=1.0, max_idle_per_origin=20)
        self._client = httpx.Client(timeout=timeout, trust_env=False, transport=transport)

    @property
    def enabled(self) -> bool:
        """Without a secret no callback is sent: an unsigned callback would be refused anyway."""
        return bool(self._secret)

    def deliver(self, url: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to ``url`` (maybe not at all, maybe twice, as the knobs say)."""
        if not self.enabled:
            return
        if self._panel.chance("callback_loss"):
            self._stats.add("callbacks_lost")
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        copies = 2 if self._panel.chance("callback_duplicate") else 1
        if copies == 2:
            self._stats.add("callbacks_duplicated")
        for _ in range(copies):
            self._stats.add("callbacks_sent" if self._send(url, body) else "callbacks_failed")

    def _send(self, url: str, body: bytes) -> bool:
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._retry_delay * attempt)
            self._stats.add("callback_attempts")
            headers = {
                "Content-Type": "application/json",
                signing.HEADER: signing.sign(self._secret, body, int(time.time())),
            }
            try:
                response = self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("callback to %s failed: %s", url, exc)
                continue
            if response.status_code < 300:
                return True
            log.warning("callback to %s answered %s", url, response.status_code)
            if response.status_code < 500:
                return False
        return False
