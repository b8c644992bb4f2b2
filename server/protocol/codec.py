"""Bytes <-> messages. Every bad input becomes a :class:`ProtocolError`.

``decode`` validates against the closed table of client message types in
:mod:`server.protocol.messages`: an unknown type, a missing field or one of the
wrong type raises ``ProtocolError`` naming it, with the request's ``id`` when
one could be read, so the answer can be correlated. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..domain.commands import SLUG_PATTERN
from ..domain.schema import check_chars, parse
from ..errors import ProtocolError, ValidationError
from .messages import CLIENT_TYPES, ClientMessage, RequestId

MAX_ID_LENGTH: Final = 64
_MAX_SAFE_INT: Final = 2**53 - 1  # what a JavaScript client can echo exactly


def _request_id(obj: dict[str, Any]) -> RequestId:
    value = obj.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError("invalid_field", "id must be an integer or a string", field="id")
    if isinstance(value, int) and abs(value) > _MAX_SAFE_INT:
        raise ProtocolError("invalid_field", "id must fit in 53 bits", field="id")
    if isinstance(value, str):
        if len(value) > MAX_ID_LENGTH:
            raise ProtocolError(
                "invalid_field", f"id must be at most {MAX_ID_LENGTH} characters", field="id"
            )
        try:
            check_chars(value, "id", lines=False)
        except ValidationError as exc:
            raise ProtocolError("invalid_field", exc.message, field="id") from None
    return value


# A top-level member whose value is a scalar: "key": "text" | number | true | false | null.
_LEADING_MEMBER: Final = re.compile(
    rb'\s*"((?:[^"\\]|\\.){0,64})"\s*:\s*'
    rb'("(?:[^"\\]|\\.){0,256}"|-?\d{1,20}(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)'
    rb"\s*([,}])"
)


def peek_id(payload: bytes) -> RequestId:
    """The ``id`` of a message that cannot be read whole (too large, rate
    limited before decoding, not valid JSON), when the id is among its leading
    members with scalar values (as clients send it, first); else None."""
    start = payload.find(b"{")
    if start < 0 or payload[:start].strip():
        return None
    pos = start + 1
    while (member := _LEADING_MEMBER.match(payload, pos)) is not None:
        if member[1] == b"id":
            try:
                return _request_id({"id": orjson.loads(member[2])})
            except (orjson.JSONDecodeError, ProtocolError):
                return None
        if member[3] == b"}":
            return None
        pos = member.end()
    return None


def decode(payload: bytes | str) -> ClientMessage:
    """Parse one text frame into a client message, or raise ProtocolError."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raw = payload.encode(errors="replace") if isinstance(payload, str) else payload
        raise ProtocolError(
            "invalid_json", f"the frame is not valid UTF-8 JSON: {exc}", id=peek_id(raw)
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    request_id = _request_id(obj)
    kind = obj.get("type")
    if kind is None:
        raise ProtocolError("invalid_message", "a message needs a 'type'", id=request_id)
    cls = CLIENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}",
            id=request_id,
        )
    del obj["type"]  # the rest are the message's fields (the id already checked)
    try:
        message: ClientMessage = parse(cls, obj, where=kind)
    except ValidationError as exc:
        raise ProtocolError("invalid_field", exc.message, id=request_id, field=exc.field) from None
    return message


# ---------------------------------------------------------------------------
# topics

TOPIC_KINDS: Final = ("status", "org", "room", "probe")
_KEYS: Final = {
    "status": re.compile(SLUG_PATTERN),
    "org": re.compile(SLUG_PATTERN),
    "room": re.compile(r"[A-Za-z0-9_-]{6,64}"),
    "probe": re.compile(SLUG_PATTERN),  # a region's name
}


@dataclass(frozen=True, slots=True)
class TopicName:
    """A topic's name as a client gives it, checked: its kind and key."""

    kind: str  # one of TOPIC_KINDS
    key: str  # an organization's slug, or a room's id

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


def parse_topic(text: str, *, id: RequestId = None) -> TopicName:
    """``status:<org>``, ``org:<org>`` or ``room:<id>``; anything else is unknown_topic."""
    kind, sep, key = text.partition(":")
    if not sep or kind not in TOPIC_KINDS:
        raise ProtocolError(
            "unknown_topic",
            f"unknown topic {text!r}; topics are status:<org>, org:<org>, room:<id> "
            "and probe:<region>",
            id=id,
            field="topic",
        )
    if _KEYS[kind].fullmatch(key) is None:
        raise ProtocolError(
            "unknown_topic", f"{key!r} is not a valid {kind} name", id=id, field="topic"
        )
    return TopicName(kind, key)
