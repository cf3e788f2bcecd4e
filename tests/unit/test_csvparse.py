"""The streaming CSV reader of imports, without a database."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.csvparse import MAX_RECORD_BYTES, CsvFormatError, CsvStream, Header

LIMIT = 10 * 1024 * 1024


def read(data: bytes, chunk: int = 7, limit: int = LIMIT) -> tuple[Header, list]:
    stream = CsvStream((data[i : i + chunk] for i in range(0, len(data), chunk)), limit)
    header = stream.header()
    return header, list(stream.records())


def test_header_names_are_matched_case_insensitively_with_their_common_aliases():
    header, _ = read(b"E-Mail, Website ,Full_Name,Organization,Job Title,Notes\n")
    assert header.mapping == {
        "email": "E-Mail",
        "company_url": "Website",
        "name": "Full_Name",
        "company": "Organization",
        "title": "Job Title",
    }
    assert header.ignored == ["Notes"]


def test_first_and_last_name_columns_make_the_name_when_there_is_no_name():
    header, [record] = read(b"email,first name,Last Name\nada@x.test,Ada,Lovelace\n")
    assert header.lead(record.values) == {"email": "ada@x.test", "name": "Ada Lovelace"}


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (b"", "empty", "empty"),
        (b"\n\n\r\n", "empty", "no header"),
        (b"name,company\nAda,Acme\n", "header", "no email column"),
        (b"email,E-mail\n", "header", "keep one"),
        (b'[{"email": "ada@x.test"}]', "not_csv", "JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_csv", ""),
        (b"em\xffail\n", "not_csv", "not UTF-8"),
        (b"email,\x00name\n", "not_csv", "binary"),
    ],
)
def test_a_body_that_is_not_a_csv_of_leads_fails_at_the_header(body, kind, words):
    with pytest.raises(CsvFormatError) as raised:
        read(body)
    assert raised.value.kind == kind
    assert words in raised.value.message


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name():
    header, _ = read(b"\xef\xbb\xbfEmail,Name\n")
    assert header.mapping["email"] == "Email"


def test_records_are_numbered_by_the_physical_line_they_start_on():
    body = b'\nemail,name\na@x.test,"Ada\nLovelace"\n\n,,\nb@x.test,Bob\r\n'
    header, records = read(body)
    assert header.line == 2
    assert [(r.line, r.values) for r in records] == [
        (3, ["a@x.test", "Ada\nLovelace"]),
        (7, ["b@x.test", "Bob"]),
    ]


def test_a_line_that_is_not_utf8_spoils_only_its_own_record():
    _, records = read(b"email,name\na@x.test,Ada\nb@x.test,B\xe9a\nc@x.test,Cy\n")
    assert [(r.line, r.problem and r.problem[0]) for r in records] == [
        (2, None),
        (3, "bad_encoding"),
        (4, None),
    ]


def test_a_stray_carriage_return_is_a_malformed_record_and_reading_goes_on():
    _, records = read(b"email,name\na@x.test,A\rB\nc@x.test,C\n")
    assert records[0].line == 2 and records[0].problem[0] == "malformed_csv"
    assert records[1].values == ["c@x.test", "C"]


def test_the_size_limit_stops_reading():
    with pytest.raises(CsvFormatError) as raised:
        read(b"email\n" + b"a@x.test\n" * 100, chunk=64, limit=200)
    assert raised.value.kind == "too_large"


def test_a_record_longer_than_the_limit_means_the_body_is_not_a_csv_of_leads():
    # Many short quoted fields, each running over a line end: one record that never ends.
    body = b"email,name\na@x.test," + b'"x\n",' * (MAX_RECORD_BYTES // 5)
    with pytest.raises(CsvFormatError) as raised:
        read(body, chunk=65536)
    assert raised.value.kind == "not_csv" and "line 2" in raised.value.message


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from(["email", "a@b.co", ",", '"', "\n", "\r\n", "\r", "x", "\xe9", " "]),
            max_size=60,
        ).map(lambda parts: "".join(parts).encode()),
    ),
    chunk=st.integers(min_value=1, max_value=50),
)
def test_any_bytes_either_fail_cleanly_or_yield_numbered_records_in_order(body, chunk):
    try:
        _, records = read(body, chunk=chunk)
    except CsvFormatError as exc:
        assert exc.kind in {"empty", "not_csv", "header", "too_large"}
        return
    lines = [r.line for r in records]
    assert lines == sorted(set(lines))
    assert all((r.values is None) != (r.problem is None) for r in records)
    assert all(1 < line <= body.count(b"\n") + 1 for line in lines)
