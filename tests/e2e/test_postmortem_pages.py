"""Postmortems on the public pages and feeds: rendered from a safe Markdown subset."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support import Api

ORG = "/api/v1/orgs/demo"
ATOM = "{http://www.w3.org/2005/Atom}"

MARKDOWN = """# What happened

A deploy **dropped an index** on `orders`, and checkout slowed.

- queries took seconds
- we rolled *back*

See [the runbook](https://example.com/runbook) and [this](javascript:alert(1)).

<script>alert("hi")</script>
"""


async def postmortem(api: Api, body: str = MARKDOWN) -> str:
    """A resolved incident with this postmortem; its id."""
    created = await api.ok("POST", f"{ORG}/incidents", {"name": "Slow checkout"}, status=201)
    await api.ok("POST", f"{ORG}/incidents/{created['id']}/resolve")
    await api.ok("PUT", f"{ORG}/incidents/{created['id']}/postmortem", {"body": body})
    return str(created["id"])


def check_rendered(html: str) -> None:
    """MARKDOWN as the subset allows it: its structure, no raw HTML, no script link."""
    assert "<strong>dropped an index</strong>" in html
    assert "<code>orders</code>" in html
    assert re.search(
        r"<ul>\s*<li>queries took seconds</li>\s*<li>we rolled <em>back</em></li>", html
    )
    assert '<a href="https://example.com/runbook" rel="nofollow noopener">the runbook</a>' in html
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in html  # shown as text
    assert "<script>alert" not in html
    assert 'href="javascript:' not in html and "[this](javascript:alert(1))" in html
    assert "**" not in html and "- queries" not in html  # not shown raw


async def test_the_incident_page_renders_the_postmortem_safely(api: Api) -> None:
    incident = await postmortem(api)
    page = (await api.get(f"/status/demo/incidents/{incident}")).text
    section = page.split('<section class="postmortem"', 1)[1].split("</section>", 1)[0]
    check_rendered(section)
    # Under the incident's own heading (h1 here): "Postmortem" is h2, its "#" an h3.
    assert re.search(r"<h2[^>]*>Postmortem</h2>", section)
    assert "<h3>What happened</h3>" in section
    assert "A postmortem has been published." in page  # the timeline says so, once
    assert page.count("dropped an index") == 1


async def test_the_history_page_keeps_the_postmortem_s_structure(api: Api) -> None:
    incident = await postmortem(api)
    history = (await api.get("/status/demo/history")).text
    article = history.split(f'id="incident-{incident}"', 1)[1].split("</article>", 1)[0]
    check_rendered(article)
    # Incidents are h3 under their month's h2: the postmortem's "#" comes below them.
    assert "<h5>What happened</h5>" in article
    assert article.count("<p>") >= 2  # paragraphs, not one run of text


async def test_a_revision_replaces_the_postmortem_on_the_pages(api: Api) -> None:
    incident = await postmortem(api, "First draft: an index was dropped.")
    await api.ok(
        "PATCH",
        f"{ORG}/incidents/{incident}",
        {"status": "postmortem", "body": "Final: a deploy dropped it."},
    )
    for path in (f"/status/demo/incidents/{incident}", "/status/demo/history"):
        page = (await api.get(path)).text
        assert page.count('<section class="postmortem"') == 1, path
        assert page.count("Final: a deploy dropped it.") == 1, path
        assert "First draft" not in page, path
        assert "The postmortem has been revised." in page, path


async def test_the_feeds_carry_the_rendered_postmortem(api: Api) -> None:
    incident = await postmortem(api)
    rss = ET.fromstring((await api.get("/status/demo/history.rss")).content)
    item = next(
        i for i in rss.iter("item") if i.findtext("link", "").endswith(f"/incidents/{incident}")
    )
    check_rendered(item.findtext("description", ""))
    atom = ET.fromstring((await api.get("/status/demo/history.atom")).content)
    for entry in atom.iter(f"{ATOM}entry"):
        link = entry.find(f"{ATOM}link")
        if link is not None and link.get("href", "").endswith(f"/incidents/{incident}"):
            content = entry.find(f"{ATOM}content")
            assert content is not None and content.get("type") == "html"
            check_rendered(content.text or "")
            break
    else:
        raise AssertionError("no Atom entry for the incident")
