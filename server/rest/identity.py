"""``/api/v1``: logins, members, invitations, API tokens and the audit log.

Logins hand out a short-lived access token (a JWT) and a refresh token that
is spent on use. Members, invitations and tokens are managed by an
organization's admins and owners; only owners make or unmake owners.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from quart import Blueprint, Response, request

from ..auth import Role
from ..domain.schema import Range, Text, parse
from ..errors import NotFound
from ..identity import Directory
from ..store import identity as sql
from .access import acting_role, caller
from .common import (
    client_ip,
    json_body,
    json_response,
    origin,
    parts,
    principal,
    query_int,
)

bp = Blueprint("identity", __name__, url_prefix="/api/v1")


class RoleName(Enum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"
    OWNER = "owner"

    def role(self) -> Role:
        return Role.parse(self.value)


Email = Annotated[str, Text(3, 254)]
Password = Annotated[str, Text(1, 1024, lines=True)]
Secret = Annotated[str, Text(20, 200)]


@dataclass(frozen=True, slots=True)
class Login:
    email: Email
    password: Password


@dataclass(frozen=True, slots=True)
class Refresh:
    refresh_token: Secret


@dataclass(frozen=True, slots=True)
class ChangeRole:
    role: RoleName


@dataclass(frozen=True, slots=True)
class Invite:
    role: RoleName
    email: Email | None = None  # only this address may accept
    hours: Annotated[int, Range(1, 720)] | None = None  # default 72


@dataclass(frozen=True, slots=True)
class Accept:
    email: Email | None = None  # to sign up (no Authorization header)
    name: Annotated[str, Text(0, 120)] = ""
    password: Password | None = None


@dataclass(frozen=True, slots=True)
class NewToken:
    name: Annotated[str, Text(1, 80)]
    role: RoleName
    expires_at: datetime | None = None


def _directory() -> Directory:
    return parts().auth.directory


# -- logins ---------------------------------------------------------------------


@bp.post("/auth/login")
async def login() -> Response:
    body = parse(Login, await json_body(), where="login")
    return json_response(await _directory().login(body.email, body.password, client_ip()))


@bp.post("/auth/refresh")
async def refresh() -> Response:
    body = parse(Refresh, await json_body(), where="refresh")
    return json_response(await _directory().refresh(body.refresh_token))


@bp.post("/auth/logout")
async def logout() -> Response:
    await _directory().logout(caller())
    return Response(b"", 204)


@bp.get("/me")
async def me() -> Response:
    who = caller()
    out: dict[str, Any] = who.describe()
    out["server_operator"] = who.runs_server
    if who.kind == "user":
        out["user"] = _directory().users[who.id].to_dict()
        roles = _directory().memberships.get(who.id, {})
        out["memberships"] = [{"org": org, "role": str(r)} for org, r in sorted(roles.items())]
    else:
        out["memberships"] = [{"org": who.org, "role": str(who.role)}]
    return json_response(out)


# -- members --------------------------------------------------------------------


@bp.get("/orgs/<org>/members")
async def members(org: str) -> Response:
    return json_response({"data": _directory().members(org)})


@bp.patch("/orgs/<org>/members/<user_id>")
async def change_member(org: str, user_id: str) -> Response:
    who, acting = caller(), acting_role()
    body = parse(ChangeRole, await json_body(), where="member")
    changed = await _directory().set_role(org, user_id, body.role.role(), acting, origin(who))
    return json_response(changed)


@bp.delete("/orgs/<org>/members/<user_id>")
async def remove_member(org: str, user_id: str) -> Response:
    who, acting = caller(), acting_role()
    await _directory().remove_member(org, user_id, acting, origin(who))
    return Response(b"", 204)


# -- invitations ------------------------------------------------------------------


@bp.post("/orgs/<org>/invitations")
async def invite(org: str) -> Response:
    who, acting = caller(), acting_role()
    await parts().registry.org(org)  # NotFound for an organization that does not exist
    body = parse(Invite, await json_body(), where="invitation")
    invitation, link = await _directory().invite(
        org, body.role.role(), body.email, body.hours, acting, origin(who)
    )
    return json_response(
        {
            **invitation.to_dict(),
            "token": link,
            "accept_url": f"{parts().base_url}/admin/join/{link}",
        },
        201,
    )


@bp.get("/orgs/<org>/invitations")
async def invitations(org: str) -> Response:
    return json_response({"data": [i.to_dict() for i in _directory().pending_invitations(org)]})


@bp.delete("/orgs/<org>/invitations/<invitation_id>")
async def withdraw(org: str, invitation_id: str) -> Response:
    who = caller()
    await _directory().withdraw_invitation(org, invitation_id, origin(who))
    return Response(b"", 204)


@bp.get("/invitations/<link>")
async def show_invitation(link: str) -> Response:
    """What an invitation offers, for whoever holds its link."""
    invitation = _directory().invitation(link)
    shown = invitation.to_dict()
    del shown["id"]
    with contextlib.suppress(NotFound):  # unless the organization was deleted since
        shown["org_name"] = (await parts().registry.org(invitation.org)).state.org.name
    return json_response(shown)


@bp.post("/invitations/<link>/accept")
async def accept(link: str) -> Response:
    """Join as the logged-in user, or sign up with ``{email, name, password}``."""
    who = await principal()
    body = parse(Accept, await json_body(required=False), where="accept")
    signup = None
    if who is None and body.email is not None:
        signup = {"email": body.email, "name": body.name, "password": body.password or ""}
    joined = await _directory().accept(link, who, signup, client_ip())
    return json_response(joined, 201 if who is None else 200)


# -- API tokens ---------------------------------------------------------------------


@bp.post("/orgs/<org>/tokens")
async def create_token(org: str) -> Response:
    who, acting = caller(), acting_role()
    await parts().registry.org(org)
    body = parse(NewToken, await json_body(), where="token")
    token, secret = await _directory().create_token(
        org, body.name, body.role.role(), body.expires_at, acting, origin(who)
    )
    return json_response({**token.to_dict(), "token": secret}, 201)


@bp.get("/orgs/<org>/tokens")
async def tokens(org: str) -> Response:
    return json_response({"data": [t.to_dict() for t in _directory().org_tokens(org)]})


@bp.delete("/orgs/<org>/tokens/<token_id>")
async def revoke_token(org: str, token_id: str) -> Response:
    who = caller()
    await _directory().revoke_token(org, token_id, origin(who))
    return Response(b"", 204)


# -- audit ----------------------------------------------------------------------------


@bp.get("/orgs/<org>/audit")
async def audit(org: str) -> Response:
    """Newest first; ``?before=<id>`` for the next page."""
    return await _audit_page(org, f"/api/v1/orgs/{org}/audit")


@bp.get("/audit")
async def server_audit() -> Response:
    """The server's own log (logins, including those to no account), for its operators."""
    return await _audit_page("*", "/api/v1/audit")


async def _audit_page(org: str, path: str) -> Response:
    limit = query_int("limit", 50, 1, 200)
    before = query_int("before", 0, 0, 2**62) if "before" in request.args else None
    rows = await sql.audit_page(parts().store, org, before, limit + 1)
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = f"{path}?before={rows[-1]['id']}&limit={limit}"
    return json_response({"data": rows, "next": following})
