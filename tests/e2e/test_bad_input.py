"""Every bad input gets a clear error with a stable code, and nothing breaks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
from support import Api, Ws, token

from server.config import Limits

# (what is sent, expected code, expected id) -- each on one live connection.
WS_CATALOGUE = [
    ("{", "invalid_json", None),
    (b"\xff\xfe not utf-8".decode("latin-1"), "invalid_json", None),
    ("[1, 2]", "invalid_message", None),
    ('"hello"', "invalid_message", None),
    ('{"id": 1}', "invalid_message", 1),
    ('{"type": 7, "id": 2}', "unknown_type", 2),
    ('{"type": "teleport", "id": "t"}', "unknown_type", "t"),
    ('{"type": "subscribe", "id": 3}', "invalid_field", 3),
    ('{"type": "subscribe", "id": 4, "topic": 12}', "invalid_field", 4),
    ('{"type": "subscribe", "id": 5, "topic": "status:demo", "since": "x"}', "invalid_field", 5),
    ('{"type": "subscribe", "id": 6, "topic": "status:demo", "sinse": 1}', "invalid_field", 6),
    ('{"type": "ping", "id": true}', "invalid_field", None),
    ('{"type": "ping", "id": {"a": 1}}', "invalid_field", None),
    ('{"type": "subscribe", "id": 7, "topic": "weather:demo"}', "unknown_topic", 7),
    ('{"type": "subscribe", "id": 8, "topic": "status:NOT A SLUG"}', "unknown_topic", 8),
    ('{"type": "subscribe", "id": 9, "topic": "status:no-such-org"}', "unknown_topic", 9),
    ('{"type": "subscribe", "id": 10, "topic": "org:demo"}', "unauthorized", 10),
    ('{"type": "subscribe", "id": 11, "topic": "status:demo", "since": -1}', "invalid_field", 11),
    ('{"type": "unsubscribe", "id": 12, "topic": "status:demo"}', "not_subscribed", 12),
    (
        '{"type": "command", "topic": "org:demo", "name": "service.update", "data": {}}',
        "invalid_field",
        None,
    ),
    (
        '{"type": "command", "id": 13, "topic": "org:demo", "name": "service.update", "data": {}}',
        "unauthorized",
        13,
    ),
    (
        '{"type": "command", "id": 14, "topic": "status:demo", "name": "x", "data": {}}',
        "invalid_field",
        14,
    ),
    ('{"type": "hello", "id": 15, "token": "not.a.jwt"}', "unauthorized", 15),
]


async def _ping(client: Ws) -> None:
    reply = await client.request({"type": "ping", "id": "alive?"})
    assert reply == {"type": "pong", "id": "alive?"}


async def test_each_bad_frame_gets_its_code_and_the_connection_goes_on(ws: Any) -> None:
    async with ws() as client:
        for sent, code, request_id in WS_CATALOGUE:
            await client.send(sent)
            reply = await client.reply()
            assert reply["type"] == "error", (sent, reply)
            assert reply["code"] == code, (sent, reply)
            assert reply.get("id") == request_id, (sent, reply)
            assert reply["message"], sent
            await _ping(client)
        # And after all that, the connection still does real work.
        assert (await client.subscribe("status:demo"))["topic"] == "status:demo"


async def test_binary_and_oversized_frames_are_refused_and_dropped(ws: Any) -> None:
    async with ws() as client:
        await client.conn.send_message(b"\x00\x01binary")
        assert (await client.reply())["code"] == "binary_unsupported"
        await client.send('{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
        reply = await client.reply()
        assert reply["code"] == "too_large" and "65536" in reply["message"]
        await _ping(client)


async def test_membership_rules_on_topics_and_commands(ws: Any) -> None:
    async with ws() as client:
        await client.hello(token("other-org", "admin"))
        denied = await client.request({"type": "subscribe", "topic": "org:demo"})
        assert denied["code"] == "forbidden" and "other-org" in denied["message"]
        await _ping(client)
    async with ws() as viewer:
        await viewer.hello(token("demo", "viewer"))
        assert (await viewer.subscribe("org:demo"))["type"] == "subscribed"
        refused = await viewer.command(
            "demo", "service.update", {"service": "api", "status": "major_outage"}
        )
        assert refused["code"] == "forbidden" and "responder" in refused["message"]
        again = await viewer.request({"type": "subscribe", "topic": "org:demo"})
        assert again["code"] == "already_subscribed"
        second_hello = await viewer.request({"type": "hello"})
        assert second_hello["code"] == "bad_state"
        await _ping(viewer)


@pytest.mark.parametrize(
    ("name", "data", "code", "field"),
    [
        ("service.teleport", {}, "invalid_field", "name"),
        ("service.update", {"service": "api", "status": "on fire"}, "invalid_field", "status"),
        ("service.update", {"service": "api", "colour": "red"}, "invalid_field", "colour"),
        ("service.update", {"service": "nope", "status": "operational"}, "not_found", "service"),
        ("service.create", {"name": "API"}, "conflict", "name"),
        ("service.create", {"name": "   "}, "invalid_field", "name"),
        ("incident.update", {"incident": "missing", "status": "resolved"}, "not_found", "incident"),
        (
            "maintenance.schedule",
            {
                "name": "m",
                "scheduled_for": "2030-01-01T00:00:00",
                "scheduled_until": "2030-01-01T01:00:00Z",
            },
            "invalid_field",
            "scheduled_for",
        ),
    ],
)
async def test_bad_commands_are_refused_with_the_field_named(
    ws: Any, name: str, data: dict[str, Any], code: str, field: str
) -> None:
    async with ws() as client:
        await client.hello(token("demo", "responder"))
        reply = await client.command("demo", name, data)
        assert (reply["type"], reply["code"], reply.get("field")) == ("error", code, field), reply
        await _ping(client)


async def test_a_refused_command_changes_nothing(api: Api, ws: Any) -> None:
    before = await api.ok("GET", "/api/v1/orgs/demo")
    async with ws() as client:
        await client.hello(token("demo", "responder"))
        await client.command(
            "demo", "incident.create", {"name": "x", "services": {"nope": "major_outage"}}
        )
    after = await api.ok("GET", "/api/v1/orgs/demo")
    assert after["version"] == before["version"]


# -- REST ------------------------------------------------------------------------

ORG = "/api/v1/orgs/demo"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("PATCH", f"{ORG}/services/api", b"{not json", 400, "invalid_json"),
        ("PATCH", f"{ORG}/services/api", b"[1]", 422, "invalid_field"),
        ("PATCH", f"{ORG}/services/api", {"status": 3}, 422, "invalid_field"),
        ("PATCH", f"{ORG}/services/api", {"stauts": "operational"}, 422, "invalid_field"),
        ("PATCH", f"{ORG}/services/api", {"service": "website"}, 422, "invalid_field"),
        ("POST", f"{ORG}/services", None, 422, "invalid_field"),
        ("POST", f"{ORG}/services", {"name": "Website"}, 409, "conflict"),
        ("GET", f"{ORG}/services/nope", None, 404, "not_found"),
        ("GET", f"{ORG}/services?limit=0", None, 422, "invalid_field"),
        ("GET", f"{ORG}/services?limit=ten", None, 422, "invalid_field"),
        ("GET", f"{ORG}/incidents?status=sideways", None, 422, "invalid_field"),
        ("GET", "/api/v1/orgs/nobody", None, 403, "forbidden"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found"),
        ("PUT", f"{ORG}/services/api", {}, 405, "method_not_allowed"),
        ("POST", f"{ORG}/incidents/nope/resolve", None, 404, "not_found"),
        ("POST", "/api/v1/orgs", {"slug": "x", "name": "X"}, 403, "forbidden"),
    ],
)
async def test_rest_bad_input_is_a_4xx_with_a_code(
    api: Api, method: str, path: str, body: Any, status: int, code: str
) -> None:
    response = await api.request(method, path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


async def test_rest_body_over_the_limit_is_refused(api: Api) -> None:
    # Over a plain socket: the server answers before the body is all sent, which
    # HTTP clients that stream the body handle untidily.
    host, port = str(api.client.base_url).removeprefix("http://").rstrip("/").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            f"PATCH {ORG}/services/api HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n"
            f"Authorization: {api.client.headers['Authorization']}\r\n\r\n".encode()
        )
        await stream.send_all(b'{"description": "' + b"x" * 60_000)
        response = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
                chunk = await stream.receive_some()
                if not chunk:
                    break
                response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert orjson.loads(body)["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "unauthorized"),
        ("Basic dXNlcjpwYXNz", "unauthorized"),
        ("Bearer", "unauthorized"),
        ("Bearer garbage", "unauthorized"),
    ],
)
async def test_rest_without_a_valid_token_is_401(api: Api, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with Api.open(str(api.client.base_url)) as anonymous:
        response = await anonymous.get(f"{ORG}/services", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_rest_roles_are_enforced(api: Api) -> None:
    base = str(api.client.base_url)
    async with Api.open(base, token("demo", "viewer")) as viewer:
        assert (await viewer.get(f"{ORG}/services")).status_code == 200
        refused = await viewer.patch(f"{ORG}/services/api", {"status": "major_outage"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    async with Api.open(base, token("demo", "responder")) as responder:
        assert (await responder.patch(ORG, {"name": "Renamed"})).status_code == 403
        assert (
            await responder.patch(f"{ORG}/services/api", {"status": "degraded_performance"})
        ).status_code == 200
    async with Api.open(base, token("demo", "admin")) as admin:
        assert (await admin.delete(ORG)).status_code == 403  # owners only
    state = await api.ok("GET", f"{ORG}/services/api")
    assert state["status"] == "degraded_performance"


async def test_the_websocket_path_without_an_upgrade_says_so(api: Api) -> None:
    response = await api.get("/ws")
    assert response.status_code == 426
    assert response.json()["error"]["code"] == "upgrade_required"
    assert orjson.loads(response.content)["error"]["message"]


async def test_every_refusal_of_a_message_names_its_id(ws: Any) -> None:
    """Too large, rate limited, binary or not JSON: the refusal carries the id
    when the message's leading members hold it (as clients send it). The one
    case it cannot: an id that comes after an object or a list, in a message
    that cannot be read whole."""
    async with ws() as client:
        await client.send('{"id": "big-1", "type": "ping", "pad": "' + "x" * 70_000 + '"}')
        assert (await client.reply("big-1"))["code"] == "too_large"
        await client.send('{"type": "doc.op", "id": 9, "op": ["' + "y" * 70_000 + '"]}')
        assert (await client.reply(9))["code"] == "too_large"
        await client.send('{"type": "ping", "id": 10, "oops": }')
        assert (await client.reply(10))["code"] == "invalid_json"
        await client.conn.send_message(b'{"id": 11, "type": "ping"}')  # binary
        assert (await client.reply(11))["code"] == "binary_unsupported"
        await client.send('{"pad": ["' + "z" * 70_000 + '"], "id": 12}')
        unnamed = await client.reply()
        assert unnamed["code"] == "too_large" and "id" not in unnamed
        await _ping(client)


@pytest.mark.parametrize("limits", [Limits(messages_per_second=1.0, messages_burst=2)])
async def test_a_rate_limited_message_is_refused_with_its_id(ws: Any) -> None:
    async with ws() as client:
        for n in range(2):
            assert (await client.request({"type": "ping", "id": n}))["type"] == "pong"
        await client.send({"type": "ping", "id": "over"})
        refused = await client.reply("over")
        assert refused["code"] == "rate_limited"
