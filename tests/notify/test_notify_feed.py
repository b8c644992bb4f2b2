"""From the event log to receivers: changes made through the API (and by
monitors) are told to channels once each, in order, signed."""

from __future__ import annotations

from typing import Any

import trio
from notify_support import Receiver, Wired, set_verdicts, unchecked_monitor
from support import Api

from server.domain.monitors import Verdict
from server.main import Server
from server.notify import verify
from server.notify.feed import Feed

ORG = "/api/v1/orgs/demo"


async def hook(api: Api, receiver: Receiver, **fields: Any) -> str:
    made = await api.ok(
        "POST",
        f"{ORG}/channels",
        {"kind": "webhook", "name": "Ops", "config": {"url": receiver.url()}, **fields},
        201,
    )
    secret: str = made["secret"]
    return secret


async def test_an_incident_made_through_the_api_reaches_the_hook_signed(
    wired: Wired, api: Api, receiver: Receiver
) -> None:
    await api.ok("POST", f"{ORG}/incidents", {"name": "Before the channel"}, 201)
    # Told before the channel exists (the feed may not have come to it yet).
    assert wired.server.notify_feed is not None
    await wired.server.notify_feed.tell("org:demo")
    secret = await hook(api, receiver)
    made = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Card payments fail", "services": {"API": "major_outage"}},
        201,
    )
    await api.ok(
        "PATCH", f"{ORG}/incidents/{made['id']}", {"status": "identified", "body": "Found it"}
    )
    await api.ok("POST", f"{ORG}/incidents/{made['id']}/resolve")
    got = await receiver.count(3)
    events = [r.json()["event"] for r in got]
    assert events == ["incident.created", "incident.updated", "incident.resolved"]
    assert all(r.json()["data"]["incident"]["name"] == "Card payments fail" for r in got)
    assert "author" not in got[0].json()["data"]["incident"]["updates"][0]  # the public view
    first = got[0]
    assert verify(
        secret,
        first.headers["x-switchboard-signature"],
        first.headers["x-switchboard-timestamp"],
        first.body,
    )


async def test_each_event_is_told_once_across_a_restart(
    wired: Wired, api: Api, receiver: Receiver, nursery: trio.Nursery
) -> None:
    await hook(api, receiver, events=["incident.created"])
    await api.ok("POST", f"{ORG}/incidents", {"name": "Once"}, 201)
    await receiver.count(1)
    first = wired.server
    await first.stop()
    # The same database again: the organization's log replays as it loads,
    # and the feed's cursor is past all of it.
    again: Server = await nursery.start(Server(first.config).run)
    assert again.registry is not None and again.notify_feed is not None
    await again.registry.org("demo")
    assert await again.notify_feed.tell("org:demo") == 0
    assert again.notifier is not None
    assert len(await again.notifier.deliveries("demo")) == 1
    await again.stop()


async def test_a_monitor_going_down_and_up_is_told(
    wired: Wired, api: Api, receiver: Receiver
) -> None:
    await hook(api, receiver, events=["monitor.down", "monitor.up"])
    monitor_id = await unchecked_monitor(api)
    # The first up is no news.
    await set_verdicts(
        wired.server, monitor_id, Verdict.UP, Verdict.DOWN, Verdict.UP, error="refused"
    )
    got = await receiver.count(2)
    assert [r.json()["event"] for r in got] == ["monitor.down", "monitor.up"]
    assert got[0].json()["data"]["message"] == "refused"


async def test_two_nodes_reading_the_same_events_tell_them_once(
    wired: Wired, api: Api, receiver: Receiver
) -> None:
    """Each node's feed sweeps every organization: when two read the same
    events, the one that moves the cursor first makes the deliveries, and the
    other makes none."""
    await hook(api, receiver, events=["incident.created"])
    server = wired.server
    assert server.notify_feed is not None and server.notifier is not None
    other = Feed(server.notify_feed.store, server.notifier)  # another node's
    server.notify_feed.due.clear()
    server.registry.observers.remove(server.notify_feed.observe)  # let the test interleave
    await api.ok("POST", f"{ORG}/incidents", {"name": "Once"}, 201)
    seen_there = await other.read("org:demo")
    assert seen_there is not None
    await server.notify_feed.tell("org:demo")  # (or its own sweep did, just before)
    assert await other.write(seen_there) == 0  # the cursor moved meanwhile
    await receiver.count(1)
    assert len(await server.notifier.deliveries("demo")) == 1
