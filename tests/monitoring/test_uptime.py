"""Uptime is the verdict's: the share of the time the monitor's verdict was
known that it was not down. Failures of one region that the quorum ignored
lower only that region's own figures, shown beside it.

The server's clock follows trio's MockClock from yesterday 01:00 (UTC), and
the test jumps it, so that minutes and hours of verdicts pass at once and all
fall on one day the status page shows whole.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import trio
import trio.testing
from monitor_support import ORG, make
from support import Api, shown

from server.clock import TrioClock
from server.config import Config
from server.domain.model import parse_iso
from server.main import Server
from server.monitoring.reports import Outcome
from server.monitoring.uptime import measure, share, verdict_spans
from server.rest import render

EPOCH = datetime.combine(datetime.now(UTC).date(), time(1), tzinfo=UTC) - timedelta(days=1)


@pytest.fixture
async def server(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    running: Server = await nursery.start(Server(config, clock=TrioClock(EPOCH)).run)
    yield running
    await running.stop()


async def verdict(
    api: Api, server: Server, monitor: dict[str, Any], want: str, **seen: str
) -> datetime:
    """Regions report (region=outcome), made at the server's time; once the
    verdict is ``want``, when it became so."""
    assert server.monitoring is not None and server.registry is not None
    made = server.registry.clock.now()
    for region, outcome in seen.items():
        result = Outcome(outcome, error="no")
        server.monitoring.report(region.replace("_", "-"), monitor["id"], result, made)
    path = f"{ORG}/monitors/{monitor['id']}"
    seen = await shown(api, path, lambda m: m["verdict"] == want)
    return parse_iso(seen["verdict_since"])


async def outage(
    api: Api, server: Server, clock: trio.testing.MockClock, before: float, down: float
) -> tuple[dict[str, Any], list[datetime]]:
    """A quorum-2 monitor of eu-west and us-east: eu-west fails all along (a bad
    path), up for ``before`` seconds, then both down for ``down``, then up again.
    The moments its verdict became up, down and up."""
    monitor = await make(
        api,
        name="Edge",
        regions=["eu-west", "us-east"],
        quorum=2,
        interval=86_400,  # the regions stay live through the jumps
        spec={"url": "http://edge.test/"},
    )
    assert server.monitoring is not None
    moments = [await verdict(api, server, monitor, "up", eu_west="down", us_east="up")]
    # Results are written a batch at a time: each batch is in before the clock
    # jumps past the bound of its write (a busy machine could be mid-write).
    await server.monitoring.flush()
    clock.jump(before)
    moments.append(await verdict(api, server, monitor, "down", eu_west="down", us_east="down"))
    await server.monitoring.flush()
    clock.jump(down)
    moments.append(await verdict(api, server, monitor, "up", eu_west="down", us_east="up"))
    await server.monitoring.flush()
    return monitor, moments


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


async def test_uptime_is_the_share_of_time_the_verdict_was_not_down(
    server: Server, jumping_api: Api, clock: trio.testing.MockClock
) -> None:
    # The SRE's numbers: 2.4 minutes down in 18.
    monitor, (up, down, back) = await outage(jumping_api, server, clock, 15.6 * 60, 2.4 * 60)
    clock.jump(60)
    uptime = await jumping_api.ok("GET", f"{ORG}/monitors/{monitor['id']}/uptime")
    now = parse_iso(uptime["at"])
    known = seconds(up, down) + seconds(down, back) + seconds(back, now)
    day = uptime["windows"]["24h"]
    assert day["uptime"] == round(100 * (known - seconds(down, back)) / known, 4)
    assert (day["measured_seconds"], day["down_seconds"]) == (
        round(known, 3),
        round(seconds(down, back), 3),
    )
    assert uptime["windows"]["90d"]["uptime"] == day["uptime"]
    # The checks, all regions', and each region's own figures beside it.
    assert (day["checks"], day["down"]) == (6, 4)
    assert day["regions"] == {
        "eu-west": {"uptime": 0.0, "checks": 3, "down": 3},
        "us-east": {"uptime": 66.6667, "checks": 3, "down": 1},
    }
    assert uptime["daily"][-1]["uptime"] == day["uptime"]


async def test_the_bars_show_the_uptime_of_the_verdict(
    server: Server, jumping_api: Api, clock: trio.testing.MockClock
) -> None:
    _, (up, down, back) = await outage(jumping_api, server, clock, 3 * 3600, 6 * 3600)
    assert server.monitoring is not None
    await server.monitoring.flush()
    # The page is drawn today: yesterday's cell holds the whole outage.
    end = datetime.combine(up.date() + timedelta(days=1), time(0), tzinfo=UTC)
    known = seconds(up, down) + seconds(down, back) + seconds(back, end)
    expected = f"{(known - seconds(down, back)) / known * 100:.2f}%"
    page = (await jumping_api.get("/status/demo")).text
    api_row = page.split('<span class="name">API</span>', 1)[1].split("</li>", 1)[0]
    cells = dict(re.findall(r'title="([^:"]+): ([^"]+)"', api_row))
    assert cells[render.day(up.date())] == f"Major outage, {expected} uptime"


def test_the_verdict_the_monitor_has_counts_when_its_change_was_not_kept() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert verdict_spans([], "down", start, start + hour) == [(start, start + hour, "down")]
    kept = [{"at": start, "verdict": "unknown"}, {"at": start + hour, "verdict": "up"}]
    spans = verdict_spans(kept, "down", start + 2 * hour, start + 4 * hour)
    assert spans == [
        (start, start + hour, "unknown"),
        (start + hour, start + 2 * hour, "up"),
        (start + 2 * hour, start + 4 * hour, "down"),
    ]
    assert measure(spans, start, start + 4 * hour) == (3 * 3600, 2 * 3600)  # unknown: neither
    assert share(*measure(spans, start, start + 4 * hour)) == 33.3333
    assert share(*measure(spans, start, start + hour)) is None
