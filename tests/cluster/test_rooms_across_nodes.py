"""A room runs on one node, and clients connected to any node edit it
together: two whole servers on one database and one NATS, real WebSockets."""

from __future__ import annotations

from typing import Any

import orjson
import trio
from nats_support import NatsServer
from support import Api, Ws, admin_token, closed_with, eventually, open_ws, token
from switchboard_ot import normalize

from server.cluster import rooms
from server.cluster.bus import Bus
from server.main import Server
from server.store import Leases, Store


async def notes_room(server: Server) -> str:
    async with Api.open(server.base_url, admin_token("demo")) as api:
        incident = await api.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "Edge down"}, status=201
        )
    return str(incident["notes_room"])


async def joined(ws: Ws, room: str, client_id: str, since: int | None = None) -> dict[str, Any]:
    await ws.hello(token("demo", "responder"))
    message: dict[str, Any] = {"type": "subscribe", "topic": f"room:{room}", "client_id": client_id}
    if since is not None:
        message["since"] = since
    reply = await ws.request(message)
    assert reply["type"] == "subscribed", reply
    return reply


async def insert(ws: Ws, room: str, rev: int, at: int, text: str, length: int, n: int) -> Any:
    """Send one insert; its ack (``rev``)."""
    return await ws.request(
        {
            "type": "doc.op",
            "room": room,
            "rev": rev,
            "op": normalize([at, text, length - at]),
            "client_op_id": n,
        }
    )


async def test_a_client_of_the_other_node_edits_the_room_with_the_owners(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    room = await notes_room(a)
    async with open_ws(a.base_url) as here, open_ws(b.base_url) as there:
        await joined(here, room, "here-0001")
        assert a.registry.loaded_room(room) is not None  # a runs it
        reply = await joined(there, room, "there-001")
        assert reply["snapshot"]["text"] == "" and b.registry.loaded_room(room) is None
        presence = await there.reply()
        assert presence["type"] == "presence" and presence["you"] == "there-001"
        assert {p["client_id"] for p in presence["participants"]} == {"here-0001", "there-001"}

        # The visiting client's edit is acked to it and seen by the owner's client...
        ack = await insert(there, room, 0, 0, "hello", 0, 1)
        assert ack == {"type": "ack", "id": ack["id"], "rev": 1}
        event = await here.event("doc.op")
        assert event["data"]["op"] == ["hello"] and event["data"]["client_id"] == "there-001"
        # ...and the other way round, in the same order for both.
        await insert(here, room, 1, 5, " world", 5, 1)
        event = await there.event("doc.op")
        assert event["seq"] == 2 and event["data"]["client_id"] == "here-0001"

        # Reads through the visiting node are the owner's.
        async with Api.open(b.base_url, admin_token("demo")) as api:
            text = await api.ok("GET", f"/api/v1/rooms/{room}/text")
            assert text["text"] == "hello world" and text["rev"] == 2
            about = await api.ok("GET", f"/api/v1/rooms/{room}")
            assert {p["client_id"] for p in about["participants"]} == {"here-0001", "there-001"}


async def test_presence_crosses_nodes_and_a_visitor_who_leaves_is_gone(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    room = await notes_room(a)
    async with open_ws(a.base_url) as here:
        await joined(here, room, "here-0001")
        await here.reply()  # its presence list
        async with open_ws(b.base_url) as there:
            await joined(there, room, "there-001")
            await there.reply()
            came = await here.reply()
            assert came["type"] == "presence" and came["participant"]["client_id"] == "there-001"
            answer = await there.request(
                {"type": "presence", "room": room, "rev": 0, "selection": {"anchor": 0, "head": 0}}
            )
            assert answer["type"] == "ack", answer
            moved = await here.reply()
            assert moved["participant"]["selection"] == {"anchor": 0, "head": 0}
        left = await here.reply()
        assert left == {"type": "presence", "topic": f"room:{room}", "left": "there-001"}


async def test_a_visitor_resumes_on_the_owner_with_nothing_missed(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    room = await notes_room(a)
    async with open_ws(a.base_url) as writer:
        await joined(writer, room, "writer-01")
        async with open_ws(b.base_url) as reader:
            await joined(reader, room, "reader-01")
            await insert(writer, room, 0, 0, "one", 0, 1)
            seen = await reader.event("doc.op")
        await insert(writer, room, 1, 3, " two", 3, 2)
        await insert(writer, room, 2, 7, " three", 7, 3)
        async with open_ws(b.base_url) as reader:
            reply = await joined(reader, room, "reader-01", since=seen["seq"])
            assert reply["resumed"] is True
            missed = [await reader.event("doc.op") for _ in range(2)]
            assert [e["seq"] for e in missed] == [2, 3]


async def test_the_visitors_are_closed_when_the_room_leaves_its_node_and_find_it_again(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    room = await notes_room(a)
    async with open_ws(a.base_url) as here:
        await joined(here, room, "here-0001")
        async with open_ws(b.base_url) as there:
            await joined(there, room, "there-001")
            await insert(here, room, 0, 0, "kept", 0, 1)
            await there.event("doc.op")
            await a.stop()  # its leases are let go
            assert await closed_with(there) == 1001
    async with open_ws(b.base_url) as there:
        reply = await joined(there, room, "there-001", since=1)
        assert b.registry.loaded_room(room) is not None  # b runs it now
        await insert(there, room, 1, 4, "!", 4, 2)
    async with Api.open(b.base_url, admin_token("demo")) as api:
        assert (await api.ok("GET", f"/api/v1/rooms/{room}/text"))["text"] == "kept!"
    assert reply["seq"] == 1


async def test_an_ad_hoc_room_is_deleted_through_the_other_node(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    async with Api.open(a.base_url, admin_token("demo")) as api:
        room = (await api.ok("POST", "/api/v1/rooms", {"org": "demo"}, status=201))["room_id"]
    async with open_ws(a.base_url) as here:
        await joined(here, room, "here-0001")
        async with Api.open(b.base_url, admin_token("demo")) as api:
            response = await api.delete(f"/api/v1/rooms/{room}")
            assert response.status_code == 204, response.text
        assert (await here.event("room.deleted"))["topic"] == f"room:{room}"
    await eventually(lambda: a.registry.loaded_room(room) is None, "the room to stop")


async def test_a_snapshot_larger_than_one_bus_message_reaches_the_visitor_whole(
    servers: dict[str, Server],
) -> None:
    a, b = servers["a"], servers["b"]
    room = await notes_room(a)
    piece, text = "x" * 16_000, ""
    async with open_ws(a.base_url) as writer:
        await joined(writer, room, "writer-01")
        for n in range(1, 41):  # 640,000 characters: more than a bus message (512 KiB)
            await insert(writer, room, n - 1, len(text), piece, len(text), n)
            text += piece
    async with open_ws(b.base_url) as reader:
        reply = await joined(reader, room, "reader-01")
        assert reply["snapshot"]["rev"] == 40 and reply["snapshot"]["text"] == text


async def test_the_owner_forgets_a_visitor_whose_node_stopped_saying_it_is_there(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    """A node that vanished without a word (here: a bus speaking for a node "c",
    which joins and then falls silent) leaves no participant behind."""
    a = servers["a"]
    room = await notes_room(a)
    async with open_ws(a.base_url) as here, Bus.open(nats_server.url, name="c") as bus:
        await joined(here, room, "here-0001")
        await here.reply()
        frames = await bus.subscribe(rooms.frames_subject("c", "a"))
        join = {
            "t": "join",
            "from": "c",
            "k": "c.1",
            "room": room,
            "id": 1,
            "since": None,
            "client_id": "ghost-001",
            "name": "Ghost",
            "role": "responder",
            "may_edit": True,
        }
        assert orjson.loads(await bus.request(rooms.subject("a"), orjson.dumps(join))) == {}
        written = (await frames.receive()).data
        assert b'"subscribed"' in written and b"ghost-001" in written  # framed for the socket
        came = await here.reply()
        assert came["participant"]["client_id"] == "ghost-001"
        left = await here.reply()  # after a few periods of silence
        assert left == {"type": "presence", "topic": f"room:{room}", "left": "ghost-001"}
        assert "c.1" not in a.registry.elsewhere.guests  # type: ignore[union-attr]


def test_records_split_over_messages_come_back_whole() -> None:
    records = [
        rooms._record(rooms.FRAMES, f"n.{i}", bytes([i]) * size)
        for i, size in enumerate([10, rooms.CHUNK * 2 + 7, 3, rooms.CHUNK - 40, rooms.CHUNK])
    ]
    messages = rooms._messages(records)
    assert all(len(m) <= rooms.CHUNK + 1 for m in messages)
    got, held = [], bytearray()
    for message in messages:
        flag, data = message[:1], message[1:]
        if flag == rooms.WHOLE:
            got.extend(rooms._records(data))
            continue
        if flag == rooms.FIRST_PIECE:
            held = bytearray()
        held += data
        if flag == rooms.LAST_PIECE:
            got.extend(rooms._records(bytes(held)))
    assert [rooms._record(*r) for r in got] == records


async def test_visitors_are_closed_when_the_rooms_node_stops_answering(
    servers: dict[str, Server], nats_server: NatsServer, store: Store
) -> None:
    """The room's node vanishes without a word (here: a bus speaking for a node
    "c" that holds the room's lease, answers the join, then goes): its
    visitors are closed, to resume where the room runs next."""
    b = servers["b"]
    room = await notes_room(servers["a"])
    assert await Leases(store).acquire(f"room:{room}", "c", 60) is not None
    meta = {
        "id": room,
        "org": "demo",
        "title": "Notes",
        "incident": None,
        "created_at": "2026-01-01T00:00:00Z",
    }
    async with open_ws(b.base_url) as there:
        async with Bus.open(nats_server.url, name="c") as bus, trio.open_nursery() as nursery:
            asked = await bus.subscribe(rooms.subject("c"))

            async def owner_c() -> None:
                async for message in asked:
                    request = orjson.loads(message.data)
                    if message.reply:
                        answer = {"meta": meta} if request["t"] == "meta" else {}
                        await message.respond(orjson.dumps(answer))

            nursery.start_soon(owner_c)
            await there.hello(token("demo", "responder"))
            subscribe = {"type": "subscribe", "topic": f"room:{room}", "client_id": "there-001"}
            await there.send({**subscribe, "id": 1})
            await eventually(lambda: len(b.registry.elsewhere.visits) == 1, "the join")  # type: ignore[union-attr]
            nursery.cancel_scope.cancel()
        assert await closed_with(there) == 1001
