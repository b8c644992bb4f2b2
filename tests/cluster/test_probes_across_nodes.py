"""Remote probes and heartbeats among several nodes: a probe connected to any
node is given every monitor of its region, its results count once, on the
node that runs the monitor's organization, whichever node they were sent to
(and sent again to), and a heartbeat counts whichever node it reaches. With
the organization's node gone, or NATS away, a probe is told ``unavailable``
and keeps its results; nothing waits unbounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import trio
from nats_support import BOUND, NatsServer
from support import TOKENS, Api, admin_token, eventually, open_ws, shown, token
from switchboard_client import connect
from switchboard_client.errors import SwitchboardError

from server.domain.model import iso
from server.main import Server
from server.store import Store

ORG = "/api/v1/orgs/demo"
REFUSED = "http://127.0.0.1:1/"  # nothing listens there: a check of it is down


@asynccontextmanager
async def apis(
    servers: dict[str, Server], bearer: str | None = None
) -> AsyncIterator[dict[str, Api]]:
    """An API client of each node (the demo's admin unless ``bearer`` says)."""
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(
                Api.open(server.base_url, bearer or admin_token("demo"))
            )
            for name, server in servers.items()
        }


async def make(api: Api, org: str = "demo", **fields: Any) -> dict[str, Any]:
    """A monitor damped by nothing (one result moves its region), checked in
    eu-west only unless ``fields`` say."""
    data = {
        "service": "API",
        "kind": "http",
        "spec": {"url": REFUSED},
        "regions": ["eu-west"],
        "down_after": 1,
        "up_after": 1,
        **fields,
    }
    made: dict[str, Any] = await api.ok("POST", f"/api/v1/orgs/{org}/monitors", data, status=201)
    return made


async def known(api: Api, ref: str, org: str = "demo") -> None:
    """Wait until the node ``api`` speaks to has the monitor ``ref`` (a node
    that does not run the organization follows its commits, a moment later)."""
    path = f"/api/v1/orgs/{org}/monitors/{ref}"

    async def there() -> bool:
        return (await api.get(path)).status_code == 200

    await eventually(there, f"{path} on {api.client.base_url}")


async def next_event(feed: Any) -> Any:
    """The feed's next event; a hang guard, not a measure."""
    with trio.fail_after(BOUND):
        return await feed.next()


def result(monitor_id: str, result_id: str, outcome: str = "down") -> dict[str, Any]:
    return {
        "id": result_id,
        "monitor": monitor_id,
        "at": iso(datetime.now(UTC)),
        "outcome": outcome,
        "latency_ms": None,
        "status_code": None,
        "error": "connection refused" if outcome == "down" else None,
    }


async def europe_and_backup(api: dict[str, Api]) -> tuple[str, str]:
    """Two monitors of demo made through a and known to b: "Europe", checked
    in eu-west, and "Backup", a heartbeat; the first's id, the second's URL."""
    europe = await make(api["a"], name="Europe")
    backup = await make(
        api["a"], name="Backup", kind="heartbeat", spec={}, regions=[], interval=600
    )
    await known(api["b"], "Backup")
    return europe["id"], f"/api/v1/heartbeat/{backup['heartbeat_token']}"


async def taken(probe: Any, sent: dict[str, Any], what: str) -> None:
    """Send ``sent`` until it is accepted, as a probe does: each refusal must be
    ``unavailable`` (told, and tried again), never a silent drop."""

    async def accepted() -> bool:
        try:
            answer = await probe.report("eu-west", [sent])
        except SwitchboardError as exc:
            assert exc.code == "unavailable", exc
            return False
        assert answer == {"accepted": 1, "unknown": []}, answer
        return True

    await eventually(accepted, what, within=BOUND)


async def results(servers: dict[str, Server], api: Api, ref: str) -> list[tuple[str, str]]:
    """(region, outcome) of each stored result of ``ref``, once every node has
    written what it holds."""
    for server in servers.values():
        if server.monitoring is not None:
            await server.monitoring.flush()
    rows = (await api.ok("GET", f"{ORG}/monitors/{ref}/results"))["data"]
    return [(row["region"], row["outcome"]) for row in rows]


async def test_a_probe_on_either_node_is_given_every_monitor_of_its_region(
    servers: dict[str, Server],
) -> None:
    async with apis(servers) as api:
        await make(api["a"], name="Europe")
        await make(api["a"], name="America", regions=["us-east"])
        await known(api["b"], "America")
        for node in ("a", "b"):
            async with connect(servers[node].base_url, TOKENS.issue_probe("eu-west")) as probe:
                feed = await probe.subscribe("probe:eu-west")
                assert [m["monitor"]["name"] for m in feed.snapshot["monitors"]] == ["Europe"], node
                assert {m["org"] for m in feed.snapshot["monitors"]} == {"demo"}
        async with connect(servers["b"].base_url, TOKENS.issue_probe("eu-west")) as probe:
            feed = await probe.subscribe("probe:eu-west")
            later = await make(api["a"], name="Later")
            event = await next_event(feed)
            assert event.name == "monitor.assigned" and event.data["monitor"]["id"] == later["id"]
            await api["a"].ok("PATCH", f"{ORG}/monitors/Later", {"paused": True})
            event = await next_event(feed)
            assert event.name == "monitor.unassigned" and event.data == {"id": later["id"]}
            seen = feed.seq
        # Moved to a with b's ``since``: each node numbers its events its own way,
        # so the probe gets a snapshot there, never a's events as if they were b's.
        async with open_ws(servers["a"].base_url) as ws:
            await ws.hello(TOKENS.issue_probe("eu-west"))
            moved = await ws.subscribe("probe:eu-west", since=seen)
            assert not moved["resumed"]
            assert [m["monitor"]["name"] for m in moved["snapshot"]["monitors"]] == ["Europe"]


async def test_a_batch_is_counted_on_the_nodes_that_run_its_monitors(
    servers: dict[str, Server], store: Store
) -> None:
    """An organization made through b after both nodes started (b runs it):
    its new monitor reaches a probe on a at once, and a batch a takes with
    results for both organizations counts each on its own node."""
    async with apis(servers, token("*", "admin")) as root:
        await root["b"].ok("POST", "/api/v1/orgs", {"slug": "beta", "name": "Beta"}, status=201)
        await root["b"].ok("POST", "/api/v1/orgs/beta/services", {"name": "API"}, status=201)
        demo = await make(root["a"], name="Demo's")
        async with connect(servers["a"].base_url, TOKENS.issue_probe("eu-west")) as probe:
            feed = await probe.subscribe("probe:eu-west")
            beta = await make(root["b"], "beta", name="Beta's")
            event = await next_event(feed)
            assert event.name == "monitor.assigned"
            assert (event.data["org"], event.data["monitor"]["id"]) == ("beta", beta["id"])
            batch = [result(demo["id"], "r1"), result(beta["id"], "r2"), result("gone", "r3")]
            answer = await probe.report("eu-west", batch)
            assert answer == {"accepted": 2, "unknown": ["gone"]}
        holders = await store.fetch(
            "SELECT stream, owner FROM leases WHERE stream IN ('org:demo', 'org:beta')"
        )
        assert {row["stream"]: row["owner"] for row in holders} == {
            "org:demo": "a",
            "org:beta": "b",
        }
        for org, made in (("demo", demo), ("beta", beta)):
            for node in ("a", "b"):
                await shown(
                    root[node],
                    f"/api/v1/orgs/{org}/monitors/{made['id']}",
                    lambda monitor: monitor["verdict"] == "down",
                )


async def test_a_result_sent_again_to_any_node_counts_once(servers: dict[str, Server]) -> None:
    """Result ids are remembered where the result is counted (the node that
    runs the organization), so a probe that lost an answer and sends the
    batch again, to the same node or to another, counts it once."""
    async with apis(servers) as api:
        monitor = await make(api["a"], name="Europe")
        await known(api["b"], "Europe")
        down = result(monitor["id"], "eu-west-1")
        async with connect(servers["b"].base_url, TOKENS.issue_probe("eu-west")) as probe:
            assert await probe.report("eu-west", [down]) == {"accepted": 1, "unknown": []}
            assert await probe.report("eu-west", [down]) == {"accepted": 0, "unknown": []}
        async with connect(servers["a"].base_url, TOKENS.issue_probe("eu-west")) as probe:
            assert await probe.report("eu-west", [down]) == {"accepted": 0, "unknown": []}
        await shown(api["b"], f"{ORG}/monitors/Europe", lambda m: m["verdict"] == "down")
        assert await results(servers, api["b"], "Europe") == [("eu-west", "down")]


async def test_a_heartbeat_reaching_either_node_counts_for_its_monitor(
    servers: dict[str, Server],
) -> None:
    async with apis(servers) as api:
        monitor = await make(
            api["a"], name="Backup", kind="heartbeat", spec={}, regions=[], interval=600, grace=0
        )
        beat = f"/api/v1/heartbeat/{monitor['heartbeat_token']}"
        await known(api["b"], "Backup")
        async with httpx.AsyncClient(base_url=servers["b"].base_url) as anonymous:
            answer = await anonymous.post(beat, params={"status": "down", "msg": "disk full"})
            assert answer.status_code == 200, answer.text
            await shown(api["a"], f"{ORG}/monitors/Backup", lambda m: m["verdict"] == "down")
            assert (await anonymous.get(beat)).status_code == 200
            assert (await anonymous.head(beat)).status_code == 200
            assert (await anonymous.get("/api/v1/heartbeat/sbh_nothing")).status_code == 404
        await shown(api["b"], f"{ORG}/monitors/Backup", lambda m: m["verdict"] == "up")
        assert await results(servers, api["b"], "Backup") == [
            ("heartbeat", "up"),
            ("heartbeat", "up"),
            ("heartbeat", "down"),
        ]


async def test_a_check_asked_of_either_node_runs_where_the_organization_runs(
    servers: dict[str, Server],
) -> None:
    async with apis(servers) as api:
        await make(api["a"], name="Europe")
        await known(api["b"], "Europe")
        answer = await api["b"].ok("POST", f"{ORG}/monitors/Europe/check")
        assert (answer["region"], answer["outcome"]) == ("zone-a", "down")
        assert await results(servers, api["b"], "Europe") == [("zone-a", "down")]


async def test_while_a_dead_node_holds_the_lease_probes_are_told_and_then_counted_once(
    servers: dict[str, Server], store: Store
) -> None:
    """The node that ran the organization died holding its lease (here, a node
    "gone" that never answers): a probe's results for it are refused with
    ``unavailable`` (the probe keeps them and sends them again), never
    dropped; once the lease runs out a node adopts the organization, and the
    batch sent again counts once. A heartbeat meanwhile is told ``503``."""
    async with apis(servers) as api:
        monitor, beat = await europe_and_backup(api)
        await store.write(
            [
                (
                    "UPDATE leases SET owner = 'gone', epoch = epoch + 1,"
                    " expires_at = clock_timestamp() + interval '1 hour'"
                    " WHERE stream = 'org:demo'",
                    (),
                )
            ]
        )

        def following(node: str) -> bool:
            return any(
                handle.stream == "org:demo" and handle.following and handle.owner == "gone"
                for handle in servers[node].registry.running()  # type: ignore[union-attr]
            )

        await eventually(lambda: following("a") and following("b"), "a and b to see 'gone' own it")
        down = result(monitor, "eu-west-1")
        for node in ("b", "a"):
            async with connect(servers[node].base_url, TOKENS.issue_probe("eu-west")) as probe:
                with pytest.raises(SwitchboardError) as refused:
                    await probe.report("eu-west", [down])
                assert refused.value.code == "unavailable", node
                assert "'gone'" in str(refused.value)
        async with httpx.AsyncClient(base_url=servers["b"].base_url) as anonymous:
            answer = await anonymous.post(beat)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "unavailable"

        await store.write(
            [("UPDATE leases SET expires_at = clock_timestamp() WHERE stream = 'org:demo'", ())]
        )
        async with connect(servers["b"].base_url, TOKENS.issue_probe("eu-west")) as probe:
            await taken(probe, down, "a node to adopt demo and take the result")
            assert await probe.report("eu-west", [down]) == {"accepted": 0, "unknown": []}
        await shown(api["b"], f"{ORG}/monitors/Europe", lambda m: m["verdict"] == "down")
        assert await results(servers, api["b"], "Europe") == [("eu-west", "down")]


async def test_with_nats_away_results_and_beats_are_refused_at_once_and_taken_after(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    async with apis(servers) as api:
        monitor, beat = await europe_and_backup(api)
        down = result(monitor, "eu-west-1")
        async with (
            connect(servers["b"].base_url, TOKENS.issue_probe("eu-west")) as probe,
            httpx.AsyncClient(base_url=servers["b"].base_url) as anonymous,
        ):
            await nats_server.kill()
            with trio.fail_after(BOUND):  # a hang guard: each is refused at once
                with pytest.raises(SwitchboardError) as refused:
                    await probe.report("eu-west", [down])
                assert refused.value.code == "unavailable"
                answer = await anonymous.post(beat)
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "unavailable"
            await nats_server.start()
            await taken(probe, down, "b to reach a again")
            assert (await anonymous.post(beat)).status_code == 200
        await shown(api["a"], f"{ORG}/monitors/Europe", lambda m: m["verdict"] == "down")
        await shown(api["a"], f"{ORG}/monitors/Backup", lambda m: m["verdict"] == "up")
