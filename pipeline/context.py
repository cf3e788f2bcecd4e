"""The domain's dependencies, built once per process and passed down."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine

from pipeline.clients.llm import LlmClient
from pipeline.clients.scraper import ScraperClient
from pipeline.config import Settings
from pipeline.db import make_engine


@dataclass
class Context:
    settings: Settings
    engine: Engine
    scraper: ScraperClient
    llm: LlmClient
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        http: httpx.Client | None = None,
    ) -> Context:
        http = http or make_http_client(settings)
        return cls(
            settings=settings,
            engine=engine or make_engine(settings),
            scraper=ScraperClient(http, settings.scraper_url, settings.scraper_auth_token),
            llm=LlmClient(http, settings.llm_url, settings.llm_auth_token),
        )

    def webhook_url(self, service: str) -> str | None:
        """Where a service should call back, or None when callbacks are off."""
        if not self.settings.callbacks_enabled:
            return None
        return f"{self.settings.public_base_url}/webhooks/{service}"

    def max_retries(self, stage_default: int) -> int:
        override = self.settings.max_retries
        return stage_default if override is None else override


def make_http_client(settings: Settings) -> httpx.Client:
    timeout = settings.http_timeout_seconds
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        # An idle pooled connection is dropped after 2 s, before a server's own keep-alive
        # timeout closes it (gunicorn's default is 2 s, the local services' 5 s). Reusing one
        # that the server is closing at that moment fails the submit with "connection
        # reset", which the fault suite saw fail and retry a whole LLM batch.
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=2.0),
        headers={"User-Agent": "leadpipe/0.1"},
    )
