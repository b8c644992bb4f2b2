"""The public pages over HTTP: the status page, history, incident pages, feeds,
badges and static files (the browser tests in tests/web drive the same pages)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support import Api

ATOM = "{http://www.w3.org/2005/Atom}"


async def _incident(api: Api, name: str, **body: object) -> dict[str, object]:
    created: dict[str, object] = await api.ok(
        "POST", "/api/v1/orgs/demo/incidents", {"name": name, **body}, status=201
    )
    return created


async def test_the_status_page_is_whole_without_javascript(api: Api) -> None:
    await _incident(
        api,
        "Slow logins",
        body="Looking into <it> & more",
        services={"Website": "degraded_performance"},
    )
    response = await api.get("/status/demo")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.text
    assert "<title>Demo Inc. status</title>" in page
    assert 'class="banner s-minor"' in page and "Minor Service Outage" in page
    assert "Slow logins" in page
    assert "Looking into &lt;it&gt; &amp; more" in page  # escaped, never markup
    assert re.search(
        r'id="service-\w+">\s*<div class="row"><span class="name">Website</span>', page
    )
    assert "Degraded performance" in page
    for name in ("Website", "Dashboard", "API", "Database", "Email delivery"):
        assert f'<span class="name">{name}</span>' in page
    assert page.count('class="day"') == 14  # two weeks of history
    # No mail server: the page offers the feeds and a webhook, not email.
    assert 'id="subscribe"' in page and 'href="/status/demo/history.atom"' in page
    assert 'name="webhook"' in page and 'name="email"' not in page
    # The script resumes from the seq the page was drawn at.
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert data and '"seq":' in data.group(1) and "</" not in data.group(1)


async def test_the_page_is_compressed_for_clients_that_take_gzip(api: Api) -> None:
    plain = await api.get("/status/demo", headers={"Accept-Encoding": "identity"})
    packed = await api.client.get("/status/demo", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.text == plain.text  # httpx decodes it
    assert int(packed.headers["Content-Length"]) < len(plain.content) / 4


async def test_an_unknown_page_is_a_readable_404(api: Api) -> None:
    response = await api.get("/status/nobody")
    assert response.status_code == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "There is no status page called &#39;nobody&#39;." in response.text
    assert (await api.get("/status/demo/incidents/nothing")).status_code == 404


async def test_the_bars_show_today_s_worst_status_from_the_log(api: Api) -> None:
    await api.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "major_outage"})
    await api.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "operational"})
    page = (await api.get("/status/demo")).text
    api_item = page.split('<span class="name">API</span>', 1)[1].split("</li>", 1)[0]
    cells = re.findall(r'<span class="d s-(\w+)" title="([^"]+)"', api_item)
    assert len(cells) == 90
    assert cells[-1][0] == "major_outage"
    assert cells[-1][1].endswith("uptime") and "Major outage" in cells[-1][1]
    assert cells[0] == ("none", cells[0][1]) and cells[0][1].endswith(": no data")


async def test_history_is_paginated_newest_first(api: Api) -> None:
    for n in range(23):
        created = await _incident(api, f"Blip {n:02}")
        await api.ok("POST", f"/api/v1/orgs/demo/incidents/{created['id']}/resolve")
    first = (await api.get("/status/demo/history")).text
    second = (await api.get("/status/demo/history?page=2")).text
    assert first.count('class="incident ') == 20 and second.count('class="incident ') == 3
    assert first.index("Blip 22") < first.index("Blip 03")
    assert 'rel="next" href="?page=2"' in first and 'rel="next"' not in second
    assert 'rel="prev" href="?page=1"' in second
    assert (await api.get("/status/demo/history?page=0")).status_code == 422


async def test_an_incident_has_its_own_page(api: Api) -> None:
    created = await _incident(api, "Queue backlog", body="Draining")
    page = (await api.get(f"/status/demo/incidents/{created['id']}")).text
    assert '<h1 class="incident-name">Queue backlog</h1>' in page
    assert "Draining" in page


async def test_rss_and_atom_feeds_list_incidents_and_revalidate(api: Api) -> None:
    created = await _incident(api, "Payment errors", body="Card payments <fail>")
    rss = await api.get("/status/demo/history.rss")
    assert rss.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    channel = ET.fromstring(rss.content).find("channel")
    assert channel is not None
    item = channel.find("item")
    assert item is not None
    assert item.findtext("title") == "Payment errors"
    assert item.findtext("link", "").endswith(f"/status/demo/incidents/{created['id']}")
    assert "Card payments &lt;fail&gt;" in item.findtext("description", "")
    atom = ET.fromstring((await api.get("/status/demo/history.atom")).content)
    entry = atom.find(f"{ATOM}entry")
    assert entry is not None and entry.findtext(f"{ATOM}title") == "Payment errors"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated", ""))
    etag = rss.headers["ETag"]
    assert (
        await api.get("/status/demo/history.rss", headers={"If-None-Match": etag})
    ).status_code == 304
    await api.ok("POST", f"/api/v1/orgs/demo/incidents/{created['id']}/resolve")
    assert (
        await api.get("/status/demo/history.rss", headers={"If-None-Match": etag})
    ).status_code == 200


async def test_badges_say_the_status_in_svg(api: Api) -> None:
    badge = await api.get("/status/demo/badge.svg")
    assert badge.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    svg = ET.fromstring(badge.content)
    assert svg.get("aria-label") == "status: All Systems Operational"
    await api.ok("PATCH", "/api/v1/orgs/demo/services/Database", {"status": "partial_outage"})
    service = await api.get("/status/demo/services/database/badge.svg?label=db")
    assert ET.fromstring(service.content).get("aria-label") == "db: partial outage"
    assert "#b3410e" in service.text
    overall = ET.fromstring((await api.get("/status/demo/badge.svg")).content)
    assert overall.get("aria-label") == "status: Partial System Outage"
    assert (await api.get("/status/demo/services/nothing/badge.svg")).status_code == 404
    assert (await api.get("/status/nobody/badge.svg")).status_code == 404


async def test_static_files_are_cached_by_content(api: Api) -> None:
    page = (await api.get("/status/demo")).text
    url = re.search(r'href="(/static/switchboard\.css\?v=\w+)"', page)
    assert url
    versioned = await api.get(url.group(1))
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["Content-Type"] == "text/css; charset=utf-8"
    bare = await api.get("/static/switchboard.css")
    assert bare.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    again = await api.get(
        "/static/switchboard.css", headers={"If-None-Match": bare.headers["ETag"]}
    )
    assert again.status_code == 304
    assert (await api.get("/static/nothing.js")).status_code == 404
    assert (await api.get("/static/../server/app.py")).status_code == 404
    raw = await api.client.get("/static/status.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.text.startswith("// The public status page, live.")  # decoded by httpx


async def test_the_console_pages_are_served_and_not_framed(api: Api) -> None:
    for path in ("/admin", "/admin/demo/services", "/admin/incidents/abc"):
        response = await api.get(path)
        assert response.status_code == 200, path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_the_front_page_points_at_status_pages_and_the_console(api: Api) -> None:
    page = (await api.get("/")).text
    assert '<a href="/status/demo">demo</a>' in page
    assert '<a href="/admin">Console</a>' in page
