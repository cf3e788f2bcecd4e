"""The command line: ``up``, ``down``, ``status`` and ``start-system``.

Progress goes to stderr, shell code to stdout::

    eval "$(python -m devtools.servers up)"   # export DATABASE_URL=... REDIS_URL=...
    python -m devtools.servers status
    python -m devtools.servers down            # stop the throwaway servers in .local/
    python3 -m devtools.servers start-system   # CI: start the machine's own services
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from devtools.servers.common import (
    DEFAULT_DATA_ROOT,
    DEFAULT_PORTS,
    HOST,
    KINDS,
    URL_VARIABLES,
    ServerError,
    say,
)
from devtools.servers.handle import ServerHandle, redact
from devtools.servers.postgres import ensure_postgres
from devtools.servers.probe import ANSWERS
from devtools.servers.processes import process_alive
from devtools.servers.redis import ensure_redis
from devtools.servers.system import start_system_services
from devtools.servers.throwaway import recorded_throwaway, stop_throwaway

#: Set to 1 to make the command line skip DATABASE_URL/REDIS_URL and the default ports.
FORCE_THROWAWAY_ENV = "LEADPIPE_FORCE_THROWAWAY"


def _cmd_up(args: argparse.Namespace) -> int:
    force = args.throwaway or os.environ.get(FORCE_THROWAWAY_ENV, "") in ("1", "true", "yes")
    handles: list[ServerHandle] = []
    try:
        for ensure in (ensure_postgres, ensure_redis):
            handle = ensure(
                os.environ, args.data_root, allow_start=not args.no_start, prefer_existing=not force
            )
            handles.append(handle)
    except Exception as exc:  # stop what we started, whatever went wrong
        for handle in handles:
            handle.stop()  # a no-op for servers we did not start
        say(f"error: {exc}")
        return 1
    pg, rd = handles
    started = [handle for handle in handles if handle.started]
    for handle in handles:
        say(f"{handle.kind}: {redact(handle.url)} ({handle.source})")
    print(f"export DATABASE_URL={shlex.quote(pg.url)}")
    print(f"export REDIS_URL={shlex.quote(rd.url)}")
    print(f"export LEADPIPE_SERVERS_STARTED={shlex.quote(' '.join(h.kind for h in started))}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    kinds = args.kinds or list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        say(f"error: unknown server kind(s) {' '.join(unknown)}; use postgres and/or redis")
        return 2
    try:
        stopped = stop_throwaway(args.data_root, kinds)
    except ServerError as exc:
        say(f"error: {exc}")
        return 1
    if not stopped:
        say(f"no throwaway {' or '.join(kinds)} running from {args.data_root}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    data_root = Path(args.data_root)
    for kind in KINDS:
        variable, port = URL_VARIABLES[kind], DEFAULT_PORTS[kind]
        print(f"{kind}:")
        print(f"  {variable}: {os.environ.get(variable) or '(not set)'}")
        answering = ANSWERS[kind](HOST, port)
        print(f"  {HOST}:{port}: {'answering' if answering else 'not answering'}")
        pid, tport = recorded_throwaway(data_root, kind)
        if process_alive(pid):
            print(f"  throwaway: running, pid {pid}, {HOST}:{tport}")
        else:
            print("  throwaway: not running")
    return 0


def _cmd_start_system(args: argparse.Namespace) -> int:
    start_system_services(os.environ, timeout=args.timeout)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.servers",
        description="Find or start the PostgreSQL and Redis servers Leadpipe needs.",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"folder for throwaway servers' data and pidfiles (default {DEFAULT_DATA_ROOT})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="print `export DATABASE_URL=... REDIS_URL=...` for eval")
    up.add_argument("--no-start", action="store_true", help="never start throwaway servers")
    up.add_argument(
        "--throwaway",
        action="store_true",
        help=f"ignore DATABASE_URL/REDIS_URL and the default ports (also {FORCE_THROWAWAY_ENV}=1)",
    )
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the throwaway servers recorded in the data root")
    down.add_argument(
        "kinds", nargs="*", metavar="KIND", help="postgres and/or redis (default both)"
    )
    down.set_defaults(func=_cmd_down)
    status = sub.add_parser("status", help="what is reachable and what is running")
    status.set_defaults(func=_cmd_status)
    system = sub.add_parser("start-system", help="start the machine's own services (CI)")
    system.add_argument("--timeout", type=float, default=30.0)
    system.set_defaults(func=_cmd_start_system)
    args = parser.parse_args(argv)
    return args.func(args)
