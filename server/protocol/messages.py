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
``ping {id?}``                            ``pong {id}``

Server -> client, unprompted: ``event {topic, seq, name, data, at}``.
Any request may instead be answered by ``error {id, code, message}``.

Error codes (stable; see docs/protocol.md for each):
``invalid_json``, ``invalid_message``, ``unknown_type``, ``invalid_field``,
``too_large``, ``binary_unsupported``, ``unknown_topic``, ``unauthorized``,
``forbidden``, ``not_subscribed``, ``already_subscribed``, ``bad_state``,
``not_found``, ``conflict``, ``invalid_transition``, ``unavailable``,
``internal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import orjson

PROTOCOL_VERSION: Final = 1

RequestId: TypeAlias = int | str | None


# ``id`` is read and checked by the codec before the rest of the message.
_SET_BY_CODEC: Final = {"parse": False}


# ---------------------------------------------------------------------------
# client -> server


@dataclass(frozen=True, slots=True)
class Hello:
    """Introduce the client; a token makes it a member of the token's organization."""

    token: str | None = None
    client: str | None = None  # free-form "name/version", for logs
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Receive a topic's snapshot, then its events; ``since`` resumes after a seq."""

    topic: str
    since: int | None = None
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
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


@dataclass(frozen=True, slots=True)
class Ping:
    id: RequestId = field(default=None, metadata=_SET_BY_CODEC)


ClientMessage: TypeAlias = Hello | Subscribe | Unsubscribe | Command | Ping

CLIENT_TYPES: Final[dict[str, type]] = {
    "hello": Hello,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "command": Command,
    "ping": Ping,
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
    role: str | None  # the token's role, or None for an anonymous client
    org: str | None


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
class Event:
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
    result: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    type: Literal["error"] = "error"
    id: RequestId = None
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    type: Literal["pong"] = "pong"
    id: RequestId = None


ServerMessage: TypeAlias = Welcome | Subscribed | Event | Ack | Error | Pong


def encode(message: ServerMessage) -> bytes:
    """The JSON bytes of a server message; fields that would be null are left out.

    Events, the broadcast path, have no optional fields and are encoded once
    per publish with ``orjson.dumps(event)`` directly.
    """
    return orjson.dumps(
        {name: value for name in message.__slots__ if (value := getattr(message, name)) is not None}
    )
