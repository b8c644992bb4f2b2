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
    ("GET", "/static/{}"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/status/{}/api/v2/{}"): PUBLIC,
    ("GET", "/status/{}"): PUBLIC,
    ("GET", "/status/{}/history"): PUBLIC,
    ("GET", "/status/{}/incidents/{}"): PUBLIC,
    ("GET", "/status/{}/maintenances/{}"): PUBLIC,
    ("GET", "/status/{}/days.json"): PUBLIC,
    ("GET", "/status/{}/response-times.json"): PUBLIC,
    ("GET", "/status/{}/history.rss"): PUBLIC,
    ("GET", "/status/{}/history.atom"): PUBLIC,
    ("GET", "/status/{}/badge.svg"): PUBLIC,
    ("GET", "/status/{}/theme.css"): PUBLIC,
    ("GET", "/status/{}/services/{}/badge.svg"): PUBLIC,
    ("GET", "/status/{}/monitors/{}/uptime.svg"): PUBLIC,
    ("GET", "/status/{}/monitors/{}/response-time.svg"): PUBLIC,
    ("GET", "/status/{}/monitors/{}/certificate.svg"): PUBLIC,
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
    ("DELETE", "/api/v1/rooms/{}"): ADMIN,
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
EXPECTED[("PUT", "/api/v1/orgs/{}/incidents/{}/postmortem")] = RESPONDER
EXPECTED[("POST", "/api/v1/orgs/{}/maintenances/{}/cancel")] = RESPONDER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/results")] = VIEWER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/uptime")] = VIEWER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/response-times")] = VIEWER
EXPECTED[("GET", "/api/v1/orgs/{}/monitors/{}/incidents")] = VIEWER
EXPECTED[("GET", "/api/v1/orgs/{}/uptime")] = VIEWER
EXPECTED[("POST", "/api/v1/orgs/{}/monitors/{}/check")] = RESPONDER
EXPECTED[("POST", "/api/v1/orgs/{}/monitors/{}/token")] = RESPONDER
EXPECTED[("GET", "/api/v1/orgs/{}/probes")] = VIEWER
EXPECTED[("GET", "/api/v1/monitoring")] = SERVER
EXPECTED[("DELETE", "/api/v1/monitoring/regions/{}")] = SERVER
EXPECTED[("GET", "/api/v1/audit")] = SERVER
EXPECTED[("GET", "/api/v1/runtime")] = SERVER
EXPECTED[("GET", "/metrics")] = SERVER
for _method, _route in (
    ("GET", "channels"),
    ("POST", "channels"),
    ("GET", "channels/{}"),
    ("PATCH", "channels/{}"),
    ("DELETE", "channels/{}"),
    ("POST", "channels/{}/test"),
    ("GET", "deliveries"),
    ("GET", "deliveries/{}"),
    ("POST", "deliveries/{}/retry"),
    ("GET", "subscribers"),
    ("GET", "subscribers/counts"),
    ("GET", "subscribers.csv"),
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


async def role_tokens(server: Server) -> dict[str, str]:
    """An API token of each role in demo."""
    made = {}
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        for role in ROLES:
            answer = await owner.ok(
                "POST", "/api/v1/orgs/demo/tokens", {"name": role, "role": role}, status=201
            )
            made[role] = answer["token"]
    return made


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
    body: Any = {"unknown_field": 1} if method in ("POST", "PATCH", "PUT") else None
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
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(EXPECTED), routes ^ set(EXPECTED)

    # API tokens of each role in demo, and an owner of the other organization.
    principals: dict[str, str | None] = {"nobody": None, **await role_tokens(server)}
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


# Every command a client may send -> the weakest principal allowed, written out
# here apart from the server's catalogue; a command it does not know fails.
EXPECTED_COMMANDS: dict[str, int] = {
    "org.update": ADMIN,
    **{
        f"{kind}.{verb}": RESPONDER
        for kind, verbs in (
            ("service", ("create", "update", "delete")),
            ("incident", ("create", "update", "resolve", "postmortem", "delete")),
            ("maintenance", ("schedule", "update", "cancel", "delete")),
            ("monitor", ("create", "update", "delete", "token")),
        )
        for verb in verbs
    },
}


def test_the_policy_table_classifies_every_route_as_expected() -> None:
    """The server's one table says what this file's table says (and covers the app)."""
    from server.policy import ROUTES

    def level(access: Any) -> int:
        if access.kind == "public":
            return PUBLIC
        if access.kind == "signed":
            return ANY
        if access.kind == "operator":
            return SERVER
        return {"read": VIEWER, "change": RESPONDER, "administer": ADMIN, "own": OWNER}[
            access.action.value
        ]

    declared = {(method, shape(rule)): level(access) for (method, rule), access in ROUTES.items()}
    assert declared == EXPECTED


def test_the_command_catalogue_says_what_each_command_needs() -> None:
    from server.domain.access import Action
    from server.domain.commands import SPECS

    levels = {Action.READ: VIEWER, Action.CHANGE: RESPONDER, Action.ADMINISTER: ADMIN}
    levels[Action.OWN] = OWNER
    assert {name: levels[spec.action] for name, spec in SPECS.items()} == EXPECTED_COMMANDS
    # Deleting an organization is REST's alone (DELETE /api/v1/orgs/{org}); the
    # socket refuses it as an unknown command.
    assert "org.delete" not in SPECS


async def test_every_websocket_command_by_every_role_in_and_out_of_the_organization(
    server: Server, api: Api
) -> None:
    """Each command over the socket, by each role, to its own organization and to
    another: allowed exactly when the role is enough. The data is refused after
    authorization (an unknown field), so that nothing changes."""
    from server.domain.commands import SPECS

    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201)
    principals: dict[str, str | None] = {"nobody": None, **await role_tokens(server)}
    principals["operator-*"] = token("*", "admin")
    level = {"nobody": -1, "viewer": VIEWER, "responder": RESPONDER, "admin": ADMIN, "owner": OWNER}
    failures = []
    for name, bearer in principals.items():
        async with open_ws(server.base_url) as ws:
            if bearer:
                assert (await ws.hello(bearer))["type"] == "welcome"
            for command in SPECS:
                need = EXPECTED_COMMANDS.get(command, OWNER + 1)
                for org in ("demo", "other"):
                    reply = await ws.command(org, command, {"zzz_not_a_field": 1})
                    assert reply["type"] == "error", reply
                    got_in = reply["code"] not in ("unauthorized", "forbidden")
                    if name == "operator-*":
                        allowed = need <= ADMIN
                    elif org == "other" or name == "nobody":
                        allowed = False
                    else:
                        allowed = level[name] >= need
                    if got_in != allowed:
                        failures.append((name, org, command, reply["code"]))
    assert not failures, "\n".join(map(str, failures))


async def test_every_websocket_topic_and_message_by_every_role(server: Server, api: Api) -> None:
    """Each kind of topic, and each room message, by each principal. The kinds
    and messages are those of the policy table: a new one fails until it is here."""
    from support import TOKENS

    from server.policy import MESSAGES, TOPICS

    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201)
    incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "WS"}, status=201)
    room = incident["notes_room"]
    columns = ("status", "org", "room", "probe", "command", "doc.op", "presence")
    assert set(TOPICS) | set(MESSAGES) <= set(columns)
    cases = {
        # who: one answer per column
        None: (
            "ok",
            "unauthorized",
            "unauthorized",
            "unauthorized",
            "unauthorized",
            "not_subscribed",
            "not_subscribed",
        ),
        token("demo", "viewer"): ("ok", "ok", "ok", "forbidden", "forbidden", "forbidden", "ok"),
        token("demo", "responder"): ("ok", "ok", "ok", "forbidden", "ok", "ok", "ok"),
        token("demo", "admin"): ("ok", "ok", "ok", "forbidden", "ok", "ok", "ok"),
        token("demo", "owner"): ("ok", "ok", "ok", "forbidden", "ok", "ok", "ok"),
        token("other", "owner"): (
            "ok",
            "forbidden",
            "unknown_topic",
            "forbidden",
            "forbidden",
            "not_subscribed",
            "not_subscribed",
        ),
        TOKENS.issue_probe("eu-west"): (
            "ok",
            "forbidden",
            "unknown_topic",
            "ok",
            "forbidden",
            "not_subscribed",
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
            probe = await ws.request({"type": "subscribe", "topic": "probe:eu-west"})
            results.append("ok" if probe["type"] == "subscribed" else probe["code"])
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
            here = await ws.request(
                {"type": "presence", "room": room, "selection": {"anchor": 0, "head": 0}}
            )
            results.append("ok" if here["type"] == "ack" else here["code"])
            seen[bearer] = tuple(results)
    assert seen == cases


async def test_a_responder_cannot_rename_the_organization_over_the_socket(
    server: Server, api: Api
) -> None:
    """The reported escalation: REST refused it, the socket took it."""
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        made = await owner.ok(
            "POST", "/api/v1/orgs/demo/tokens", {"name": "r", "role": "responder"}, status=201
        )
    async with open_ws(server.base_url) as ws:
        await ws.hello(made["token"])
        reply = await ws.command("demo", "org.update", {"name": "Pwned"})
        assert reply["type"] == "error" and reply["code"] == "forbidden", reply
        assert "admin" in reply["message"]
    assert (await api.ok("GET", "/api/v1/orgs/demo"))["name"] != "Pwned"
    page = await api.get("/status/demo")
    assert "Pwned" not in page.text
