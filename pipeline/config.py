"""Configuration, read from the environment once and passed down as one object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/leadpipe"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ConfigError(ValueError):
    """An environment variable has a value Leadpipe cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def sqlalchemy_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` forms and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    #: Prefix of every Redis key the broker writes, so tests and tenants can share a server.
    redis_namespace: str = "leadpipe"
    scraper_url: str = "http://127.0.0.1:8101"
    scraper_auth_token: str = ""
    llm_url: str = "http://127.0.0.1:8102"
    llm_auth_token: str = ""
    llm_model: str = "claude-sonnet-4-5"
    #: How many leads one claim takes (and, for LLM stages, how many requests one batch carries).
    queue_batch_size: int = 10
    #: Seconds between completion polls of jobs whose webhook is late.
    completion_poll_interval: float = 5.0
    #: A started job is polled only after it has had this long to call back.
    webhook_grace_seconds: float = 2.0
    webhook_secret: str = ""
    #: Where the services can reach our webhooks; empty means "no callbacks, poll only".
    public_base_url: str = ""
    #: Pages the scraper may fetch per company (the service caps it at 100).
    scraper_max_pages: int = 5
    http_timeout_seconds: float = 30.0
    #: Seconds a claimed-but-not-yet-submitted row may wait before it counts as a crash.
    submit_timeout_seconds: float = 90.0
    #: Multiplier on every stage's stuck timeout (tests shrink it).
    stuck_timeout_scale: float = 1.0
    max_retries: int | None = None
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 300.0
    db_pool_size: int = 10
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        max_retries = env.get("MAX_RETRIES")
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            redis_namespace=env.get("REDIS_NAMESPACE") or "leadpipe",
            scraper_url=(env.get("SCRAPER_URL") or cls.scraper_url).rstrip("/"),
            scraper_auth_token=env.get("SCRAPER_AUTH_TOKEN", ""),
            llm_url=(env.get("LLM_URL") or cls.llm_url).rstrip("/"),
            llm_auth_token=env.get("LLM_AUTH_TOKEN", ""),
            llm_model=env.get("LLM_MODEL") or cls.llm_model,
            queue_batch_size=_int(env, "QUEUE_BATCH_SIZE", 10, minimum=1),
            completion_poll_interval=_float(env, "COMPLETION_POLL_INTERVAL", 5.0, minimum=0.2),
            webhook_grace_seconds=_float(env, "WEBHOOK_GRACE_SECONDS", 2.0),
            webhook_secret=env.get("WEBHOOK_SECRET", ""),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
            scraper_max_pages=_int(env, "SCRAPER_MAX_PAGES", 5, minimum=1),
            http_timeout_seconds=_float(env, "HTTP_TIMEOUT_SECONDS", 30.0, minimum=0.1),
            submit_timeout_seconds=_float(env, "SUBMIT_TIMEOUT_SECONDS", 90.0, minimum=1.0),
            stuck_timeout_scale=_float(env, "STUCK_TIMEOUT_SCALE", 1.0, minimum=0.001),
            max_retries=None if not max_retries else _int(env, "MAX_RETRIES", 0),
            backoff_base_seconds=_float(env, "BACKOFF_BASE_SECONDS", 2.0),
            backoff_cap_seconds=_float(env, "BACKOFF_CAP_SECONDS", 300.0),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10, minimum=1),
        )

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    @property
    def callbacks_enabled(self) -> bool:
        return bool(self.public_base_url and self.webhook_secret)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)
