"""A tiny website of sample companies: what the scraper crawls in development and tests.

Every company of :func:`sample_companies` lives under ``/c/<slug>/`` with a home page and
linked subpages that link only within the company; ``/c/<slug>/sitemap.xml`` also lists a
careers page that no page links to, so ``includeSitemap`` has something to find.

Fault paths for the scraper's error handling: ``/missing/`` (404), ``/forbidden/`` (403),
``/error/?code=503`` (any 5xx), ``/empty/`` (200 with no text), ``/slow/?ms=N`` (answers
after N ms) and ``/go/<slug>`` (a redirect to the company).
"""

from __future__ import annotations

import time
from html import escape

import falcon

from localservices.companies import Company, company_for_slug, sample_companies

__all__ = ["Company", "create_app", "sample_companies"]

#: (path suffix, nav label) of the pages every company links to; "" is the home page.
NAV_PAGES = (
    ("", "Home"),
    ("about", "About"),
    ("products", "Products"),
    ("team", "Team"),
    ("blog", "Blog"),
)
SITEMAP_ONLY_PAGES = ("careers",)
MAX_SLOW_MS = 60_000
HTML = "text/html; charset=utf-8"


def _document(title: str, nav: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:auto}</style>"
        "<script>window.analytics=window.analytics||[];</script>"
        f"</head><body>{nav}<main>{body}</main>"
        "<footer><p>&copy; Sample company on the Leadpipe local site.</p></footer>"
        "</body></html>\n"
    )


def _nav(company: Company) -> str:
    links = "".join(f'<a href="{company.path}{suffix}">{label}</a> ' for suffix, label in NAV_PAGES)
    return f"<nav>{links}</nav>"


def _paragraphs(*texts: str) -> str:
    return "".join(f"<p>{escape(text)}</p>" for text in texts)


def _home(c: Company) -> tuple[str, str]:
    products = ", ".join(c.products)
    body = (
        f"<h1>{escape(c.name)}</h1>"
        + _paragraphs(
            f"{c.name} is a {c.industry} company based in {c.city}, founded in {c.founded}.",
            f"Teams across North America and Europe rely on {c.name} for {products}.",
            f"Our {c.city} engineers ship improvements every week, and every customer gets a "
            f"named account manager who knows the {c.industry} business.",
        )
        + f'<p>Read more <a href="{c.path}about">about us</a>, browse our '
        f'<a href="{c.path}products">products</a> or meet the <a href="{c.path}team">team</a>.'
        "</p>"
    )
    return c.name, body


def _about(c: Company) -> tuple[str, str]:
    body = "<h1>About us</h1>" + _paragraphs(
        f"{c.name} started in {c.city} in {c.founded} with a simple idea: {c.industry} "
        "should be dependable, measurable and pleasant to work with.",
        f"Today {c.name} serves hundreds of customers and is still headquartered in {c.city}.",
    )
    return f"About {c.name}", body


def _products(c: Company) -> tuple[str, str]:
    items = "".join(
        f"<li><strong>{escape(p.title())}</strong>: {escape(p)} by {escape(c.name)}, "
        "which pays for itself within a year.</li>"
        for p in c.products
    )
    body = f"<h1>Products</h1><h2>What {escape(c.name)} offers</h2><ul>{items}</ul>"
    return f"{c.name} products", body


def _team(c: Company) -> tuple[str, str]:
    body = "<h1>Our team</h1>" + _paragraphs(
        f"{c.contact_name} leads partnerships at {c.name}; reach them at {c.contact_email}.",
        f"The rest of the {c.city} team builds and supports our {c.products[0]}.",
    )
    return f"The {c.name} team", body


def _blog(c: Company) -> tuple[str, str]:
    body = (
        "<h1>Blog</h1>"
        f"<h2>How {escape(c.name)} rethought {escape(c.products[1])}</h2>"
        + _paragraphs(
            f"This quarter we rebuilt our {c.products[1]} from the ground up for {c.industry} "
            "teams that outgrew spreadsheets.",
        )
        + f"<h2>{escape(c.city)} meetup recap</h2>"
        + _paragraphs(f"Thanks to everyone who joined {c.name} in {c.city} last month.")
    )
    return f"{c.name} blog", body


def _careers(c: Company) -> tuple[str, str]:
    body = "<h1>Careers</h1>" + _paragraphs(
        f"{c.name} is hiring in {c.city}: engineers, designers and {c.industry} specialists."
    )
    return f"Careers at {c.name}", body


PAGES = {
    "": _home,
    "about": _about,
    "products": _products,
    "team": _team,
    "blog": _blog,
    "careers": _careers,
}


class CompanyPageResource:
    """``/c/{slug}/`` and ``/c/{slug}/{page}``: one sample company's pages."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, slug: str) -> None:
        self._render(resp, slug, "")

    def on_get_page(self, req: falcon.Request, resp: falcon.Response, slug: str, page: str) -> None:
        self._render(resp, slug, page)

    def _render(self, resp: falcon.Response, slug: str, page: str) -> None:
        company = company_for_slug(slug)
        render = PAGES.get(page)
        if company is None or render is None:
            raise falcon.HTTPNotFound(description=f"no page {page!r} for company {slug!r}")
        title, body = render(company)
        resp.content_type = HTML
        resp.text = _document(title, _nav(company), body)


class CompanySitemapResource:
    """``/c/{slug}/sitemap.xml``: every page of the company, including unlinked ones."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, slug: str) -> None:
        company = company_for_slug(slug)
        if company is None:
            raise falcon.HTTPNotFound(description=f"no company {slug!r}")
        base = req.prefix + company.path
        pages = [suffix for suffix, _ in NAV_PAGES] + list(SITEMAP_ONLY_PAGES)
        urls = "".join(f"<url><loc>{escape(base + page)}</loc></url>" for page in pages)
        resp.content_type = "application/xml"
        resp.text = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )


class IndexResource:
    """``/``: links to the first companies, so a person can browse the site."""

    def __init__(self, listed: int) -> None:
        self._listed = listed

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        items = "".join(
            f'<li><a href="{c.path}">{escape(c.name)}</a> ({escape(c.city)})</li>'
            for c in sample_companies(self._listed)
        )
        resp.content_type = HTML
        resp.text = _document(
            "Sample companies",
            "",
            f"<h1>Sample companies</h1><p>Any /c/&lt;slug&gt;/ of the generated companies "
            f"is served; here are the first {self._listed}.</p><ul>{items}</ul>",
        )


class FaultResource:
    """``/missing/``, ``/forbidden/``, ``/error/`` and ``/empty/``: pages that misbehave."""

    def on_get_missing(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPNotFound(description="this page is missing on purpose")

    def on_get_forbidden(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPForbidden(description="this page is forbidden on purpose")

    def on_get_error(self, req: falcon.Request, resp: falcon.Response) -> None:
        code = req.get_param_as_int("code", min_value=500, max_value=599, default=500)
        raise falcon.HTTPError(code, description="this page fails on purpose")

    def on_get_empty(self, req: falcon.Request, resp: falcon.Response) -> None:
        # Markup, a script and a style, but not one word of readable text.
        resp.content_type = HTML
        resp.text = (
            "<!doctype html><html><head><style>p{color:red}</style></head>"
            "<body><div><span></span></div><script>var x = 1;</script></body></html>"
        )


class SlowResource:
    """``/slow/?ms=N``: a normal page that takes N milliseconds (capped) to answer."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ms = req.get_param_as_int("ms", min_value=0, max_value=MAX_SLOW_MS, default=1000)
        time.sleep(ms / 1000)
        resp.content_type = HTML
        resp.text = _document(
            "Slow page", "", _paragraphs(f"This page took {ms} milliseconds to answer.")
        )


class RedirectResource:
    """``/go/{slug}``: a permanent redirect to the company's home page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, slug: str) -> None:
        raise falcon.HTTPMovedPermanently(f"/c/{slug}/")


def create_app(listed: int = 50) -> falcon.App:
    """The sample-company website; ``listed`` companies are linked from ``/``."""
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    # "/c/<slug>" and "/c/<slug>/" are the same page, as on most sites.
    app.req_options.strip_url_path_trailing_slash = True
    faults = FaultResource()
    pages = CompanyPageResource()
    app.add_route("/", IndexResource(listed))
    app.add_route("/c/{slug}", pages)
    app.add_route("/c/{slug}/sitemap.xml", CompanySitemapResource())
    app.add_route("/c/{slug}/{page}", pages, suffix="page")
    app.add_route("/missing", faults, suffix="missing")
    app.add_route("/forbidden", faults, suffix="forbidden")
    app.add_route("/error", faults, suffix="error")
    app.add_route("/empty", faults, suffix="empty")
    app.add_route("/slow", SlowResource())
    app.add_route("/go/{slug}", RedirectResource())
    return app
