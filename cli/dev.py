"""``leadpipe dev``: the whole pipeline on this machine, with sample leads pushed through it.

Steps: find PostgreSQL and Redis (DATABASE_URL / REDIS_URL, else ``devtools.servers``),
create the database and apply the schema, make an API key for the default
account (printed with the dashboard URL), start every Procfile.dev process (the local
site, scraper and LLM services, web, worker, clock), create sample leads over the HTTP
API, press Customize, watch the stages drain, then print a summary, one finished email and
the dashboard URL. Without ``--exit`` everything keeps running until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from cli import db
from cli.client import Api
from cli.errors import CliError, Terminated, one_line
from cli.processes import LOG_DIR, HonchoRunner, Runner, honcho_available, make_runner
from cli.progress import (
    ProgressDisplay,
    StageCounts,
    normalize,
    subtract,
    total_in_flight,
)
from cli.report import Summary, email_lines, summarize, summary_lines
from pipeline import accounts
from pipeline.config import Settings

HOST = "127.0.0.1"
#: Preferred port of each listening process, and the variable that overrides it.
DEFAULT_PORTS = {"web": 8000, "site": 8100, "scraper": 8101, "llm": 8102}
PORT_VARIABLES = {"web": "PORT", "site": "SITE_PORT", "scraper": "SCRAPER_PORT", "llm": "LLM_PORT"}
#: What answers once each process is up (/healthz waits for the database and Redis too).
READY_PATHS = {"site": "/", "scraper": "/_stats", "llm": "/_stats", "web": "/healthz"}
STARTUP_TIMEOUT = 60.0
#: How long the API may be unreachable mid-run before the demo gives up.
API_OUTAGE_TOLERANCE = 15.0

#: The two extra leads that show the unhappy paths.
NO_URL_LEAD = {
    "name": "Nadia Nourl",
    "email": "nadia@no-website.example",
    "company": "No Website Ltd",
}
MISSING_SITE_PATH = "/missing/"


@dataclass
class DevOptions:
    leads: int = 24
    timeout: float = 300.0
    exit: bool = False
    runner: str = "auto"
    log_dir: Path = LOG_DIR
    poll_interval: float = 0.5


# --------------------------------------------------------------------------- pure helpers


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``host:port`` now. SO_REUSEADDR as servers set it,
    so a port left in TIME_WAIT by the previous run still counts as free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def choose_ports(
    env: Mapping[str, str],
    is_free: Callable[[int], bool] = port_is_free,
    any_free: Callable[[], int] = _any_free_port,
) -> dict[str, int]:
    """A port per listening process: the variable's when set (it must be free), else the
    default when free, else any free one. All distinct."""
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        variable = PORT_VARIABLES[name]
        raw = (env.get(variable) or "").strip()
        if raw:
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise CliError(f"{variable} must be a port number, got {raw!r}", code=2)
            port = int(raw)
            if port in chosen.values() or not is_free(port):
                raise CliError(f"{variable}={port} is already in use; pick another or unset it")
        else:
            port = default
            while port in chosen.values() or not is_free(port):
                port = any_free()
        chosen[name] = port
    return chosen


def process_env(
    env: Mapping[str, str],
    *,
    database_url: str,
    redis_url: str,
    ports: Mapping[str, int],
    secret: str,
) -> dict[str, str]:
    """The environment of every Procfile.dev process: wired to each other on loopback."""
    urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    out = dict(env)
    out.pop("LEADPIPE_STUB_BROKER", None)
    out.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBHOOK_SECRET=secret,
        LOCAL_WEBHOOK_SECRET=secret,
        PUBLIC_BASE_URL=urls["web"],
        SCRAPER_URL=urls["scraper"],
        LLM_URL=urls["llm"],
        WEB_BIND=f"{HOST}:{ports['web']}",
        SITE_PORT=str(ports["site"]),
        SCRAPER_PORT=str(ports["scraper"]),
        LLM_PORT=str(ports["llm"]),
    )
    # A demo should not idle: poll late jobs every second (unless the user said otherwise).
    if not out.get("COMPLETION_POLL_INTERVAL"):
        out["COMPLETION_POLL_INTERVAL"] = "1"
    return out


def demo_leads(n: int, site_url: str) -> list[dict[str, Any]]:
    """``n`` sample companies' leads, one without a URL (skipped) and one whose site is a
    404 (a hard failure, not retried)."""
    from localservices.companies import sample_companies

    leads: list[dict[str, Any]] = [
        {
            "name": c.contact_name,
            "email": c.contact_email,
            "company": c.name,
            "company_url": c.url(site_url),
        }
        for c in sample_companies(n)
    ]
    leads.append(dict(NO_URL_LEAD))
    leads.append(
        {
            "name": "Max Missing",
            "email": "max@missing-site.example",
            "company": "Missing Site Inc",
            "company_url": site_url.rstrip("/") + MISSING_SITE_PATH,
        }
    )
    return leads


# --------------------------------------------------------------------------- the run


class Demo:
    """One ``leadpipe dev`` run; ``out`` gets the story, stderr only the servers' notes."""

    def __init__(self, options: DevOptions, env: Mapping[str, str], out: TextIO) -> None:
        self.options = options
        self.env = env
        self.key = ""
        self.out = out
        self.runner: Runner | None = None

    def say(self, message: str = "") -> None:
        print(message, file=self.out, flush=True)

    # ---- servers and database

    def servers(self) -> tuple[str, str]:
        """(DATABASE_URL, REDIS_URL): from the environment, else found or started."""
        database_url = self.env.get("DATABASE_URL") or ""
        redis_url = self.env.get("REDIS_URL") or ""
        if not database_url or not redis_url:
            from devtools import servers

            try:
                if not database_url:
                    handle = servers.ensure_postgres(env=self.env)
                    database_url = handle.url
                    self._note_started(handle)
                if not redis_url:
                    handle = servers.ensure_redis(env=self.env)
                    redis_url = handle.url
                    self._note_started(handle)
            except Exception as exc:  # ServerError, a driver error, a failed wheel install
                raise CliError(f"no PostgreSQL/Redis to run on: {one_line(str(exc))}") from None
        check_redis(redis_url)
        return database_url, redis_url

    def _note_started(self, handle: Any) -> None:
        if getattr(handle, "started", False):
            self.say(
                f"Started a throwaway {handle.kind} at {handle.url}; it keeps running for the "
                "next run (stop it with: python -m devtools.servers down)"
            )

    def database(self, database_url: str) -> None:
        settings = Settings.from_env({**self.env, "DATABASE_URL": database_url})
        db.init(settings, create=True, out=self.out)
        self.key = self.create_key(settings)

    def create_key(self, settings: Settings) -> str:
        """A new API key of the default account: the demo's calls and the dashboard use it."""
        engine = db.cli_engine(settings)
        try:
            with db.database_errors(settings.database_url):
                return accounts.create_key(engine, label="leadpipe dev").key
        finally:
            engine.dispose()

    # ---- processes

    def start(self, env: Mapping[str, str]) -> Runner:
        kind = self.options.runner
        if kind == "honcho" and not honcho_available():
            raise CliError("honcho is not installed (pip install -e '.[dev]'); try --runner stack")
        runner = make_runner(kind, env, self.options.log_dir)
        how = "honcho" if isinstance(runner, HonchoRunner) else "devtools.stack"
        if kind == "auto" and how != "honcho":
            self.say("honcho is not installed; running the processes with devtools.stack")
        self.runner = runner
        runner.start()
        self.say(f"Started the Procfile.dev processes with {how} (logs: {runner.log_hint})")
        return runner

    def wait_ready(self, runner: Runner, urls: Mapping[str, str]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for name, path in READY_PATHS.items():
            url = urls[name] + path
            while True:
                dead = runner.dead()
                if dead:
                    self.fail_with_log(runner, f"{dead} before {url} answered")
                try:
                    if httpx.get(url, timeout=1.0).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.fail_with_log(
                        runner, f"{name} did not answer at {url} within {STARTUP_TIMEOUT:.0f} s"
                    )
                time.sleep(0.1)

    def fail_with_log(self, runner: Runner, message: str) -> None:
        tail = runner.log_tail(30)
        if tail:
            print(f"Last lines of {runner.log_hint}:", file=sys.stderr)
            for line in tail.splitlines():
                print(f"  | {line}", file=sys.stderr)
        raise CliError(f"{message} (logs: {runner.log_hint})")

    # ---- the demo proper

    def watch(
        self, api: Api, runner: Runner, baseline: Sequence[StageCounts], total: int
    ) -> tuple[list[StageCounts], bool]:
        """Progress until nothing is queued or started (True) or the timeout (False)."""
        display = ProgressDisplay(self.out, total)
        start = time.monotonic()
        deadline = start + self.options.timeout
        outage_since: float | None = None
        ours: list[StageCounts] = []
        try:
            while True:
                dead = runner.dead()
                if dead:
                    display.close()
                    self.fail_with_log(runner, dead)
                try:
                    current = normalize(api.status()["stages"])
                    outage_since = None
                except httpx.TransportError:
                    outage_since = outage_since or time.monotonic()
                    if time.monotonic() - outage_since > API_OUTAGE_TOLERANCE:
                        raise
                    time.sleep(self.options.poll_interval)
                    continue
                ours = subtract(current, baseline)
                elapsed = time.monotonic() - start
                settled = total_in_flight(current) == 0
                if settled or time.monotonic() > deadline:
                    display.update(ours, elapsed, force=True)
                    return ours, settled
                display.update(ours, elapsed)
                time.sleep(self.options.poll_interval)
        finally:
            display.close()

    def boot(self) -> tuple[Runner, dict[str, str], str]:
        """Servers, database, processes: (runner, URL of each listening process, DATABASE_URL)."""
        Settings.from_env(self.env)  # a bad variable fails now, not in six processes
        ports = choose_ports(self.env)
        database_url, redis_url = self.servers()
        self.database(database_url)
        urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
        secret = self.env.get("WEBHOOK_SECRET") or secrets.token_hex(24)
        env = process_env(
            self.env, database_url=database_url, redis_url=redis_url, ports=ports, secret=secret
        )
        Settings.from_env(env)
        runner = self.start(env)
        self.wait_ready(runner, urls)
        self.say(
            f"Ready: web {urls['web']}, site {urls['site']}, scraper {urls['scraper']}, "
            f"llm {urls['llm']}"
        )
        return runner, urls, database_url

    def push_leads(self, api: Api, runner: Runner, site_url: str) -> Summary:
        """Create the sample leads, press Customize, watch them, and report where they ended."""
        baseline = normalize(api.status()["stages"])
        earlier = total_in_flight(baseline)
        if earlier:
            self.say(
                f"Note: {earlier} leads of an earlier run are still in flight; they finish "
                "now too and may blur the counts below."
            )
        ids = api.create_leads(demo_leads(self.options.leads, site_url))
        report = api.customize(ids)
        self.say(
            f"Created {len(ids)} leads ({self.options.leads} sample companies, one without a "
            "URL, one whose site answers 404) and pressed Customize: "
            f"{len(report.get('queued', []))} queued, {len(report.get('skipped', []))} skipped."
        )
        self.say()
        started = time.monotonic()
        _, settled = self.watch(api, runner, baseline, len(ids))
        elapsed = time.monotonic() - started
        self.say()
        if not settled:
            self.say(f"Timed out after {self.options.timeout:g} s with work still in flight.")
        summary = summarize([api.lead(i) for i in ids])
        for line in summary_lines(summary, elapsed):
            self.say(line)
        self.say()
        if summary.completed:
            for line in email_lines(summary.completed[0]):
                self.say(line)
        else:
            self.say(f"No email was finished; see the logs: {runner.log_hint}")
        self.say()
        return summary

    def run(self) -> int:
        runner, urls, database_url = self.boot()
        api = Api(urls["web"], self.key)
        try:
            summary = self.push_leads(api, runner, urls["site"])
        finally:
            api.close()
        self.say(f"Dashboard: {urls['web']}/#key={self.key}")
        self.say(f"API key (default account, made for this run): {self.key}")
        self.say(f"Monitoring: DATABASE_URL={db.redact(database_url)} leadpipe status")
        if self.options.exit:
            return 0 if summary.completed else 1
        self.say("Everything keeps running; press Ctrl-C to stop.")
        while True:
            dead = runner.dead()
            if dead:
                self.fail_with_log(runner, dead)
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the processes; a second Ctrl-C meanwhile must not leave orphans behind."""
        if self.runner is None:
            return
        runner, self.runner = self.runner, None
        # Output may be what failed (a closed pipe): it must not keep the processes alive.
        with contextlib.suppress(OSError):
            self.say("Stopping the processes…")
        with ignoring_interrupts():
            runner.stop()
        with contextlib.suppress(OSError):
            self.say("Stopped.")


def check_redis(url: str) -> None:
    """Fail early and clearly when Redis does not answer (the worker would only log it)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:
        raise CliError(f"REDIS_URL is not a Redis URL: {exc}", code=2) from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise CliError(f"cannot reach Redis at {db.redact(url)}: {one_line(str(exc))}") from None
    finally:
        client.close()


@contextlib.contextmanager
def ignoring_interrupts() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run(
    options: DevOptions, env: Mapping[str, str] | None = None, out: TextIO | None = None
) -> int:
    """Run the demo; the processes are stopped however it ends (return, error, Ctrl-C,
    SIGTERM)."""
    demo = Demo(options, dict(os.environ if env is None else env), out or sys.stdout)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return demo.run()
    finally:
        demo.stop()
        signal.signal(signal.SIGTERM, previous)
