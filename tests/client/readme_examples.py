"""The Python examples of clients/python/README.md, one after another, as
tests/client/test_readme.py writes them: rewrite this file with
``python tests/client/test_readme.py`` after changing the README."""
# ruff: noqa

import anyio

import switchboard_client
from switchboard_client import Event

URL = "http://127.0.0.1:8080"  # or "ws://127.0.0.1:8080/ws"
TOKEN = "sbt_..."  # an API token (see docs/api.md)


async def main() -> None:
    async with switchboard_client.connect(URL, token=TOKEN) as client:
        events = await client.subscribe("status:demo")
        print(events.snapshot["status"])
        service = await client.service_update("demo", service="API", status="major_outage")
        print(service["id"], service["status"])
        async for event in events:  # Event(topic, seq, name, data, at), or Resync
            if isinstance(event, Event):
                print(event.seq, event.name)


if __name__ == "__main__":
    anyio.run(main)  # or asyncio.run(main()), or trio.run(main)


from switchboard_client import Client, ConnectionLost, NotFound, OutcomeUnknown


async def set_status(client: Client, service: str, key: str) -> None:
    try:
        await client.service_update(
            "demo", service=service, status="partial_outage", idempotency_key=key
        )
    except NotFound:
        print(f"no service {service!r}")
    except OutcomeUnknown:
        # Sent, and no answer came: the same key makes a retry safe.
        await client.service_update(
            "demo", service=service, status="partial_outage", idempotency_key=key
        )
    except ConnectionLost as exc:
        print("not sent:", exc)  # e.g. "not connected within 15 s (cannot connect to ...)"


async def resilient() -> None:
    async with switchboard_client.connect(
        ["ws://node-a:8080/ws", "ws://node-b:8080/ws"],  # a cluster's nodes
        token=TOKEN,
        connect_timeout=5,  # connect() returns or raises within 5 s
        request_timeout=10,  # the longest any call waits, reconnecting included
        fail_fast=True,  # a call made while disconnected raises ConnectionLost at once
        backoff=switchboard_client.Backoff(base=0.1, cap=10, max_attempts=20),
    ) as client:
        print(client.url, client.state)


from switchboard_client import Resync


async def follow(client: Client) -> None:
    events = await client.subscribe("status:demo", since=40)  # the events after seq 40
    async for item in events:
        if isinstance(item, Resync):  # too far back: the state now instead
            print("snapshot at", item.seq, item.snapshot["status"])
        else:
            print(item.seq, item.name)
            if item.name == "status.changed":
                break
    await events.unsubscribe()


from typing import cast

from switchboard_client.types import MonitorChanged


async def watch_checks(client: Client) -> None:
    monitor = await client.monitor_create(
        "demo",
        name="API health",
        service="API",
        kind="http",
        spec={"url": "https://api.example.com/health"},
        interval=30,
    )
    events = await client.subscribe("org:demo")
    async for event in events:
        if isinstance(event, Event) and event.name == "monitor.updated":
            data = cast(MonitorChanged, event.data)
            if data["monitor"]["id"] == monitor["id"]:
                print(data["monitor"]["verdict"], data["monitor"]["failing_regions"])


from switchboard_client.types import ProbeResult


async def probe(url: str, probe_token: str) -> None:
    async with switchboard_client.connect(url, token=probe_token) as client:
        feed = await client.subscribe("probe:eu-west")
        for item in feed.snapshot["monitors"]:
            result: ProbeResult = {
                "id": f"eu-west-{item['monitor']['id']}-1",
                "monitor": item["monitor"]["id"],
                "at": "2026-11-22T12:00:00.000Z",
                "outcome": "up",
                "latency_ms": 42,
            }
            answer = await client.report("eu-west", [result])
            print(answer["accepted"], answer["unknown"])


from switchboard_client import Edit, Presence, RoomReset


async def notes(client: Client, room_id: str) -> str:
    room = await client.join_room(room_id, name="Ana")
    print(room.text, room.rev, room.participants)
    await room.insert(0, "Primary is down. ")  # applied here at once, even offline
    await room.delete(0, 8)  # "is down. "
    await room.replace(0, 2, "Replica")  # "Replica down. "
    await room.set_presence(selection=(3, 3), status="typing")
    await room.flush()  # the server has every edit (or it raises why not)
    text = room.text
    await room.leave()
    return text


async def follow_notes(client: Client, room_id: str) -> None:
    room = await client.join_room(room_id)
    async for event in room:
        if isinstance(event, Edit):
            print(event.author, event.op)
        elif isinstance(event, Presence):
            print([p["name"] for p in event.participants])
        elif isinstance(event, RoomReset):
            print("the room's text afresh, at", event.rev)


pytest_plugins = ["switchboard_client.testing"]


from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from switchboard_client.testing import RunningServer, assert_event, refute_event

Connect = Callable[..., AbstractAsyncContextManager[Client]]


async def test_an_outage_is_announced(
    switchboard_server: RunningServer, switchboard_client: Connect
) -> None:
    async with switchboard_client(role="responder") as client:
        events = await client.subscribe("status:demo")
        await client.service_update("demo", service="API", status="major_outage")
        event = await assert_event(events, "service.updated", within=5)
        assert event.data["service"]["status"] == "major_outage"
        await refute_event(events, "incident.created", within=0.5)
        await switchboard_server.restart()  # clients reconnect and resume
