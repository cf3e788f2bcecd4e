"""Deterministic sample companies: company ``i`` is the same on every machine and every run.

A company is derived from its index alone (through SHA-256, never Python's salted ``hash``),
and its slug ends with that index, so any slug of ``sample_companies(n)`` maps back to its
company in O(1) without building the list.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Brand words; the first half of a company name.
BRANDS = _words(
    "Acme Northwind Bluefin Copperleaf Granite Juniper Lumen Meridian Nimbus Orchard "
    "Pioneer Quarry Redwood Summit Tidewater Vantage Willow Zephyr Harbor Ironclad "
    "Keystone Lakeside Maple Silverline"
)

#: (industry, name suffix, product nouns) — the second half of a name follows the industry.
INDUSTRIES = (
    ("robotics", "Robotics", ("warehouse robots", "robotic arms", "fleet control software")),
    ("logistics", "Logistics", ("freight tracking", "route planning", "last-mile delivery")),
    ("analytics", "Analytics", ("dashboards", "forecasting models", "data pipelines")),
    ("healthcare", "Health", ("patient scheduling", "telehealth visits", "clinic billing")),
    ("fintech", "Payments", ("card processing", "invoicing", "fraud screening")),
    ("manufacturing", "Manufacturing", ("precision parts", "injection moulding", "CNC machining")),
    ("energy", "Energy", ("solar installations", "battery storage", "grid monitoring")),
    ("education", "Learning", ("online courses", "tutoring software", "exam preparation")),
    ("security", "Security", ("endpoint protection", "access control", "threat monitoring")),
    ("agriculture", "Farms", ("soil sensors", "irrigation control", "crop analytics")),
    ("retail", "Outfitters", ("outdoor gear", "store fixtures", "loyalty programmes")),
    ("construction", "Builders", ("modular housing", "site surveying", "project estimating")),
)

CITIES = _words(
    "Austin Denver Portland Chicago Boston Atlanta Seattle Toronto Dublin Berlin Lisbon "
    "Melbourne Nashville Pittsburgh Raleigh Madison"
)

FIRST_NAMES = _words(
    "Jane Omar Priya Lucas Mei Daniel Amara Tomás Hannah Kenji Sofia Elias Grace Mateo "
    "Noor Felix Aisha Oliver Ingrid Ravi"
)

LAST_NAMES = _words(
    "Doe Haddad Raman Silva Chen Okafor Byrne García Novak Tanaka Rossi Lindqvist Mensah "
    "Kowalski Ibrahim Schmidt Patel Moreau"
)

_SLUG_INDEX = re.compile(r"^[a-z0-9-]+-(\d{1,9})$")


@dataclass(frozen=True)
class Company:
    index: int
    name: str
    slug: str
    industry: str
    city: str
    products: tuple[str, ...]
    founded: int
    contact_first_name: str
    contact_last_name: str
    contact_email: str

    @property
    def path(self) -> str:
        """The site path of the company's home page (``/c/<slug>/``)."""
        return f"/c/{self.slug}/"

    @property
    def contact_name(self) -> str:
        return f"{self.contact_first_name} {self.contact_last_name}"

    def url(self, base_url: str) -> str:
        """The company's home page on a site served at ``base_url``."""
        return base_url.rstrip("/") + self.path


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def _ascii_word(text: str) -> str:
    """``García`` → ``garcia``: the local part of an email stays plain ASCII."""
    return slugify(unicodedata.normalize("NFKD", text)).replace("-", "")


def company(index: int) -> Company:
    """Return sample company number ``index`` (0-based)."""
    if index < 0:
        raise ValueError("company index must be >= 0")
    digest = hashlib.sha256(f"leadpipe-sample-company-{index}".encode()).digest()
    brand = BRANDS[digest[0] % len(BRANDS)]
    industry, suffix, products = INDUSTRIES[digest[1] % len(INDUSTRIES)]
    first = FIRST_NAMES[digest[2] % len(FIRST_NAMES)]
    last = LAST_NAMES[digest[3] % len(LAST_NAMES)]
    name = f"{brand} {suffix}"
    slug = f"{slugify(name)}-{index}"
    return Company(
        index=index,
        name=name,
        slug=slug,
        industry=industry,
        city=CITIES[digest[4] % len(CITIES)],
        products=products,
        founded=1985 + digest[5] % 38,
        contact_first_name=first,
        contact_last_name=last,
        # The reserved ``.example`` TLD: plausible, unique per company, and never deliverable.
        contact_email=f"{_ascii_word(first)}.{_ascii_word(last)}@{slug}.example",
    )


def sample_companies(n: int) -> list[Company]:
    """The first ``n`` sample companies, always the same ones in the same order."""
    return [company(i) for i in range(n)]


def company_for_slug(slug: str) -> Company | None:
    """The company whose slug is ``slug``, or None; O(1), any index is accepted."""
    match = _SLUG_INDEX.match(slug)
    if match is None:
        return None
    found = company(int(match.group(1)))
    return found if found.slug == slug else None
