"""Protocol v1: every message, client to server and server to client.

JSON text frames, one object each, every one with a ``type``. A client request
may carry an ``id`` (an integer or a string of at most 64 characters), echoed
in the answer.

Client -> server                          answered by
-----------------------------------------------------------------------------
``hello {token?}``                        ``welcome {protocol, server, heartbeat_ms, role, org}``
``subscribe {id?, topic, since?}``        ``subscribed {id, topic, seq, resumed, snapshot}``
                                          then ``event``\\ s
``unsubscribe {id?, topic}``              ``ack {id, topic}``
``command {id, topic, name, data}``       ``ack {id, result}``
``doc.op {id, room, rev, op, client_op_id}``  ``ack {id, rev}``; others get ``event`` doc.op
``presence {id?, room, rev?, selection?, status?}``  ``ack {id}``; others get ``presence``
``ping {id?}``                            ``pong {id}``

Server -> client, unprompted: ``event {topic, seq, name, data, at}``, and in
rooms ``presence {topic, participants|participant|left}``.
Any request may instead be answered by ``error {id, code, message}``.

Error codes are stable: ``server/errors.py`` holds their table (``CODES``), and
docs/protocol.md says what each one means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeAlias

import orjson

from ..domain.schema import MISSING, Missing, Range, Text

PROTOCOL_VERSION: Final = 1

RequestId: TypeAlias = int | str | None


# ``id`` is read and checked by the codec before the rest of the message.
_SET_BY_CODEC: Final = {"parse": "as_is"}


# ---------------------------------------------------------------------------
# client -> server


@dataclass(frozen=True, slots=True)
class Hello:
    """Introduce the client; a token makes it a member of the token's organization."""

    token: str | None = None
    client: str | None = None  # free-form "name/version", for logs
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


ClientId: TypeAlias = Annotated[
    str, Text(8, 64, r"[A-Za-z0-9_-]+", "must be 8-64 letters, digits, '-' or '_'")
]
DisplayName: TypeAlias = Annotated[str, Text(1, 60)]
IdempotencyKey: TypeAlias = Annotated[
    str, Text(1, 255, r"[\x21-\x7e]+", "must be 1-255 printable ASCII characters, no spaces")
]
Revision: TypeAlias = Annotated[int, Range(0, 2**53 - 1)]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Receive a topic's snapshot, then its events; ``since`` resumes after a seq.

    In a room, ``client_id`` says who you are across reconnects (resent
    operations are recognized by it) and ``name`` how others see you.
    """

    topic: str
    since: Revision | None = None
    client_id: ClientId | None = None
    name: DisplayName | None = None
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    topic: str
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class Command:
    """Change something through the topic's owner (``org:<org>``)."""

    topic: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: IdempotencyKey | None = None  # a retry with it changes nothing
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class Ping:
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class DocOp:
    """An edit to a room's text, made on revision ``rev`` (see switchboard_ot)."""

    room: str
    rev: Revision
    op: list[Any]
    client_op_id: Annotated[int, Range(1, 2**53 - 1)]
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class SelectionIn:
    anchor: Revision
    head: Revision


class Status(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"
    TYPING = "typing"


@dataclass(frozen=True, slots=True)
class SetPresence:
    """Where your cursor is in a room (as of revision ``rev``), and whether you are typing.

    ``selection: null`` clears it; leaving it out keeps it.
    """

    room: str
    rev: Revision | None = None
    selection: SelectionIn | Missing | None = MISSING
    status: Status | None = None
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


ClientMessage: TypeAlias = Hello | Subscribe | Unsubscribe | Command | Ping | DocOp | SetPresence

CLIENT_TYPES: Final[dict[str, type]] = {
    "hello": Hello,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "command": Command,
    "ping": Ping,
    "doc.op": DocOp,
    "presence": SetPresence,
}

# ---------------------------------------------------------------------------
# server -> client
#
# Keyword-only, so that ``type`` can come first in the encoded JSON.


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    type: Literal["welcome"] = "welcome"
    id: RequestId = None
    protocol: int = PROTOCOL_VERSION
    server: str
    heartbeat_ms: int
    role: str | None  # the token's role (None: anonymous, or a user with memberships)
    org: str | None
    kind: str | None = None  # user, token, oidc or operator; None when anonymous
    subject: str | None = None
    # What one message and one room operation may hold (clients split theirs to fit).
    limits: dict[str, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed:
    """``snapshot`` is None when ``resumed``: the missed events follow instead."""

    type: Literal["subscribed"] = "subscribed"
    id: RequestId = None
    topic: str
    seq: int
    resumed: bool
    snapshot: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMessage:
    type: Literal["event"] = "event"
    topic: str
    seq: int
    name: str
    data: Any
    at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    type: Literal["ack"] = "ack"
    id: RequestId
    topic: str | None = None
    rev: int | None = None  # for doc.op: the revision the operation made
    result: Any = None
    replayed: bool | None = None  # a command's idempotency key was seen: its first answer


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    type: Literal["error"] = "error"
    id: RequestId = None
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """Who is in a room: on joining, everyone (``participants``) and which of
    them ``you`` are; then each ``participant`` that joins or moves, and the
    client id of each one that has ``left``."""

    type: Literal["presence"] = "presence"
    topic: str
    participants: list[Any] | None = None
    you: str | None = None
    participant: Any = None
    left: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    type: Literal["pong"] = "pong"
    id: RequestId = None


ServerMessage: TypeAlias = Welcome | Subscribed | EventMessage | Ack | Error | Presence | Pong


def encode(message: ServerMessage) -> bytes:
    """The JSON bytes of a server message; fields that would be null are left out.

    Events, the broadcast path, have no optional fields and are encoded once
    per publish with ``orjson.dumps(event)`` directly.
    """
    return orjson.dumps(
        {name: value for name in message.__slots__ if (value := getattr(message, name)) is not None}
    )


# The two messages a room sends for every operation, encoded without building
# the dataclass (a frozen dataclass's construction and ``encode`` cost about a
# microsecond each, a tenth of an operation's whole path). A test holds each
# to the bytes ``encode`` makes of its dataclass.


def encode_event(topic: str, seq: int, name: str, data: Any, at: str) -> bytes:
    """``encode(EventMessage(topic=..., seq=..., name=..., data=..., at=...))``."""
    return orjson.dumps(
        {"type": "event", "topic": topic, "seq": seq, "name": name, "data": data, "at": at}
    )


def encode_rev_ack(request_id: RequestId, rev: int) -> bytes:
    """``encode(Ack(id=request_id, rev=rev))``: a ``doc.op``'s answer."""
    if request_id is None:
        return orjson.dumps({"type": "ack", "rev": rev})
    return orjson.dumps({"type": "ack", "id": request_id, "rev": rev})
