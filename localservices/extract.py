"""HTML → (title, readable markdown-ish text, links), the way a crawler service reports a page.

Scripts, styles, navigation and other non-content elements are dropped; headings become
``#`` lines, list items ``- `` lines, every other block its own paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

DROPPED = "script, style, nav, noscript, template, iframe, svg, canvas, form, button, select"
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCK_TAGS = (
    "p div section article main header footer aside ul ol li table thead tbody tr td th "
    "blockquote pre dl dt dd figure figcaption address hr br body html"
)
BLOCKS = frozenset(BLOCK_TAGS.split())


@dataclass(frozen=True)
class Page:
    title: str
    content: str
    links: tuple[str, ...]

    @property
    def word_count(self) -> int:
        return len([word for word in self.content.split() if any(ch.isalnum() for ch in word)])


def extract(html: str, base_url: str) -> Page:
    """Parse ``html`` fetched from ``base_url``; links are absolute and fragment-free."""
    tree = LexborHTMLParser(html)
    links = _links(tree, base_url)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    for node in tree.css(DROPPED):
        node.decompose()
    lines: list[str] = []
    body = tree.body
    if body is not None:
        try:
            _Blocks(lines).walk(body)
        except RecursionError:  # pathologically nested markup: keep the text, lose the shape
            lines = [_squash(line) for line in body.text(separator="\n").splitlines()]
            lines = [line for line in lines if line]
    if not title:
        first_heading = next((line for line in lines if line.startswith("#")), "")
        title = first_heading.lstrip("# ")
    return Page(title=title, content="\n\n".join(lines), links=links)


def _links(tree: LexborHTMLParser, base_url: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith(("mailto:", "tel:", "javascript:", "#")):
            continue
        found[urldefrag(urljoin(base_url, href)).url] = None
    return tuple(found)


class _Blocks:
    """Walks the tree and collects one line per block of text."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._inline: list[str] = []
        self._bullet = False

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._inline.append(child.text(deep=False))
            elif tag in HEADINGS:
                self._flush()
                text = _squash(child.text())
                if text:
                    self._lines.append("#" * HEADINGS[tag] + " " + text)
            elif tag == "li":
                self._flush()
                self._bullet = True
                self.walk(child)
                self._flush()
                self._bullet = False
            elif tag in BLOCKS:
                self._flush()
                self.walk(child)
                self._flush()
            elif tag and not tag.startswith("-"):
                self.walk(child)  # inline element: its text joins the current line
        if node.tag in ("body", "html"):
            self._flush()

    def _flush(self) -> None:
        text = _squash("".join(self._inline))
        self._inline.clear()
        if text:
            self._lines.append(f"- {text}" if self._bullet else text)
            self._bullet = False


def _squash(text: str) -> str:
    return " ".join(text.split())
