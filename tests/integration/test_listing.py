"""``GET /leads``: keyset pages, filters, tenancy, concurrent updates and query plans."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from pipeline import listing, queries
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


def walk(api, **params) -> tuple[list[int], int]:
    """Every id a walk over pages returns, in order, and the number of pages."""
    ids, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"after": cursor} if cursor else {}))
        response = api.simulate_get("/leads", params=query)
        assert response.status_code == 200, response.text
        ids.extend(item["id"] for item in response.json["items"])
        pages += 1
        cursor = response.json["next"]
        if cursor is None:
            return ids, pages


def test_a_page_lists_lead_summaries_in_id_order_with_a_cursor_to_the_next(api, engine):
    ids = add_leads(engine, 3)
    finish(engine, ids[0], fit_score=72, subject="Cut churn by 20%")
    response = api.simulate_get("/leads", params={"limit": 2})
    assert response.status_code == 200
    first, second = response.json["items"]
    assert [first["id"], second["id"]] == ids[:2]
    assert first["stages"] == dict.fromkeys(
        ("scrape", "intel", "strategy", "subject", "messaging"), "completed"
    )
    assert (first["current_stage"], first["current_state"]) == ("messaging", "completed")
    assert (first["fit_score"], first["subject"]) == (72, "Cut churn by 20%")
    assert second["stages"]["scrape"] == "pending" and second["fit_score"] is None
    assert set(first) == {
        "id", "name", "email", "company", "company_url", "run_id", "import_id",
        "current_stage", "current_state", "error", "stages", "fit_score", "subject",
        "updated_at",
    }  # fmt: skip
    assert "Fit score" not in response.text and "xxxx" not in response.text
    rest = api.simulate_get("/leads", params={"after": response.json["next"]}).json
    assert [item["id"] for item in rest["items"]] == ids[2:]
    assert rest["next"] is None


def test_a_walk_over_small_pages_returns_every_lead_once_and_stops_on_an_exact_fit(api, engine):
    ids = add_leads(engine, 12)
    assert walk(api, limit=5) == (ids, 3)
    assert walk(api, limit=4) == (ids, 3)
    assert walk(api, limit=500) == (ids, 1)


def test_the_limit_defaults_to_50(api, engine):
    add_leads(engine, 51)
    response = api.simulate_get("/leads").json
    assert len(response["items"]) == 50 and response["next"]


def test_stage_and_state_select_that_stages_status(api, engine):
    failed, done, pending = add_leads(engine, 3)
    fail_intel(engine, failed, "model said no")
    finish(engine, done)
    items = api.simulate_get("/leads", params={"stage": "intel", "state": "failed"}).json["items"]
    assert [(i["id"], i["error"]) for i in items] == [(failed, "model said no")]
    items = api.simulate_get("/leads", params={"stage": "intel", "state": "pending"}).json["items"]
    assert [i["id"] for i in items] == [pending]


def test_stage_alone_selects_the_current_stage_and_status_the_current_state(api, engine):
    failed, done, pending = add_leads(engine, 3)
    fail_intel(engine, failed)
    finish(engine, done)
    assert [i["id"] for i in api.simulate_get("/leads?stage=intel").json["items"]] == [failed]
    assert [i["id"] for i in api.simulate_get("/leads?status=completed").json["items"]] == [done]
    assert [i["id"] for i in api.simulate_get("/leads?status=pending").json["items"]] == [pending]
    both = api.simulate_get("/leads?stage=scrape&status=pending").json["items"]
    assert [i["id"] for i in both] == [pending]


def test_run_and_import_select_the_leads_they_cover(api, engine):
    before = add_leads(engine, 2)
    import_id, imported = add_import(engine, 4)
    after = add_leads(engine, 2)
    run_id = add_run(engine, [before[0], imported[1], after[1]])
    ids, _ = walk(api, run=run_id, limit=2)
    assert ids == [before[0], imported[1], after[1]]
    ids, _ = walk(api, limit=3, **{"import": import_id})
    assert ids == imported
    ids, _ = walk(api, run=run_id, order="updated", limit=2)
    assert sorted(ids) == [before[0], imported[1], after[1]]
    ids, _ = walk(api, order="updated", limit=3, **{"import": import_id})
    assert sorted(ids) == imported
    both = api.simulate_get("/leads", params={"run": run_id, "import": import_id}).json
    assert [i["id"] for i in both["items"]] == [imported[1]]
    assert both["items"][0]["run_id"] == run_id and both["items"][0]["import_id"] == import_id


def test_an_import_without_leads_lists_nothing(api, engine):
    import_id = sql(engine, "INSERT INTO imports (account_id) VALUES (1) RETURNING id")[0].id
    add_leads(engine, 2)
    assert api.simulate_get(f"/leads?import={import_id}").json == {"items": [], "next": None}


def test_another_accounts_leads_runs_and_imports_are_not_seen(api, engine):
    other = add_account(engine)
    mine = add_leads(engine, 2)
    theirs = add_leads(engine, 3, account_id=other)
    their_run = add_run(engine, theirs, account_id=other)
    their_import, _ = add_import(engine, 2, account_id=other)
    assert walk(api, limit=1)[0] == mine
    assert walk(api, limit=1, order="updated")[0] == mine
    for query in (f"run={their_run}", f"import={their_import}", "run=999999"):
        response = api.simulate_get(f"/leads?{query}")
        assert response.status_code == 404, query
        assert response.json["title"] == "Not found"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=0", "limit must be between 1 and 500"),
        ("limit=501", "limit must be between 1 and 500"),
        ("limit=ten", "limit must be a whole number"),
        ("stage=polish", "stage must be one of"),
        ("stage=intel&state=done", "state must be one of"),
        ("state=failed", "give stage too"),
        ("status=nope", "status must be one of"),
        ("run=0", "run must be a positive id"),
        ("run=-3", "run must be a whole number"),
        ("import=x", "import must be a whole number"),
        ("order=newest", "order must be one of"),
        ("after=garbage!", "not a cursor"),
        ("after=eyJvIjoiaWQifQ", "not a cursor"),
        ("stage=intel&stage=scrape", "once"),
        ("colour=red", "unknown parameter(s): colour"),
    ],
)
def test_bad_parameters_get_a_400_saying_what_is_wrong(api, query, words):
    response = api.simulate_get(f"/leads?{query}")
    assert response.status_code == 400
    assert response.json["title"] == "Invalid query"
    assert words in response.json["description"]


def test_a_cursor_of_one_order_is_refused_by_the_other(api, engine):
    add_leads(engine, 3)
    cursor = api.simulate_get("/leads?limit=1").json["next"]
    response = api.simulate_get(f"/leads?order=updated&after={cursor}")
    assert response.status_code == 400
    assert "continues order=id" in response.json["description"]


def test_a_forged_cursor_is_only_a_position_and_cannot_reach_another_account(api, engine):
    other = add_account(engine)
    add_leads(engine, 2, account_id=other)
    forged = listing.Position("id", 1).encode()
    assert api.simulate_get(f"/leads?after={forged}").json == {"items": [], "next": None}


def test_the_change_feed_orders_by_update_time_and_brings_a_changed_lead_again(api, engine):
    a, b, c = add_leads(engine, 3)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for offset, lead_id in enumerate((b, c, a)):
        sql(engine, "UPDATE leads SET updated_at = :t WHERE id = :id", t=base, id=lead_id)
        base += timedelta(seconds=offset + 1)
    page = api.simulate_get("/leads?order=updated&limit=2").json
    assert [i["id"] for i in page["items"]] == [b, c]
    fail_intel(engine, b)
    sql(engine, "UPDATE leads SET updated_at = :t WHERE id = :id", t=base, id=b)
    rest = api.simulate_get(f"/leads?order=updated&after={page['next']}").json
    assert [(i["id"], i["current_state"]) for i in rest["items"]] == [
        (a, "pending"),
        (b, "failed"),
    ]


def test_updated_at_never_moves_backwards(engine):
    [lead] = add_leads(engine, 1)
    sql(engine, "UPDATE leads SET updated_at = '2030-01-01Z' WHERE id = :id", id=lead)
    sql(engine, "UPDATE leads SET updated_at = '2020-01-01Z' WHERE id = :id", id=lead)
    [row] = sql(engine, "SELECT updated_at FROM leads WHERE id = :id", id=lead)
    assert row.updated_at == datetime(2030, 1, 1, tzinfo=UTC)


class Churn(threading.Thread):
    """Keeps moving random leads as the pipeline does: new statuses, new updated_at (half of
    them stamped by a clock read a little earlier, as a slow transaction would)."""

    STATES = ("pending", "started", "completed", "failed", "skipped")

    def __init__(self, engine, ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.engine, self.ids = engine, ids
        self.rounds = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(3)
        try:
            while not self.stop.is_set():
                stamp = datetime.now(UTC) - timedelta(seconds=rng.random() * rng.randint(0, 1))
                with self.engine.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE leads SET scrape_status = :s1, intel_status = :s2, "
                            "updated_at = :t WHERE id = ANY(:ids)"
                        ),
                        {
                            "s1": rng.choice(self.STATES),
                            "s2": rng.choice(self.STATES),
                            "t": stamp,
                            "ids": rng.sample(self.ids, 8),
                        },
                    )
                self.rounds += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_for_more(self, than: int) -> None:
        deadline = time.monotonic() + 10
        while self.rounds <= than and time.monotonic() < deadline:
            time.sleep(0.001)
        assert self.rounds > than, "the churn thread stopped updating"


def paged_under_churn(api, churn: Churn, limit: int, order: str, churn_pages: int) -> list[int]:
    """Walk the list; before each of the first ``churn_pages`` pages, let the churn thread
    commit at least one more update. Then stop it and finish the walk."""
    seen, cursor, pages = [], None, 0
    while True:
        if pages < churn_pages:
            churn.wait_for_more(churn.rounds)
        elif not churn.stop.is_set():
            churn.stop.set()
            churn.join()
        params = {"limit": limit, "order": order, **({"after": cursor} if cursor else {})}
        page = api.simulate_get("/leads", params=params).json
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            churn.stop.set()
            churn.join()
            assert churn.error is None, churn.error
            return seen


def test_paging_by_id_while_the_pipeline_moves_leads_skips_none_and_repeats_none(api, engine):
    ids = add_leads(engine, 240)
    churn = Churn(engine, ids)
    churn.start()
    seen = paged_under_churn(api, churn, limit=7, order="id", churn_pages=10_000)
    assert seen == ids
    assert churn.rounds >= 240 // 7


def test_paging_the_change_feed_while_the_pipeline_moves_leads_skips_none(api, engine):
    ids = add_leads(engine, 240)
    churn = Churn(engine, ids)
    churn.start()
    seen = paged_under_churn(api, churn, limit=7, order="updated", churn_pages=25)
    assert set(seen) == set(ids)
    assert len(seen) > len(ids), "no lead changed after it was read: the test moved nothing"


def plan(engine, name: str, flt: LeadFilter, **params) -> str:
    """EXPLAIN of a named list query for account 1, as text."""
    with engine.connect() as conn:
        bound = {**flt.bind(conn, 1), **params}
        statement = queries.get(name, flt.query_stage)
        rows = conn.execute(text("EXPLAIN (FORMAT JSON) " + statement.text), bound).scalar()
    return json.dumps(rows)


@pytest.fixture
def big(engine):
    """5,000 leads (some scraped, some failed at intel, a few queued for it) in three runs,
    and an import; analyzed. Returns the small run in the middle and the import."""
    ids = add_leads(engine, 5000)
    sql(engine, "UPDATE leads SET scrape_status = 'completed' WHERE id % 10 = 0")
    sql(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'failed' WHERE id % 20 = 5",
    )
    sql(
        engine,
        "UPDATE leads SET scrape_status = 'completed', intel_status = 'queued', "
        "intel_run_after = now() WHERE id % 1000 = 1",
    )
    add_run(engine, ids[:2400])
    run_id = add_run(engine, ids[2400:2460])
    add_run(engine, ids[2460:])
    import_id, _ = add_import(engine, 300)
    sql(engine, "ANALYZE")
    return run_id, import_id


def test_every_id_ordered_list_query_is_served_by_an_index(engine, big):
    run_id, import_id = big
    page = {"after_id": 2000, "limit": 51}
    base = plan(engine, "list_leads", LeadFilter(), **page)
    assert "leads_pkey" in base and "Seq Scan" not in base
    failed = plan(engine, "list_leads", LeadFilter(stage="intel", state="failed"), **page)
    assert "leads_pkey" in failed and "Seq Scan" not in failed
    queued = plan(engine, "list_leads", LeadFilter(stage="intel", state="queued"), **page)
    assert "Seq Scan" not in queued
    by_run = plan(engine, "list_run_leads", LeadFilter(run_id=run_id), **page)
    assert "run_leads_pkey" in by_run and "Seq Scan" not in by_run
    by_import = plan(engine, "list_leads", LeadFilter(import_id=import_id), **page)
    assert "leads_pkey" in by_import and "Seq Scan" not in by_import


def test_the_change_feed_keeps_only_a_page_in_its_sort(engine, big):
    feed = plan(
        engine, "list_leads_by_update", LeadFilter(), after_updated_at=None, after_id=None, limit=51
    )
    assert '"Node Type": "Limit"' in feed and '"Node Type": "Sort"' in feed
