"""A whole Leadpipe (Procfile.dev: site, scraper, llm, web, worker, clock) for the fault
driver, against the driver's own PostgreSQL database and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devtools.procfile import ROOT, read_procfile
from devtools.stack import Stack, free_port, wait_for_http
from localservices.companies import sample_companies
from pipeline import accounts
from pipeline.config import Settings
from pipeline.db import make_engine

SECRET = "faults-secret"

#: The environment the fault runs use: short timeouts, so recovery is quick to see.
FAST_RECOVERY = {
    "COMPLETION_POLL_INTERVAL": "1",
    "WEBHOOK_GRACE_SECONDS": "1",
    "SUBMIT_TIMEOUT_SECONDS": "6",
    "STUCK_TIMEOUT_SCALE": "0.02",
    "BACKOFF_BASE_SECONDS": "0.2",
    "BACKOFF_CAP_SECONDS": "1",
    "MAX_RETRIES": "10",
    "SCRAPER_MAX_PAGES": "2",
    # One scrape per lead: the accounting of submissions and retries stays per lead.
    "SCRAPE_REUSE_SECONDS": "0",
    "WEB_CONCURRENCY": "1",
    "WEB_THREADS": "16",
    "WORKER_PROCESSES": "2",
    "WORKER_THREADS": "8",
    # Ceilings the throttling faults are measured against.
    "SCRAPER_MAX_RATE": "50",
    "LLM_MAX_RATE": "20",
}


@dataclass
class App:
    stack: Stack
    urls: dict[str, str]
    env: dict[str, str]
    commands: dict[str, str]
    key: str
    closed_port: int
    hard_leads: dict[int, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        database_url: str,
        redis_url: str,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        service_flags: str = "",
    ) -> App:
        ports = {name: free_port() for name in ("site", "scraper", "llm", "web")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        full_env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_NAMESPACE": "leadpipe",
            "WEBHOOK_SECRET": SECRET,
            "LOCAL_WEBHOOK_SECRET": SECRET,
            "PUBLIC_BASE_URL": urls["web"],
            "SCRAPER_URL": urls["scraper"],
            "LLM_URL": urls["llm"],
            "SITE_PORT": str(ports["site"]),
            "SCRAPER_PORT": str(ports["scraper"]),
            "LLM_PORT": str(ports["llm"]),
            "WEB_BIND": f"127.0.0.1:{ports['web']}",
            "PYTHONUNBUFFERED": "1",
            **FAST_RECOVERY,
            **(env or {}),
        }
        commands = read_procfile(ROOT / "Procfile.dev")
        for service in ("scraper", "llm"):
            commands[service] += f" {service_flags}"
        stack = Stack(env=full_env, log_dir=log_dir)
        for name, command in commands.items():
            stack.start(name, command)
        try:
            for name in ("site", "scraper", "llm", "web"):
                probe = {"web": "/healthz", "site": "/"}.get(name, "/_stats")
                wait_for_http(urls[name] + probe, timeout=30, proc=stack.procs[name])
        except BaseException:
            stop_fast(stack)
            raise
        engine = make_engine(Settings(database_url=database_url), pool_size=1, max_overflow=0)
        try:
            key = accounts.create_key(engine, label="faults").key
        finally:
            engine.dispose()
        return cls(stack, urls, full_env, commands, key, closed_port=free_port())

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.urls["web"], timeout=30, headers={"Authorization": f"Bearer {self.key}"}
        )

    def leads(self, n: int, hard_each: int = 2) -> list[dict[str, Any]]:
        """``n`` sample companies, then ``hard_each`` leads whose site 404s, refuses the
        connection (a closed port) and has no text."""
        site = self.urls["site"]
        rows = [
            {
                "name": c.contact_name,
                "email": c.contact_email,
                "company": c.name,
                "company_url": c.url(site),
            }
            for c in sample_companies(n)
        ]
        bad = {
            "missing": f"{site}/missing/",
            "refused": f"http://127.0.0.1:{self.closed_port}/",
            "empty": f"{site}/empty/",
        }
        for kind, url in bad.items():
            for i in range(hard_each):
                rows.append(
                    {
                        "name": f"Hard {kind} {i}",
                        "email": f"{kind}{i}@hard.example",
                        "company": f"Hard {kind} {i}",
                        "company_url": url,
                    }
                )
        return rows

    def create_and_customize(self, leads: list[dict[str, Any]]) -> tuple[list[int], int]:
        ids: list[int] = []
        with self.api() as api:
            for start in range(0, len(leads), 500):
                response = api.post("/leads", json={"leads": leads[start : start + 500]})
                response.raise_for_status()
                ids.extend(response.json()["ids"])
            response = api.post("/customize", json={"lead_ids": ids})
            response.raise_for_status()
            run_id = response.json()["run_id"]
        for lead_id, lead in zip(ids, leads, strict=True):
            if lead["company"].startswith("Hard "):
                self.hard_leads[lead_id] = lead["company"].split()[1]
        return ids, run_id

    def run(self, run_id: int) -> dict[str, Any]:
        with self.api() as api:
            return api.get(f"/runs/{run_id}").json()

    def service(self, name: str) -> str:
        return self.urls[name]

    def knobs(self, service: str, **changes: Any) -> None:
        httpx.post(f"{self.urls[service]}/_knobs", json=changes, timeout=5).raise_for_status()

    def stats(self, service: str, references: bool = False) -> dict[str, Any]:
        params = {"references": "true"} if references else None
        response = httpx.get(f"{self.urls[service]}/_stats", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def kill(self, name: str) -> None:
        self.stack.kill(name)

    def restart(self, name: str) -> None:
        self.stack.start(name, self.commands[name])

    def tracebacks(self, names: tuple[str, ...] = ("web", "worker", "clock")) -> dict[str, int]:
        found = {}
        for name in names:
            text = self.stack.log(name, tail=10_000_000)
            count = text.count("Traceback (most recent call last)")
            if count:
                found[name] = count
        return found

    def stop(self) -> None:
        stop_fast(self.stack)


def stop_fast(stack: Stack, timeout: float = 8.0) -> None:
    """SIGTERM every process group at once, then SIGKILL what is left (no waiting in turn)."""
    live = {name: proc for name, proc in stack.procs.items() if proc.poll() is None}
    for name in live:
        stack.signal(name, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in live.items():
        with contextlib.suppress(Exception):
            proc.wait(max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            stack.signal(name, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)
    for proc in stack.procs.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of a group whose leader exited
