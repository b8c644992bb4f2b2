"""The Markdown the pages and feeds show: a safe subset, headings below their place."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup

from server.rest.markdown import render


def test_the_subset_is_drawn() -> None:
    html = render("# Title\n\nSome *words*, **strong** and `code`.\n\n1. one\n2. two\n\n> quoted")
    assert isinstance(html, Markup)
    assert html == (
        "<h2>Title</h2>\n"
        "<p>Some <em>words</em>, <strong>strong</strong> and <code>code</code>.</p>\n"
        "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n"
    )


def test_raw_html_is_shown_as_text() -> None:
    html = render('<script>alert("x")</script>\n\nHi <img src=x onerror=alert(1)> there')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    "target", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "vbscript:x", "file:///etc/passwd"]
)
def test_links_to_scripts_and_files_stay_text(target: str) -> None:
    html = render(f"[click]({target}) and <{target}>")
    assert "<a" not in html
    assert "[click]" in html


def test_links_are_marked_nofollow_noopener() -> None:
    html = render('[runbook](https://example.com/a?b=1&c=2 "How") and <https://example.com>')
    assert html == (
        '<p><a href="https://example.com/a?b=1&amp;c=2" title="How" rel="nofollow noopener">'
        'runbook</a> and <a href="https://example.com" rel="nofollow noopener">'
        "https://example.com</a></p>\n"
    )


def test_images_are_not_drawn() -> None:
    html = render("![a pixel](https://tracker.example/p.gif)")
    assert "<img" not in html
    assert 'href="https://tracker.example/p.gif"' in html  # its text stays, as a link


@pytest.mark.parametrize(("top", "tags"), [(1, "h1 h2 h3"), (3, "h3 h4 h5"), (5, "h5 h6 h6")])
def test_headings_start_at_top_and_stop_at_h6(top: int, tags: str) -> None:
    html = render("# a\n\n## b\n\n### c", top)
    assert re.findall(r"<(h\d)>", html) == tags.split()
    assert re.findall(r"</(h\d)>", html) == tags.split()
