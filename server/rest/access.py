"""The policy at the REST door: every route is checked before its handler runs.

:func:`install` refuses to start an app with a route that
:data:`server.policy.ROUTES` does not classify, and registers :func:`enforce`,
which authorizes each request as its route's entry says and leaves who asked
(and their role) in ``g`` for the handler. Handlers do not authorize.
"""

from __future__ import annotations

from typing import Any

from quart import g, request
from quart_trio import QuartTrio

from ..actors.room import RoomDoor
from ..auth import NEEDS_TOKEN, Action, Principal, Role, authorize, authorize_server
from ..domain.schema import check_chars
from ..errors import AuthError, NotFound
from ..policy import ROUTES, Access
from .common import parts, principal


def routes_of(app: QuartTrio) -> set[tuple[str, str]]:
    """Every (method, rule) the app answers, HEAD and OPTIONS aside."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def install(app: QuartTrio) -> None:
    """Check that the policy covers every route, then enforce it on each request."""
    missing = routes_of(app) - set(ROUTES)
    if missing:
        raise RuntimeError(f"routes without an entry in server.policy.ROUTES: {sorted(missing)}")
    app.before_request(refuse_bad_text)
    app.before_request(enforce)


async def refuse_bad_text() -> None:
    """Path and query parameters hold text, like bodies: none may carry a
    control character or a lone surrogate (422 naming the parameter)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            check_chars(value, name, lines=False)
    for name, value in request.args.items(multi=True):
        check_chars(name, "query parameter name", lines=False)
        check_chars(value, name, lines=False)


def access() -> Access:
    """The entry of the route being served."""
    found: Access = g.access
    return found


async def enforce() -> None:
    g.access = None
    g.principal = None
    g.role = None
    rule = request.url_rule
    if rule is None or request.method == "OPTIONS":
        return  # routing answers these itself
    method = "GET" if request.method == "HEAD" else request.method
    entry = g.access = ROUTES[(method, rule.rule)]
    if entry.kind == "public":
        return
    who = await principal()
    if who is None:
        raise AuthError(NEEDS_TOKEN)
    g.principal = who
    args: dict[str, Any] = request.view_args or {}
    if entry.kind == "operator":
        authorize_server(who)
    elif entry.kind == "org":
        assert entry.action is not None
        g.role = authorize(who, entry.action, args["org"])
    elif entry.kind == "room":
        assert entry.action is not None
        g.room = await _room(who, args["room_id"], entry.action)


async def _room(who: Principal, room_id: str, action: Action) -> RoomDoor:
    """A room ``who`` may ``action``; to others it does not exist."""
    try:
        handle = await parts().registry.reach_room(room_id)
    except NotFound:
        handle = None
    if handle is None or not who.may(Action.READ, handle.org):
        raise NotFound(f"no room {room_id!r}", field="room")
    g.role = authorize(who, action, handle.org)
    return handle


def caller() -> Principal:
    """Who asked (on a route that needs a credential)."""
    who: Principal | None = g.principal
    assert who is not None, "caller() on a public route"
    return who


def acting_role() -> Role:
    """The caller's role in the organization the route names."""
    found: Role | None = g.role
    assert found is not None, "acting_role() on a route that names no organization"
    return found


def room_of() -> RoomDoor:
    """The room the route names, found (and authorized) by :func:`enforce`."""
    found: RoomDoor = g.room
    return found


def authorize_named(org: str) -> Role:
    """For ``org-in-body`` routes: the route's action, in the organization the body names."""
    entry = access()
    assert entry.action is not None
    assert entry.kind == "org-in-body"
    found = g.role = authorize(caller(), entry.action, org)
    return found
