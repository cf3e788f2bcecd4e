"""The commands that talk to the HTTP API: ``import``, ``customize``, ``runs``, ``run``,
``export`` (and ``status --api``). ``register`` adds their parsers, ``dispatch`` runs one.

They find the web process at ``LEADPIPE_URL`` (default http://127.0.0.1:8000) and act for
the account of ``LEADPIPE_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cli.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from cli.importing import report_lines, run_started_lines
from cli.progress import STAGE_NAMES
from cli.runview import LIVE, RunDisplay, follow, run_lines, runs_table

if TYPE_CHECKING:  # httpx is imported only when a command runs: --help stays fast
    from cli.remote import Remote

COMMANDS = frozenset({"import", "customize", "runs", "run", "export"})

API_ENVIRONMENT = """\
The web process is found at LEADPIPE_URL (default http://127.0.0.1:8000) and the command
acts for the account of the API key in LEADPIPE_API_KEY (make one with: leadpipe keys create)."""


def _id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an id (a whole number), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"ids start at 1, got {value}")
    return value


def _usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount in USD, got {text!r}") from None
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 60 seconds, got {text}")
    return value


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="SECONDS",
        help="how often to ask for the run while following it (default: 1)",
    )


def register(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add the API commands to ``leadpipe``'s subparsers."""

    def add(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=f"{description}\n\n{API_ENVIRONMENT}",
            formatter_class=formatter,
        )

    imp = add(
        "import",
        "import leads from a CSV file (POST /imports) and print the report",
        "Upload a CSV file of leads. The header is matched by name (email is required;\n"
        "name or first/last name, company, website/url/domain, title are optional). Good\n"
        "rows land even when others are rejected; the report lists rejected rows with\n"
        "their line number and reason.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file (UTF-8)")
    imp.add_argument(
        "--dedupe",
        choices=("email", "domain"),
        default="email",
        help="what counts as a duplicate of an existing lead (default: email)",
    )
    imp.add_argument("--json", action="store_true", help="print the API's answer as JSON")

    cust = add(
        "customize",
        "start a run: queue leads through the pipeline (POST /runs)",
        "Start a run for some leads: by id, every lead of an import, or every lead that\n"
        "never started. Leads already in an active run are left alone. With --from-stage,\n"
        "re-run leads from that stage (earlier results are kept, replaced ones versioned).",
    )
    cust.add_argument("ids", nargs="*", type=_id, metavar="ID", help="lead ids")
    which = cust.add_mutually_exclusive_group()
    which.add_argument(
        "--import", dest="import_id", type=_id, metavar="ID", help="an import's leads"
    )
    which.add_argument(
        "--all-pending", action="store_true", help="every lead that has not started yet"
    )
    cust.add_argument(
        "--from-stage",
        choices=STAGE_NAMES,
        metavar="STAGE",
        help=f"one of {', '.join(STAGE_NAMES)}",
    )
    cust.add_argument(
        "--budget", type=_usd, metavar="USD", help="pause the run when its LLM spend reaches this"
    )
    cust.add_argument(
        "--follow", action="store_true", help="then show the run's progress until it ends"
    )
    _follow_options(cust)
    cust.add_argument("--json", action="store_true", help="print the API's answer as JSON")

    runs = add("runs", "list runs, newest first (GET /runs)", "List the account's runs.")
    runs.add_argument(
        "--limit", type=_id, default=20, metavar="N", help="how many (default: 20, at most 200)"
    )
    runs.add_argument("--json", action="store_true", help="print the API's answer as JSON")

    run = add(
        "run",
        "show one run with live progress per stage until it ends",
        "Show a run: a bar per stage, leads done, ETA and spend, redrawn in place until\n"
        "the run completes, fails or is cancelled (Ctrl-C stops watching, not the run).\n"
        "Exit status: 0 when the run completed, 1 when it failed or was cancelled.",
    )
    run.add_argument("run_id", type=_id, metavar="ID", help="the run's id")
    run.add_argument("--no-follow", action="store_true", help="print the run once and exit")
    _follow_options(run)
    run.add_argument("--json", action="store_true", help="print the run once as JSON")

    exp = add(
        "export",
        "save a run's leads as CSV or XLSX (GET /exports/leads.csv|xlsx)",
        "Save every lead of a run, with each stage's status and error, the fit score and\n"
        "the email, as a CSV or XLSX file.",
    )
    exp.add_argument("run_id", type=_id, metavar="RUN", help="the run's id")
    exp.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="default: csv")
    exp.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: the server's file name, e.g. leads-run-7.csv, "
        "in the current directory; '-' for stdout)",
    )


def dispatch(
    args: argparse.Namespace, remote: Remote | None = None, out: TextIO | None = None
) -> int:
    from cli.remote import Remote

    out = out or sys.stdout
    remote = remote or Remote.from_env()
    try:
        handler = HANDLERS[args.command]
        return handler(args, remote, out)
    finally:
        remote.close()


def _json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, default=str), file=out)


def do_import(args: argparse.Namespace, remote: Remote, out: TextIO) -> int:
    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}", EXIT_USAGE)
    record = remote.import_csv(args.file, args.dedupe)
    if args.json:
        _json(record, out)
    else:
        for line in report_lines(record):
            print(line, file=out)
    return 0


def run_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /runs`` body of ``leadpipe customize``'s arguments."""
    given = sum((bool(args.ids), args.import_id is not None, bool(args.all_pending)))
    if given != 1:
        raise CliError("give lead ids, --import ID or --all-pending (exactly one)", EXIT_USAGE)
    body: dict[str, Any]
    if args.ids:
        body = {"lead_ids": list(dict.fromkeys(args.ids))}
    elif args.import_id is not None:
        body = {"import_id": args.import_id}
    else:
        body = {"all_pending": True}
    if args.from_stage:
        body["from_stage"] = args.from_stage
    if args.budget is not None:
        body["budget_usd"] = args.budget
    return body


def do_customize(args: argparse.Namespace, remote: Remote, out: TextIO) -> int:
    report = remote.start_run(run_body(args))
    if args.json:
        _json(report, out)
    if report.get("run_id") is None:
        raise CliError(run_started_lines(report)[0])
    if not args.json:
        for line in run_started_lines(report):
            print(line, file=out)
    if args.follow:
        return _watch(remote, report["run_id"], args.interval, out)
    return 0


def do_runs(args: argparse.Namespace, remote: Remote, out: TextIO) -> int:
    items = remote.runs(min(args.limit, 200))
    if args.json:
        _json(items, out)
    elif not items:
        print("no runs yet; start one with: leadpipe customize --all-pending", file=out)
    else:
        for line in runs_table(items):
            print(line, file=out)
    return 0


def outcome(run: Mapping[str, Any]) -> int:
    return 0 if run.get("status") in LIVE | {"completed"} else EXIT_FAILURE


def _watch(remote: Remote, run_id: int, interval: float, out: TextIO) -> int:
    final = follow(lambda: remote.run(run_id), RunDisplay(out), interval=interval)
    return outcome(final)


def do_run(args: argparse.Namespace, remote: Remote, out: TextIO) -> int:
    if args.json:
        _json(remote.run(args.run_id), out)
        return 0
    if args.no_follow:
        run = remote.run(args.run_id)
        for line in run_lines(run, charset=RunDisplay(out, tty=False).charset):
            print(line, file=out)
        return 0
    return _watch(remote, args.run_id, args.interval, out)


def do_export(args: argparse.Namespace, remote: Remote, out: TextIO) -> int:
    if args.output == "-" and args.format == "xlsx" and out.isatty():
        raise CliError("an XLSX file on a terminal is unreadable: use -o FILE", EXIT_USAGE)
    binary = getattr(out, "buffer", None)
    written = remote.export(args.run_id, args.format, args.output, binary)
    if written is not None:
        print(f"wrote run {args.run_id}'s leads to {written}", file=out)
    return 0


HANDLERS = {
    "import": do_import,
    "customize": do_customize,
    "runs": do_runs,
    "run": do_run,
    "export": do_export,
}


def status_via_api(remote: Remote, out: TextIO) -> None:
    """``leadpipe status --api``: the account's leads per stage and state, from ``GET /status``."""
    from cli.status import depth_table

    try:
        body = remote.status()
    finally:
        remote.close()
    print(f"Queue depth (this key's account, from {remote.url})", file=out)
    for line in depth_table(body.get("stages") or []):
        print(f"  {line}", file=out)
