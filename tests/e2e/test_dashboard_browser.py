"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
enter a key, upload a CSV, press Customize, watch the run complete, open a lead and read
its email. Screenshots go to ``.local/screenshots/<timestamp>/`` (printed at the start).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it on CI)
and the ``playwright`` package (a dev dependency). Playwright's own browser download
(``playwright install``) is never used: the test launches the system Chromium.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from devtools.procfile import ROOT
from tests.e2e.test_pipeline import sample_leads

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LEADS = 8
HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Eve'

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: install Debian's browser with "
        "'apt-get update && apt-get install -y chromium' (.ci/run does this on CI)",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing: pip install -e '.[dev]'"
)


def csv_file(site: str, path: Path) -> Path:
    """Eight good leads (one with markup in its name, one whose site is missing), one bad
    email, one duplicate."""
    leads = sample_leads(site, LEADS)
    leads[1]["name"] = HOSTILE_NAME
    leads[-1]["company_url"] = site.rstrip("/") + "/missing/"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Full Name", "E-mail", "Company", "Website", "Favourite colour"])
    for lead in leads:
        writer.writerow([lead["name"], lead["email"], lead["company"], lead["company_url"], "blue"])
    writer.writerow(["Bad Row", "not-an-email", "Nope Inc", "http://nope.example/", "red"])
    writer.writerow(["Again", leads[0]["email"], "Dup Ltd", "", "green"])
    path.write_text(out.getvalue())
    return path


@pytest.fixture
def shots(capsys: pytest.CaptureFixture[str]):
    folder = ROOT / ".local" / "screenshots" / datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nscreenshots: {folder}")
    count = iter(range(1, 100))

    def shot(page, name: str) -> Path:
        path = folder / f"{next(count):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def test_upload_customize_watch_the_run_and_read_an_email(leadpipe, browser, shots, tmp_path):
    app = leadpipe(scraper_flags="--latency-ms 1500")
    path = csv_file(app.site, tmp_path / "leads.csv")
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url.removeprefix(app.web)))
    expect = sync_api.expect

    # The key: asked once, a wrong one is refused with a clear message, the right one kept.
    page.goto(app.web + "/")
    page.fill("#api-key", "lp_not-a-real-key")
    page.click("#key-submit")
    expect(page.locator("#key-error")).to_contain_text("Wrong key")
    shots(page, "wrong-key")
    page.fill("#api-key", app.key)
    page.click("#key-submit")
    expect(page.locator("#leads-body")).to_contain_text("No leads match")
    shots(page, "empty-leads")

    # Upload: the report counts rows and names each rejected line and its reason.
    page.click(".tabs >> text=Import CSV")
    page.set_input_files("#csv-file", str(path))
    shots(page, "import-form")
    page.click("#upload")
    report = page.locator("#import-report")
    expect(report).to_contain_text("Accepted")
    expect(report.locator(".stat").nth(1)).to_contain_text(str(LEADS))
    expect(report.locator(".stat").nth(2)).to_contain_text("2")
    rejections = page.locator("#rejections-body tr")
    expect(rejections).to_have_count(2)
    expect(rejections.nth(0)).to_contain_text("malformed email")
    expect(rejections.nth(1)).to_contain_text("duplicate email")
    assert rejections.nth(0).locator("td").first.inner_text() == str(LEADS + 2)
    expect(page.locator("#import-view")).to_contain_text("Favourite colour")
    shots(page, "import-report")

    # The import's leads; select the page and press Customize (the estimate comes first).
    page.click("#view-import-leads")
    rows = page.locator("#leads-body tr")
    expect(rows).to_have_count(LEADS)
    expect(page.locator("#leads-body")).to_contain_text(HOSTILE_NAME)  # shown as text
    page.check("#select-page")
    expect(page.locator("#customize")).to_have_text(f"Customize {LEADS} leads")
    shots(page, "leads-selected")
    page.click("#customize")
    expect(page.locator("#estimate-cost")).to_contain_text("$")
    shots(page, "customize-estimate")
    page.click("#start-run")

    # The run view refreshes itself until the run has completed.
    page.wait_for_url(re.compile(r".*#/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#stage-progress .seg-active").first).to_be_visible()
    shots(page, "run-in-progress")
    heading = page.locator("#run-view h1")
    expect(heading).to_contain_text("completed", timeout=120_000)
    # The lead whose site is missing failed at scrape; later stages expect one lead less.
    expect(page.locator('.frac[data-stage="scrape"]')).to_have_text(f"{LEADS} / {LEADS}")
    for stage in ("intel", "strategy", "subject", "messaging"):
        expect(page.locator(f'.frac[data-stage="{stage}"]')).to_have_text(
            f"{LEADS - 1} / {LEADS - 1}"
        )
    expect(page.locator('[data-action="retry-failed"]')).to_be_enabled()
    shots(page, "run-completed")
    on_run_view = [u for u in requests if u.startswith(("/leads", "/status", "/estimate"))]
    assert not [u for u in on_run_view if re.match(r"/leads/\d+", u)], "no per-lead requests"

    # Finished: the page stops polling.
    polled = len([u for u in requests if u.startswith(f"/runs/{run_id}")])
    time.sleep(3.5)
    assert len([u for u in requests if u.startswith(f"/runs/{run_id}")]) == polled

    # Export the run's leads as CSV.
    with page.expect_download() as info:
        page.click('#run-view [data-export="csv"]')
    exported = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert len(exported) == LEADS
    assert sorted(row["scrape_status"] for row in exported) == ["completed"] * 7 + ["failed"]

    # A lead: every stage's result, ending with the email.
    page.click("#run-leads")
    expect(rows).to_have_count(LEADS)
    expect(rows.nth(0).locator(".fit-badge")).to_be_visible()
    shots(page, "run-leads")
    first = rows.nth(0)
    company = first.locator("td").nth(3).locator("div").first.inner_text()
    first.locator("td").nth(2).locator("a").click()
    expect(page.locator("#lead-view #email-body")).to_contain_text(company)
    expect(page.locator("#fit-score")).to_have_text(re.compile(r"^\d{1,3}$"))
    expect(page.locator("#scrape-excerpt")).to_contain_text(company)
    subject = page.locator("#email-subject").inner_text()
    assert subject.strip()
    shots(page, "lead-email")

    # Filters: the lead that failed at scrape, and its error on its page.
    page.click(".tabs >> text=Leads")
    page.select_option("#filter-stage", "scrape")
    page.select_option("#filter-state", "failed")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("404")
    rows.nth(0).locator("td").nth(2).locator("a").click()
    expect(page.locator("#stage-scrape .errorbox")).to_contain_text("404")
    shots(page, "lead-failed")
    page.click(".tabs >> text=Runs")
    expect(page.locator("#runs-body tr")).to_have_count(1)
    shots(page, "runs")

    assert page.evaluate("window.__xss") is None, "markup in data must never run"
    assert errors == [], errors
    assert app.tracebacks() == []
    context.close()
