"""``GET /exports/leads.csv`` and ``.xlsx``: what they hold is what the database holds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest

from pipeline import exporting, listing
from pipeline.exporting import COLUMNS
from pipeline.listing import LeadFilter
from tests.integration.reads import (
    add_account,
    add_import,
    add_leads,
    add_run,
    client,
    fail_intel,
    finish,
    sql,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def api(settings, engine):
    return client(settings, engine)


def database_rows(engine, ids: list[int]) -> list[dict]:
    rows = sql(
        engine, "SELECT * FROM lead_summaries WHERE id = ANY(:ids) ORDER BY id", ids=list(ids)
    )
    return [{column: row._mapping[column] for column in COLUMNS} for row in rows]


@pytest.fixture
def varied(engine) -> list[int]:
    """Leads in every kind of state, with awkward text."""
    done, failed, fresh = add_leads(engine, 3)
    [formula] = add_leads(engine, 1, name='=HYPERLINK("http://evil")', company="@corp")
    [no_url] = add_leads(engine, 1, url=None, name='Zoë Ünïcode, "quoted"')
    finish(engine, done, fit_score=91, subject="Ship faster", body='Hi Ada,\n\nLine two, "q".')
    fail_intel(engine, failed, "the model refused:\nsecond line")
    sql(
        engine,
        "UPDATE leads SET scrape_status = 'skipped', scrape_error = 'no company URL' "
        "WHERE id = :id",
        id=no_url,
    )
    return [done, failed, fresh, formula, no_url]


def test_the_csv_export_holds_every_lead_as_the_database_does(api, engine, varied):
    response = api.simulate_get("/exports/leads.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="leads.csv"' in response.headers["content-disposition"]
    reader = csv.reader(io.StringIO(response.content.decode("utf-8"), newline=""))
    header, *rows = list(reader)
    assert header == list(COLUMNS)
    expected = [
        [exporting.csv_cell(row[column]) for column in COLUMNS]
        for row in database_rows(engine, varied)
    ]
    assert rows == expected
    by_id = {int(row[0]): dict(zip(COLUMNS, row, strict=True)) for row in rows}
    done, failed, _, formula, no_url = varied
    assert by_id[done]["email_subject"] == "Ship faster"
    assert by_id[done]["email_body"] == 'Hi Ada,\n\nLine two, "q".'
    assert by_id[done]["fit_score"] == "91" and by_id[done]["subject"] == "Ship faster"
    assert by_id[failed]["intel_status"] == "failed"
    assert by_id[failed]["intel_error"] == "the model refused:\nsecond line"
    assert by_id[formula]["name"] == '\'=HYPERLINK("http://evil")'
    assert by_id[formula]["company"] == "'@corp"
    assert by_id[no_url]["name"] == 'Zoë Ünïcode, "quoted"'
    assert by_id[no_url]["scrape_error"] == "no company URL"


def test_the_xlsx_export_holds_every_lead_as_the_database_does(api, engine, varied):
    response = api.simulate_get("/exports/leads.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert int(response.headers["content-length"]) == len(response.content)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert list(header) == list(COLUMNS)
    for got, want in zip(rows, database_rows(engine, varied), strict=True):
        for column, value in zip(COLUMNS, got, strict=True):
            expected = want[column]
            if isinstance(expected, datetime):
                expected = expected.astimezone(UTC).replace(tzinfo=None)
                assert abs((value - expected).total_seconds()) < 0.002, column
            else:
                assert value == expected, column


def test_an_export_of_a_run_or_an_import_holds_just_its_leads(api, engine):
    add_leads(engine, 2)
    import_id, imported = add_import(engine, 3)
    run_id = add_run(engine, imported[:2])
    response = api.simulate_get(f"/exports/leads.csv?run={run_id}")
    assert f'filename="leads-run-{run_id}.csv"' in response.headers["content-disposition"]
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(response.text))] == imported[:2]
    response = api.simulate_get(f"/exports/leads.xlsx?import={import_id}")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == imported


def test_an_export_takes_the_list_filters(api, engine):
    _ok, failed = add_leads(engine, 2)
    fail_intel(engine, failed)
    response = api.simulate_get("/exports/leads.csv?stage=intel&state=failed")
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(response.text))] == [failed]


def test_an_export_with_a_bad_filter_or_a_foreign_run_is_refused_before_any_row(api, engine):
    other = add_account(engine)
    their_run = add_run(engine, add_leads(engine, 1, account_id=other), account_id=other)
    for fmt in ("csv", "xlsx"):
        assert api.simulate_get(f"/exports/leads.{fmt}?stage=nope").status_code == 400
        assert api.simulate_get(f"/exports/leads.{fmt}?limit=5").status_code == 400
        assert api.simulate_get(f"/exports/leads.{fmt}?run={their_run}").status_code == 404
    assert engine.pool.checkedout() == 0


def test_another_accounts_leads_are_not_exported(settings, engine):
    other = add_account(engine)
    theirs = add_leads(engine, 2, account_id=other)
    mine = add_leads(engine, 1)
    text = client(settings, engine).simulate_get("/exports/leads.csv").text
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(text))] == mine
    text = client(settings, engine, account_id=other).simulate_get("/exports/leads.csv").text
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(text))] == theirs


def test_a_large_csv_export_streams_in_chunks_from_a_server_side_cursor(engine):
    ids = add_leads(engine, 1300)
    for lead_id in ids[::50]:
        finish(engine, lead_id, body="b" * 2000)
    body = exporting.CsvStream(listing.stream_leads(engine, 1, LeadFilter()))
    assert engine.pool.checkedout() == 1
    chunks = [next(iter(body))]
    assert len(chunks[0]) >= exporting.CSV_CHUNK_BYTES
    with engine.connect() as conn:
        streaming = conn.exec_driver_sql(
            "SELECT query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'idle in transaction'"
        ).scalar_one()
    assert streaming.startswith("FETCH FORWARD 500 FROM")
    chunks.extend(body)
    body.close()
    assert len(chunks) > 2
    assert engine.pool.checkedout() == 0
    parsed = list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))
    assert [int(r["id"]) for r in parsed] == ids


def test_an_export_the_client_abandons_gives_its_connection_back(engine):
    add_leads(engine, 10)
    exporting.CsvStream(listing.stream_leads(engine, 1, LeadFilter())).close()
    body = exporting.CsvStream(listing.stream_leads(engine, 1, LeadFilter()))
    next(iter(body))
    body.close()
    assert engine.pool.checkedout() == 0
