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
    queue_batch_size: int = 25
    #: Seconds between completion polls of jobs whose webhook is late.
    completion_poll_interval: float = 5.0
    #: A started job is polled only after it has had this long to call back. Polling is
    #: for lost callbacks; a short grace polls every busy service's queue job by job.
    webhook_grace_seconds: float = 10.0
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
    #: A pooled connection idle longer than this is pinged before use (``pipeline.db``).
    db_ping_after_idle_seconds: float = 1.0
    #: The largest CSV body ``POST /imports`` takes (bytes of the file).
    import_max_bytes: int = 50 * 1024 * 1024
    #: How long a web process trusts what it looked up about an API key (a revoked key
    #: stops working within this many seconds).
    api_key_cache_seconds: float = 10.0
    #: USD per million tokens, for estimates, recorded cost and budget caps.
    llm_input_price_per_mtok: float = 3.0
    llm_output_price_per_mtok: float = 15.0
    #: A lead whose company site was scraped this recently (for another lead) reuses that
    #: scrape instead of fetching the site again; 0 turns reuse off.
    scrape_reuse_seconds: float = 86_400.0
    #: Backpressure, per service and across every worker process (``actors.backpressure``):
    #: submit calls in flight at once, and submit calls per second. The rate is a ceiling:
    #: 429s, 5xx and slow answers lower it, successes raise it back gradually.
    scraper_max_concurrency: int = 8
    scraper_max_rate: float = 100.0
    #: Scrape jobs submitted and not yet finished, at most (0: no cap). Concurrency and rate
    #: limit the submit calls; this limits the jobs waiting at the service, so customizing
    #: 10,000 leads does not hand the scraper 10,000 jobs at once (it queues them, their
    #: callbacks come late, and the poller then asks about each one).
    scraper_max_jobs_in_flight: int = 100
    llm_max_concurrency: int = 8
    llm_max_rate: float = 50.0
    #: A submit slower than this counts as a sign of an overloaded service.
    submit_latency_target_seconds: float = 5.0
    #: The longest an idle worker waits on the stage queue's doorbell before it looks at
    #: the queue anyway (``actors.wakeup``).
    worker_kick_wait_ms: int = 500
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
            queue_batch_size=_int(env, "QUEUE_BATCH_SIZE", 25, minimum=1),
            completion_poll_interval=_float(env, "COMPLETION_POLL_INTERVAL", 5.0, minimum=0.2),
            webhook_grace_seconds=_float(env, "WEBHOOK_GRACE_SECONDS", 10.0),
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
            db_ping_after_idle_seconds=_float(env, "DB_PING_AFTER_IDLE_SECONDS", 1.0),
            import_max_bytes=_int(env, "IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1),
            api_key_cache_seconds=_float(env, "API_KEY_CACHE_SECONDS", 10.0),
            llm_input_price_per_mtok=_float(env, "LLM_INPUT_PRICE_PER_MTOK", 3.0),
            llm_output_price_per_mtok=_float(env, "LLM_OUTPUT_PRICE_PER_MTOK", 15.0),
            scrape_reuse_seconds=_float(env, "SCRAPE_REUSE_SECONDS", 86_400.0),
            scraper_max_concurrency=_int(env, "SCRAPER_MAX_CONCURRENCY", 8, minimum=1),
            scraper_max_rate=_float(env, "SCRAPER_MAX_RATE", 100.0, minimum=0.01),
            scraper_max_jobs_in_flight=_int(env, "SCRAPER_MAX_JOBS_IN_FLIGHT", 100, minimum=0),
            llm_max_concurrency=_int(env, "LLM_MAX_CONCURRENCY", 8, minimum=1),
            llm_max_rate=_float(env, "LLM_MAX_RATE", 50.0, minimum=0.01),
            submit_latency_target_seconds=_float(
                env, "SUBMIT_LATENCY_TARGET_SECONDS", 5.0, minimum=0.01
            ),
            worker_kick_wait_ms=_int(env, "WORKER_KICK_WAIT_MS", 500, minimum=1),
        )

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    @property
    def callbacks_enabled(self) -> bool:
        return bool(self.public_base_url and self.webhook_secret)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)
