"""``leadpipe`` argument parsing, help texts and the one-line error promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main as cli_main
from cli.errors import CliError
from cli.main import build_parser, main


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_dev_defaults_to_24_leads_a_300_second_timeout_and_running_until_ctrl_c():
    args = parse("dev")
    assert (args.command, args.leads, args.timeout, args.exit) == ("dev", 24, 300.0, False)
    assert args.runner == "auto" and args.log_dir is None


def test_dev_takes_leads_timeout_exit_runner_and_log_dir():
    args = parse(
        "dev", "--exit", "--leads", "5", "--timeout", "120", "--runner", "stack", "--log-dir", "x"
    )
    assert (args.leads, args.timeout, args.exit, args.runner) == (5, 120.0, True, "stack")
    assert args.log_dir == Path("x")


def test_zero_leads_is_allowed_for_a_demo_of_just_the_unhappy_paths():
    assert parse("dev", "--leads", "0").leads == 0


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["dev", "--leads", "-1"], "must be 0 or more"),
        (["dev", "--leads", "many"], "expected a whole number"),
        (["dev", "--timeout", "0"], "must be more than 0"),
        (["dev", "--timeout", "soon"], "expected a number of seconds"),
        (["dev", "--runner", "docker"], "invalid choice"),
        (["db"], "required"),
        ([], "required"),
        (["deploy"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_usage_message(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def test_db_init_creates_the_database_only_when_asked():
    assert parse("db", "init").create is False
    assert parse("db", "init", "--create").create is True


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        ([], "db init"),
        (["db"], "init"),
        (["db", "init"], "--create"),
        (["status"], "stage_durations"),
        (["dev"], "--exit"),
    ],
)
def test_every_command_explains_itself_with_help(argv, mentions, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    assert mentions in capsys.readouterr().out


def _fails_with(monkeypatch, exc: BaseException) -> None:
    def dispatch(args):
        raise exc

    monkeypatch.setattr(cli_main, "dispatch", dispatch)


def test_a_cli_error_is_one_line_on_stderr_with_its_exit_code(monkeypatch, capsys):
    _fails_with(monkeypatch, CliError("the database is gone", code=1))
    assert main(["status"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "leadpipe: the database is gone\n"
    assert captured.out == ""


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch, capsys):
    _fails_with(monkeypatch, KeyboardInterrupt())
    assert main(["status"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_an_unexpected_error_is_still_one_line(monkeypatch, capsys):
    monkeypatch.delenv("LEADPIPE_DEBUG", raising=False)
    _fails_with(monkeypatch, ZeroDivisionError("division by zero\nsecond line"))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "ZeroDivisionError: division by zero" in err


def test_a_bad_environment_variable_is_a_configuration_error_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("DB_POOL_SIZE", "lots")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("leadpipe: configuration error: DB_POOL_SIZE")
    assert err.count("\n") == 1


def test_an_unreachable_database_is_one_line_naming_the_reason(monkeypatch, capsys):
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/leadpipe")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "127.0.0.1:1" in err and "refused" in err.lower()
