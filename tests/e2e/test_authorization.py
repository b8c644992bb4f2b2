"""The authorization matrix: every REST route and WebSocket message, by every role
(and no token), in its own organization and another one.

The expected table is written out here, independently of the server's policy:
a route the table does not know fails the test, so a new route cannot go
unclassified. "Allowed" means the answer is not 401/403 (nor, for rooms of
another organization, 404): the request got past authorization, whatever the
handler then made of it. Requests aim at things that do not exist, or carry
bodies the handler refuses, so that the matrix changes nothing but what it
must.
"""

from __future__ import annotations

import re
from typing import Any

from support import Api, open_ws, token

from server.app import create_app
from server.main import Server
from server.rest.common import Parts

PUBLIC, ANY, VIEWER, RESPONDER, ADMIN, OWNER, SERVER = range(7)

# (method, route) -> the weakest principal allowed. {org} is the organization
# under test; other parameters name things that need not exist.
EXPECTED: dict[tuple[str, str], int] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/ws"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/status/{}/api/v2/{}"): PUBLIC,
    ("GET", "/status/{}"): PUBLIC,
    ("GET", "/status/{}/history"): PUBLIC,
    ("GET", "/status/{}/incidents/{}"): PUBLIC,
    ("GET", "/status/{}/history.rss"): PUBLIC,
    ("GET", "/status/{}/history.atom"): PUBLIC,
    ("GET", "/status/{}/badge.svg"): PUBLIC,
    ("GET", "/status/{}/services/{}/badge.svg"): PUBLIC,
    # The console's pages are shells: their scripts call the API with the login.
    ("GET", "/admin"): PUBLIC,
    ("GET", "/admin/{}"): PUBLIC,
    ("GET", "/admin/incidents/{}"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("GET", "/api/v1/invitations/{}"): PUBLIC,
    ("POST", "/api/v1/invitations/{}/accept"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY,
    ("GET", "/api/v1/me"): ANY,
    ("GET", "/api/v1/orgs"): ANY,
    ("POST", "/api/v1/orgs"): SERVER,
    ("GET", "/api/v1/orgs/{}"): VIEWER,
    ("PATCH", "/api/v1/orgs/{}"): ADMIN,
    ("DELETE", "/api/v1/orgs/{}"): OWNER,
    ("GET", "/api/v1/orgs/{}/incidents/{}/notes"): VIEWER,
    ("POST", "/api/v1/rooms"): RESPONDER,
    ("GET", "/api/v1/rooms/{}"): VIEWER,
    ("GET", "/api/v1/rooms/{}/text"): VIEWER,
    ("GET", "/api/v1/orgs/{}/members"): ADMIN,
    ("PATCH", "/api/v1/orgs/{}/members/{}"): ADMIN,
    ("DELETE", "/api/v1/orgs/{}/members/{}"): ADMIN,
    ("POST", "/api/v1/orgs/{}/invitations"): ADMIN,
    ("GET", "/api/v1/orgs/{}/invitations"): ADMIN,
    ("DELETE", "/api/v1/orgs/{}/invitations/{}"): ADMIN,
    ("POST", "/api/v1/orgs/{}/tokens"): ADMIN,
    ("GET", "/api/v1/orgs/{}/tokens"): ADMIN,
    ("DELETE", "/api/v1/orgs/{}/tokens/{}"): ADMIN,
    ("GET", "/api/v1/orgs/{}/audit"): ADMIN,
}
for _col in ("services", "incidents", "maintenances", "monitors"):
    EXPECTED[("GET", f"/api/v1/orgs/{{}}/{_col}")] = VIEWER
    EXPECTED[("POST", f"/api/v1/orgs/{{}}/{_col}")] = RESPONDER
    EXPECTED[("GET", f"/api/v1/orgs/{{}}/{_col}/{{}}")] = VIEWER
    EXPECTED[("PATCH", f"/api/v1/orgs/{{}}/{_col}/{{}}")] = RESPONDER
    EXPECTED[("DELETE", f"/api/v1/orgs/{{}}/{_col}/{{}}")] = RESPONDER
EXPECTED[("POST", "/api/v1/orgs/{}/incidents/{}/resolve")] = RESPONDER
EXPECTED[("POST", "/api/v1/orgs/{}/maintenances/{}/cancel")] = RESPONDER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/results")] = VIEWER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/uptime")] = VIEWER
EXPECTED[("POST", "/api/v1/orgs/{}/monitors/{}/check")] = RESPONDER
EXPECTED[("GET", "/api/v1/monitoring")] = SERVER
for _method, _route in (
    ("GET", "channels"),
    ("POST", "channels"),
    ("GET", "channels/{}"),
    ("PATCH", "channels/{}"),
    ("DELETE", "channels/{}"),
    ("POST", "channels/{}/test"),
    ("GET", "deliveries"),
    ("GET", "deliveries/{}"),
    ("GET", "subscribers"),
    ("DELETE", "subscribers/{}"),
):
    EXPECTED[(_method, f"/api/v1/orgs/{{}}/{_route}")] = ADMIN
# Anyone may subscribe to a status page; the links carry their own secret.
EXPECTED[("POST", "/status/{}/subscribe")] = PUBLIC
for _method in ("GET", "POST"):
    EXPECTED[(_method, "/status/{}/subscribe/confirm/{}")] = PUBLIC
    EXPECTED[(_method, "/status/{}/unsubscribe/{}")] = PUBLIC
for _method in ("GET", "POST"):  # the token in the path is the credential
    EXPECTED[(_method, "/api/v1/heartbeat/{}")] = PUBLIC

ROLES = ("viewer", "responder", "admin", "owner")


def shape(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "{}", rule)


def concrete(route: str, org: str, room: str) -> str:
    """The route with its parameters filled in."""
    if route.startswith("/api/v1/rooms/"):
        return route.replace("{}", room, 1)
    if route.startswith("/status/"):
        return f"/status/{org}/api/v2/summary.json"
    if route.startswith("/api/v1/invitations/"):
        return route.replace("{}", "sbi_nosuch_" + "x" * 40)
    path = route.replace("{}", org, 1)
    return path.replace("{}", "nosuch")


async def answer(server: Server, bearer: str | None, method: str, path: str) -> int:
    body: Any = {"unknown_field": 1} if method in ("POST", "PATCH") else None
    if path == "/api/v1/rooms":
        body = {"org": path_org(bearer), "title": "Matrix"}
    async with Api.open(server.base_url, bearer) as client:
        response = await client.request(method, path, body)
    return response.status_code


def path_org(bearer: str | None) -> str:
    return "demo"


def denied(status: int, route: str) -> bool:
    if route.startswith("/api/v1/rooms/"):
        return status in (401, 403, 404)  # another organization's room does not exist
    return status in (401, 403)


async def test_every_rest_route_by_every_role_in_and_out_of_the_organization(
    server: Server, api: Api
) -> None:
    # Another organization, so that "own" and "another" can be told apart.
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201)
    incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Matrix"}, status=201)
    room = incident["notes_room"]

    parts = Parts(
        server.config,
        server.registry,  # type: ignore[arg-type]
        server.gateway,  # type: ignore[arg-type]
        server.auth,  # type: ignore[arg-type]
        server.registry.store,  # type: ignore[union-attr]
        server.base_url,
    )
    routes = {
        (method, shape(rule.rule))
        for rule in create_app(parts).url_map.iter_rules()
        if not rule.rule.startswith("/static")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(EXPECTED), routes ^ set(EXPECTED)

    # API tokens of each role in demo, and an owner of the other organization.
    principals: dict[str, str | None] = {"nobody": None}
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        for role in ROLES:
            made = await owner.ok(
                "POST", "/api/v1/orgs/demo/tokens", {"name": role, "role": role}, status=201
            )
            principals[role] = made["token"]
    async with Api.open(server.base_url, token("other", "owner")) as other:
        made = await other.ok(
            "POST", "/api/v1/orgs/other/tokens", {"name": "o", "role": "owner"}, status=201
        )
        principals["other-owner"] = made["token"]
    principals["operator-*"] = token("*", "admin")

    level = {"nobody": -1, "viewer": VIEWER, "responder": RESPONDER, "admin": ADMIN, "owner": OWNER}
    failures = []
    # Deleting the organization goes last: its owner really deletes it.
    ordered = sorted(EXPECTED, key=lambda k: k == ("DELETE", "/api/v1/orgs/{}"))
    for method, route in ordered:
        need = EXPECTED[(method, route)]
        path = concrete(route, "demo", room)
        for name, bearer in principals.items():
            status = await answer(server, bearer, method, path)
            if need == PUBLIC:
                allowed = True
            elif name == "nobody":
                allowed = False
            elif need == ANY:
                allowed = True
            elif need == SERVER:
                allowed = name == "operator-*"
            elif name == "operator-*":
                allowed = need <= ADMIN  # a server-wide admin is admin everywhere
                if (method, route) == ("DELETE", "/api/v1/orgs/{}"):
                    continue  # (it may delete too; not while the matrix needs demo)
            elif name == "other-owner":
                allowed = False
            else:
                allowed = level[name] >= need
            if allowed == denied(status, route):
                failures.append((method, path, name, status, "allowed" if allowed else "denied"))
    assert not failures, "\n".join(map(str, failures))


async def test_every_websocket_message_by_every_role(server: Server, api: Api) -> None:
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201)
    incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "WS"}, status=201)
    room = incident["notes_room"]
    cases = {
        # who: (status:demo, org:demo, room, command, doc.op)
        None: ("ok", "unauthorized", "unauthorized", "unauthorized", "not_subscribed"),
        token("demo", "viewer"): ("ok", "ok", "ok", "forbidden", "forbidden"),
        token("demo", "responder"): ("ok", "ok", "ok", "ok", "ok"),
        token("demo", "admin"): ("ok", "ok", "ok", "ok", "ok"),
        token("demo", "owner"): ("ok", "ok", "ok", "ok", "ok"),
        token("other", "owner"): (
            "ok",
            "forbidden",
            "unknown_topic",
            "forbidden",
            "not_subscribed",
        ),
    }
    seen: dict[str | None, tuple[str, ...]] = {}
    for n, bearer in enumerate(cases):
        async with open_ws(server.base_url) as ws:
            if bearer:
                await ws.hello(bearer)
            results = []
            for topic in ("status:demo", "org:demo"):
                reply = await ws.request({"type": "subscribe", "topic": topic})
                results.append("ok" if reply["type"] == "subscribed" else reply["code"])
            joined = await ws.request(
                {"type": "subscribe", "topic": f"room:{room}", "client_id": f"matrix-{n}"}
            )
            results.append("ok" if joined["type"] == "subscribed" else joined["code"])
            if joined["type"] == "subscribed":
                assert (await ws.reply())["type"] == "presence"
            done = await ws.command(
                "demo", "service.update", {"service": "api", "status": "degraded_performance"}
            )
            results.append("ok" if done["type"] == "ack" else done["code"])
            edit = await ws.request(
                {"type": "doc.op", "room": room, "rev": 0, "op": ["x"], "client_op_id": 1}
            )
            if edit["type"] == "error" and edit["code"] == "invalid_op":
                results.append("ok")  # past authorization; the text had moved on
            else:
                results.append("ok" if edit["type"] == "ack" else edit["code"])
            seen[bearer] = tuple(results)
    assert seen == cases
