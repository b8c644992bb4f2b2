"""Rooms across nodes: a client whose WebSocket reached one node edits a room
that another node runs.

A room's actor runs on one node, under its lease (as an organization's). The
document's text is edited in place by that actor, so other nodes do not keep
a copy: they pass their clients through.

* **The visiting node** (the client's): :meth:`RoomRelay.reach` (the
  registry's ``elsewhere``) answers a room another node runs with a
  :class:`RemoteRoom`, one per client and room, which the gateway uses as it
  would the room's handle. Joining is a request to the owner (the client is
  on the room once the owner took it: its ``subscribed`` and everything after
  come back from the owner, already framed, and are written to the socket
  as they are). Operations, presence and leaving are published to the owner
  in order, from one task. Reads and deletes of the REST routes are requests.
* **The owner**: each visiting client is a :class:`Guest`, which the room's
  actor takes for a connection. What the actor writes to it is collected per
  visiting node and published there in order, from one task, many frames to
  a message (a frame too large for one message goes in pieces).

Nothing is lost silently. NATS core delivers at most once: when a visiting
node's bus reconnects, or its subscription overflowed, frames may be missing,
so it closes its visiting clients (``1001``; they reconnect and resume with
``since``, as after a restart). Every ``Limits.lease_renew_seconds`` a
visiting node tells each owner which of its clients are still there; the
owner forgets guests not heard of for three periods (the visiting node
died), and a visiting node whose owner does not answer (it died, or lost the
room) closes those clients. A guest whose frames pile up beyond
``GUEST_BACKLOG`` per visiting node is closed as a slow consumer would be.

Bounds: a join, read or delete waits for the owner at most the bus's bound;
no node answering is ``unavailable`` (nothing done), no answer in time
``outcome_unknown``.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import orjson
import trio
from switchboard_ot import Selection

from ..actors.connection import Connection, Member, Membership, State
from ..actors.registry import Registry
from ..actors.room import Join, Leave, OpRequest, Peer, PresenceUpdate, RoomDoor, RoomMessage
from ..actors.topic import Topic
from ..auth import Origin
from ..domain.room import RoomMeta
from ..errors import Internal, PeerError, Unavailable, relayed
from ..protocol import frames
from ..protocol.frames import CLOSE_GOING_AWAY
from .bus import Bus, BusError, Message, NoResponders, SlowConsumer

log = logging.getLogger(__name__)

OUTBOX = 8192  # messages waiting to be published, per node
GUEST_BACKLOG = 16 * 1024 * 1024  # frame bytes waiting for one visiting node
CHUNK = 512 * 1024  # bytes in one published message of frames (NATS takes 1 MiB)
MISSED_PERIODS = 3  # a guest not heard of for this many periods is forgotten

# A message of frames starts with one byte: whole records follow, or a piece
# of one record (its first, one in the middle, or its last).
WHOLE, FIRST_PIECE, PIECE, LAST_PIECE = b"\x00", b"\x01", b"\x02", b"\x03"
# A record: kind, key, data. Frames for a client, or its end (code, reason).
FRAMES, END = 0, 1
_HEAD = struct.Struct(">BH")
_SIZE = struct.Struct(">I")
_CODE = struct.Struct(">H")


def subject(node: str) -> str:
    """Where ``node`` takes what visiting nodes send about its rooms."""
    return f"switchboard.node.{node}.rooms"


def frames_subject(node: str, sender: str) -> str:
    """Where ``node`` takes the frames ``sender`` writes to its clients."""
    return f"switchboard.node.{node}.room-frames.{sender}"


def _record(kind: int, key: str, data: bytes) -> bytes:
    name = key.encode()
    return _HEAD.pack(kind, len(name)) + name + _SIZE.pack(len(data)) + data


def _records(data: bytes) -> list[tuple[int, str, bytes]]:
    found, at = [], 0
    while at < len(data):
        kind, length = _HEAD.unpack_from(data, at)
        at += _HEAD.size
        key = data[at : at + length].decode()
        at += length
        (size,) = _SIZE.unpack_from(data, at)
        at += _SIZE.size
        found.append((kind, key, data[at : at + size]))
        at += size
    return found


def _answer_error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, PeerError):
        return {"error": exc.to_dict()}
    log.exception("a room request from another node failed", exc_info=exc)
    return {"error": Internal().to_dict()}


def _raise_if_error(answer: dict[str, Any]) -> dict[str, Any]:
    if "error" in answer:
        error = answer["error"]
        raise relayed(error["code"], error["message"], error.get("field"))
    return answer


# -- the owner's side: clients of other nodes ---------------------------------------------


class Guest(Member):
    """A client connected to another node, in a room this node runs: what the
    room's actor takes for its connection."""

    __slots__ = ("__weakref__", "heard", "key", "memberships", "node", "relay", "state")

    def __init__(self, relay: RoomRelay, node: str, key: str) -> None:
        self.relay = relay
        self.node = node  # where the client is connected
        self.key = key
        self.state = State.OPEN
        self.memberships: dict[str, Membership] = {}
        self.heard = trio.current_time()

    def send_frame(self, frame: bytes) -> None:
        if self.state is State.OPEN:
            self.relay.write(self.node, _record(FRAMES, self.key, frame))

    def close(self, code: int, reason: str = "") -> None:
        """Have the visiting node close the client's connection."""
        if self.state is State.OPEN:
            self.relay.write(self.node, _record(END, self.key, _CODE.pack(code) + reason.encode()))
        self.end()

    def end(self) -> None:
        """Gone: off every room."""
        self.state = State.CLOSED
        for name in list(self.memberships):
            self.leave(name)
        self.relay.guests.pop(self.key, None)


# -- the visiting side: a room run elsewhere ------------------------------------------


class RemoteRoom:
    """One client's way into a room another node runs (see the module)."""

    def __init__(self, relay: RoomRelay, owner: str, meta: RoomMeta) -> None:
        self.relay = relay
        self.owner = owner
        self.meta: RoomMeta | None = meta
        self.key = meta.id
        self.stopping = False
        self.visit: str | None = None  # this client's key, once it joins

    @property
    def org(self) -> str:
        assert self.meta is not None
        return self.meta.org

    async def put(self, message: RoomMessage) -> None:
        relay = self.relay
        if isinstance(message, Join):
            await relay.join(self, message)
        elif isinstance(message, OpRequest):
            relay.send(
                self.owner,
                {
                    "t": "op",
                    "k": self.visit,
                    "room": self.key,
                    "id": message.request_id,
                    "client_id": message.client_id,
                    "client_op_id": message.client_op_id,
                    "rev": message.rev,
                    "op": message.op,
                    "author": message.author,
                },
            )
        elif isinstance(message, PresenceUpdate):
            selection = message.selection
            relay.send(
                self.owner,
                {
                    "t": "presence",
                    "k": self.visit,
                    "room": self.key,
                    "id": message.request_id,
                    "rev": message.rev,
                    "selection": None if selection is None else [selection.anchor, selection.head],
                    "clear": message.clear_selection,
                    "status": message.status,
                },
            )
        elif isinstance(message, Leave):
            self.leave_soon(message.conn)
        else:
            message.reply.resolve(await self.read())

    async def read(self) -> dict[str, Any]:
        return await self.relay.ask(self.owner, {"t": "read", "room": self.key})

    def leave_soon(self, conn: Peer) -> None:
        if self.visit is not None:
            self.relay.left(self)


class RoomRelay:
    def __init__(self, bus: Bus, registry: Registry, node: str) -> None:
        self.bus = bus
        self.registry = registry
        self.node = node
        self.period = registry.limits.lease_renew_seconds
        self.guests: dict[str, Guest] = {}  # by key, the clients of other nodes here
        self.visits: dict[str, tuple[Connection, RemoteRoom]] = {}  # by key, ours elsewhere
        self._keys = itertools.count(1)
        self._send, self._outbox = trio.open_memory_channel[tuple[str, bytes]](OUTBOX)
        self._frames: dict[str, list[bytes]] = defaultdict(list)  # by visiting node
        self._frame_bytes: dict[str, int] = defaultdict(int)
        self._frames_due = trio.Event()
        self._lanes: dict[str, trio.MemorySendChannel[Message]] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve this node's rooms to other nodes' clients, and reach theirs
        (the registry's ``elsewhere`` is this relay while it runs)."""
        async with (
            trio.open_nursery() as nursery,
            await self.bus.subscribe(subject(self.node)) as asked,
            await self.bus.subscribe(frames_subject(self.node, "*")) as written,
        ):
            self._nursery = nursery
            nursery.start_soon(self._publish)
            nursery.start_soon(self._publish_frames)
            nursery.start_soon(self._take_frames, written)
            nursery.start_soon(self._keep_in_touch)
            self.registry.elsewhere = self
            task_status.started()
            try:
                await self._serve(asked)
            finally:
                self.registry.elsewhere = None

    # -- sending, in order ------------------------------------------------------------

    def send(self, owner: str, message: dict[str, Any]) -> None:
        """Publish ``message`` to ``owner`` after everything sent before it."""
        try:
            self._send.send_nowait((subject(owner), orjson.dumps({"from": self.node, **message})))
        except trio.WouldBlock:  # the owner cannot hear the client: it must start over
            log.warning("room messages to node %r dropped: the outbox is full", owner)
            self._end_visit(message.get("k"), "too much waiting for the room's node")

    async def _publish(self) -> None:
        async for to, payload in self._outbox:
            try:
                await self.bus.publish(to, payload)
            except BusError as exc:  # the owner misses it: the client must start over
                message = orjson.loads(payload)
                log.warning("a room message to %s was lost: %s", to, exc)
                self._end_visit(message.get("k"), "the room's node could not be reached")

    async def ask(self, owner: str, request: dict[str, Any]) -> dict[str, Any]:
        """A request to ``owner``: its answer, or its error raised."""
        try:
            answer = await self.bus.request(subject(owner), orjson.dumps(request))
        except NoResponders:
            raise Unavailable(
                f"the room is run by node {owner!r}, which does not answer (if it"
                " stopped, another node takes over when its lease runs out); try again"
            ) from None
        return _raise_if_error(orjson.loads(answer))

    # -- the visiting side ------------------------------------------------------------

    async def reach(self, room_id: str, owner: str | None) -> RoomDoor:
        if owner is None or owner == self.node:
            raise Unavailable(f"room {room_id!r} is changing nodes; try again")
        answer = await self.ask(owner, {"t": "meta", "room": room_id})
        return RemoteRoom(self, owner, RoomMeta.from_dict(answer["meta"]))

    async def delete(self, room_id: str, owner: str | None, origin: Origin | None) -> None:
        if owner is None or owner == self.node:
            raise Unavailable(f"room {room_id!r} is changing nodes; try again")
        request = {"t": "delete", "room": room_id, "origin": origin and asdict(origin)}
        await self.ask(owner, request)

    async def join(self, room: RemoteRoom, join: Join) -> None:
        conn = join.conn
        assert isinstance(conn, Connection)
        name = f"room:{room.key}"
        key = f"{self.node}.{next(self._keys)}"
        room.visit = key
        self.visits[key] = (conn, room)
        # On the room from now: the owner's frames may come before its answer.
        conn.join(Topic(name, ring_size=1), room, join.client_id, join.may_edit)
        request = {
            "t": "join",
            "from": self.node,
            "k": key,
            "room": room.key,
            "id": join.request_id,
            "since": join.since,
            "client_id": join.client_id,
            "name": join.name,
            "role": join.role,
            "may_edit": join.may_edit,
        }
        try:
            await self.ask(room.owner, request)
        except BaseException:
            self.visits.pop(key, None)
            room.visit = None
            conn.leave(name)
            raise

    def left(self, room: RemoteRoom) -> None:
        key = room.visit
        if key is not None and self.visits.pop(key, None) is not None:
            self.send(room.owner, {"t": "leave", "k": key, "room": room.key})
        room.visit = None

    def _end_visit(
        self, key: str | None, why: str, code: int = CLOSE_GOING_AWAY, *, told: bool = False
    ) -> None:
        """Close the visiting client ``key`` with ``code``: ``why`` as the owner
        ``told`` it, or ours, asking it to reconnect."""
        found = self.visits.pop(key, None) if key is not None else None
        if found is not None:
            conn, room = found
            room.visit = None
            conn.close(code, why if told else f"{why}; reconnect")

    def _end_visits(self, owner: str | None, why: str) -> None:
        for key, (_, room) in list(self.visits.items()):
            if owner is None or room.owner == owner:
                self._end_visit(key, why)

    async def _take_frames(self, written: Any) -> None:
        """Write what owners send to our clients, as it comes."""
        pieces: dict[str, bytearray] = {}  # a record in pieces, by sender
        epoch = self.bus.epoch
        while True:
            try:
                message = await written.receive()
            except SlowConsumer:
                pieces.clear()
                self._end_visits(None, "frames from the room's node were lost")
                continue
            if self.bus.epoch != epoch:  # reconnected: frames may be missing
                epoch = self.bus.epoch
                pieces.clear()
                self._end_visits(None, "frames from the room's node may have been lost")
            sender = message.subject.rpartition(".")[2]
            flag, data = message.data[:1], message.data[1:]
            if flag != WHOLE:
                if flag == FIRST_PIECE:
                    pieces[sender] = bytearray()
                held = pieces.get(sender)
                if held is None:
                    continue  # the record's first piece was lost: so is the record
                held += data
                if flag != LAST_PIECE:
                    continue
                data = bytes(pieces.pop(sender))
            for kind, key, body in _records(data):
                found = self.visits.get(key)
                if found is None:
                    continue
                conn, _ = found
                if kind == FRAMES:
                    conn.send_frame(body)
                else:
                    (code,) = _CODE.unpack_from(body)
                    self._end_visit(key, body[_CODE.size :].decode(), code, told=True)

    async def _keep_in_touch(self) -> None:
        """Tell each owner which of our clients are still there; close those
        whose owner does not know them or does not answer."""
        while True:
            await trio.sleep(self.period)
            by_owner: dict[str, list[str]] = defaultdict(list)
            for key, (_, room) in self.visits.items():
                by_owner[room.owner].append(key)
            for owner, keys in by_owner.items():
                request = {"t": "alive", "from": self.node, "keys": keys}
                try:
                    answer = await self.ask(owner, request)
                except (PeerError, BusError) as exc:
                    log.warning(
                        "room node %r out of reach (%s): its clients here reconnect", owner, exc
                    )
                    self._end_visits(owner, "the room's node does not answer")
                    continue
                for key in answer["gone"]:
                    self._end_visit(key, "the room's node no longer has this client")

    # -- the owner's side -------------------------------------------------------------

    def write(self, node: str, record: bytes) -> None:
        """Queue a record for ``node`` (called by guests; never blocks)."""
        if self._frame_bytes[node] + len(record) > GUEST_BACKLOG:
            log.warning("room frames to node %r dropped: too many waiting", node)
            self._frames.pop(node, None)
            self._frame_bytes.pop(node, None)
            for guest in [g for g in self.guests.values() if g.node == node]:
                guest.close(frames.CLOSE_SLOW_CONSUMER, "slow consumer: the node fell behind")
            return
        self._frames[node].append(record)
        self._frame_bytes[node] += len(record)
        self._frames_due.set()

    async def _publish_frames(self) -> None:
        while True:
            await self._frames_due.wait()
            self._frames_due = trio.Event()
            for node in list(self._frames):
                records = self._frames.pop(node)
                self._frame_bytes.pop(node, None)
                try:
                    for message in _messages(records):
                        await self.bus.publish(frames_subject(node, self.node), message)
                except BusError as exc:  # they may be missing there: those clients start over
                    log.warning("room frames to node %r lost: %s", node, exc)
                    for guest in [g for g in self.guests.values() if g.node == node]:
                        guest.end()

    async def _serve(self, asked: Any) -> None:
        assert self._nursery is not None
        nursery = self._nursery
        nursery.start_soon(self._forget_unheard)
        async for message in asked:
            try:
                request = orjson.loads(message.data)
                kind = request["t"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("a room message from another node could not be read")
                continue
            if kind in ("meta", "read", "delete", "alive"):
                nursery.start_soon(self._answer, message, request)
                continue
            # Joins, operations, presence and leaving: in order, per visiting node.
            node = str(request.get("from"))
            lane = self._lanes.get(node)
            if lane is None:
                lane, taken = trio.open_memory_channel[Message](OUTBOX)
                self._lanes[node] = lane
                nursery.start_soon(self._lane, taken)
            try:
                lane.send_nowait(message)
            except trio.WouldBlock:
                log.warning("room messages from node %r dropped: too many waiting", node)
                key = request.get("k")
                guest = self.guests.get(key) if isinstance(key, str) else None
                if guest is not None:
                    guest.close(CLOSE_GOING_AWAY, "the room is too busy; reconnect")

    async def _answer(self, message: Message, request: dict[str, Any]) -> None:
        answer: dict[str, Any]
        try:
            answer = await self._answered(request)
        except Exception as exc:
            answer = _answer_error(exc)
        try:
            await message.respond(orjson.dumps(answer))
        except BusError as exc:  # the asker's bound tells it
            log.warning("an answer to another node about a room was lost: %s", exc)

    async def _answered(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request["t"]
        if kind == "alive":
            now = trio.current_time()
            gone = []
            for key in request["keys"]:
                guest = self.guests.get(key)
                if guest is None:
                    gone.append(key)
                else:
                    guest.heard = now
            return {"gone": gone}
        room_id = request["room"]
        if kind == "delete":
            origin = request["origin"]
            await self.registry.delete_room(
                room_id, None if origin is None else Origin(**origin), forwarded=True
            )
            return {}
        handle = await self.registry.room(room_id)
        if kind == "meta":
            assert handle.meta is not None
            return {"meta": handle.meta.to_dict()}
        return await handle.read()

    async def _lane(self, taken: trio.MemoryReceiveChannel[Message]) -> None:
        async for message in taken:
            request = orjson.loads(message.data)
            try:
                await self._take(request)
            except Exception as exc:
                if message.reply:
                    await self._respond(message, _answer_error(exc))
                else:
                    self._refuse(request, exc)
                continue
            if message.reply:
                await self._respond(message, {})

    async def _respond(self, message: Message, answer: dict[str, Any]) -> None:
        try:
            await message.respond(orjson.dumps(answer))
        except BusError as exc:
            log.warning("an answer to another node about a room was lost: %s", exc)

    def _refuse(self, request: dict[str, Any], exc: BaseException) -> None:
        """An operation or a presence that cannot reach its room: the client
        is closed (it reconnects and finds the room where it runs now)."""
        guest = self.guests.get(request.get("k", ""))
        if guest is not None:
            reason = exc.message if isinstance(exc, PeerError) else "the room is not here"
            guest.close(CLOSE_GOING_AWAY, f"{reason}; reconnect")

    async def _take(self, request: dict[str, Any]) -> None:
        kind, key, room_id = request["t"], request["k"], request["room"]
        if kind == "join":
            room = await self.registry.room(room_id)
            guest = self.guests.get(key)
            if guest is None:
                guest = self.guests[key] = Guest(self, request["from"], key)
            await room.put(
                Join(
                    guest,
                    request["id"],
                    request["since"],
                    request["client_id"],
                    request["name"],
                    request["role"],
                    request["may_edit"],
                )
            )
            return
        guest = self.guests.get(key)
        if guest is None:
            return  # forgotten (the alive exchange tells its node)
        if kind == "leave":
            guest.leave(f"room:{room_id}")
            if not guest.memberships:
                guest.end()
            return
        handle = self.registry.loaded_room(room_id)
        if handle is None or handle.stopping:
            raise Unavailable(f"room {room_id!r} is no longer run here")
        if kind == "op":
            await handle.put(
                OpRequest(
                    guest,
                    request["id"],
                    request["client_id"],
                    request["client_op_id"],
                    request["rev"],
                    request["op"],
                    request["author"],
                )
            )
        elif kind == "presence":
            selection = request["selection"]
            await handle.put(
                PresenceUpdate(
                    guest,
                    request["id"],
                    request["rev"],
                    None if selection is None else Selection(*selection),
                    request["clear"],
                    request["status"],
                )
            )

    async def _forget_unheard(self) -> None:
        """Guests whose node has not said they are there for a while (it died)."""
        while True:
            await trio.sleep(self.period)
            horizon = trio.current_time() - MISSED_PERIODS * self.period
            for guest in [g for g in self.guests.values() if g.heard < horizon]:
                log.info("room guest %s of node %r forgotten: not heard of", guest.key, guest.node)
                guest.end()


def _messages(records: list[bytes]) -> list[bytes]:
    """Records in messages of about CHUNK bytes; one larger goes in pieces."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for record in records:
        if len(record) > CHUNK:
            if batch:
                out.append(WHOLE + b"".join(batch))
                batch, size = [], 0
            for at in range(0, len(record), CHUNK):
                flag = FIRST_PIECE if at == 0 else PIECE
                if at + CHUNK >= len(record):
                    flag = LAST_PIECE
                out.append(flag + record[at : at + CHUNK])
            continue
        if size + len(record) > CHUNK and batch:
            out.append(WHOLE + b"".join(batch))
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        out.append(WHOLE + b"".join(batch))
    return out
