"""A shared text: local edits apply at once, the server keeps everyone converging.

``room.text`` is this client's copy. :meth:`Room.insert`, :meth:`Room.delete`
and :meth:`Room.replace` change it immediately and return: the operation goes
through the OT client state machine (one operation in flight, later edits
composed into a buffer) and is sent as soon as there is a connection, so
editing never waits for the network, offline included. Others' edits and
presence arrive as events::

    room = await client.join_room(room_id, name="Ana")
    await room.insert(0, "Primary is down. ")
    await room.flush()  # the server has it
    async for event in room:
        ...  # Edit, Presence or RoomReset

Operations are kept within the server's limits (see
:class:`~switchboard_client.client.Limits`): a large insert is split into
several operations, and buffered edits are composed only while the result
fits one. Positions count Unicode code points (Python ``str`` indices).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from switchboard_ot import Op, OTClient, OTError, Outgoing, inserted, is_noop, normalize

from . import _ws
from .errors import (
    ConnectionLost,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    SwitchboardError,
    error_from,
)

if TYPE_CHECKING:
    from .client import Client
    from .types import Participant


@dataclass(frozen=True, slots=True)
class Edit:
    """Someone else's edit, as applied to this copy (``op`` on the text before it)."""

    rev: int
    op: list[Any]
    author: str | None
    client_id: str


@dataclass(frozen=True, slots=True)
class Presence:
    """Who is in the room now, with their cursors and status."""

    participants: list[Participant]


@dataclass(frozen=True, slots=True)
class RoomReset:
    """Away too long (or too far behind): the room sent its text afresh, and
    local edits it had not acknowledged were dropped."""

    rev: int
    text: str


RoomEvent = Edit | Presence | RoomReset


class Room:
    """One room joined with :meth:`Client.join_room`; iterate it for events.

    ``text``, ``rev`` and ``participants`` are this client's view, always
    current. When the room cannot go on (the server refused an edit, the
    room was deleted, the client gave up), ``error`` says why: iteration,
    :meth:`flush` and further edits raise it.
    """

    def __init__(
        self, client: Client, room_id: str, name: str | None, client_id: str | None
    ) -> None:
        from .client import _Queue

        self.client = client
        self.id = room_id
        self.topic = f"room:{room_id}"
        self.name = name
        self.client_id = client_id or f"py-{secrets.token_hex(8)}"
        self.ot = OTClient(0, fits=self._fits)
        self.meta: dict[str, Any] = {}
        self.participants: list[Participant] = []
        self.error: SwitchboardError | None = None
        self.closed = False
        self._joined = False
        self._generation = 0  # the connection the room is resumed on
        self._sent: tuple[int, int] | None = None  # (client_op_id, connection) in flight
        self._retry_at = 0.0
        self._synced = anyio.Event()
        self._synced.set()
        self._queue: _Queue[RoomEvent] = _Queue()
        # What an operation message holds besides the operation (at its largest).
        self._envelope = len(orjson.dumps(self._op_message(Outgoing(2**53, [], 2**53)))) + len(
            str(2**53)
        )

    # -- reading --------------------------------------------------------------------

    @property
    def text(self) -> str:
        """This client's copy of the text, local edits included."""
        return self.ot.text

    @property
    def rev(self) -> int:
        """The last revision of the room this copy has seen."""
        return self.ot.rev

    @property
    def unacknowledged(self) -> int:
        """Local operations the server has not acknowledged yet."""
        return self.ot.unacknowledged

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> RoomEvent:
        return await self._queue.get()

    async def next(self) -> RoomEvent:
        """The next event. It waits as long as it takes: bound it with ``anyio.fail_after``."""
        return await self._queue.get()

    # -- editing --------------------------------------------------------------------

    async def insert(self, pos: int, text: str) -> None:
        """Insert ``text`` at ``pos``: applied here at once, sent when connected."""
        self._check(pos, 0)
        for piece in self._pieces(text):
            self._local([pos, piece, len(self.text) - pos])
            pos += len(piece)

    async def delete(self, pos: int, count: int) -> None:
        """Delete ``count`` characters from ``pos``: applied here at once, sent when connected."""
        self._check(pos, count)
        self._local([pos, -count, len(self.text) - pos - count])

    async def replace(self, pos: int, count: int, text: str) -> None:
        """Replace ``count`` characters at ``pos`` with ``text`` (one operation if it fits)."""
        self._check(pos, count)
        op = normalize([pos, text, -count, len(self.text) - pos - count])
        if self._fits(op):
            self._local(op)
            return
        await self.delete(pos, count)
        await self.insert(pos, text)

    async def set_presence(
        self,
        *,
        selection: tuple[int, int] | None = None,
        status: str | None = None,
        request_timeout: float | None = None,
    ) -> None:
        """Where this client's cursor (anchor, head) is, and ``active``/``idle``/``typing``."""
        self._raise_if_closed()
        message: dict[str, Any] = {"type": "presence", "room": self.id, "rev": self.rev}
        message["selection"] = (
            None if selection is None else {"anchor": selection[0], "head": selection[1]}
        )
        if status is not None:
            message["status"] = status
        await self.client._request(message, limit=request_timeout)

    async def flush(self, *, request_timeout: float | None = None) -> None:
        """Wait until the server has acknowledged every local edit.

        Raises the room's error if it closed (an edit refused...); after
        ``request_timeout`` (default: the client's), raises
        :class:`~switchboard_client.errors.ConnectionLost` if disconnected and
        :class:`~switchboard_client.errors.OutcomeUnknown` if not: either way
        the edits are kept, and sent (again) once connected.
        """
        from .client import State, _again

        limit = self.client.request_timeout if request_timeout is None else request_timeout
        try:
            with anyio.fail_after(limit):
                while True:
                    self._raise_if_closed(f"with {self.unacknowledged} edits unacknowledged")
                    if self.ot.outstanding is None:
                        return
                    await self._synced.wait()
                    if self._synced.is_set() and self.ot.outstanding is not None:
                        self._synced = anyio.Event()
        except TimeoutError:
            count = self.unacknowledged
            if self.client._fatal is not None:
                raise _again(self.client._fatal) from None
            if self.client.state is State.CONNECTED:
                raise OutcomeUnknown(
                    "timeout",
                    f"{count} edits not acknowledged within {limit:g} s; they are kept and"
                    " sent again after a reconnect",
                ) from None
            why = f" ({self.client.last_error.message})" if self.client.last_error else ""
            raise ConnectionLost(
                "timeout",
                f"not connected within {limit:g} s{why}: {count} edits wait, and are sent"
                " once connected",
            ) from None

    async def leave(self, *, request_timeout: float | None = None) -> None:
        """Leave the room: the others see you go. Edits not acknowledged yet
        are dropped (:meth:`flush` first to keep them); iteration ends."""
        was_joined = self._joined and not self.closed
        self._close(None)
        if was_joined:
            # Gone with the connection, the server forgot it either way.
            with contextlib.suppress(SwitchboardError):
                await self.client._request(
                    {"type": "unsubscribe", "topic": self.topic}, limit=request_timeout
                )

    def _check(self, pos: int, count: int) -> None:
        self._raise_if_closed()
        if not 0 <= pos <= len(self.text) or count < 0 or pos + count > len(self.text):
            raise ValueError(f"position {pos} (+{count}) is outside the text ({len(self.text)})")

    def _raise_if_closed(self, detail: str = "") -> None:
        from .client import _again

        if self.error is not None:
            raise _again(self.error)
        if self.closed:
            raise ConnectionLost("closed", f"the room was left{' ' + detail if detail else ''}")

    def _fits(self, op: Op) -> bool:
        """Whether the server takes ``op`` as one operation in one message."""
        limits = self.client.limits
        return (
            inserted(op) <= limits.room_max_insert
            and len(op) <= limits.room_max_components
            and len(orjson.dumps(op)) + self._envelope <= limits.max_message
        )

    def _pieces(self, text: str) -> list[str]:
        """``text`` cut into inserts the server takes (code points, and bytes once encoded)."""
        limits = self.client.limits
        budget = limits.max_message - self._envelope - 64  # the retains around it
        out: list[str] = []
        i = 0
        while i < len(text):
            n = min(limits.room_max_insert, len(text) - i)
            while n > 1:
                size = len(orjson.dumps(text[i : i + n]))
                if size <= budget:
                    break
                n = max(1, n * budget // size - 1)
            out.append(text[i : i + n])
            i += n
        return out

    def _local(self, op: list[Any]) -> None:
        op = normalize(op)
        if is_noop(op):
            return
        self.ot.local(op)
        if self._synced.is_set():
            self._synced = anyio.Event()
        self.client._kick()

    def _op_message(self, out: Outgoing) -> dict[str, Any]:
        return {
            "type": "doc.op",
            "id": f"op:{self.id}:{out.client_op_id}",
            "room": self.id,
            "rev": out.rev,
            "op": out.op,
            "client_op_id": out.client_op_id,
        }

    # -- the connection's side ----------------------------------------------------------

    async def _pump(self, ws: _ws.WebSocket, generation: int) -> None:
        """Send the operation in flight, unless it went out on this connection already."""
        if self.closed or not self._joined or self._generation != generation:
            return
        outstanding = self.ot.outstanding
        if outstanding is None or self._sent == (outstanding.client_op_id, generation):
            return
        if anyio.current_time() < self._retry_at:
            return  # rate limited: a timer wakes the writer
        # Based on the latest revision seen (what arrived meanwhile transformed it).
        out = self.ot.resend()
        assert out is not None
        self._sent = (out.client_op_id, generation)
        with contextlib.suppress(_ws.WebSocketClosed):  # sent again on the next connection
            await ws.send(orjson.dumps(self._op_message(out)).decode())

    def _awaiting_ack(self) -> bool:
        return self._sent is not None and self.ot.outstanding is not None and not self.closed

    async def _join(self, limit: float | None = None) -> None:
        message: dict[str, Any] = {
            "type": "subscribe",
            "topic": self.topic,
            "client_id": self.client_id,
        }
        if self.name:
            message["name"] = self.name
        self.client._rooms[self.topic] = self

        def joined(answer: dict[str, Any]) -> None:
            # In the reader, as the answer comes: the events after it find the room ready.
            snapshot = answer["snapshot"]
            self.meta = snapshot["room"]
            # Joining again (after stale_revision) is the same session: ids go on.
            self.ot = self.ot.restart(snapshot["rev"], snapshot["text"])
            self._joined = True
            self._generation = self.client._generation
            self._sent = None
            self._synced.set()

        try:
            await self.client._request(message, limit=limit, resend=True, on_answer=joined)
        except BaseException:
            if self.client._rooms.get(self.topic) is self:
                del self.client._rooms[self.topic]
            raise

    def _resubscribe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.ot.rev, "client_id": self.client_id}
        if self.name:
            out["name"] = self.name
        return out

    async def _resumed(self, answer: dict[str, Any], ws: _ws.WebSocket, generation: int) -> None:
        self._generation = generation
        self._sent = None
        if not answer.get("resumed"):
            snapshot = answer["snapshot"]
            # Unacknowledged edits cannot be placed safely any more: the room's text wins.
            self.ot = self.ot.restart(snapshot["rev"], snapshot["text"])
            self._synced.set()
            self._queue.put(RoomReset(snapshot["rev"], snapshot["text"]))
            return
        # Missed operations follow as events (our own among them count as acks);
        # the unacknowledged one goes again with its id: never applied twice.
        out = self.ot.resend()
        if out is not None:
            self._sent = (out.client_op_id, generation)
            await ws.send(orjson.dumps(self._op_message(out)).decode())

    def _answer(self, message: dict[str, Any]) -> None:
        if message.get("type") == "ack":
            self._acked(message.get("rev"))
            return
        if message.get("type") != "error":
            return
        error = error_from(message)
        outstanding = self.ot.outstanding
        about = message.get("id", "").rsplit(":", 1)[-1]
        if outstanding is None or about != str(outstanding.client_op_id):
            return  # about an operation acknowledged since (a resend too late)
        if error.code == "stale_revision":
            # Too far behind to transform: start over from the room's text.
            self.client._spawn(self._rejoin)
        elif isinstance(error, RateLimited):
            # Dropped: send it again after a pause.
            self._sent = None
            self._retry_at = anyio.current_time() + 1.0
            self.client._spawn(self._retry_later, 1.0)
        else:
            # Refused (forbidden, too large, invalid...): this copy has an edit the
            # room will never have, so it cannot go on.
            self._close(error)

    async def _retry_later(self, delay: float) -> None:
        await anyio.sleep(delay)
        self.client._kick()

    async def _rejoin(self) -> None:
        with contextlib.suppress(SwitchboardError):
            await self.client._request({"type": "unsubscribe", "topic": self.topic})
        self._joined = False
        try:
            await self._join()
        except SwitchboardError as exc:
            self._close(exc)
            return
        self._queue.put(RoomReset(self.rev, self.text))
        self.client._kick()

    def _acked(self, rev: int | None) -> None:
        before = self.ot.outstanding
        try:
            nxt = self.ot.ack(rev)
        except OTError:
            return  # an ack for nothing outstanding (the session restarted since)
        if self.ot.outstanding is before:
            return  # an ack seen before (a resend confirmed again)
        self._sent = None
        if nxt is not None:
            self.client._kick()
        else:
            self._synced.set()

    def _event(self, message: dict[str, Any]) -> None:
        name = message.get("name")
        if name == "room.deleted":
            self._close(NotFound("not_found", f"room {self.id} was deleted"))
            return
        if name != "doc.op":
            return
        data = message["data"]
        if data["rev"] <= self.ot.rev:
            return  # already seen
        if data.get("client_id") == self.client_id:
            self._acked(data["rev"])  # ours, replayed after a reconnect: the lost ack
            return
        op = self.ot.remote(data["op"])
        self._queue.put(Edit(data["rev"], op, data.get("author"), data["client_id"]))

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
            self.participants = [*others, changed]  # type: ignore[list-item]
        self._queue.put(Presence(list(self.participants)))

    def _close(self, error: SwitchboardError | None) -> None:
        """The room ends here: with ``error``, or quietly (left, or the client closed)."""
        if self.closed:
            return
        from .client import State

        self.closed = True
        self.error = error
        if self.client._rooms.get(self.topic) is self:
            del self.client._rooms[self.topic]
        self._queue.end(error)
        self._synced.set()
        if error is not None:
            from .client import log

            log.warning("room %s closed: %s", self.id, error)
            if self._joined and self.client.state is State.CONNECTED:
                # Stop the server sending what nobody reads.
                self.client._spawn(
                    self.client._send_quietly, {"type": "unsubscribe", "topic": self.topic}
                )
