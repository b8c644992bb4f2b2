"""Client JSON -> typed messages (server/protocol/codec.py), topics, and server message encoding."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import ProtocolError
from server.protocol import messages as m
from server.protocol.codec import MAX_ID_LENGTH, TopicName, decode, parse_topic

SETTINGS = settings(max_examples=300, deadline=None)

# Text a client may send: no control characters (C0, which includes the line
# breaks single-line fields refuse), lone surrogates or XML's non-characters.
TEXT = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff")

MAX_SAFE = 2**53 - 1


def raw(obj: Any) -> bytes:
    return orjson.dumps(obj)


def fails(payload: bytes | str | dict[str, Any], code: str) -> ProtocolError:
    if isinstance(payload, dict):
        payload = raw(payload)
    with pytest.raises(ProtocolError) as info:
        decode(payload)
    err = info.value
    assert err.code == code, err.message
    assert err.message and str(err) == err.message
    return err


# ---------------------------------------------------------------------------
# decode: every client type


IDS = [None, 0, 1, -1, 42, MAX_SAFE, -MAX_SAFE, "", "a", "req-7", "x" * MAX_ID_LENGTH, "ünï ✓"]


@pytest.mark.parametrize("request_id", IDS)
def test_decode_hello(request_id: Any) -> None:
    obj: dict[str, Any] = {"type": "hello", "token": "tok.en", "client": "py/1.0"}
    if request_id is not None:
        obj["id"] = request_id
    assert decode(raw(obj)) == m.Hello(token="tok.en", client="py/1.0", id=request_id)


def test_decode_hello_minimal_and_nulls() -> None:
    assert decode(b'{"type":"hello"}') == m.Hello()
    assert decode(b'{"type":"hello","token":null,"client":null,"id":null}') == m.Hello()
    msg = decode('{"type": "hello", "token": "t"}')  # str payloads are accepted too
    assert isinstance(msg, m.Hello) and msg.token == "t" and msg.client is None and msg.id is None


@pytest.mark.parametrize("request_id", IDS)
def test_decode_subscribe(request_id: Any) -> None:
    obj: dict[str, Any] = {"type": "subscribe", "topic": "status:acme"}
    if request_id is not None:
        obj["id"] = request_id
    msg = decode(raw(obj))
    assert type(msg) is m.Subscribe
    assert (msg.topic, msg.since, msg.id) == ("status:acme", None, request_id)


@pytest.mark.parametrize("since", [0, 1, 17, MAX_SAFE])
def test_decode_subscribe_with_since(since: int) -> None:
    msg = decode(raw({"type": "subscribe", "id": 3, "topic": "org:acme", "since": since}))
    assert msg == m.Subscribe(topic="org:acme", since=since, id=3)


@pytest.mark.parametrize("since", [-1, -5, MAX_SAFE + 1, 2**63 - 1])
def test_decode_subscribe_with_since_out_of_range(since: int) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(raw({"type": "subscribe", "id": 3, "topic": "org:acme", "since": since}))
    assert (info.value.code, info.value.field, info.value.id) == ("invalid_field", "since", 3)


def test_decode_subscribe_since_null() -> None:
    assert decode(b'{"type":"subscribe","topic":"org:a","since":null}') == m.Subscribe(
        topic="org:a"
    )


@pytest.mark.parametrize("request_id", IDS)
def test_decode_unsubscribe(request_id: Any) -> None:
    obj: dict[str, Any] = {"id": request_id, "topic": "org:acme", "type": "unsubscribe"}
    assert decode(raw(obj)) == m.Unsubscribe(topic="org:acme", id=request_id)


@pytest.mark.parametrize("request_id", [1, "c-1"])
def test_decode_command(request_id: Any) -> None:
    data = {"service": "api", "status": "degraded", "nested": {"a": [1, 2.5, None, True]}}
    msg = decode(
        raw(
            {
                "type": "command",
                "id": request_id,
                "topic": "org:acme",
                "name": "set_status",
                "data": data,
            }
        )
    )
    assert type(msg) is m.Command
    assert msg.topic == "org:acme"
    assert msg.name == "set_status"
    assert msg.data == data
    assert msg.id == request_id


def test_decode_command_data_defaults_to_empty_object() -> None:
    msg = decode(b'{"type":"command","id":1,"topic":"org:a","name":"n"}')
    assert isinstance(msg, m.Command) and msg.data == {}
    assert decode(b'{"type":"command","id":1,"topic":"org:a","name":"n","data":{}}') == msg


@pytest.mark.parametrize("request_id", IDS)
def test_decode_ping(request_id: Any) -> None:
    obj: dict[str, Any] = {"type": "ping"}
    if request_id is not None:
        obj["id"] = request_id
    msg = decode(raw(obj))
    assert type(msg) is m.Ping
    assert msg == m.Ping(id=request_id)


def test_decode_ignores_key_order_and_whitespace() -> None:
    assert decode(b' \n{ "topic" : "org:x" ,\t"id": 9, "type":"subscribe" } \r\n') == m.Subscribe(
        topic="org:x", id=9
    )


@SETTINGS
@given(
    request_id=st.one_of(
        st.none(), st.integers(-MAX_SAFE, MAX_SAFE), st.text(TEXT, max_size=MAX_ID_LENGTH)
    ),
    topic=st.text(TEXT, max_size=50),
    since=st.none() | st.integers(0, MAX_SAFE),
)
def test_decode_subscribe_roundtrip(request_id: Any, topic: str, since: int | None) -> None:
    obj: dict[str, Any] = {"type": "subscribe", "topic": topic}
    if request_id is not None:
        obj["id"] = request_id
    if since is not None:
        obj["since"] = since
    assert decode(raw(obj)) == m.Subscribe(topic=topic, since=since, id=request_id)


@SETTINGS
@given(
    before=st.text(TEXT, max_size=10),
    bad=st.sampled_from("\x00\x01\x07\x08\x0b\x0c\x0e\x1b\x1f\ufffe\uffff"),
    after=st.text(TEXT, max_size=10),
)
def test_text_that_no_string_may_hold_is_refused(before: str, bad: str, after: str) -> None:
    for obj, where in (
        ({"type": "subscribe", "topic": before + bad + after}, "topic"),
        ({"type": "ping", "id": before + bad + after}, "id"),
        ({"type": "hello", "client": before + bad + after}, "client"),
    ):
        assert fails(obj, "invalid_field").field == where


# ---------------------------------------------------------------------------
# decode: bad input


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   ",
        b"{",
        b'{"type":"ping"',
        b"{'type':'ping'}",
        b'{"type":"ping"}}',
        b"nul",
        b'{"type":"ping",}',
        b"NaN",
        b'{"type":"ping"} {"type":"ping"}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_invalid_json(payload: bytes) -> None:
    err = fails(payload, "invalid_json")
    assert err.id is None and err.field is None


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type":"ping","id":"\xff"}',
        b'{"type":"hello","token":"\xc3"}',
        b"\xfe\xff",
        b'{"type":"ping","id":"\xed\xa0\x80"}',
    ],
)
def test_invalid_utf8_is_invalid_json(payload: bytes) -> None:
    err = fails(payload, "invalid_json")
    assert err.id is None


def test_invalid_json_str_with_lone_surrogate() -> None:
    fails('{"type":"ping","id":"\ud800"}', "invalid_json")


@pytest.mark.parametrize(
    "payload", [b"[]", b'[{"type":"ping"}]', b"1", b'"ping"', b"null", b"true", b"1.5"]
)
def test_non_object_json(payload: bytes) -> None:
    err = fails(payload, "invalid_message")
    assert err.id is None


@pytest.mark.parametrize("request_id", [7, "abc", None])
def test_missing_type(request_id: Any) -> None:
    obj: dict[str, Any] = {"topic": "org:a"}
    if request_id is not None:
        obj["id"] = request_id
    err = fails(obj, "invalid_message")
    assert err.id == request_id
    err = fails({**obj, "type": None}, "invalid_message")  # null type is a missing type
    assert err.id == request_id


@pytest.mark.parametrize("kind", [1, 0, True, False, [], ["ping"], {}, {"a": 1}, 1.5])
def test_type_not_a_string(kind: Any) -> None:
    err = fails({"type": kind, "id": 5}, "unknown_type")
    assert err.id == 5


@pytest.mark.parametrize(
    "kind",
    [
        "",
        "Ping",
        "PING",
        "pong",
        "welcome",
        "event",
        "error",
        " ping",
        "ping ",
        "__init__",
        "subscribed",
    ],
)
def test_unknown_type(kind: str) -> None:
    err = fails({"type": kind, "id": "q"}, "unknown_type")
    assert err.id == "q"
    assert "hello" in err.message and "subscribe" in err.message


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "subscribe"}, "topic"),
        ({"type": "subscribe", "since": 3}, "topic"),
        ({"type": "unsubscribe"}, "topic"),
        ({"type": "command", "name": "x"}, "topic"),
        ({"type": "command", "topic": "org:a"}, "name"),
    ],
)
@pytest.mark.parametrize("request_id", [11, "r", None])
def test_missing_required_field(obj: dict[str, Any], field: str, request_id: Any) -> None:
    if request_id is not None:
        obj = {**obj, "id": request_id}
    err = fails(obj, "invalid_field")
    assert err.field == field
    assert err.id == request_id
    assert field in err.message


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "subscribe", "topic": 1}, "topic"),
        ({"type": "subscribe", "topic": None}, "topic"),
        ({"type": "subscribe", "topic": ["org:a"]}, "topic"),
        ({"type": "unsubscribe", "topic": {"org": "a"}}, "topic"),
        ({"type": "hello", "token": 5}, "token"),
        ({"type": "hello", "token": True}, "token"),
        ({"type": "hello", "client": ["py"]}, "client"),
        ({"type": "command", "topic": "org:a", "name": 3}, "name"),
        ({"type": "command", "topic": False, "name": "n"}, "topic"),
    ],
)
def test_wrong_field_type(obj: dict[str, Any], field: str) -> None:
    err = fails({**obj, "id": "w"}, "invalid_field")
    assert err.field == field
    assert err.id == "w"


@pytest.mark.parametrize(
    ("obj", "extra"),
    [
        ({"type": "ping"}, "payload"),
        ({"type": "hello"}, "tokn"),
        ({"type": "subscribe", "topic": "org:a"}, "since_seq"),
        ({"type": "unsubscribe", "topic": "org:a"}, "since"),
        ({"type": "command", "topic": "org:a", "name": "n"}, "args"),
        ({"type": "ping"}, "Type"),
        ({"type": "ping"}, "ID"),
    ],
)
def test_unknown_extra_field(obj: dict[str, Any], extra: str) -> None:
    err = fails({**obj, extra: 1, "id": 99}, "invalid_field")
    assert err.field == extra
    assert err.id == 99
    assert extra in err.message


@pytest.mark.parametrize(
    "bad_id",
    [
        True,
        False,
        1.0,
        1.5,
        -0.5,
        1e3,
        {},
        {"n": 1},
        [],
        [1],
        MAX_SAFE + 1,
        -MAX_SAFE - 1,
        2**63,
        -(2**63),
        2**64 - 1,
        "x" * (MAX_ID_LENGTH + 1),
        "é" * (MAX_ID_LENGTH + 1),
    ],
)
@pytest.mark.parametrize("kind", ["ping", "subscribe", None])
def test_bad_id(bad_id: Any, kind: str | None) -> None:
    obj: dict[str, Any] = {"id": bad_id, "topic": "org:a"}
    if kind is not None:
        obj["type"] = kind
    err = fails(obj, "invalid_field")
    assert err.field == "id"
    assert err.id is None  # it could not be read


def test_id_string_length_counts_characters() -> None:
    ok = "é" * MAX_ID_LENGTH  # 128 bytes, 64 characters
    assert decode(raw({"type": "ping", "id": ok})) == m.Ping(id=ok)


def test_id_checked_before_the_type() -> None:
    err = fails({"type": "nope", "id": 1.5}, "invalid_field")
    assert err.field == "id"


@pytest.mark.parametrize("since", [1.5, 1.0, "3", True, False, [1], {"seq": 1}, 2**64, 1e20])
def test_since_not_an_integer(since: Any) -> None:
    if isinstance(since, int) and since >= 2**64:  # beyond what orjson.dumps writes
        payload = b'{"type":"subscribe","id":4,"topic":"org:a","since":%d}' % since
    else:
        payload = raw({"type": "subscribe", "id": 4, "topic": "org:a", "since": since})
    err = fails(payload, "invalid_field")
    assert err.field == "since"
    assert err.id == 4


@pytest.mark.parametrize("data", [None, [], [1, 2], "x", 1, True, 2.5])
def test_command_data_not_an_object(data: Any) -> None:
    err = fails(
        {"type": "command", "id": "c", "topic": "org:a", "name": "n", "data": data}, "invalid_field"
    )
    assert err.field == "data"
    assert err.id == "c"


def test_protocol_error_defaults() -> None:
    err = ProtocolError("internal", "boom")
    assert (err.code, err.message, err.id, err.field) == ("internal", "boom", None, None)


@SETTINGS
@given(payload=st.binary(max_size=200))
def test_decode_only_ever_raises_protocol_error(payload: bytes) -> None:
    try:
        msg = decode(payload)
    except ProtocolError as err:
        assert err.code in {"invalid_json", "invalid_message", "unknown_type", "invalid_field"}
    else:
        assert type(msg) in m.CLIENT_TYPES.values()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _clean(text: str) -> bool:
    """An id without characters no text may hold (nor a tab or line break)."""
    return not re.search("[\x00-\x1f\ud800-\udfff\ufffe\uffff]", text)


@SETTINGS
@given(
    obj=st.dictionaries(
        st.sampled_from(["type", "id", "topic", "since", "token", "client", "name", "data", "x"]),
        json_values | st.sampled_from(list(m.CLIENT_TYPES)),
        max_size=6,
    )
)
def test_decode_random_objects(obj: dict[str, Any]) -> None:
    """Whatever the object, decode gives a client message or a ProtocolError with the right id."""
    idv = obj.get("id")
    id_ok = idv is None or (
        not isinstance(idv, bool)
        and (
            (isinstance(idv, int) and abs(idv) <= MAX_SAFE)
            or (isinstance(idv, str) and len(idv) <= MAX_ID_LENGTH and _clean(idv))
        )
    )
    try:
        msg = decode(raw(obj))
    except ProtocolError as err:
        if not id_ok:
            assert (err.code, err.field, err.id) == ("invalid_field", "id", None)
        else:
            assert err.id == idv
            assert err.code in {"invalid_message", "unknown_type", "invalid_field"}
    else:
        assert id_ok
        assert msg.id == idv
        assert type(msg) is m.CLIENT_TYPES[obj["type"]]


# ---------------------------------------------------------------------------
# parse_topic


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("status:acme", "status", "acme"),
        ("org:acme", "org", "acme"),
        ("org:a", "org", "a"),
        ("org:0", "org", "0"),
        ("status:acme-corp-2", "status", "acme-corp-2"),
        ("org:" + "a" * 40, "org", "a" * 40),
        ("org:a" + "-" * 38 + "z", "org", "a" + "-" * 38 + "z"),
        ("room:Ab3_x-Yz", "room", "Ab3_x-Yz"),
        ("room:" + "R" * 64, "room", "R" * 64),
        ("room:abc123", "room", "abc123"),
    ],
)
def test_parse_topic_valid(text: str, kind: str, key: str) -> None:
    topic = parse_topic(text)
    assert topic == TopicName(kind, key)
    assert str(topic) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "status",
        "org",
        "acme",
        "status-acme",
        "status;acme",
        ":acme",
        "Status:acme",
        "ORG:acme",
        "orgs:acme",
        "user:acme",
        "event:acme",
        " org:acme",
        "status:",
        "org:",
        "room:",
        "org:-acme",
        "org:acme-",
        "org:ac me",
        "org:acme\n",
        "org:acme:1",
        "org:Acme",
        "status:ACME",
        "org:ac.me",
        "org:acmé",
        "org:" + "a" * 65,
        "room:" + "a" * 65,
        "room:ab/cd/ef",
    ],
)
def test_parse_topic_unknown(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_topic(text, id="t1")
    assert info.value.code == "unknown_topic"
    assert info.value.field == "topic"
    assert info.value.id == "t1"


@pytest.mark.parametrize(
    "text",
    [
        "org:AcmeCorp",  # uppercase
        "status:ACME-CORP",
        "org:acme_corp",  # underscore
        "status:_acme_",
        "org:" + "a" * 41,  # longer than a slug can be (40)
        "status:" + "a" * 64,
    ],
)
def test_parse_topic_refuses_non_slug_org_keys(text: str) -> None:
    # status: and org: keys are organization slugs (SLUG_PATTERN), nothing else.
    with pytest.raises(ProtocolError) as info:
        parse_topic(text)
    assert info.value.code == "unknown_topic"


# ---------------------------------------------------------------------------
# messages.encode


def keys(data: bytes) -> list[str]:
    return list(json.loads(data))


def test_encode_error_type_first_and_nulls_left_out() -> None:
    data = m.encode(m.Error(code="invalid_json", message="bad"))
    assert data.startswith(b'{"type":"error",')
    assert json.loads(data) == {"type": "error", "code": "invalid_json", "message": "bad"}
    full = m.encode(m.Error(id=3, code="invalid_field", message="x", field="topic"))
    assert keys(full) == ["type", "id", "code", "message", "field"]
    assert json.loads(full)["field"] == "topic"


def test_encode_keeps_falsy_non_null_values() -> None:
    data = m.encode(m.Subscribed(id=0, topic="org:a", seq=0, resumed=False, snapshot={}))
    assert json.loads(data) == {
        "type": "subscribed",
        "id": 0,
        "topic": "org:a",
        "seq": 0,
        "resumed": False,
        "snapshot": {},
    }
    assert json.loads(m.encode(m.Error(id="", code="c", message=""))) == {
        "type": "error",
        "id": "",
        "code": "c",
        "message": "",
    }


def test_encode_resumed_subscription_has_no_snapshot() -> None:
    data = m.encode(m.Subscribed(id="s", topic="status:a", seq=41, resumed=True))
    assert json.loads(data) == {
        "type": "subscribed",
        "id": "s",
        "topic": "status:a",
        "seq": 41,
        "resumed": True,
    }


def test_encode_snapshot_fragment_embedded_verbatim() -> None:
    snapshot = b'{"services": [ {"id":"s1" , "status":"operational"} ],  "z": 1.50}'
    data = m.encode(
        m.Subscribed(
            id=1, topic="status:acme", seq=7, resumed=False, snapshot=orjson.Fragment(snapshot)
        )
    )
    assert data == (
        b'{"type":"subscribed","id":1,"topic":"status:acme","seq":7,"resumed":false,"snapshot":'
        + snapshot
        + b"}"
    )
    assert json.loads(data)["snapshot"]["services"][0]["id"] == "s1"


def test_encode_welcome() -> None:
    anon = m.encode(m.Welcome(server="sb/1", heartbeat_ms=30000, role=None, org=None))
    assert keys(anon) == ["type", "protocol", "server", "heartbeat_ms"]
    assert json.loads(anon)["protocol"] == m.PROTOCOL_VERSION == 1
    member = m.encode(m.Welcome(id="h", server="sb/1", heartbeat_ms=5, role="editor", org="acme"))
    assert json.loads(member) == {
        "type": "welcome",
        "id": "h",
        "protocol": 1,
        "server": "sb/1",
        "heartbeat_ms": 5,
        "role": "editor",
        "org": "acme",
    }
    assert keys(member)[0] == "type"


def test_encode_ack_and_pong() -> None:
    assert m.encode(m.Ack(id=5, topic="org:a")) == b'{"type":"ack","id":5,"topic":"org:a"}'
    assert (
        m.encode(m.Ack(id="c", result={"id": "inc1"}))
        == b'{"type":"ack","id":"c","result":{"id":"inc1"}}'
    )
    assert m.encode(m.Ack(id=None)) == b'{"type":"ack"}'
    assert m.encode(m.Pong()) == b'{"type":"pong"}'
    assert m.encode(m.Pong(id=12)) == b'{"type":"pong","id":12}'


def test_encode_event() -> None:
    data = m.encode(
        m.EventMessage(
            topic="org:a", seq=3, name="incident_opened", data={"k": [1]}, at="2026-01-01T00:00:00Z"
        )
    )
    assert keys(data) == ["type", "topic", "seq", "name", "data", "at"]
    # the broadcast path dumps the dataclass directly; same bytes
    event = m.EventMessage(topic="org:a", seq=3, name="n", data={"k": None}, at="t")
    assert (
        orjson.dumps(event)
        == b'{"type":"event","topic":"org:a","seq":3,"name":"n","data":{"k":null},"at":"t"}'
    )


@pytest.mark.parametrize(
    "message",
    [
        m.Welcome(server="s", heartbeat_ms=1, role=None, org=None),
        m.Subscribed(topic="t", seq=1, resumed=True),
        m.EventMessage(topic="t", seq=1, name="n", data=None, at="a"),
        m.Ack(id=1),
        m.Error(code="c", message="m"),
        m.Pong(),
    ],
)
def test_encode_every_server_type_first(message: Any) -> None:
    data = m.encode(message)
    obj = json.loads(data)
    assert next(iter(obj)) == "type"
    assert obj["type"] == message.type
    assert None not in obj.values()


@given(
    request_id=st.one_of(st.none(), st.integers(0, 2**53 - 1), st.text(max_size=64)),
    rev=st.integers(0, 2**53 - 1),
)
def test_the_rooms_fast_ack_is_the_catalogues(request_id: Any, rev: int) -> None:
    assert m.encode_rev_ack(request_id, rev) == m.encode(m.Ack(id=request_id, rev=rev))


@given(
    seq=st.integers(0, 2**53 - 1),
    data=st.dictionaries(
        st.text(max_size=8), st.one_of(st.none(), st.integers(-(2**53), 2**53), st.text())
    ),
)
def test_the_rooms_fast_event_is_the_catalogues(seq: int, data: dict[str, Any]) -> None:
    made = m.encode_event("room:r1", seq, "doc.op", data, "2026-12-03T00:00:00Z")
    message = m.EventMessage(
        topic="room:r1", seq=seq, name="doc.op", data=data, at="2026-12-03T00:00:00Z"
    )
    assert made == m.encode(message) == orjson.dumps(message)
