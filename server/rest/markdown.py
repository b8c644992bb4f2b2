"""Markdown as the public pages and feeds show it (postmortems).

A safe subset of CommonMark, rendered by markdown-it-py: headings, lists,
emphasis, code, links, quotes and rules. Raw HTML is shown as the text it is,
images are not drawn (their text stays, as a link), and links keep
markdown-it's own check (no ``javascript:``, ``vbscript:``, ``file:`` or
``data:`` target becomes a link) and are marked ``rel="nofollow noopener"``.

Headings go below the heading of what they are shown in: ``top`` is the level
a ``#`` becomes (``##`` the next, and so on; never past h6).
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False}).disable(["image", "html_block", "html_inline"])

LINK_REL = "nofollow noopener"


@lru_cache(maxsize=256)  # pages and feeds show the same few texts again and again
def render(source: str, top: int = 2) -> Markup:
    """``source`` as HTML, safe to put in a page as it is."""
    tokens = _MD.parse(source)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + top - 1)}"
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("rel", LINK_REL)
    return Markup(_MD.renderer.render(tokens, _MD.options, {}))
