"""A shared text: local edits apply at once, the server keeps everyone converging.

``room.text`` is this client's copy. :meth:`Room.insert`, :meth:`Room.delete`
and :meth:`Room.replace` change it immediately and send the operation through
the OT client state machine (one operation in flight, later edits composed
into a buffer). Others' edits and presence arrive as events::

    room = await client.join_room(room_id, name="Ana")
    await room.insert(0, "Primary is down. ")
    async for event in room:
        ...  # Edit, Presence or RoomReset

Positions count Unicode code points (Python ``str`` indices).
"""

from __future__ import annotations

import contextlib
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import trio
from switchboard_ot import OTClient, Outgoing, normalize

from .errors import SwitchboardError, error_from

if TYPE_CHECKING:
    import trio_websocket

    from .client import Client


@dataclass(frozen=True, slots=True)
class Edit:
    """Someone else's edit, as applied to this copy."""

    rev: int
    op: list[Any]
    author: str | None
    client_id: str


@dataclass(frozen=True, slots=True)
class Presence:
    participants: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RoomReset:
    """Away too long: the room sent its text afresh; unsent local edits were lost."""

    rev: int
    text: str


class Room:
    def __init__(
        self, client: Client, room_id: str, name: str | None, client_id: str | None
    ) -> None:
        self.client = client
        self.id = room_id
        self.topic = f"room:{room_id}"
        self.name = name
        self.client_id = client_id or f"py-{secrets.token_hex(8)}"
        self.ot = OTClient(0)
        self.meta: dict[str, Any] = {}
        self.participants: list[dict[str, Any]] = []
        self.errors: list[SwitchboardError] = []
        self._synced = trio.Event()
        self._synced.set()
        self._send, self._receive = trio.open_memory_channel[Edit | Presence | RoomReset](math.inf)

    # -- reading --------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.ot.text

    @property
    def rev(self) -> int:
        return self.ot.rev

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> Edit | Presence | RoomReset:
        return await self._receive.receive()

    async def next(self) -> Edit | Presence | RoomReset:
        """The next event (wrap in ``trio.fail_after`` to bound the wait)."""
        return await self._receive.receive()

    # -- editing --------------------------------------------------------------------

    async def insert(self, pos: int, text: str) -> None:
        self._check(pos, 0)
        await self._edit([pos, text, len(self.text) - pos])

    async def delete(self, pos: int, count: int) -> None:
        self._check(pos, count)
        await self._edit([pos, -count, len(self.text) - pos - count])

    async def replace(self, pos: int, count: int, text: str) -> None:
        self._check(pos, count)
        await self._edit([pos, text, -count, len(self.text) - pos - count])

    async def set_presence(
        self, *, selection: tuple[int, int] | None = None, status: str | None = None
    ) -> None:
        """Where this client's cursor (anchor, head) is, and ``active``/``idle``/``typing``."""
        message: dict[str, Any] = {"type": "presence", "room": self.id, "rev": self.rev}
        message["selection"] = (
            None if selection is None else {"anchor": selection[0], "head": selection[1]}
        )
        if status is not None:
            message["status"] = status
        await self.client._request(message)

    async def flush(self) -> None:
        """Wait until the server has acknowledged every local edit (raise the last refusal)."""
        await self._synced.wait()
        if self.errors:
            raise self.errors[-1]

    async def leave(self) -> None:
        self.client._rooms.pop(self.topic, None)
        sub = self.client._subscriptions.pop(self.topic, None)
        if sub is not None:
            sub._send.close()
        self._send.close()
        await self.client._request({"type": "unsubscribe", "topic": self.topic})

    def _check(self, pos: int, count: int) -> None:
        if not 0 <= pos <= len(self.text) or count < 0 or pos + count > len(self.text):
            raise ValueError(f"position {pos} (+{count}) is outside the text ({len(self.text)})")

    async def _edit(self, op: list[Any]) -> None:
        out = self.ot.local(normalize(op))
        self._synced = trio.Event() if self._synced.is_set() else self._synced
        if out is not None:
            await self._send_op(out)

    def _op_message(self, out: Outgoing) -> dict[str, Any]:
        return {
            "type": "doc.op",
            "id": f"op:{self.id}:{out.client_op_id}",
            "room": self.id,
            "rev": out.rev,
            "op": out.op,
            "client_op_id": out.client_op_id,
        }

    async def _send_op(self, out: Outgoing) -> None:
        from .errors import ConnectionLost

        with contextlib.suppress(ConnectionLost):  # resent after the reconnect
            await self.client._send(self._op_message(out))

    # -- the connection's side ----------------------------------------------------------

    async def _join(self) -> None:
        from .client import Subscription

        message: dict[str, Any] = {
            "type": "subscribe",
            "topic": self.topic,
            "client_id": self.client_id,
        }
        if self.name:
            message["name"] = self.name
        self.client._rooms[self.topic] = self
        try:
            answer = await self.client._request(message)
        except BaseException:
            self.client._rooms.pop(self.topic, None)
            raise
        snapshot = answer["snapshot"]
        self.meta = snapshot["room"]
        # Joining again (after stale_revision) is the same session: ids go on.
        self.ot = self.ot.restart(snapshot["rev"], snapshot["text"])
        self.client._subscriptions[self.topic] = Subscription(self.client, self.topic, None)

    def _resubscribe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.ot.rev, "client_id": self.client_id}
        if self.name:
            out["name"] = self.name
        return out

    async def _resumed(
        self, answer: dict[str, Any], ws: trio_websocket.WebSocketConnection
    ) -> None:
        if not answer.get("resumed"):
            snapshot = answer["snapshot"]
            # Unacknowledged edits cannot be placed safely any more: the room's text wins.
            self.ot = self.ot.restart(snapshot["rev"], snapshot["text"])
            self._synced.set()
            self._send.send_nowait(RoomReset(snapshot["rev"], snapshot["text"]))
            return
        # Missed operations follow as events (our own among them count as acks);
        # the unacknowledged one goes again with its id: never applied twice.
        out = self.ot.resend()
        if out is not None:
            await ws.send_message(orjson.dumps(self._op_message(out)).decode())

    async def _answer(self, message: dict[str, Any]) -> None:
        if message.get("type") == "ack":
            await self._acked(message.get("rev"))
            return
        if message.get("type") == "error":
            error = error_from(message)
            self.errors.append(error)
            if error.code == "stale_revision":
                # Too far behind to transform: start over from the room's text.
                await self.client._request({"type": "unsubscribe", "topic": self.topic})
                await self._join()
            self._synced.set()

    async def _acked(self, rev: int | None) -> None:
        nxt = self.ot.ack(rev)
        if nxt is not None:
            await self._send_op(nxt)
        elif self.ot.outstanding is None:
            self._synced.set()

    async def _event(self, message: dict[str, Any]) -> None:
        if message.get("name") != "doc.op":
            return
        data = message["data"]
        if data["rev"] <= self.ot.rev:
            return  # already seen
        if data.get("client_id") == self.client_id:
            await self._acked(data["rev"])  # ours, replayed after a reconnect: the lost ack
            return
        op = self.ot.remote(data["op"])
        self._send.send_nowait(Edit(data["rev"], op, data.get("author"), data["client_id"]))

    def _presence(self, message: dict[str, Any]) -> None:
        if "participants" in message:
            self.participants = message["participants"]
        elif "left" in message:
            gone = message["left"]
            self.participants = [p for p in self.participants if p.get("client_id") != gone]
        else:  # one participant joined or changed
            changed = message.get("participant") or {}
            others = [
                p for p in self.participants if p.get("client_id") != changed.get("client_id")
            ]
            self.participants = [*others, changed]
        self._send.send_nowait(Presence(list(self.participants)))
