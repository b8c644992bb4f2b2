"""A room's shared document: what happens to an operation sent to it. Pure.

The room keeps the text, its revision (how many operations it has applied),
the most recent operations (the *window*) and, per client, the last of its
operation ids it applied. An incoming operation names the revision it was
made on; :func:`receive` transforms it against every operation applied since
then, in order, and applies it. A resent operation (same client, an id
already applied) is recognized and answered with the revision it got the
first time, never applied twice.

Errors (:class:`RoomError`, each with its code):

* ``invalid_op``: malformed, from the future, or not fitting the document;
* ``stale_revision``: made on a revision older than the window (resync
  from a snapshot and retry);
* ``document_too_large`` and ``op_too_large``: over the room's limits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from switchboard_ot import (
    Op,
    OTError,
    TooManyComponents,
    check,
    inserted,
    normalize,
    transform,
)

from ..errors import RoomError, ValidationError
from .model import iso, iso_or_none, parse_iso, parse_iso_or_none
from .schema import check_chars
from .text_buffer import TextBuffer


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_document: int = 1_048_576  # code points
    max_insert: int = 16_000  # code points one operation may insert
    max_components: int = 10_000
    window: int = 8_192  # operations kept for late ones and replays (more than a batch)


@dataclass(frozen=True, slots=True)
class RoomMeta:
    """What a room is: where it belongs and when it began."""

    id: str
    org: str
    title: str
    incident: str | None
    created_at: datetime
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "title": self.title,
            "incident": self.incident,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoomMeta:
        return cls(
            id=d["id"],
            org=d["org"],
            title=d["title"],
            incident=d["incident"],
            created_at=parse_iso(d["created_at"]),
            created_by=d.get("created_by"),
        )


class Applied(NamedTuple):
    """One operation in the room's history: the revision it made, as applied.

    A named tuple, not a dataclass: one is made per keystroke.
    """

    rev: int
    op: Op
    client_id: str
    client_op_id: int
    author: str | None
    at: datetime | None = None  # when it was committed (set by whoever commits it)

    def record(self) -> tuple[Op, str, int, str | None]:
        """What the log keeps of it: ``[op, client_id, client_op_id, author]``."""
        return (self.op, self.client_id, self.client_op_id, self.author)


@dataclass(slots=True)
class RoomState:
    meta: RoomMeta
    text: TextBuffer = field(default_factory=TextBuffer)
    rev: int = 0
    window: deque[Applied] = field(default_factory=deque)
    last_op: dict[str, int] = field(default_factory=dict)  # client id -> last op id applied
    updated_at: datetime | None = None
    version: int = 1  # events in the room's stream (room.created, then one per batch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta.to_dict(),
            "text": str(self.text),
            "rev": self.rev,
            "last_op": dict(self.last_op),
            "updated_at": iso_or_none(self.updated_at),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoomState:
        return cls(
            meta=RoomMeta.from_dict(d["meta"]),
            text=TextBuffer(d["text"]),
            rev=d["rev"],
            last_op=dict(d["last_op"]),
            updated_at=parse_iso_or_none(d.get("updated_at")),
            version=d["version"],
        )


def validate(op: object, limits: RoomLimits) -> Op:
    """Check an operation's shape and size (before it reaches the room)."""
    try:
        checked = check(op, max_components=limits.max_components)
    except TooManyComponents as exc:
        raise RoomError("op_too_large", str(exc)) from None
    except OTError as exc:
        raise RoomError("invalid_op", str(exc)) from None
    if inserted(checked) > limits.max_insert:
        raise RoomError(
            "op_too_large", f"an operation may insert at most {limits.max_insert} characters"
        )
    for component in checked:
        if isinstance(component, str):
            try:
                check_chars(component, "op")
            except ValidationError as exc:
                raise RoomError(
                    "invalid_op", f"an insert {exc.message.removeprefix('op ')}"
                ) from None
    # Normal form matters beyond tidiness: transform's tie-break and cursor
    # mapping read the components in order, so every site must hold the same form.
    return normalize(checked)


def receive(
    state: RoomState,
    *,
    rev: int,
    op: Op,
    client_id: str,
    client_op_id: int,
    author: str | None,
    limits: RoomLimits,
    at: datetime | None = None,
) -> Applied:
    """Transform, check and apply one operation; returns it as applied.

    A resend of an operation already applied returns the original record and
    changes nothing (compare ``result.rev`` with ``state.rev`` to tell).
    Raises RoomError; the state is untouched when it does.
    """
    if client_op_id <= state.last_op.get(client_id, 0):
        for earlier in reversed(state.window):
            if earlier.client_id == client_id and earlier.client_op_id == client_op_id:
                return earlier
        raise RoomError(
            "stale_revision",
            f"operation id {client_op_id} is not newer than this client's last "
            f"({state.last_op[client_id]}) and is not among the recent operations: "
            "ids must increase; resync from a snapshot",
        )
    if rev > state.rev or rev < 0:
        raise RoomError(
            "invalid_op", f"revision {rev} is not one the room has (it is at {state.rev})"
        )
    behind = state.rev - rev
    if behind > len(state.window):
        raise RoomError(
            "stale_revision",
            f"revision {rev} is older than the {len(state.window)} operations the room keeps; "
            "resync from a snapshot and send again",
        )
    if behind:
        try:
            for earlier in list(state.window)[len(state.window) - behind :]:
                op = transform(op, earlier.op)[0]
        except OTError as exc:
            raise RoomError(
                "invalid_op", f"the operation does not fit revision {rev}: {exc}"
            ) from None
    try:  # a text grown too long raises RoomError("document_too_large") as it is
        state.text.apply(op, max_length=limits.max_document)
    except OTError as exc:
        raise RoomError("invalid_op", str(exc)) from None
    state.rev += 1
    applied = Applied(state.rev, op, client_id, client_op_id, author, at)
    state.window.append(applied)
    while len(state.window) > limits.window:
        state.window.popleft()
    state.last_op[client_id] = client_op_id
    return applied


def replay(
    state: RoomState,
    first_rev: int,
    ops: Sequence[Sequence[Any]],
    limits: RoomLimits,
    at: datetime | None = None,
) -> None:
    """Re-apply logged operations (``Applied.record``s) from ``first_rev`` on."""
    for offset, (op, client_id, client_op_id, author) in enumerate(ops):
        rev = first_rev + offset
        if rev <= state.rev:
            continue  # already in the snapshot
        if rev != state.rev + 1:
            raise ValueError(f"room {state.meta.id}: revision {rev} after {state.rev}")  # corrupt
        state.text.apply(op)
        state.rev = rev
        state.window.append(Applied(rev, op, client_id, client_op_id, author, at))
        while len(state.window) > limits.window:
            state.window.popleft()
        state.last_op[client_id] = max(client_op_id, state.last_op.get(client_id, 0))
