"""A real Leadpipe: the Procfile.dev commands (site, scraper, llm, web, worker, clock) as
processes against the test's own database and Redis namespace, over real HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.procfile import ROOT, read_procfile
from devtools.stack import Stack, free_port, wait_for_http
from pipeline import accounts
from pipeline.config import Settings
from pipeline.db import make_engine
from tests.conftest import REDIS_URL

SECRET = "e2e-secret"
TERMINAL = {"completed", "failed", "skipped", "cancelled"}


@dataclass
class Running:
    stack: Stack
    web: str
    site: str
    scraper: str
    llm: str
    env: dict[str, str]
    commands: dict[str, str]
    #: An API key of account 1 (the default account); api() sends it with every call.
    key: str = ""

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.web, timeout=30, headers={"Authorization": f"Bearer {self.key}"}
        )

    def create_leads(self, leads: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        with self.api() as api:
            for start in range(0, len(leads), 500):
                response = api.post("/leads", json={"leads": leads[start : start + 500]})
                assert response.status_code == 201, response.text
                ids.extend(response.json()["ids"])
        return ids

    def customize(self, ids: list[int]) -> dict[str, Any]:
        with self.api() as api:
            response = api.post("/customize", json={"lead_ids": ids})
            assert response.status_code == 201, response.text
            return response.json()

    def wait_until_settled(self, timeout: float) -> dict[str, Any]:
        """Until no stage has queued or started rows; returns the final /status."""
        deadline = time.monotonic() + timeout
        with self.api() as api:
            while True:
                status = api.get("/status").json()
                active = sum(s["queued"] + s["started"] for s in status["stages"])
                if active == 0:
                    return status
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"still {active} active after {timeout}s: {status}\n{self.stack.logs()}"
                    )
                time.sleep(0.2)

    def restart(self, name: str) -> None:
        self.stack.start(name, self.commands[name])

    def tracebacks(self) -> list[str]:
        """Process logs that contain a Python traceback (an error nobody handled)."""
        return [
            name
            for name in self.stack.procs
            if "Traceback (most recent call last)" in self.stack.log(name, tail=1_000_000)
        ]

    def service_stats(self, service: str) -> dict[str, Any]:
        base = self.scraper if service == "scraper" else self.llm
        return httpx.get(f"{base}/_stats", timeout=5).json()


def api_key(db_url: str) -> str:
    """A new API key of the default account, made directly in the test's database."""
    engine = make_engine(Settings(database_url=db_url), pool_size=1, max_overflow=0)
    try:
        return accounts.create_key(engine, label="e2e").key
    finally:
        engine.dispose()


@pytest.fixture
def leadpipe(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Running]]:
    stacks: list[Stack] = []

    def start(
        *,
        callbacks: bool = True,
        scraper_flags: str = "",
        llm_flags: str = "",
        env: dict[str, str] | None = None,
    ) -> Running:
        ports = {name: free_port() for name in ("site", "scraper", "llm", "web")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        full_env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_NAMESPACE": f"leadpipe-e2e-{uuid.uuid4().hex[:8]}",
            "WEBHOOK_SECRET": SECRET,
            "PUBLIC_BASE_URL": urls["web"] if callbacks else "",
            "SCRAPER_URL": urls["scraper"],
            "LLM_URL": urls["llm"],
            "SCRAPER_MAX_PAGES": "3",
            "COMPLETION_POLL_INTERVAL": "1",
            "WEBHOOK_GRACE_SECONDS": "1",
            "BACKOFF_BASE_SECONDS": "0.2",
            "BACKOFF_CAP_SECONDS": "1",
            "LOCAL_WEBHOOK_SECRET": SECRET if callbacks else "",
            "SITE_PORT": str(ports["site"]),
            "SCRAPER_PORT": str(ports["scraper"]),
            "LLM_PORT": str(ports["llm"]),
            "WEB_BIND": f"127.0.0.1:{ports['web']}",
            "WEB_CONCURRENCY": "1",
            "WORKER_PROCESSES": "1",
            "WORKER_THREADS": "8",
            **(env or {}),
        }
        commands = read_procfile(ROOT / "Procfile.dev")
        commands["scraper"] += f" {scraper_flags}"
        commands["llm"] += f" {llm_flags}"
        stack = Stack(env=full_env, log_dir=tmp_path / f"logs{len(stacks)}")
        stacks.append(stack)
        for name, command in commands.items():
            stack.start(name, command)
        for name in ("site", "scraper", "llm", "web"):
            probe = "/healthz" if name == "web" else "/_stats" if name != "site" else "/"
            wait_for_http(urls[name] + probe, timeout=30, proc=stack.procs[name])
        return Running(
            stack,
            urls["web"],
            urls["site"],
            urls["scraper"],
            urls["llm"],
            full_env,
            commands,
            key=api_key(db_url),
        )

    yield start
    for stack in stacks:
        stack.stop_all()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            print(stack.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
