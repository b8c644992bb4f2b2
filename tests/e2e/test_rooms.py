"""Incident rooms end to end: real WebSocket clients editing one text together."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.testing
from support import Api, RawWs, Ws, admin_token, eventually, open_ws, token, trio_wall_clock
from switchboard_ot import OTClient, Outgoing, normalize

from server.config import Config, Limits
from server.main import Server

ALPHABET = "abc xyz😀🏳️‍🌈漢字かなé\u0301"


def insert(at: int, text: str, length: int) -> list[Any]:
    """The operation inserting ``text`` at ``at`` in a document of ``length``."""
    return normalize([at, text, length - at])


async def new_room(api: Api) -> tuple[str, str]:
    """A fresh incident; returns (incident id, notes room id)."""
    incident = await api.ok(
        "POST", "/api/v1/orgs/demo/incidents", {"name": "Edge down"}, status=201
    )
    return incident["id"], incident["notes_room"]


class Peer:
    """A WebSocket client running the OT client state machine against a room."""

    def __init__(self, ws: Ws, room: str, client_id: str) -> None:
        self.ws = ws
        self.room = room
        self.client_id = client_id
        self.ot = OTClient(0)

    async def join(self, name: str) -> dict[str, Any]:
        await self.ws.hello(token("demo", "responder"))
        joined = await self.ws.subscribe_room(self.room, self.client_id, name)
        snapshot = joined["snapshot"]
        self.ot = OTClient(snapshot["rev"], snapshot["text"])
        return joined

    async def send(self, out: Outgoing | None) -> None:
        if out is None:
            return
        request_id = f"{self.client_id}-{out.client_op_id}"
        await self.ws.send(
            {
                "type": "doc.op",
                "id": request_id,
                "room": self.room,
                "rev": out.rev,
                "op": out.op,
                "client_op_id": out.client_op_id,
            }
        )

    async def edit(self, rng: random.Random) -> None:
        text = self.ot.text
        at = rng.randint(0, len(text))
        gone = rng.randint(0, min(3, len(text) - at)) if rng.random() < 0.3 else 0
        new = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 3)))
        op = normalize([at, new, -gone, len(text) - at - gone])
        if op and any(not isinstance(c, int) or c < 0 for c in op):
            await self.send(self.ot.local(op))

    async def run(self) -> None:
        """Apply what the server sends, until cancelled; presence notices pass by."""
        while True:
            message = await self.ws.recv()
            if message["type"] == "presence":
                continue
            if message["type"] == "ack" and "rev" in message:
                assert message["rev"] == self.ot.rev + 1, (message, self.ot.rev)
                await self.send(self.ot.ack())
            elif message["type"] == "event" and message["name"] == "doc.op":
                data = message["data"]
                assert data["rev"] == self.ot.rev + 1
                assert data["client_id"] != self.client_id  # authors get acks, not events
                self.ot.remote(data["op"])
            else:
                raise AssertionError(message)


async def test_several_clients_typing_at_once_converge(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    rng = random.Random(7)
    async with (
        open_ws(server.base_url) as a,
        open_ws(server.base_url) as b,
        open_ws(server.base_url) as c,
    ):
        peers = [Peer(ws, room, f"client-{n}-abcdef") for n, ws in enumerate((a, b, c))]
        for n, peer in enumerate(peers):
            await peer.join(f"Responder {n}")
            peer.ws.replies.clear()  # presence notices of later joiners
        async with trio.open_nursery() as nursery:
            for peer in peers:
                nursery.start_soon(peer.run)
            for _ in range(60):
                for peer in peers:
                    await peer.edit(rng)
                await trio.lowlevel.checkpoint()
            with trio.fail_after(20):
                while True:
                    now = await api.ok("GET", f"/api/v1/rooms/{room}/text")
                    if all(p.ot.state == "synchronized" and p.ot.rev == now["rev"] for p in peers):
                        break
                    await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()
    texts = {p.ot.text for p in peers}
    assert texts == {now["text"]}
    assert now["rev"] >= len(peers)  # buffered edits are composed: fewer revisions than keystrokes


async def test_a_resent_operation_is_applied_once(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "resender-123", "Resender")
        op = {"type": "doc.op", "room": room, "rev": 0, "op": ["hello"], "client_op_id": 1}
        first = await ws.request(dict(op))
        assert first == {"type": "ack", "id": first["id"], "rev": 1}
    # Reconnected, it does not know whether the op arrived: it sends it again.
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "resender-123", "Resender")
        again = await ws.request(dict(op))
        assert again["type"] == "ack" and again["rev"] == 1  # the same revision: not applied twice
    assert (await api.ok("GET", f"/api/v1/rooms/{room}/text"))["text"] == "hello"


async def test_resuming_a_room_replays_the_missed_operations_with_their_authors(
    api: Api, server: Server
) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as writer:
        await writer.hello(token("demo", "responder"))
        await writer.subscribe_room(room, "writer-1234", "Writer")
        for n, text in enumerate(["a", "b", "c"], start=1):
            ack = await writer.request(
                {
                    "type": "doc.op",
                    "room": room,
                    "rev": n - 1,
                    "op": insert(n - 1, text, n - 1),
                    "client_op_id": n,
                }
            )
            assert ack["rev"] == n
        async with open_ws(server.base_url) as reader:
            await reader.hello(token("demo", "viewer"))
            resumed = await reader.request(
                {
                    "type": "subscribe",
                    "topic": f"room:{room}",
                    "since": 1,
                    "client_id": "reader-1234",
                }
            )
            assert resumed["resumed"] is True and resumed["seq"] == 3
            replay = [await reader.event("doc.op") for _ in range(2)]
            assert [
                (e["seq"], e["data"]["op"], e["data"]["client_id"], e["data"]["client_op_id"])
                for e in replay
            ] == [(2, [1, "b"], "writer-1234", 2), (3, [2, "c"], "writer-1234", 3)]


async def test_presence_join_cursor_and_leave(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as a:
        await a.hello(token("demo", "responder"))
        await a.subscribe_room(room, "alice-1234", "Alice")
        await a.request(
            {"type": "doc.op", "room": room, "rev": 0, "op": ["0123456789"], "client_op_id": 1}
        )
        async with open_ws(server.base_url) as b:
            await b.hello(token("demo", "viewer"))
            await b.request(
                {
                    "type": "subscribe",
                    "topic": f"room:{room}",
                    "client_id": "bob-12345",
                    "name": "Bob",
                }
            )
            everyone = await b.reply()
            assert [p["name"] for p in everyone["participants"]] == ["Alice", "Bob"]
            assert {p["colour"] for p in everyone["participants"]} == {
                p["colour"] for p in everyone["participants"]
            }
            assert len({p["colour"] for p in everyone["participants"]}) == 2
            joined = await a.reply()
            assert (
                joined["participant"]["name"] == "Bob" and joined["participant"]["role"] == "viewer"
            )
            # Bob puts his cursor at 5, as of revision 1...
            assert (
                await b.request(
                    {
                        "type": "presence",
                        "room": room,
                        "rev": 1,
                        "selection": {"anchor": 5, "head": 5},
                        "status": "active",
                    }
                )
            )["type"] == "ack"
            moved = await a.reply()
            assert moved["participant"]["selection"] == {"anchor": 5, "head": 5}
            # ...then Alice types before it: the server keeps Bob's cursor on his character.
            await a.request(
                {"type": "doc.op", "room": room, "rev": 1, "op": ["AB", 10], "client_op_id": 2}
            )
            info = await api.ok("GET", f"/api/v1/rooms/{room}")
            bob = next(p for p in info["participants"] if p["name"] == "Bob")
            assert bob["selection"] == {"anchor": 7, "head": 7}
            refused = await b.request(
                {"type": "doc.op", "room": room, "rev": 2, "op": [12, "x"], "client_op_id": 1}
            )
            assert refused["code"] == "forbidden"  # viewers read
        left = await a.reply()
        assert left == {"type": "presence", "topic": f"room:{room}", "left": "bob-12345"}


@pytest.mark.parametrize("limits", [Limits(heartbeat_ms=100)])
async def test_a_dead_connection_leaves_within_the_heartbeat(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as alive:
        await alive.hello(token("demo", "responder"))
        await alive.subscribe_room(room, "alive-1234", "Alive")
        dead = await RawWs.connect(server.base_url)  # never answers pings
        await dead.send_json({"type": "hello", "token": token("demo", "responder")})
        await dead.send_json(
            {"type": "subscribe", "topic": f"room:{room}", "client_id": "dead-12345"}
        )
        joined = await alive.reply()
        assert joined["participant"]["client_id"] == "dead-12345"
        left = await alive.reply()
        assert left["left"] == "dead-12345"
        dead.close()


async def test_who_may_join_and_edit(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as anonymous:
        refused = await anonymous.request({"type": "subscribe", "topic": f"room:{room}"})
        assert refused["code"] == "unauthorized"
    async with open_ws(server.base_url) as stranger:
        await stranger.hello(token("other", "owner"))
        refused = await stranger.request({"type": "subscribe", "topic": f"room:{room}"})
        assert refused["code"] == "unknown_topic"  # it does not exist, for them
        assert (await stranger.request({"type": "subscribe", "topic": "room:nosuchroom1"}))[
            "code"
        ] == "unknown_topic"
        not_joined = await stranger.request(
            {"type": "doc.op", "room": room, "rev": 0, "op": ["x"], "client_op_id": 1}
        )
        assert not_joined["code"] == "not_subscribed"
    async with Api.open(server.base_url, token("other", "owner")) as other:
        assert (await other.get(f"/api/v1/rooms/{room}")).status_code == 404


@pytest.mark.parametrize(
    "limits",
    [
        Limits(
            room_max_document=20,
            room_max_insert=8,
            room_window=3,
            edits_burst=33,
            edits_per_second=0.001,
        )
    ],
)
async def test_each_room_limit_has_its_own_code(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "limited-123", "Limited")

        async def op(rev: int, ops: list[Any], n: int) -> dict[str, Any]:
            return await ws.request(
                {"type": "doc.op", "room": room, "rev": rev, "op": ops, "client_op_id": n}
            )

        assert (await op(0, ["123456789"], 1))["code"] == "op_too_large"
        for n in range(1, 5):  # 4 x 5 characters
            assert (await op(n - 1, insert((n - 1) * 5, "abcde", (n - 1) * 5), n))["rev"] == n
        assert (await op(4, [20, "x"], 5))["code"] == "document_too_large"
        assert (await op(0, ["old"], 6))["code"] == "stale_revision"  # older than the window of 3
        cursor = {"type": "presence", "room": room, "selection": {"anchor": 1, "head": 1}}
        stale = await ws.request({**cursor, "rev": 0})  # a cursor on it, as an edit would be
        assert stale["code"] == "stale_revision" and stale["id"] is not None
        assert (await ws.request({**cursor, "rev": 4}))["type"] == "ack"
        assert (await ws.request({**cursor, "rev": 9}))["code"] == "stale_revision"
        assert (await op(9, [20, "x"], 7))["code"] == "invalid_op"  # a revision from the future
        assert (await op(4, [3, "x"], 8))["code"] == "invalid_op"  # does not cover the document
        assert (await op(4, [20, 0], 9))["code"] == "invalid_op"  # malformed
        bad = await ws.request(
            {"type": "doc.op", "room": room, "rev": 4, "op": "x", "client_op_id": 10}
        )
        assert bad["code"] == "invalid_field" and bad["field"] == "op"
        codes = set()
        for _ in range(40):  # the burst is spent: the bucket refills at 0.001/s
            codes.add(
                (await ws.request({"type": "presence", "room": room, "status": "idle"})).get("code")
            )
        assert "rate_limited" in codes
        assert (await ws.request({"type": "ping", "id": "still"})) == {
            "type": "pong",
            "id": "still",
        }


async def test_text_as_it_was_and_the_timeline_beside_it(api: Api, server: Server) -> None:
    incident, room = await new_room(api)
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "scribe-1234", "Scribe")
        await ws.request(
            {
                "type": "doc.op",
                "room": room,
                "rev": 0,
                "op": ["Disk full on db-1."],
                "client_op_id": 1,
            }
        )
        await api.ok(
            "PATCH",
            f"/api/v1/orgs/demo/incidents/{incident}",
            {"status": "identified", "body": "Found it."},
        )
        await ws.request(
            {
                "type": "doc.op",
                "room": room,
                "rev": 1,
                "op": [18, " Cleaned /var/log."],
                "client_op_id": 2,
            }
        )
    assert (await api.ok("GET", f"/api/v1/rooms/{room}/text?rev=1"))["text"] == "Disk full on db-1."
    assert (await api.ok("GET", f"/api/v1/rooms/{room}/text?rev=0"))["text"] == ""
    now = await api.ok("GET", f"/api/v1/rooms/{room}/text")
    assert now == {"room": room, "rev": 2, "text": "Disk full on db-1. Cleaned /var/log."}
    early = await api.ok("GET", f"/api/v1/rooms/{room}/text?at=2000-01-01T00:00:00Z")
    assert early["text"] == "" and early["rev"] == 0
    side_by_side = await api.ok("GET", f"/api/v1/orgs/demo/incidents/{incident}/notes")
    assert [u["status"] for u in side_by_side["updates"]] == ["investigating", "identified"]
    assert [u["notes"]["text"] for u in side_by_side["updates"]] == ["", "Disk full on db-1."]
    assert side_by_side["text"] == now["text"]
    for query, field in [
        ("rev=3", "rev"),
        ("rev=x", "rev"),
        ("at=yesterday", "at"),
        ("rev=1&at=2020-01-01T00:00:00Z", "rev"),
    ]:
        response = await api.get(f"/api/v1/rooms/{room}/text?{query}")
        assert response.status_code == 422 and response.json()["error"]["field"] == field, query


async def test_ad_hoc_rooms(api: Api, server: Server) -> None:
    created = await api.request("POST", "/api/v1/rooms", {"title": "Capacity planning"})
    assert created.status_code == 201
    room = created.json()
    assert len(room["room_id"]) >= 16 and room["incident"] is None and room["org"] == "demo"
    meta = await api.ok("GET", f"/api/v1/rooms/{room['room_id']}")
    assert meta["title"] == "Capacity planning" and meta["rev"] == 0
    async with Api.open(server.base_url, token("demo", "viewer")) as viewer:
        assert (await viewer.post("/api/v1/rooms", {"title": "No"})).status_code == 403
    async with Api.open(server.base_url, token("*", "admin")) as root:
        assert (await root.post("/api/v1/rooms", {})).json()["error"]["field"] == "org"
        assert (await root.post("/api/v1/rooms", {"org": "nosuchorg"})).status_code == 404
    assert (await api.post("/api/v1/rooms", {"title": "x", "colour": "red"})).status_code == 422


async def test_a_room_survives_a_restart(config: Config, nursery: trio.Nursery) -> None:
    first: Server = await nursery.start(Server(config).run)
    async with Api.open(first.base_url, admin_token()) as api:
        _, room = await new_room(api)
        async with open_ws(first.base_url) as ws:
            await ws.hello(token("demo", "responder"))
            await ws.subscribe_room(room, "survivor-1", "Survivor")
            for n in range(1, 31):
                ack = await ws.request(
                    {
                        "type": "doc.op",
                        "room": room,
                        "rev": n - 1,
                        "op": insert(n - 1, "x😀"[n % 2], n - 1),
                        "client_op_id": n,
                    }
                )
                assert ack["rev"] == n, ack
        before = await api.ok("GET", f"/api/v1/rooms/{room}/text")
    await first.stop()
    second: Server = await nursery.start(Server(config).run)
    try:
        async with Api.open(second.base_url, admin_token()) as api:
            assert await api.ok("GET", f"/api/v1/rooms/{room}/text") == before
        async with open_ws(second.base_url) as ws:
            await ws.hello(token("demo", "responder"))
            resumed = await ws.request(
                {
                    "type": "subscribe",
                    "topic": f"room:{room}",
                    "since": 25,
                    "client_id": "survivor-1",
                }
            )
            assert resumed["resumed"] is True and resumed["seq"] == 30
            assert [(await ws.event("doc.op"))["seq"] for _ in range(5)] == [26, 27, 28, 29, 30]
            again = await ws.request(
                {
                    "type": "doc.op",
                    "room": room,
                    "rev": 29,
                    "op": insert(29, "x", 29),
                    "client_op_id": 30,
                }
            )
            assert again["rev"] == 30  # recognized as a resend, even across the restart
    finally:
        await second.stop()


@pytest.mark.parametrize("limits", [Limits(room_snapshot_ops=5, room_snapshot_every=1_000)])
async def test_a_busy_room_snapshots_every_so_many_operations(api: Api, server: Server) -> None:
    _, room = await new_room(api)
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "snapper-1", "Snapper")
        text = ""
        for n in range(1, 13):
            ack = await ws.request(
                {
                    "type": "doc.op",
                    "room": room,
                    "rev": n - 1,
                    "op": insert(n - 1, "ab"[n % 2], n - 1),
                    "client_op_id": n,
                }
            )
            assert ack["rev"] == n
            text += "ab"[n % 2]
        loaded = await server.registry.store.load(f"room:{room}")  # type: ignore[union-attr]
        assert loaded is not None and loaded.snapshot is not None
        # One operation per commit here, so only the operation count can have asked.
        assert loaded.snapshot["rev"] == 10
        assert loaded.snapshot["text"] == text[:10]


async def test_the_largest_operation_fits_in_a_message(api: Api, server: Server) -> None:
    """The insert limit can be reached: its worst case (4 bytes a code point)
    still fits the message limit, and one more is refused as such, with its id."""
    from server.config import Limits

    most = Limits().room_max_insert
    _, room = await new_room(api)
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "largest-1", "Large")
        fits = await ws.request(
            {"type": "doc.op", "room": room, "rev": 0, "op": ["😀" * most], "client_op_id": 1}
        )
        assert fits["type"] == "ack" and fits["rev"] == 1, fits
        over = await ws.request(
            {"type": "doc.op", "room": room, "rev": 1, "op": ["😀" * (most + 1)], "client_op_id": 2}
        )
        assert over["code"] == "op_too_large" and over["id"] is not None


@pytest.mark.parametrize("limits", [Limits(room_history_days=1 / 86_400, room_snapshot_every=1)])
async def test_a_room_log_is_compacted_behind_the_history_it_keeps(
    config: Config, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    """Beyond the history window (a second here) the log behind a snapshot is
    forgotten: the text then answers 410 history_compacted, what is kept reads
    as before, and the room carries on across a restart."""
    wall = trio_wall_clock()  # the server's "now" moves with the clock's jumps
    server: Server = await nursery.start(Server(config, clock=wall).run)
    async with Api.open(server.base_url, admin_token()) as api:
        incident, room = await new_room(api)
        store, stream = server.registry.store, f"room:{room}"  # type: ignore[union-attr]

        async def write(ws: Ws, rev: int, op: list[Any]) -> None:
            ack = await ws.request(
                {"type": "doc.op", "room": room, "rev": rev, "op": op, "client_op_id": rev + 1}
            )
            assert ack["rev"] == rev + 1

        async with open_ws(server.base_url) as ws:
            await ws.hello(token("demo", "responder"))
            await ws.subscribe_room(room, "keeper-1234", "Keeper")
            await write(ws, 0, ["Disk full."])
            clock.jump(1.2)  # the snapshot of "Disk full." leaves the window
            await write(ws, 1, [10, " Cleaned."])

        async def compacted() -> bool:
            return (await store.events_after(stream, 0, limit=1))[0].version > 1

        await eventually(compacted)
        kept = await store.events_after(stream, 0)
        assert [e.version for e in kept] == [3]  # room.created and the first edit are gone

        forgotten = await api.get(f"/api/v1/rooms/{room}/text?rev=0")
        assert forgotten.status_code == 410
        assert forgotten.json()["error"]["code"] == "history_compacted"
        assert forgotten.json()["error"]["field"] == "rev"
        too_early = await api.get(f"/api/v1/rooms/{room}/text?at=2000-01-01T00:00:00Z")
        assert too_early.status_code == 410 and too_early.json()["error"]["field"] == "at"
        assert (await api.ok("GET", f"/api/v1/rooms/{room}/text?rev=1"))["text"] == "Disk full."
        both = "Disk full. Cleaned."
        assert (await api.ok("GET", f"/api/v1/rooms/{room}/text?rev=2"))["text"] == both
        notes = await api.ok("GET", f"/api/v1/orgs/demo/incidents/{incident}/notes")
        assert [u["notes"]["text"] for u in notes["updates"]] == [None]  # opened before the window

    await server.stop()
    again: Server = await nursery.start(Server(config, clock=wall).run)
    try:
        async with Api.open(again.base_url, admin_token()) as api2:
            assert (await api2.ok("GET", f"/api/v1/rooms/{room}/text"))["text"] == both
        async with open_ws(again.base_url) as ws:
            await ws.hello(token("demo", "responder"))
            joined = await ws.subscribe_room(room, "keeper-1234", "Keeper")
            assert joined["snapshot"] == {**joined["snapshot"], "rev": 2, "text": both}
            await write(ws, 2, [19, " Done."])
    finally:
        await again.stop()
