"""``GET /metrics``: scraped from a real server over HTTP and read with
prometheus_client's own parser; who may read it; and the Grafana dashboard
shipped in docs/ asks only for metrics a scrape has."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

from metrics_support import Scrape, scrape
from support import Api, Ws, eventually, open_ws, token

from server.main import Server

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


async def test_only_server_wide_operators_read_the_metrics(server: Server) -> None:
    for bearer, status in ((None, 401), (token("demo", "owner"), 403), (token("*", "viewer"), 403)):
        async with Api.open(server.base_url, bearer) as caller:
            answer = await caller.get("/metrics")
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] in ("unauthorized", "forbidden")
    async with Api.open(server.base_url, token("*", "admin")) as operator:
        openmetrics = await operator.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert openmetrics.status_code == 200
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


@contextlib.asynccontextmanager
async def subscribed(base_url: str, topics: list[str], bearer: str | None) -> AsyncIterator[Ws]:
    async with open_ws(base_url) as ws:
        if bearer:
            await ws.hello(bearer)
        for topic in topics:
            await ws.subscribe(topic)
        yield ws


def frame_size(payload: str) -> int:
    """A server's unmasked text frame carrying ``payload``: its header and the payload."""
    size = len(payload.encode())
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


async def frames_by_topic(ws: Ws) -> dict[str, int]:
    """The bytes of the event frames a socket received, by topic, until the
    answer to a ping sent now (the frames written before it are all there)."""
    await ws.send({"type": "ping", "id": "until-here"})
    sizes: dict[str, int] = {}
    while True:
        raw = await ws.conn.get_message()
        message = json.loads(raw)
        if message["type"] == "pong":
            return sizes
        sizes[message["topic"]] = sizes.get(message["topic"], 0) + frame_size(raw)


async def test_connections_subscribers_and_deliveries_are_counted(server: Server) -> None:
    """Real subscriptions on a fresh organization: the subscribers per kind, and
    one change's deliveries and bytes, exactly as the clients received them."""
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "metered", "name": "Metered"}, status=201)
    admin = token("metered", "admin")
    async with Api.open(server.base_url, admin) as api:
        service = await api.ok("POST", "/api/v1/orgs/metered/services", {"name": "Web"}, 201)
    before = await scrape(server.base_url)
    async with contextlib.AsyncExitStack() as stack:
        watchers = [
            await stack.enter_async_context(subscribed(server.base_url, ["status:metered"], None))
            for _ in range(5)
        ]
        members = [
            await stack.enter_async_context(
                subscribed(server.base_url, ["status:metered", "org:metered"], admin)
            )
            for _ in range(2)
        ]
        during = await scrape(server.base_url)
        assert during.value("switchboard_websocket_connections") == 7
        assert during.value("switchboard_subscribers", kind="status") == 7
        assert during.value("switchboard_subscribers", kind="org") == 2
        assert during.value("switchboard_subscribed_connections", kind="org") == 2
        assert during.value("switchboard_subscribers", kind="room") == 0
        assert (
            during.value("switchboard_websocket_accepted_total")
            - before.value("switchboard_websocket_accepted_total")
            == 7
        )

        async with Api.open(server.base_url, admin) as api:
            await api.ok(
                "PATCH",
                f"/api/v1/orgs/metered/services/{service['id']}",
                {"status": "major_outage"},
            )
        # What each socket got since, by topic: the change's frames (a pong ends them).
        got = [await frames_by_topic(ws) for ws in watchers + members]
        assert all(g == got[0] for g in got[:5]) and got[0].keys() == {"status:metered"}
        assert (
            all(g == got[5] for g in got[5:])
            and got[5]["status:metered"] == got[0]["status:metered"]
        )
        public = got[0]["status:metered"]
        private = got[5]["org:metered"]
        after = await scrape(server.base_url)

        def grew(name: str, kind: str) -> float:
            return after.value(name, kind=kind) - during.value(name, kind=kind)

        assert grew("switchboard_topic_deliveries_total", "status") == 7
        assert grew("switchboard_topic_deliveries_total", "org") == 2
        assert grew("switchboard_topic_sent_bytes_total", "status") == 7 * public
        assert grew("switchboard_topic_sent_bytes_total", "org") == 2 * private
        assert grew("switchboard_actor_commits_total", "org") >= 1
        assert grew("switchboard_actor_commit_seconds_count", "org") == grew(
            "switchboard_actor_commits_total", "org"
        )
    closed = await eventually(
        lambda: _subscribers_gone(server.base_url), "the closed connections to leave"
    )
    assert closed.value("switchboard_subscribers", kind="status") == 0


async def _subscribers_gone(base_url: str) -> Scrape | None:
    found = await scrape(base_url)
    return found if found.value("switchboard_websocket_connections") == 0 else None


# What PromQL says that is not a metric's name.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
PROMQL_WORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads: its identifiers, less functions
    (followed by ``(``), label matchers, grouping clauses, ranges and words."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for found in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[found.end() :].lstrip()
        if rest.startswith("(") or found.group() in PROMQL_WORDS:
            continue
        names.add(found.group())
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query["query"])
            assert found, query
            exprs.append(found.group(1))
    return exprs


def test_metric_names_are_read_from_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, kind) (rate(a_bucket{x=~"$y"}[$__rate_interval])))'
    ) == {"a_bucket"}
    assert metric_names('b{org=~"$org"} >= 0 and on (i) c') == {"b", "c"}


async def test_the_grafana_dashboard_reads_only_metrics_a_scrape_has(server: Server) -> None:
    """Every metric the dashboard's panels and variables ask for is one the
    server exports (the families are there even before they have samples)."""
    exported = (await scrape(server.base_url)).names()
    exprs = dashboard_expressions()
    asked = set().union(*(metric_names(e) for e in exprs))
    assert len(exprs) > 30 and {"monitor_status", "switchboard_subscribers"} <= asked
    assert asked - exported == set()


async def test_room_operations_are_counted_once(server: Server) -> None:
    """Two edits and a resend of the first: two operations applied, not three."""
    responder = token("demo", "responder")
    async with Api.open(server.base_url, responder) as api:
        incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Notes"}, 201)
    room = incident["notes_room"]
    before = await scrape(server.base_url)
    async with open_ws(server.base_url) as ws:
        await ws.hello(responder)
        await ws.subscribe_room(room, "counter-1", "Counter")
        first = {"type": "doc.op", "room": room, "rev": 0, "op": ["hello"], "client_op_id": 1}
        assert (await ws.request(dict(first)))["rev"] == 1
        assert (await ws.request(dict(first)))["rev"] == 1  # a resend: acknowledged, not applied
        second = {"type": "doc.op", "room": room, "rev": 1, "op": [5, "!"], "client_op_id": 2}
        assert (await ws.request(second))["rev"] == 2
        during = await scrape(server.base_url)
    assert during.value("switchboard_subscribers", kind="room") == 1
    assert during.value("switchboard_actors", kind="room") == 1
    ops = "switchboard_room_operations_total"
    assert during.value(ops) - before.value(ops) == 2
    commits = during.value("switchboard_actor_commits_total", kind="room") - before.value(
        "switchboard_actor_commits_total", kind="room"
    )
    assert commits == 2  # each edit waited for its ack; the resend made no event
