"""Turning HTML into the title, text and links a crawler reports."""

from __future__ import annotations

from localservices.extract import extract

HTML = """<html><head><title> Acme  Robotics </title><style>p{}</style>
<script>var tracking = "do not read";</script></head>
<body><nav><a href="/about">About</a> Menu text</nav>
<h1>Acme <em>Robotics</em></h1><p>We build <a href="robots#top">robots</a> in Ohio.</p>
<h2>Products</h2><ul><li>Arms</li><li><p>Grippers</p></li></ul>
<a href="https://elsewhere.example/x">out</a><a href="mailto:a@b.example">mail</a>
</body></html>"""


def test_the_title_comes_from_the_title_element() -> None:
    assert extract(HTML, "http://acme.example/").title == "Acme Robotics"


def test_headings_become_hash_lines_and_list_items_dash_lines() -> None:
    content = extract(HTML, "http://acme.example/").content
    assert content.splitlines()[0] == "# Acme Robotics"
    assert "## Products" in content
    assert "- Arms" in content and "- Grippers" in content
    assert "We build robots in Ohio." in content


def test_scripts_styles_and_navigation_are_not_content() -> None:
    content = extract(HTML, "http://acme.example/").content
    assert "tracking" not in content and "Menu text" not in content and "p{}" not in content


def test_links_are_absolute_without_fragments_and_include_navigation() -> None:
    links = extract(HTML, "http://acme.example/home/").links
    assert "http://acme.example/about" in links
    assert "http://acme.example/home/robots" in links
    assert "https://elsewhere.example/x" in links
    assert not any(link.startswith("mailto:") for link in links)


def test_a_page_without_text_has_zero_words_and_the_first_heading_is_a_fallback_title() -> None:
    empty = extract("<html><body><script>x=1</script><div></div></body></html>", "http://e/")
    assert (empty.title, empty.content, empty.word_count) == ("", "", 0)
    assert extract("<body><h2>Hello</h2></body>", "http://e/").title == "Hello"


def test_absurdly_deep_markup_still_yields_its_text() -> None:
    html = "<body>" + "<div>" * 5000 + "deep text here" + "</div>" * 5000 + "</body>"
    assert extract(html, "http://e/").content == "deep text here"
