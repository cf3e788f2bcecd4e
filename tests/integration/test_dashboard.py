"""The dashboard's page and static files as the web app serves them (the browser test in
``tests/e2e/test_dashboard_browser.py`` drives it in Chromium)."""

from __future__ import annotations

import re

import falcon.testing
import pytest

from api.app import STATIC, create_app
from api.deps import AppDeps
from pipeline.context import Context

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings, engine) -> falcon.testing.TestClient:
    deps = AppDeps(
        ctx=Context.build(settings, engine=engine),
        dispatch=lambda e: None,
        fetch_results=lambda _: None,
        health_checks={"database": lambda: None},
    )
    return falcon.testing.TestClient(create_app(deps))


def test_the_page_links_its_script_and_stylesheet_with_a_version(client):
    page = client.simulate_get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    versions = set(re.findall(r'/static/app\.(?:js|css)\?v=([0-9a-f]{12})"', page.text))
    assert len(versions) == 1, "one version for both files, never the {{version}} placeholder"


@pytest.mark.parametrize(
    ("path", "kind"), [("/static/app.js", "text/javascript"), ("/static/app.css", "text/css")]
)
def test_static_files_need_no_key_and_can_be_revalidated(client, path, kind):
    first = client.simulate_get(path)
    assert first.status_code == 200 and first.headers["content-type"].startswith(kind)
    again = client.simulate_get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/static/../api/app.py", "/static/nope.js", "/static/"])
def test_nothing_outside_the_static_folder_is_served(client, path):
    assert client.simulate_get(path).status_code == 404


def test_the_script_never_puts_data_into_html():
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, f"{sink} would let data become markup"
