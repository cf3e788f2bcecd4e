"""The demo's pure parts: ports, the processes' environment, sample leads, the report."""

from __future__ import annotations

import pytest

from cli.db import database_name, libpq_url, redact, server_of
from cli.dev import DEFAULT_PORTS, choose_ports, demo_leads, process_env
from cli.errors import CliError, database_error_reason, missing_database, one_line
from cli.report import email_lines, email_of, summarize, summary_lines
from cli.status import depth_table, durations_table
from cli.tables import format_table

# --------------------------------------------------------------------------- ports


def test_the_default_ports_are_used_when_they_are_free():
    assert choose_ports({}, is_free=lambda port: True) == DEFAULT_PORTS


def test_a_taken_default_port_is_replaced_by_a_free_one():
    spare = iter([9001, 9002])
    ports = choose_ports({}, is_free=lambda port: port != 8000, any_free=lambda: next(spare))
    assert ports == {"web": 9001, "site": 8100, "scraper": 8101, "llm": 8102}


def test_the_chosen_ports_are_all_different():
    spare = iter([8100, 8100, 9100])  # the "free" port offered may be one already chosen
    ports = choose_ports({}, is_free=lambda port: port not in (8000,), any_free=lambda: next(spare))
    assert len(set(ports.values())) == 4


def test_a_port_variable_pins_the_port():
    ports = choose_ports({"PORT": "7000", "LLM_PORT": "7002"}, is_free=lambda port: True)
    assert ports["web"] == 7000 and ports["llm"] == 7002 and ports["site"] == 8100


def test_a_pinned_port_that_is_taken_is_an_error_not_a_silent_change():
    with pytest.raises(CliError, match="SITE_PORT=8100 is already in use"):
        choose_ports({"SITE_PORT": "8100"}, is_free=lambda port: port != 8100)


def test_a_pinned_port_must_be_a_port_number():
    with pytest.raises(CliError, match="must be a port number") as raised:
        choose_ports({"SCRAPER_PORT": "http"}, is_free=lambda port: True)
    assert raised.value.code == 2


# --------------------------------------------------------------------------- environment

PORTS = {"web": 8000, "site": 8100, "scraper": 8101, "llm": 8102}


def test_the_processes_are_wired_to_each_other_on_loopback():
    env = process_env(
        {"HOME": "/root", "SCRAPER_URL": "https://real.example"},
        database_url="postgresql://db/leadpipe",
        redis_url="redis://r:6379/0",
        ports=PORTS,
        secret="s3cret",
    )
    assert env["HOME"] == "/root"
    assert env["DATABASE_URL"] == "postgresql://db/leadpipe"
    assert env["REDIS_URL"] == "redis://r:6379/0"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert env["WEB_BIND"] == "127.0.0.1:8000"
    assert env["SCRAPER_URL"] == "http://127.0.0.1:8101"
    assert env["LLM_URL"] == "http://127.0.0.1:8102"
    assert (env["SITE_PORT"], env["SCRAPER_PORT"], env["LLM_PORT"]) == ("8100", "8101", "8102")
    assert env["WEBHOOK_SECRET"] == env["LOCAL_WEBHOOK_SECRET"] == "s3cret"
    assert env["COMPLETION_POLL_INTERVAL"] == "1"


def test_the_test_suites_stub_broker_never_reaches_the_processes():
    env = process_env(
        {"LEADPIPE_STUB_BROKER": "1"}, database_url="d", redis_url="r", ports=PORTS, secret="s"
    )
    assert "LEADPIPE_STUB_BROKER" not in env


def test_a_poll_interval_the_user_chose_is_kept():
    env = process_env(
        {"COMPLETION_POLL_INTERVAL": "3"}, database_url="d", redis_url="r", ports=PORTS, secret="s"
    )
    assert env["COMPLETION_POLL_INTERVAL"] == "3"


# --------------------------------------------------------------------------- sample leads


def test_the_demo_adds_a_lead_without_a_url_and_one_whose_site_is_missing():
    leads = demo_leads(3, "http://127.0.0.1:8100/")
    assert len(leads) == 5
    assert all(lead["company_url"].startswith("http://127.0.0.1:8100/c/") for lead in leads[:3])
    assert "company_url" not in leads[3]
    assert leads[4]["company_url"] == "http://127.0.0.1:8100/missing/"
    assert len({lead["email"] for lead in leads}) == 5


# --------------------------------------------------------------------------- report


def lead(lead_id: int, **stages: dict) -> dict:
    names = ("scrape", "intel", "strategy", "subject", "messaging")
    return {
        "id": lead_id,
        "name": "Jane Doe",
        "email": "jane@acme.example",
        "company": "Acme",
        "company_url": "http://site/c/acme-1/",
        "stages": {name: stages.get(name, {"status": "pending"}) for name in names},
    }


DONE = {"status": "completed"}


def finished(lead_id: int, message: dict) -> dict:
    return lead(
        lead_id,
        scrape=DONE,
        intel=DONE,
        strategy=DONE,
        subject={"status": "completed", "result": {"chosen": "Chosen subject"}},
        messaging={"status": "completed", "result": message},
    )


def test_each_lead_is_counted_by_the_first_stage_that_did_not_complete():
    leads = [
        finished(1, {"subject": "Hi", "body": "Body"}),
        lead(2, scrape={"status": "failed", "error": "HTTP 404\nmore detail"}),
        lead(3, scrape={"status": "skipped", "error": "no company URL"}),
        lead(4, scrape=DONE, intel={"status": "started"}),
        lead(5, scrape=DONE, intel={"status": "cancelled"}),
    ]
    summary = summarize(leads)
    assert [x["id"] for x in summary.completed] == [1]
    assert summary.failed[0][1:] == ("scrape", "HTTP 404")
    assert summary.skipped[0][1:] == ("scrape", "no company URL")
    assert summary.unfinished[0][1:] == ("intel", "started")
    assert summary.cancelled[0][1] == "intel"


def test_the_summary_lists_failures_with_their_stage_and_reason():
    summary = summarize(
        [finished(1, {"body": "x"}), lead(2, scrape={"status": "failed", "error": "HTTP 404"})]
    )
    text = "\n".join(summary_lines(summary, elapsed=12.5))
    assert "2 leads in 12.5 s" in text
    assert "1 completed" in text
    assert "lead 2 Acme (http://site/c/acme-1/) at scrape: HTTP 404" in text
    assert "0 skipped" in text and "cancelled" not in text


def test_the_email_uses_its_own_subject_line():
    assert email_of(finished(1, {"subject": "Own", "body": "Text"})) == ("Own", "Text")


def test_an_email_without_a_subject_line_uses_the_subject_stages_choice():
    assert email_of(finished(1, {"subject": None, "body": "Text"}))[0] == "Chosen subject"


def test_the_printed_email_has_recipient_subject_and_wrapped_body():
    body = "Hi Jane,\n\n" + "word " * 40
    lines = email_lines(finished(7, {"subject": "Hello", "body": body}))
    assert "  To: Jane Doe <jane@acme.example>" in lines
    assert "  Subject: Hello" in lines
    assert all(len(line) <= 92 for line in lines)
    assert "  Hi Jane," in lines


# --------------------------------------------------------------------------- tables, errors


def test_tables_right_align_numbers_and_left_align_text():
    lines = format_table(["stage", "n", "avg"], [["scrape", 5, 1.5], ["messaging", 12, None]])
    assert lines[0] == "stage       n   avg"
    assert lines[2] == "scrape      5  1.50"
    assert lines[3] == "messaging  12     -"


def test_status_tables_show_every_stage_even_before_any_lead_exists():
    depth = depth_table([])
    durations = durations_table([])
    assert [line.split()[0] for line in depth[2:]] == [
        "scrape",
        "intel",
        "strategy",
        "subject",
        "messaging",
    ]
    assert durations[2].split() == ["scrape", "0", "-", "-", "-", "-"]


def test_driver_messages_are_cut_to_their_first_line():
    assert one_line("  a   b\n\tc") == "a b"
    exc = Exception('connection failed: server failed: FATAL:  database "x" does not exist\n\tmore')
    assert database_error_reason(exc) == 'server failed: FATAL: database "x" does not exist'
    assert missing_database(exc) == "x"
    assert missing_database(Exception("Connection refused")) is None


def test_database_urls_are_read_in_either_dialect_and_never_show_a_password():
    url = "postgresql+psycopg://bob:hunter2@db.example:5433/leads"
    assert libpq_url(url) == "postgresql://bob:hunter2@db.example:5433/leads"
    assert database_name(url) == "leads"
    assert server_of(url) == "db.example:5433"
    assert "hunter2" not in redact(url) and "***" in redact(url)
