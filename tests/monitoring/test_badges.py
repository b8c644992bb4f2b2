"""A monitor's badges: uptime, response time and certificate, beside the
status badges (same drawing, ETag and caching); public only for monitors of
a service the public page lists, and to others they do not exist."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from monitor_support import ORG, make
from support import Api, shown
from target import HttpServer, Reply

from server.main import Server


async def badge(anon: Api, org: str, monitor: str, what: str, query: str = "") -> tuple[str, str]:
    """A badge's words (its ``aria-label``) and ETag."""
    answer = await anon.get(f"/status/{org}/monitors/{monitor}/{what}.svg{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    label = ET.fromstring(answer.content).get("aria-label")
    assert label is not None
    return label, answer.headers["ETag"]


async def test_a_monitor_s_uptime_and_response_time_badges(
    server: Server, api: Api, web: HttpServer
) -> None:
    web.routes["/shop"] = Reply(200, b"ok")
    monitor = await make(api, name="Shop", spec={"url": web.url("/shop")})
    async with Api.open(server.base_url) as anon:
        words, _ = await badge(anon, "demo", monitor["id"], "uptime")
        assert words in (
            "uptime 24h: no data",
            "uptime 24h: 100.00%",
        )  # a scheduled check may be in
        await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
        await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")
        up, etag = await badge(anon, "demo", monitor["id"], "uptime", "?window=7d")
        assert up == "uptime 7d: 100.00%"
        again = await anon.get(
            f"/status/demo/monitors/{monitor['id']}/uptime.svg?window=7d",
            headers={"If-None-Match": etag},
        )
        assert again.status_code == 304 and again.headers["ETag"] == etag
        labelled, other = await badge(anon, "demo", monitor["id"], "uptime", "?label=shop")
        assert labelled == "shop: 100.00%" and other != etag
        wrong = await anon.get(f"/status/demo/monitors/{monitor['id']}/uptime.svg?window=90d")
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "window"

        web.routes["/shop"] = Reply(503, b"no")
        await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
        await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "down")
        down, changed = await badge(anon, "demo", monitor["id"], "uptime", "?window=7d")
        assert down.startswith("uptime 7d: ") and down != up and changed != etag
        percent = float(down.removeprefix("uptime 7d: ").removesuffix("%"))
        assert 0 <= percent < 100

        results = await shown(  # the results reach the database's rollups within a second
            api, f"{ORG}/monitors/{monitor['id']}/results", lambda r: len(r["data"]) >= 2
        )
        latencies = [r["latency_ms"] for r in results["data"]]
        # The version moved with the verdict: the figure is worked out anew.
        words, _ = await badge(anon, "demo", monitor["id"], "response-time")
        milliseconds = float(words.removeprefix("response 24h: ").removesuffix(" ms"))
        average = sum(latencies) / len(latencies)
        assert abs(milliseconds - average) <= 1  # whole milliseconds, from rounded results
        words, _ = await badge(anon, "demo", monitor["id"], "certificate")
        assert words == "certificate: not checked"  # an HTTP monitor's


async def test_only_monitors_of_listed_services_have_public_badges(
    server: Server, api: Api, web: HttpServer
) -> None:
    await api.ok(
        "POST", f"{ORG}/services", {"name": "Internal", "only_show_if_degraded": True}, status=201
    )
    hidden = await make(api, name="Hidden", service="Internal", spec={"url": web.url("/x")})
    shown_one = await make(api, name="Shown", spec={"url": web.url("/y")})
    async with Api.open(server.base_url) as anon:
        for what in ("uptime", "response-time", "certificate"):
            assert (
                await anon.get(f"/status/demo/monitors/{shown_one['id']}/{what}.svg")
            ).is_success
            for path in (
                f"/status/demo/monitors/{hidden['id']}/{what}.svg",  # its service is kept off
                f"/status/demo/monitors/Shown/{what}.svg",  # by name: names are the members'
                f"/status/demo/monitors/nosuch/{what}.svg",
                f"/status/nobody/monitors/{shown_one['id']}/{what}.svg",
            ):
                missing = await anon.get(path)
                assert missing.status_code == 404, path
                assert missing.text in ("no such monitor\n", "no such status page\n")
        assert (await anon.get(f"/status/demo/monitors/{hidden['id']}/uptime.svg")).text == (
            await anon.get("/status/demo/monitors/nosuch/uptime.svg")
        ).text
