"""``leadpipe``: argument parsing and dispatch. The commands live in their own modules."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cli.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliError,
    Terminated,
    database_error_reason,
    one_line,
)

DESCRIPTION = """\
Leadpipe turns sales leads into personalised outreach: each lead goes through scrape,
intel, strategy, subject and messaging stages, driven by web, worker and clock processes.
Configuration comes from the environment (DATABASE_URL, REDIS_URL, ...)."""

EPILOG = """\
examples:
  leadpipe db init                 apply schema.sql to DATABASE_URL (the release step)
  leadpipe import leads.csv        upload leads (LEADPIPE_URL, LEADPIPE_API_KEY)
  leadpipe customize --import 3    start a run for an import's leads
  leadpipe run 7                   a run's progress per stage, live until it ends
  leadpipe export 7 --format xlsx  save a run's leads and emails
  leadpipe status                  queue depth and stage durations
  leadpipe keys create             a new API key for the default account (printed once)
  leadpipe dev                     run everything locally with sample leads
  leadpipe dev --exit --leads 5    the same, then stop (exit 0 if an email was written)"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="leadpipe", description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser(
        "db",
        help="database commands (db init)",
        description="Database commands.",
        formatter_class=formatter,
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    init = db_commands.add_parser(
        "init",
        help="apply schema.sql to DATABASE_URL (idempotent)",
        description=(
            "Apply schema.sql to the database DATABASE_URL names. Safe to repeat and to run\n"
            "concurrently (an advisory lock serialises it): it is the Procfile's release step.\n"
            "If the database does not exist, this says so; --create creates it first."
        ),
        formatter_class=formatter,
    )
    init.add_argument(
        "--create",
        action="store_true",
        help="create the database if it is missing (connects to the server's 'postgres' "
        "database to do so)",
    )

    db_commands.add_parser(
        "migrate",
        help="apply schema.sql to DATABASE_URL (the same as init: the schema is idempotent)",
        description=(
            "Bring the database DATABASE_URL names up to this version's schema.sql. The\n"
            "schema only adds what is missing (CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT\n"
            "EXISTS), so this is 'db init' on an existing database."
        ),
        formatter_class=formatter,
    )

    status_parser = commands.add_parser(
        "status",
        help="show queue depth and stage durations",
        description=(
            "Print the monitoring views of DATABASE_URL as tables: how many leads each stage\n"
            "has in each state (stage_queue_depth), and how long completed attempts took\n"
            "from claim to completion (stage_durations).\n"
            "With --api it asks the web process instead (GET /status at LEADPIPE_URL, with\n"
            "LEADPIPE_API_KEY): the key's account only, queue depth only."
        ),
        formatter_class=formatter,
    )
    status_parser.add_argument(
        "--api", action="store_true", help="ask the HTTP API instead of the database"
    )

    keys = commands.add_parser(
        "keys",
        help="API keys (keys create, keys list, keys revoke)",
        description=(
            "API keys. Every API request carries one ('Authorization: Bearer <key>' or\n"
            "'X-API-Key: <key>') and acts for the key's account only."
        ),
        formatter_class=formatter,
    )
    keys_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    create_key = keys_commands.add_parser(
        "create",
        help="create an API key and print it (it is shown only this once)",
        description=(
            "Create an API key for an account, creating the account if it is missing, and\n"
            "print the key alone on stdout (KEY=$(leadpipe keys create) works). Only its\n"
            "hash is stored: it cannot be shown again."
        ),
        formatter_class=formatter,
    )
    create_key.add_argument(
        "--account",
        default="default",
        metavar="NAME",
        help="the account the key acts for (default: 'default', the single-tenant account)",
    )
    create_key.add_argument(
        "--label", default="", metavar="TEXT", help="a note shown by 'keys list'"
    )
    list_keys = keys_commands.add_parser(
        "list",
        help="list API keys (their prefixes, never the keys)",
        description="List API keys: id, account, the key's first characters, label, dates.",
        formatter_class=formatter,
    )
    list_keys.add_argument("--account", default=None, metavar="NAME", help="only this account")
    revoke_key = keys_commands.add_parser(
        "revoke",
        help="revoke an API key by its id",
        description=(
            "Revoke an API key (its id is in 'keys list'). Web processes refuse it within\n"
            "API_KEY_CACHE_SECONDS (default 10)."
        ),
        formatter_class=formatter,
    )
    revoke_key.add_argument("key_id", type=_positive_int, metavar="ID", help="the key's id")

    dev = commands.add_parser(
        "dev",
        help="run the whole pipeline locally with sample leads (the demo)",
        description=(
            "Run Leadpipe locally: make sure the database exists and has the schema, start\n"
            "every Procfile.dev process (local site, scraper and LLM services, web, worker,\n"
            "clock) on free loopback ports, push sample leads through all five stages with\n"
            "live progress, then print a summary, one finished email and the dashboard URL.\n"
            "\n"
            "PostgreSQL and Redis come from DATABASE_URL / REDIS_URL, else from 127.0.0.1's\n"
            "default ports, else throwaway servers are started (see devtools.servers).\n"
            "Ports default to 8000 (web), 8100 (site), 8101 (scraper), 8102 (llm); a taken\n"
            "one is replaced by a free one, and PORT / SITE_PORT / SCRAPER_PORT / LLM_PORT\n"
            "pin them. Process output goes to .local/dev/."
        ),
        formatter_class=formatter,
    )
    dev.add_argument(
        "--leads",
        type=_positive_int,
        default=24,
        metavar="N",
        help="sample companies to create leads for (default: 24); one lead without a URL "
        "and one whose site answers 404 are always added",
    )
    dev.add_argument(
        "--timeout",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="give up waiting for the leads after this long (default: 300)",
    )
    dev.add_argument(
        "--exit",
        action="store_true",
        help="stop everything after the summary instead of running until Ctrl-C; exit 0 "
        "if at least one email was written, else 1",
    )
    dev.add_argument(
        "--runner",
        choices=("auto", "honcho", "stack"),
        default="auto",
        help="how to run the Procfile: honcho (one log), devtools.stack (a log per "
        "process), or auto: honcho when installed (default)",
    )
    dev.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the processes' output goes (default: .local/dev/ in the repository)",
    )
    from cli import commands as api_commands

    api_commands.register(commands, formatter)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command; imports are local so ``--help`` stays fast."""
    if args.command == "dev":
        from cli import dev

        options = dev.DevOptions(
            leads=args.leads, timeout=args.timeout, exit=args.exit, runner=args.runner
        )
        if args.log_dir is not None:
            options.log_dir = args.log_dir.resolve()
        return dev.run(options)

    from cli import commands as api_commands

    if args.command in api_commands.COMMANDS:
        return api_commands.dispatch(args)
    if args.command == "status" and args.api:
        from cli.remote import Remote

        api_commands.status_via_api(Remote.from_env(), sys.stdout)
        return 0

    from pipeline.config import Settings

    settings = Settings.from_env()
    if args.command == "db" and args.db_command == "migrate":
        from cli import db

        db.init(settings, out=sys.stdout)
        return 0
    if args.command == "db" and args.db_command == "init":
        from cli import db

        db.init(settings, create=args.create, out=sys.stdout)
        return 0
    if args.command == "status":
        from cli import status

        status.show(settings, out=sys.stdout)
        return 0
    if args.command == "keys":
        from cli import keys

        if args.keys_command == "create":
            keys.create(
                settings, account=args.account, label=args.label, out=sys.stdout, err=sys.stderr
            )
        elif args.keys_command == "list":
            keys.show(settings, account=args.account, out=sys.stdout)
        else:
            keys.revoke(settings, key_id=args.key_id, out=sys.stdout)
        return 0
    raise CliError(f"unknown command {args.command!r}", code=EXIT_USAGE)


def fail(message: str, code: int) -> int:
    print(f"leadpipe: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The ``leadpipe`` entry point: every failure becomes one line on stderr."""
    args = build_parser().parse_args(argv)  # exits 2 with usage on bad arguments
    # Imported here: they are heavy, and --help must not need them.
    import httpx
    import sqlalchemy.exc

    from pipeline.config import ConfigError

    try:
        return dispatch(args)
    except CliError as exc:
        return fail(exc.message, exc.code)
    except ConfigError as exc:
        return fail(f"configuration error: {exc}", EXIT_USAGE)
    except sqlalchemy.exc.OperationalError as exc:
        return fail(f"database unreachable: {database_error_reason(exc)}", EXIT_FAILURE)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        return fail(f"database error: {database_error_reason(exc)}", EXIT_FAILURE)
    except httpx.HTTPError as exc:
        where = ""
        with_request = getattr(exc, "_request", None)
        if with_request is not None:
            where = f" ({with_request.method} {with_request.url})"
        return fail(f"HTTP error{where}: {one_line(str(exc)) or type(exc).__name__}", 1)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return fail("interrupted", EXIT_INTERRUPTED)
    except Terminated:
        return fail("terminated", EXIT_TERMINATED)
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:  # the promise: one line, never a traceback
        if os.environ.get("LEADPIPE_DEBUG"):
            raise
        return fail(
            f"unexpected {type(exc).__name__}: {one_line(str(exc))} "
            "(set LEADPIPE_DEBUG=1 for the traceback)",
            EXIT_FAILURE,
        )


if __name__ == "__main__":
    raise SystemExit(main())
