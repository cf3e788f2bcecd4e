"""The sample-company site and its companies."""

from __future__ import annotations

import re

import falcon.testing
import pytest

from localservices.companies import company, company_for_slug
from localservices.site import create_app, sample_companies


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app())


def test_sample_companies_are_the_same_on_every_call() -> None:
    assert sample_companies(50) == sample_companies(50)
    assert sample_companies(3)[0].name == company(0).name


def test_ten_thousand_sample_companies_have_unique_slugs_and_emails() -> None:
    companies = sample_companies(10_000)
    assert len({c.slug for c in companies}) == 10_000
    assert len({c.contact_email for c in companies}) == 10_000


def test_a_sample_company_looks_like_a_real_lead() -> None:
    c = company(17)
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", c.name)
    assert c.slug.endswith("-17")
    assert re.fullmatch(r"[a-z]+\.[a-z]+@[a-z0-9-]+\.example", c.contact_email)
    assert c.industry and c.city and c.contact_first_name and c.contact_last_name


def test_any_slug_maps_back_to_its_company_and_unknown_slugs_to_none() -> None:
    assert company_for_slug(company(9_999).slug) == company(9_999)
    assert company_for_slug("no-such-company-3") is None
    assert company_for_slug("no-index") is None


def test_a_company_home_page_names_the_company_its_industry_and_city(client) -> None:
    c = company(42)
    page = client.simulate_get(c.path)
    assert page.status_code == 200
    assert f"<title>{c.name}</title>" in page.text
    for fact in (c.name, c.industry, c.city, c.products[0]):
        assert fact in page.text


def test_company_pages_link_only_within_the_company(client) -> None:
    c = company(7)
    for page in ("", "about", "products", "team", "blog"):
        response = client.simulate_get(c.path + page)
        assert response.status_code == 200, page
        links = re.findall(r'href="([^"]+)"', response.text)
        assert links and all(link.startswith(c.path) for link in links), page


def test_the_team_page_names_the_contact(client) -> None:
    c = company(3)
    assert c.contact_name in client.simulate_get(c.path + "team").text


def test_the_company_sitemap_lists_a_page_no_other_page_links_to(client) -> None:
    c = company(5)
    sitemap = client.simulate_get(c.path + "sitemap.xml").text
    assert f"{c.path}careers</loc>" in sitemap
    assert "careers" not in client.simulate_get(c.path).text


def test_an_unknown_company_or_page_is_404(client) -> None:
    assert client.simulate_get("/c/nobody-1/").status_code == 404
    assert client.simulate_get(company(1).path + "pricing").status_code == 404


@pytest.mark.parametrize(("path", "status"), [("/missing/", 404), ("/forbidden/", 403)])
def test_fault_paths_answer_their_status(client, path: str, status: int) -> None:
    assert client.simulate_get(path).status_code == status


def test_the_error_path_answers_the_asked_5xx(client) -> None:
    assert client.simulate_get("/error/", params={"code": "502"}).status_code == 502


def test_the_empty_page_is_200_with_no_words(client) -> None:
    response = client.simulate_get("/empty/")
    assert response.status_code == 200
    assert re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", "", response.text).strip() == ""


def test_the_slow_page_takes_the_asked_time(client) -> None:
    import time

    began = time.monotonic()
    assert client.simulate_get("/slow/", params={"ms": "120"}).status_code == 200
    assert time.monotonic() - began >= 0.12
