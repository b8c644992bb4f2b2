"""A maintenance's own page: where its Statuspage ``shortlink`` and its feed
entries lead."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from support import Api

ATOM = "{http://www.w3.org/2005/Atom}"


async def _maintenance(api: Api) -> dict[str, object]:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    created: dict[str, object] = await api.ok(
        "POST",
        "/api/v1/orgs/demo/maintenances",
        {
            "name": "Disk <swap>",
            "body": "New disks & more",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=2)).isoformat(),
            "services": ["Database"],
        },
        status=201,
    )
    return created


async def test_a_maintenance_has_a_page_where_its_shortlink_leads(api: Api) -> None:
    maintenance = await _maintenance(api)
    listed = (await api.get("/status/demo/api/v2/scheduled-maintenances.json")).json()
    (shown,) = listed["scheduled_maintenances"]
    shortlink = shown["shortlink"]
    assert shortlink.endswith(f"/status/demo/maintenances/{maintenance['id']}")
    page = await api.client.get(shortlink)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.text
    assert "<title>Disk &lt;swap&gt; · Demo Inc. status</title>" in html
    assert '<h1 class="incident-name">Disk &lt;swap&gt;</h1>' in html
    assert "Scheduled" in html and "Affects Database" in html
    assert "New disks &amp; more" in html
    assert '<a href="/status/demo">← Current status</a>' in html
    assert "status.js" not in html  # drawn once, like an incident's page
    # The status page links to it.
    assert (
        f'href="/status/demo/maintenances/{maintenance["id"]}"'
        in (await api.get("/status/demo")).text
    )


async def test_a_maintenance_that_is_not_there_is_a_404_page(api: Api) -> None:
    missing = await api.get("/status/demo/maintenances/nothing")
    assert missing.status_code == 404 and "text/html" in missing.headers["Content-Type"]
    assert "There is no maintenance &#39;nothing&#39; on &#39;demo&#39;" in missing.text
    nobody = await api.get("/status/nobody/maintenances/nothing")
    assert nobody.status_code == 404


async def test_feed_entries_of_maintenances_link_to_their_page(api: Api) -> None:
    maintenance = await _maintenance(api)
    page = f"{api.client.base_url}/status/demo/maintenances/{maintenance['id']}"
    rss = ET.fromstring((await api.get("/status/demo/history.rss")).text)
    (item,) = [i for i in rss.iter("item") if i.findtext("title") == "Disk <swap>"]
    assert item.findtext("link") == page
    atom = ET.fromstring((await api.get("/status/demo/history.atom")).text)
    (entry,) = [e for e in atom.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == "Disk <swap>"]
    assert entry.find(f"{ATOM}link").get("href") == page  # type: ignore[union-attr]
    for link in (item.findtext("link"), page):
        assert (await api.client.get(link)).status_code == 200  # type: ignore[arg-type]
