"""The API commands of ``leadpipe`` without a server: argument parsing, the request bodies
they send, what they print, and how HTTP failures become one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from cli import commands
from cli.errors import CliError
from cli.importing import report_lines, run_started_lines
from cli.main import build_parser, main
from cli.remote import Remote, base_url, suggested_name
from cli.runview import RunDisplay, follow, headline, run_lines, runs_table, stage_counts


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def run(status="running", **extra):
    body = {
        "id": 7,
        "status": status,
        "selection": {"import_id": 3},
        "lead_count": 4,
        "leads": {"active": 2, "completed": 1, "failed": 1, "skipped": 0},
        "counts": {
            "scrape": {"completed": 3, "failed": 1},
            "intel": {"completed": 1, "started": 2, "pending": 1},
            "strategy": {"completed": 1, "pending": 3},
            "subject": {"queued": 1, "pending": 3},
            "messaging": {"pending": 4},
        },
        "progress": {},
        "fit_score_avg": 61.4,
        "budget_usd": 2.0,
        "spent_usd": 0.0123,
        "eta_seconds": 12.4,
        "paused_reason": None,
        "started_at": "2026-01-02T03:04:05+00:00",
        "created_at": "2026-01-02T03:04:05+00:00",
    }
    body.update(extra)
    return body


# ---------------------------------------------------------------- parsing


def test_customize_takes_ids_or_an_import_or_all_pending_and_run_options():
    args = parse("customize", "3", "1", "3", "--from-stage", "intel", "--budget", "2.5")
    assert commands.run_body(args) == {
        "lead_ids": [3, 1],
        "from_stage": "intel",
        "budget_usd": 2.5,
    }
    assert commands.run_body(parse("customize", "--import", "4")) == {"import_id": 4}
    assert commands.run_body(parse("customize", "--all-pending")) == {"all_pending": True}


@pytest.mark.parametrize(
    "argv",
    [["customize"], ["customize", "1", "--import", "2"], ["customize", "5", "--all-pending"]],
)
def test_customize_wants_exactly_one_selection(argv):
    with pytest.raises(CliError) as raised:
        commands.run_body(parse(*argv))
    assert raised.value.code == 2
    assert "exactly one" in raised.value.message


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["customize", "--import", "1", "--all-pending"], "not allowed with"),
        (["customize", "0"], "ids start at 1"),
        (["customize", "x"], "expected an id"),
        (["customize", "--budget", "-1", "--all-pending"], "must be 0 or more"),
        (["customize", "--from-stage", "email", "--all-pending"], "invalid choice"),
        (["run"], "required"),
        (["run", "7", "--interval", "0"], "between 0.1 and 60"),
        (["export", "7", "--format", "pdf"], "invalid choice"),
        (["db", "upgrade"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_usage_line(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["import"],
        ["customize"],
        ["runs"],
        ["run"],
        ["export"],
        ["db", "migrate"],
        ["status"],
    ],
)
def test_every_command_explains_itself(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    assert "usage: leadpipe" in capsys.readouterr().out


def test_run_follows_by_default_and_export_defaults_to_csv():
    args = parse("run", "7")
    assert (args.run_id, args.no_follow, args.interval) == (7, False, 1.0)
    args = parse("export", "7")
    assert (args.run_id, args.format, args.output) == (7, "csv", None)
    assert parse("db", "migrate").db_command == "migrate"
    assert parse("status", "--api").api is True


def test_without_a_key_an_api_command_says_how_to_get_one(monkeypatch, capsys):
    monkeypatch.delenv("LEADPIPE_API_KEY", raising=False)
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "LEADPIPE_API_KEY" in err and "leadpipe keys create" in err


def test_a_bad_url_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("LEADPIPE_API_KEY", "lp_x")
    monkeypatch.setenv("LEADPIPE_URL", "localhost:8000")
    assert main(["runs"]) == 2
    assert "LEADPIPE_URL must be an http(s) URL" in capsys.readouterr().err
    assert base_url({"LEADPIPE_URL": "https://lp.example/ "}) == "https://lp.example"
    assert base_url({}) == "http://127.0.0.1:8000"


# ---------------------------------------------------------------- HTTP failures


def remote(handler) -> Remote:
    return Remote("http://lp.test", "lp_key", transport=httpx.MockTransport(handler))


def problem(status: int, title: str, description: str):
    return lambda request: httpx.Response(status, json={"title": title, "description": description})


def test_a_refused_key_names_the_variable():
    with pytest.raises(CliError) as raised:
        remote(problem(401, "Invalid API key", "not one this server issued")).runs()
    assert raised.value.message == (
        "the API refused the key in LEADPIPE_API_KEY: not one this server issued"
    )


def test_a_missing_run_is_not_found_and_other_errors_name_the_request():
    with pytest.raises(CliError, match=r"^not found: run 9$"):
        remote(problem(404, "Not found", "run 9")).run(9)
    with pytest.raises(CliError, match=r"^POST /runs answered 422: give exactly one"):
        remote(problem(422, "Invalid request", "give exactly one")).start_run({})


def test_an_unreachable_server_says_where_and_what_to_check(monkeypatch, capsys):
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(CliError) as raised:
        remote(refuse).runs()
    assert raised.value.message == (
        "cannot reach the Leadpipe API at http://lp.test (connection refused); "
        "is the web process running? (set LEADPIPE_URL to point elsewhere)"
    )
    # And through main, as one line, against a port nothing listens on.
    monkeypatch.setenv("LEADPIPE_API_KEY", "lp_x")
    monkeypatch.setenv("LEADPIPE_URL", "http://127.0.0.1:9")
    assert main(["run", "1", "--no-follow"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("leadpipe: cannot reach the Leadpipe API at http://127.0.0.1:9")
    assert err.count("\n") == 1


def test_import_streams_the_file_as_csv_and_names_it(tmp_path):
    seen = {}

    def answer(request: httpx.Request):
        seen.update(
            body=request.read(),
            type=request.headers["Content-Type"],
            params=dict(request.url.params),
        )
        return httpx.Response(201, json={"id": 3})

    path = tmp_path / "my leads.csv"
    path.write_bytes(b"email\nada@acme.test\n")
    assert remote(answer).import_csv(path, "domain") == {"id": 3}
    assert seen == {
        "body": b"email\nada@acme.test\n",
        "type": "text/csv",
        "params": {"dedupe": "domain", "filename": "my leads.csv"},
    }


def test_an_export_lands_whole_under_the_servers_name_or_on_stdout(tmp_path, monkeypatch):
    def answer(request: httpx.Request):
        assert request.url.path == "/exports/leads.csv" and request.url.params["run"] == "7"
        return httpx.Response(
            200,
            content=b"id,email\n1,a@b.test\n",
            headers={"Content-Disposition": 'attachment; filename="leads-run-7.csv"'},
        )

    monkeypatch.chdir(tmp_path)
    assert remote(answer).export(7, "csv", None, io.BytesIO()) == "leads-run-7.csv"
    assert (tmp_path / "leads-run-7.csv").read_bytes() == b"id,email\n1,a@b.test\n"
    out = io.BytesIO()
    assert remote(answer).export(7, "csv", "-", out) is None
    assert out.getvalue() == b"id,email\n1,a@b.test\n"
    assert remote(answer).export(7, "csv", str(tmp_path / "x.csv"), out).endswith("x.csv")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_export_leaves_no_file(tmp_path):
    with pytest.raises(CliError, match="not found: run 7"):
        remote(problem(404, "Not found", "run 7")).export(7, "xlsx", str(tmp_path / "x"), None)
    assert list(tmp_path.iterdir()) == []


def test_the_suggested_name_is_only_a_file_name():
    def response(disposition):
        return httpx.Response(200, headers={"Content-Disposition": disposition})

    assert suggested_name(response('attachment; filename="../../etc/x.csv"'), "d") == "x.csv"
    assert suggested_name(response("attachment"), "leads.csv") == "leads.csv"


# ---------------------------------------------------------------- rendering


def test_a_stage_the_rollup_has_not_counted_expects_every_lead():
    counts = stage_counts({"counts": {}, "lead_count": 4})
    assert [c.stage for c in counts] == ["scrape", "intel", "strategy", "subject", "messaging"]
    lines = run_lines(run(counts={}), bar_width=10)
    assert all("0/4" in line and "waiting" in line for line in lines[2:])


def test_the_run_view_has_a_headline_and_a_bar_per_stage():
    lines = run_lines(run(tokens={"input": 1234, "output": 56}), bar_width=8)
    assert lines[0] == "Run 7 · running · 2/4 leads done (1 emails, 1 failed, 0 skipped) · ETA 12 s"
    assert lines[1] == "  spent $0.0123 of $2.00 budget · 1,234 in / 56 out tokens · avg fit 61"
    scrape, intel, strategy, subject, messaging = lines[2:]
    assert "██████▒▒" in scrape and "4/4" in scrape and "3 completed · 1 failed" in scrape
    # A lead that failed at scrape stays pending at intel: intel expects three.
    assert "1/3" in intel and "2 started" in intel
    assert "1/3" in strategy
    assert "0/3" in subject and "1 queued" in subject
    assert "0/3" in messaging and "waiting" in messaging


def test_a_paused_run_says_why_and_a_finished_one_has_no_eta():
    lines = run_lines(run("paused", paused_reason="budget cap reached: spent $2.01 of $2.0"))
    assert lines[2] == "  paused: budget cap reached: spent $2.01 of $2.0"
    assert "ETA" not in headline(run("completed")) and "ETA" not in lines[0]


def test_the_runs_table_has_a_row_per_run():
    lines = runs_table([run(), run("completed", id=6, budget_usd=None, spent_usd=1.5)])
    assert lines[0].split() == [
        "id", "status", "selection", "leads", "done", "emails", "failed", "spent", "budget",
        "started", "(UTC)",
    ]  # fmt: skip
    assert lines[2].split()[:4] == ["7", "running", "import", "3"]
    assert "$1.50" in lines[3] and lines[3].split()[9] == "-"


def test_on_a_terminal_the_view_is_redrawn_in_place():
    out = io.StringIO()
    display = RunDisplay(out, tty=True, columns=120)
    display.update(run())
    display.update(run("completed", leads={"active": 0, "completed": 3, "failed": 1}))
    display.close()
    text = out.getvalue()
    assert text.startswith("\x1b[?25l")  # cursor hidden while drawing
    assert "\x1b[7F" in text  # up seven lines: the second frame replaces the first
    assert text.endswith("\x1b[?25h")


def test_in_a_log_each_change_is_one_line_and_the_end_is_the_whole_view():
    out = io.StringIO()
    clock = iter([0.0, 0.5, 3.0, 4.0]).__next__
    display = RunDisplay(out, tty=False, clock=clock, min_interval=2.0)
    display.update(run())
    display.update(run(eta_seconds=5))  # too soon after the first
    display.update(run(eta_seconds=4))
    display.update(run())  # changed, but only a second after the last line
    final = run("completed", leads={"active": 0, "completed": 3, "failed": 1}, eta_seconds=None)
    display.update(final, final=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "Run 7 · running · 2/4 leads done (1 emails, 1 failed, 0 skipped) · ETA 12 s · "
        "spent $0.0123"
    )
    assert "ETA 4 s" in lines[1]
    assert lines[-7].startswith("Run 7 · completed") and len(lines) == 2 + 7


def test_follow_stops_when_the_run_ends_and_returns_it():
    frames = iter([run("queued"), run("running"), run("paused"), run("cancelled")])
    naps = []
    out = io.StringIO()
    last = follow(frames.__next__, RunDisplay(out, tty=False), interval=0.5, sleep=naps.append)
    assert last["status"] == "cancelled" and naps == [0.5, 0.5, 0.5]
    assert commands.outcome(last) == 1
    assert commands.outcome(run("completed")) == 0


def test_the_import_report_lists_counts_columns_and_rejected_lines():
    record = {
        "id": 3,
        "filename": "leads.csv",
        "rows": 10,
        "accepted": 8,
        "rejected": 2,
        "duplicates": 1,
        "columns": {"email": "E-mail", "company_url": "Website"},
        "ignored_columns": ["Colour"],
        "rejections": [
            {"line": 10, "reason": "malformed_email", "message": "not an email", "lead_id": None},
            {"line": 11, "reason": "duplicate_email", "message": "line 2 has it", "lead_id": 1},
        ],
    }
    lines = report_lines(record)
    assert lines[0] == (
        "Imported leads.csv as import 3: 10 rows, 8 accepted, 2 rejected (1 duplicates)"
    )
    assert lines[1] == "Columns: email <- 'E-mail', company_url <- 'Website'"
    assert lines[2] == "Ignored columns: Colour"
    assert lines[3] == "Rejected rows:"
    assert lines[6].split()[:2] == ["10", "malformed_email"]
    assert lines[7].split()[:2] == ["11", "duplicate_email"] and lines[7].split()[-1] == "1"
    assert lines[-1] == "Next: leadpipe customize --import 3"
    more = report_lines({**record, "rejected": 30}, shown=1)
    assert "  … 29 more: GET /imports/3/rejections" in more


def test_what_customize_prints():
    report = {"run_id": 5, "queued": [1, 2], "skipped": [3], "already_active": [], "not_found": []}
    assert run_started_lines(report) == [
        "Run 5 started: 2 queued, 1 skipped (no URL), 0 already in an active run, 0 not found",
        "Watch it: leadpipe run 5",
    ]
    nothing = {**report, "run_id": None, "queued": [], "skipped": [], "already_active": [1]}
    assert run_started_lines(nothing)[0].startswith("no run started: 0 queued")


def test_customize_without_a_run_fails_with_one_line():
    def answer(request: httpx.Request):
        assert json.loads(request.read()) == {"lead_ids": [4]}
        return httpx.Response(
            200, json={"run_id": None, "queued": [], "skipped": [], "already_active": [4],
                       "not_found": []}
        )  # fmt: skip

    with pytest.raises(CliError, match=r"^no run started: .*1 already in an active run"):
        commands.dispatch(parse("customize", "4"), remote(answer), io.StringIO())


def test_run_no_follow_prints_the_view_once(tmp_path: Path):
    out = io.StringIO()
    calls = []

    def answer(request: httpx.Request):
        calls.append(request.url.path)
        return httpx.Response(200, json=run())

    assert commands.dispatch(parse("run", "7", "--no-follow"), remote(answer), out) == 0
    assert calls == ["/runs/7"]
    assert out.getvalue().splitlines()[0].startswith("Run 7 · running")
    assert len(out.getvalue().splitlines()) == 7
