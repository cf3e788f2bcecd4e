"""CSV import through the API on a real database: persist first, reject with line numbers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import falcon.testing
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from api.app import create_app
from api.deps import AppDeps
from pipeline import imports
from pipeline.context import Context
from pipeline.csvparse import CsvFormatError
from tests.integration.helpers import auth_headers, execute, make_leads

pytestmark = pytest.mark.integration

TABLES = ("imports", "import_rejections", "leads", "lead_emails", "lead_domains")


def make_client(settings, engine, **changes) -> falcon.testing.TestClient:
    ctx = Context.build(settings.with_(**changes), engine=engine)
    deps = AppDeps(ctx=ctx, dispatch=lambda e: None, fetch_results=lambda _: None)
    return falcon.testing.TestClient(create_app(deps), headers=auth_headers(engine))


@pytest.fixture
def api(settings, engine):
    return make_client(settings, engine)


def post_csv(api, body: bytes | str, query: str = "", content_type: str = "text/csv"):
    data = body.encode() if isinstance(body, str) else body
    return api.simulate_post(
        "/imports", body=data, query_string=query, headers={"Content-Type": content_type}
    )


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def leads_of(engine, import_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM leads WHERE import_id = :id ORDER BY id"), {"id": import_id}
        )
        return [dict(r) for r in rows.mappings()]


def reasons(record: dict) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in record["rejections"]]


def test_good_rows_land_and_each_bad_row_is_rejected_with_its_line_and_reason(api, engine):
    body = (
        b"email,name,company,website,title\n"  # line 1
        b"ada@acme.test,Ada,Acme,acme.test,CTO\n"  # 2 accepted
        b",Nobody,Acme,acme.test,\n"  # 3 missing email
        b"not-an-email,Bob,Acme,acme.test,\n"  # 4 malformed email
        b"cy@acme.test,Cy,Acme,ftp://acme.test,\n"  # 5 malformed URL
        b"di@acme.test,Di,Acme,acme.test," + b"x" * 201 + b"\n"  # 6 too long
        b"ed@acme.test,Ed,Acme\n"  # 7 wrong number of fields
        b"fa@acme.test,F\xe9,Acme,acme.test,\n"  # 8 not UTF-8
        b"gus@nourl.test,Gus,No URL Inc,,\n"  # 9 accepted, no URL
    )
    response = post_csv(api, body)
    assert response.status_code == 201, response.text
    record = response.json
    assert (record["rows"], record["accepted"], record["rejected"]) == (8, 2, 6)
    assert reasons(record) == [
        (3, "missing_email"),
        (4, "malformed_email"),
        (5, "malformed_url"),
        (6, "too_long"),
        (7, "wrong_field_count"),
        (8, "bad_encoding"),
    ]
    assert "'not-an-email'" in record["rejections"][1]["message"]
    assert response.headers["Location"] == f"/imports/{record['id']}"
    landed = leads_of(engine, record["id"])
    assert [(lead["email"], lead["scrape_status"]) for lead in landed] == [
        ("ada@acme.test", "pending"),
        ("gus@nourl.test", "skipped"),
    ]
    assert landed[0]["company_url"] == "https://acme.test"
    assert landed[1]["scrape_error"] == "no company URL"
    assert api.simulate_get(f"/imports/{record['id']}").json["accepted"] == 2


def test_header_aliases_and_first_plus_last_name_are_understood(api, engine):
    body = "E-Mail Address,Company Website,First Name,Last Name,Organisation,Job Title,Notes\n"
    body += "Ada@Acme.test,https://acme.test/about,Ada,Lovelace,Acme,CTO,met at a fair\n"
    record = post_csv(api, body).json
    assert record["columns"] == {
        "email": "E-Mail Address",
        "company_url": "Company Website",
        "first_name": "First Name",
        "last_name": "Last Name",
        "company": "Organisation",
        "title": "Job Title",
    }
    assert record["ignored_columns"] == ["Notes"]
    [lead] = leads_of(engine, record["id"])
    assert (lead["email"], lead["name"], lead["company"], lead["title"]) == (
        "ada@acme.test",
        "Ada Lovelace",
        "Acme",
        "CTO",
    )


def test_a_multipart_upload_takes_the_file_part_and_keeps_its_name(api, engine):
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="C:\\\\exports\\\\leads.csv"\r\nContent-Type: text/csv\r\n\r\n'
        "email,name\r\nada@acme.test,Ada\r\nbob@acme.test,Bob\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()
    response = post_csv(api, body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 201, response.text
    assert (response.json["accepted"], response.json["filename"]) == (2, "leads.csv")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "title"),
    [
        (b"", "text/csv", 400, "Empty file"),
        (b"email,name\n", "text/csv", 400, "Empty file"),
        (b"name,company\nAda,Acme\n", "text/csv", 422, "Unusable header"),
        (b'{"email": "ada@acme.test"}', "text/csv", 400, "Not a CSV file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "text/csv", 400, "Not a CSV file"),
        (b"email\nada@acme.test\n", "application/json", 415, "Unsupported media type"),
        (b"email\nada@acme.test\n", "text/csv; charset=latin-1", 415, "Unsupported charset"),
        (
            b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            422,
            "No file",
        ),
    ],
)
def test_a_body_that_is_not_a_csv_of_leads_is_a_clear_4xx_and_writes_nothing(
    api, engine, body, content_type, status, title
):
    response = post_csv(api, body, content_type=content_type)
    assert response.status_code == status, response.text
    assert response.json["title"] == title
    assert response.json["description"]
    assert set(counts(engine).values()) == {0}


def test_a_body_over_the_size_limit_is_a_413_and_writes_nothing(settings, engine):
    api = make_client(settings, engine, import_max_bytes=100)
    response = post_csv(api, "email\n" + "a@acme.test\n" * 20)
    assert response.status_code == 413
    assert "100 bytes" in response.json["description"]
    assert set(counts(engine).values()) == {0}


def test_a_limit_crossed_after_rows_were_written_rolls_the_whole_import_back(engine):
    def chunks():
        yield b"email\n"
        for n in range(3000):  # three batches are written before the limit is reached
            yield f"p{n}@acme.test\n".encode()

    with pytest.raises(CsvFormatError) as raised:
        imports.import_csv(
            engine, 1, chunks(), now=datetime.now(UTC), max_bytes=40_000, batch_rows=500
        )
    assert raised.value.kind == "too_large"
    assert set(counts(engine).values()) == {0}


def test_duplicates_in_the_account_and_in_the_file_are_reported_and_not_inserted(api, engine):
    [existing] = make_leads(engine, 1)  # p0@acme.test
    body = "email,name\nP0@acme.test,Again\nnew@acme.test,New\nnew@acme.test,Twice\n"
    record = post_csv(api, body).json
    assert (record["accepted"], record["rejected"], record["duplicates"]) == (1, 2, 2)
    [new] = leads_of(engine, record["id"])
    assert [(r["line"], r["reason"], r["lead_id"]) for r in record["rejections"]] == [
        (2, "duplicate_email", existing),
        (4, "duplicate_email", new["id"]),
    ]
    assert "line 3" in record["rejections"][1]["message"]
    again = post_csv(api, body).json
    assert (again["accepted"], again["duplicates"]) == (0, 3)


def test_dedupe_by_domain_reports_a_second_lead_of_a_company_the_account_has(api, engine):
    make_leads(engine, 1, url="https://www.acme.test/team")
    body = (
        "email,website\n"
        "a@acme.test,acme.test\n"  # acme.test is there already
        "b@beta.test,https://beta.test\n"
        "c@beta.test,http://WWW.Beta.test/x\n"  # same company as line 3
        "d@nourl.test,\n"
    )
    record = post_csv(api, body, query="dedupe=domain").json
    assert (record["accepted"], record["duplicates"]) == (2, 2)
    assert reasons(record) == [(2, "duplicate_domain"), (4, "duplicate_domain")]
    assert "beta.test" in record["rejections"][1]["message"]
    plain = post_csv(api, body.replace("a@", "z@")).json
    # Without dedupe=domain only emails count: z@acme.test and c@beta.test land.
    assert (plain["accepted"], plain["duplicates"]) == (2, 2)
    assert post_csv(api, body, query="dedupe=nope").status_code == 400


def test_thousands_of_rows_go_in_batches_with_line_numbers_right_across_batches(api, engine):
    lines = ["email,name,website"]
    for n in range(2, 3502):  # data on lines 2..3501
        lines.append(f"p{n}@acme.test,P {n},https://c{n}.test")
    bad = {1001: "", 1002: "oops", 2001: "", 3501: "x@"}
    for line, email in bad.items():
        lines[line - 1] = f"{email},Bad,https://bad.test"
    lines[2999] = "p10@acme.test,Repeat of line 10,https://r.test"  # line 3000
    record = post_csv(api, "\n".join(lines) + "\n").json
    assert (record["rows"], record["accepted"], record["rejected"]) == (3500, 3495, 5)
    assert [r["line"] for r in record["rejections"]] == [1001, 1002, 2001, 3000, 3501]
    landed = leads_of(engine, record["id"])
    assert landed[0]["email"] == "p2@acme.test" and landed[-1]["email"] == "p3500@acme.test"
    assert [lead["id"] for lead in landed] == sorted(lead["id"] for lead in landed)
    assert (record["first_lead_id"], record["last_lead_id"]) == (landed[0]["id"], landed[-1]["id"])
    assert record["rejections"][3]["lead_id"] == landed[8]["id"]  # p10 is on line 10


def test_rejections_are_paged_in_line_order_after_the_first_hundred(api):
    body = "email\n" + "bad\n" * 250
    record = post_csv(api, body).json
    assert record["rejected"] == 250 and len(record["rejections"]) == 100
    assert record["rejections_complete"] is False
    seen, after = [], 0
    while after is not None:
        page = api.simulate_get(
            record["rejections_url"], query_string=f"after={after}&limit=100"
        ).json
        seen += [r["line"] for r in page["items"]]
        after = page["next"]
    assert seen == list(range(2, 252))


def test_imports_are_listed_newest_first(api):
    first = post_csv(api, "email\na@acme.test\n").json["id"]
    second = post_csv(api, "email\nb@acme.test\n").json["id"]
    page = api.simulate_get("/imports", query_string="limit=1").json
    assert [i["id"] for i in page["items"]] == [second] and page["next"] == second
    rest = api.simulate_get("/imports", query_string=f"after={second}").json
    assert [i["id"] for i in rest["items"]] == [first]


def test_two_concurrent_imports_of_one_file_insert_each_email_once(settings, engine):
    body = "email\n" + "".join(f"p{n}@acme.test\n" for n in range(3000))
    answers = []

    def upload():
        answers.append(post_csv(make_client(settings, engine), body))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert sorted(a.json["accepted"] for a in answers) == [0, 3000]
    assert sorted(a.json["duplicates"] for a in answers) == [0, 3000]
    assert counts(engine)["leads"] == 3000


BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            ["email,name,url\n", "a@b.co", "x@y.test", ",", '"', "\n", "\r", "\xe9", "ftp://", "z"]
        ),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
    st.tuples(st.just(b"email,website\n"), st.binary(max_size=200)).map(b"".join),
)


@hypothesis_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BYTES)
def test_any_bytes_give_a_clean_4xx_with_nothing_written_or_counts_that_add_up(api, engine, body):
    before = counts(engine)
    response = post_csv(api, body)
    after = counts(engine)
    assert response.status_code < 500, response.text
    if response.status_code != 201:
        assert 400 <= response.status_code < 500 and response.json["title"]
        assert after == before
        return
    record = response.json
    assert record["accepted"] + record["rejected"] == record["rows"] > 0
    assert after["imports"] == before["imports"] + 1
    assert after["leads"] - before["leads"] == record["accepted"]
    assert after["import_rejections"] - before["import_rejections"] == record["rejected"]


def test_a_run_over_an_import_takes_exactly_its_leads_and_another_accounts_import_is_404(
    api, engine
):
    first = post_csv(api, "email,company,website\na@x.test,A,https://a.test\n").json
    second = post_csv(api, "email,company,website\nb@x.test,B,https://b.test\n").json
    response = api.simulate_post("/runs", json={"import_id": second["id"]})
    assert response.status_code == 201
    assert response.json["queued"] == [second["first_lead_id"]]
    assert first["first_lead_id"] not in response.json["queued"]
    execute(engine, "INSERT INTO accounts (name) VALUES ('other')")
    foreign = api.simulate_post(
        "/runs", json={"import_id": second["id"]}, headers=auth_headers(engine, 2)
    )
    assert foreign.status_code == 404
    assert "import" in foreign.json["description"]
