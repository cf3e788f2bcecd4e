"""``python -m localservices {site|scraper|llm} [options]``: run one local service.

Every option can also come from the environment: ``LOCAL_<SERVICE>_<OPTION>`` first, then
``LOCAL_<OPTION>`` (e.g. ``LOCAL_SCRAPER_AUTH_TOKEN``, ``LOCAL_WEBHOOK_SECRET``,
``LOCAL_LATENCY_MS``); a command-line flag wins over both.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from localservices import llm, scraper, site
from localservices.knobs import KnobError, Knobs
from localservices.server import serve

SERVICES = ("site", "scraper", "llm")
DEFAULT_PORTS = {"site": 8100, "scraper": 8101, "llm": 8102}
#: (flag, type, help) of the knobs, shared by scraper and llm.
KNOB_FLAGS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("latency-ms", int, "how long a job / batch / chat request takes"),
    ("fail-rate", float, "fraction of jobs / requests that fail retriably (503 / overloaded)"),
    ("rate-429", float, "fraction of submit POSTs answered 429"),
    ("retry-after-seconds", int, "Retry-After of those 429s"),
    ("rate-5xx", float, "fraction of submit POSTs answered 503"),
    ("callback-loss", float, "fraction of callbacks never sent"),
    ("callback-duplicate", float, "fraction of callbacks sent twice"),
    ("callback-early", float, "fraction of submissions called back before the submit answers"),
    ("seed", int, "seed of the random source"),
)


def _env(env: Mapping[str, str], service: str, name: str) -> tuple[str, str] | None:
    """(variable, value) of the first of ``LOCAL_<SERVICE>_<NAME>``, ``LOCAL_<NAME>`` set."""
    key = name.upper().replace("-", "_")
    for variable in (f"LOCAL_{service.upper()}_{key}", f"LOCAL_{key}"):
        value = env.get(variable)
        if value not in (None, ""):
            return variable, value
    return None


def _truthy(found: tuple[str, str] | None) -> bool:
    return found is not None and found[1].strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> argparse.Namespace:
    service = next((arg for arg in argv if arg in SERVICES), "site")

    def default(name: str, convert: Callable[[str], Any] = str, fallback: Any = None) -> Any:
        found = _env(env, service, name)
        if found is None:
            return fallback
        variable, raw = found
        try:
            return convert(raw)
        except ValueError:
            kind = "whole number" if convert is int else "number"
            raise SystemExit(f"{variable} must be a {kind}, got {raw!r}") from None

    parser = argparse.ArgumentParser(prog="python -m localservices", description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--host", default=default("host", fallback="127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=default("port", int, DEFAULT_PORTS[service]),
        help="0 picks a free port (printed in the 'listening on' line)",
    )
    parser.add_argument(
        "--threads", type=int, default=default("threads", int, 32), help="HTTP server threads"
    )
    parser.add_argument(
        "--job-threads",
        type=int,
        default=default("job-threads", int),
        help="background threads running jobs / batches (scraper 32, llm 16)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=default("webhook-secret", fallback=""),
        help="signs callbacks; without it no callback is sent",
    )
    parser.add_argument(
        "--auth-token",
        default=default("auth-token", fallback=""),
        help="required from clients when set (X-Auth-Token / Authorization: Bearer)",
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        default=_truthy(_env(env, service, "allow-private")),
        help="let the scraper crawl private and loopback addresses (dev and tests)",
    )
    parser.add_argument(
        "--fetch-timeout-ms", type=int, default=default("fetch-timeout-ms", int, 10_000)
    )
    parser.add_argument("--listed", type=int, default=50, help="site: companies linked from /")
    for flag, convert, help_text in KNOB_FLAGS:
        parser.add_argument(
            f"--{flag}", type=convert, default=default(flag, convert), help=help_text
        )
    return parser.parse_args(argv)


def knobs_from(args: argparse.Namespace) -> Knobs:
    values = {
        flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
        for flag, _, _ in KNOB_FLAGS
        if getattr(args, flag.replace("-", "_")) is not None
    }
    return Knobs().with_changes(values)


def app_factory(args: argparse.Namespace) -> Callable[[], Any]:
    """What the gunicorn worker calls to build the service's app."""
    if args.service == "site":
        return lambda: site.create_app(listed=args.listed)
    knobs = knobs_from(args)  # validated here, so a bad flag fails before gunicorn starts
    if args.service == "scraper":
        return lambda: scraper.create_app(
            auth_token=args.auth_token,
            webhook_secret=args.webhook_secret,
            allow_private=args.allow_private,
            knobs=knobs,
            fetch_timeout_ms=args.fetch_timeout_ms,
            job_threads=args.job_threads or 32,
        )
    return lambda: llm.create_app(
        auth_token=args.auth_token,
        webhook_secret=args.webhook_secret,
        knobs=knobs,
        batch_threads=args.job_threads or 16,
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv, os.environ if env is None else env)
    try:
        factory = app_factory(args)
    except KnobError as exc:
        raise SystemExit(f"python -m localservices: {exc}") from None
    serve(factory, args.host, args.port, args.service, threads=args.threads)
