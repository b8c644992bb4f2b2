"""The bundled client given every node's URL: when its node goes, it moves to
the next and resumes there, topics and rooms alike."""

from __future__ import annotations

import trio
from support import Api, admin_token, token
from switchboard_client import connect
from switchboard_client.client import Backoff, Event

from server.main import Server


async def test_the_client_moves_to_the_next_node_and_resumes_its_topic_and_room(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    async with Api.open(a.base_url, admin_token("demo")) as api:
        incident = await api.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "Edge down"}, status=201
        )
    fast = Backoff(base=0.05, cap=0.5)
    async with connect(
        [a.base_url, b.base_url], token("demo", "responder"), backoff=fast
    ) as client:
        assert client.url.endswith(f":{a.port}/ws")
        events = await client.subscribe("org:demo")
        room = await client.join_room(incident["notes_room"])
        await room.insert(0, "before")
        await room.flush()
        async with Api.open(a.base_url, admin_token("demo")) as api:
            await api.ok("POST", "/api/v1/orgs/demo/services", {"name": "One"}, status=201)
        with trio.fail_after(15):  # a hang guard
            first = await events.next()
        assert isinstance(first, Event)

        await a.stop()  # its clients are closed, its leases let go

        async with Api.open(b.base_url, admin_token("demo")) as api:
            await api.ok("POST", "/api/v1/orgs/demo/services", {"name": "Two"}, status=201)
        with trio.fail_after(15):
            second = await events.next()
        assert isinstance(second, Event) and second.seq == first.seq + 1
        assert second.data["service"]["name"] == "Two"
        assert client.url.endswith(f":{b.port}/ws")
        await room.insert(6, " after")
        await room.flush(request_timeout=30)  # a dead node's rooms wait for its lease
    async with Api.open(b.base_url, admin_token("demo")) as api:
        text = await api.ok("GET", f"/api/v1/rooms/{incident['notes_room']}/text")
    assert text["text"] == "before after"
