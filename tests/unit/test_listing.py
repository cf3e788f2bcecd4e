"""Filters, page requests and cursors of lists, exports and estimates (no database)."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta, timezone

import openpyxl
import pytest

from pipeline import estimates, exporting, prompts
from pipeline.listing import (
    DEFAULT_LIMIT,
    InvalidFilter,
    LeadFilter,
    PageRequest,
    Position,
    parse_query,
)


def test_a_cursor_round_trips_its_order_and_position():
    when = datetime(2030, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    for position in (Position("id", 42), Position("updated", 42, when)):
        token = position.encode()
        assert "=" not in token and "+" not in token and "/" not in token
        assert Position.decode(token, position.order) == position


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"o": "id"}',
        b'{"o": "id", "id": 0}',
        b'{"o": "id", "id": true}',
        b'{"o": "id", "id": "7"}',
        b'{"o": "id", "id": 9223372036854775808}',
        b'{"o": "sideways", "id": 7}',
    ],
)
def test_a_cursor_that_is_not_a_position_is_refused(raw):
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(InvalidFilter, match="not a cursor"):
        Position.decode(token, "id")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"o": "updated", "id": 7}',
        b'{"o": "updated", "id": 7, "t": "yesterday"}',
        b'{"o": "updated", "id": 7, "t": "2030-01-01T00:00:00"}',
        b'{"o": "updated", "id": 7, "t": 5}',
    ],
)
def test_a_change_feed_cursor_needs_a_time_with_its_zone(raw):
    token = base64.urlsafe_b64encode(raw).decode()
    with pytest.raises(InvalidFilter, match="not a cursor"):
        Position.decode(token, "updated")


def test_garbage_and_oversized_cursors_are_refused():
    for token in ("%%%", "a", "x" * 500):
        with pytest.raises(InvalidFilter):
            Position.decode(token, "id")


def test_a_page_request_defaults_to_50_in_id_order_and_blank_values_count_as_absent():
    assert PageRequest.parse({}) == PageRequest(DEFAULT_LIMIT, "id", None)
    assert PageRequest.parse({"limit": "", "after": "", "order": ""}) == PageRequest()
    assert PageRequest.parse({"limit": "500", "order": "updated"}).limit == 500


def test_a_filter_reads_query_strings_and_json_alike():
    expected = LeadFilter(stage="intel", state="failed", run_id=7, import_id=3)
    query = {"stage": "intel", "state": "failed", "run": "7", "import": "3"}
    assert LeadFilter.parse(query) == expected
    assert LeadFilter.parse(dict(query, run=7, **{"import": 3})) == expected


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"state": "failed"}, "give stage too"),
        ({"stage": "intel", "state": "finished"}, "state must be one of"),
        ({"run": True}, "run must be a whole number"),
        ({"run": 1.5}, "run must be a whole number"),
        ({"import": "١٢"}, "import must be a whole number"),
        ({"run": "99999999999999999999"}, "run must be a whole number"),
        ({"stage": ["intel"]}, "once"),
        ({"stages": "intel"}, "unknown parameter(s): stages"),
    ],
)
def test_a_bad_filter_says_what_is_wrong(values, words):
    with pytest.raises(InvalidFilter) as caught:
        LeadFilter.parse(values)
    assert words in str(caught.value)


def test_stage_alone_filters_the_current_stage_and_with_state_that_stages_status():
    alone = LeadFilter.parse({"stage": "subject"})
    assert alone.params()["current_stage"] == "subject" and alone.params()["state"] is None
    both = LeadFilter.parse({"stage": "subject", "state": "failed"})
    assert both.query_stage == "subject"
    assert both.params()["current_stage"] is None and both.params()["state"] == "failed"


def test_list_parameters_split_into_a_filter_and_a_page():
    flt, page = parse_query({"status": "failed", "limit": "5"})
    assert flt == LeadFilter(status="failed") and page.limit == 5
    with pytest.raises(InvalidFilter, match="unknown"):
        parse_query({"offset": "100"})


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 555", "'+1 555"),
        ("-rf", "'-rf"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Zoë", "Zoë"),
        (None, ""),
        (7, "7"),
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05+00:00"),
    ],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_as_a_formula_is_defused(value, cell):
    assert exporting.csv_cell(value) == cell


def test_an_xlsx_export_refuses_more_rows_than_a_sheet_holds():
    row = dict.fromkeys(exporting.COLUMNS)
    with pytest.raises(exporting.ExportTooLarge, match="export CSV"):
        exporting.write_xlsx([row, row, row], io.BytesIO(), max_rows=2)


def test_xlsx_strings_stay_strings_even_when_they_look_like_formulas_or_links():
    row = dict.fromkeys(exporting.COLUMNS)
    row.update(id=1, name="=1+1", company_url="https://acme.test", email="00123")
    out = io.BytesIO()
    assert exporting.write_xlsx([row], out) == 1
    sheet = openpyxl.load_workbook(out).active
    cells = next(sheet.iter_rows(min_row=2, values_only=True))
    values = dict(zip(exporting.COLUMNS, cells, strict=True))
    assert (values["name"], values["email"]) == ("=1+1", "00123")
    assert sheet.cell(2, 1).data_type == "n" and sheet.cell(2, 2).data_type == "s"


def test_the_heuristic_takes_every_prompt_at_its_largest_and_every_answer_at_its_cap():
    intel = estimates.heuristic_tokens("intel")
    assert intel.basis == "heuristic" and intel.samples == 0
    assert intel.output_tokens == prompts.MAX_TOKENS["intel"]
    assert prompts.MAX_CONTENT_CHARS / 4 < intel.input_tokens < prompts.MAX_CONTENT_CHARS / 4 + 300
    strategy = estimates.heuristic_tokens("strategy")
    assert prompts.MAX_TOKENS["intel"] < strategy.input_tokens < prompts.MAX_TOKENS["intel"] + 300
    for stage in estimates.LLM_STAGES:
        assert estimates.heuristic_tokens(stage).output_tokens == prompts.MAX_TOKENS[stage]


def test_prices_are_per_million_tokens():
    prices = estimates.Prices(input_per_mtok=3.0, output_per_mtok=15.0)
    assert prices.cost(1_000_000, 0) == 3.0
    assert prices.cost(2_000, 1_000) == pytest.approx(0.021)
