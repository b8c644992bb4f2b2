"""``/api/v1/openapi.json``, built from the same records the routes parse.

Request bodies come from the command dataclasses through
:func:`server.domain.schema.json_schema`, so the document cannot drift from
the validation. A test checks that every route is described and vice versa.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from .. import __version__
from ..domain import commands as c
from ..domain.schema import json_schema
from ..domain.statuspage import DOCUMENTS
from . import notify
from .api import COLLECTIONS
from .common import json_response
from .identity import Accept, ChangeRole, Invite, Login, NewToken, Refresh
from .rooms import CreateRoom

bp = Blueprint("openapi", __name__)

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
}
_ANY = {"type": "object"}
_ERRORS = {
    "400": "invalid JSON (invalid_json)",
    "401": "missing or invalid token (unauthorized)",
    "403": "the token may not do this (forbidden)",
    "404": "no such organization or item (not_found)",
    "409": "conflict or invalid_transition",
    "422": "a field is missing or wrong (invalid_field)",
    "429": "over a rate limit; see Retry-After (rate_limited)",
    "503": "the database or actor is unavailable; retry (unavailable)",
}


def _op(
    summary: str,
    *,
    body: type | None = None,
    exclude: frozenset[str] = frozenset(),
    ok: str = "200",
    auth: bool = True,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: {"description": "success", "content": {"application/json": {"schema": _ANY}}},
            **{
                code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
                for code, text in _ERRORS.items()
            },
        },
    }
    if auth:
        op["security"] = [{"bearer": []}]
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": json_schema(body, exclude=exclude)}},
        }
    if params:
        op["parameters"] = params
    return op


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "items to skip"),
]


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {
        "/health": {"get": _op("The process is up", auth=False)},
        "/ready": {"get": _op("The database answers", auth=False)},
        "/api/v1/orgs": {
            "get": _op(
                "Organizations the token can see",
                params=[
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
                    _query("after", {"type": "string"}, "continue after this slug"),
                ],
            ),
            "post": _op(
                "Create an organization (server-wide admin token)", body=c.CreateOrg, ok="201"
            ),
        },
        "/api/v1/orgs/{org}": {
            "get": _op("An organization and its overall status", params=_path_params("org")),
            "patch": _op(
                "Rename an organization (admin)", body=c.UpdateOrg, params=_path_params("org")
            ),
            "delete": _op("Delete an organization (owner)", params=_path_params("org")),
        },
    }
    for col in COLLECTIONS:
        base = f"/api/v1/orgs/{{org}}/{col.name}"
        one = f"{base}/{{{col.ref}}}"
        list_params = [*_path_params("org"), *_PAGING]
        if len(col.filters) > 1:
            list_params.append(
                _query("status", {"type": "string", "enum": list(col.filters)}, "filter")
            )
        paths[base] = {
            "get": _op(f"List {col.name}", params=list_params),
            "post": _op(
                f"Create one of the {col.name}",
                body=col.create,
                ok="201",
                params=_path_params("org"),
            ),
        }
        paths[one] = {
            "get": _op(f"One of the {col.name}", params=_path_params("org", col.ref)),
            "patch": _op(
                f"Change one of the {col.name}",
                body=col.update,
                exclude=frozenset({col.ref}),
                params=_path_params("org", col.ref),
            ),
            "delete": _op(f"Delete one of the {col.name}", params=_path_params("org", col.ref)),
        }
        for action, cls in col.actions.items():
            paths[f"{one}/{action}"] = {
                "post": _op(
                    f"{action.capitalize()} one of the {col.name}",
                    body=cls,
                    exclude=frozenset({col.ref}),
                    params=_path_params("org", col.ref),
                ),
            }
    paths["/api/v1/orgs/{org}/incidents/{incident}/postmortem"] = {
        "put": _op(
            "Publish or revise a resolved incident's postmortem (Markdown; text required)",
            body=c.WritePostmortem,
            exclude=frozenset({"incident"}),
            params=_path_params("org", "incident"),
        )
    }
    paths["/api/v1/orgs/{org}/incidents/{incident}/notes"] = {
        "get": _op(
            "The incident's timeline beside its notes as they were at each update",
            params=_path_params("org", "incident"),
        )
    }
    paths["/api/v1/rooms"] = {
        "post": _op("Open an ad-hoc notes room (responder)", body=CreateRoom, ok="201"),
    }
    paths["/api/v1/rooms/{room}"] = {
        "get": _op(
            "A room: where it belongs, its revision, who is in it", params=_path_params("room")
        ),
        "delete": _op(
            "Delete an ad-hoc room and its whole log (admin)",
            ok="204",
            params=_path_params("room"),
        ),
    }
    paths["/api/v1/rooms/{room}/text"] = {
        "get": _op(
            "The room's text now, or as it was",
            params=[
                *_path_params("room"),
                _query("rev", {"type": "integer", "minimum": 0}, "as of this revision"),
                _query("at", {"type": "string", "format": "date-time"}, "as of this moment"),
            ],
        ),
    }
    paths.update(_identity_paths())
    paths.update(notify.openapi_paths(_op, _path_params, _query))
    one_monitor = _path_params("org", "monitor")
    paths["/api/v1/orgs/{org}/monitors/{monitor}/results"] = {
        "get": _op(
            "A monitor's check results, newest first",
            params=[
                *one_monitor,
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
                _query("before", {"type": "string", "format": "date-time"}, "older than this"),
            ],
        )
    }
    paths["/api/v1/orgs/{org}/monitors/{monitor}/check"] = {
        "post": _op("Check the monitor now, from the server's region", params=one_monitor)
    }
    paths["/api/v1/orgs/{org}/monitors/{monitor}/uptime"] = {
        "get": _op(
            "Uptime over 24 h, 7, 30 and 90 days, daily, and hourly response times",
            params=one_monitor,
        )
    }
    paths["/api/v1/orgs/{org}/monitors/{monitor}/response-times"] = {
        "get": _op(
            "Each region's response times over a range, from the hourly rollups",
            params=[
                *one_monitor,
                _query(
                    "range",
                    {"type": "string", "enum": ["24h", "7d", "30d", "90d"], "default": "24h"},
                    "how far back",
                ),
            ],
        )
    }
    paths["/api/v1/orgs/{org}/monitors/{monitor}/incidents"] = {
        "get": _op("The incidents the monitor opened (its last 20)", params=one_monitor)
    }
    paths["/api/v1/orgs/{org}/uptime"] = {
        "get": _op(
            "Every monitor's uptime over 24 h and 30 days, and its last 24 hours of response times",
            params=_path_params("org"),
        )
    }
    paths["/api/v1/monitoring"] = {
        "get": _op("The server's probe: checks, lag, results waiting, storage (server operators)")
    }
    paths["/api/v1/monitoring/regions/{region}"] = {
        "delete": _op(
            "Forget a remote region whose probe is offline (server operators)",
            ok="204",
            params=_path_params("region"),
        )
    }
    paths["/api/v1/orgs/{org}/probes"] = {
        "get": _op(
            "The regions the organization's monitors are checked from: live, offline or unknown",
            params=_path_params("org"),
        )
    }
    paths["/api/v1/runtime"] = {
        "get": _op(
            "The process: connections open and shed, WebSocket figures, garbage collector"
            " pauses (server operators)"
        )
    }
    scrape = _op("Prometheus metrics, or OpenMetrics (server operators)")
    scrape["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    paths["/metrics"] = {"get": scrape}
    beat = [
        *_path_params("token"),
        _query("status", {"type": "string", "enum": ["up", "down"]}, "how the job went (up)"),
        _query("msg", {"type": "string", "maxLength": 1000}, "what the job says"),
        _query("ping", {"type": "number", "minimum": 0}, "its response time, milliseconds"),
    ]
    paths["/api/v1/heartbeat/{token}"] = {
        method: _op(
            "A heartbeat monitor's beat (as Uptime Kuma's push URL)", auth=False, params=beat
        )
        for method in ("get", "post")
    }
    for name in DOCUMENTS:
        paths[f"/status/{{org}}/api/v2/{name}"] = {
            "get": _op(f"Statuspage-compatible {name}", auth=False, params=_path_params("org")),
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Switchboard",
            "version": __version__,
            "description": "REST API of Switchboard. The live protocol is at /ws (docs/protocol.md).",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


def _identity_paths() -> dict[str, dict[str, Any]]:
    org = _path_params("org")
    paging = [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
        _query("before", {"type": "integer"}, "entries older than this id"),
    ]
    return {
        "/api/v1/auth/login": {
            "post": _op("Log in: an access token and a refresh token", body=Login, auth=False)
        },
        "/api/v1/auth/refresh": {
            "post": _op("Spend a refresh token for new tokens", body=Refresh, auth=False)
        },
        "/api/v1/auth/logout": {"post": _op("End this login", ok="204")},
        "/api/v1/me": {"get": _op("Who the token stands for, and their memberships")},
        "/api/v1/orgs/{org}/members": {"get": _op("Members and their roles (admin)", params=org)},
        "/api/v1/orgs/{org}/members/{user}": {
            "patch": _op(
                "Change a member's role (admin; owners: owner)",
                body=ChangeRole,
                params=_path_params("org", "user"),
            ),
            "delete": _op("Remove a member (admin)", ok="204", params=_path_params("org", "user")),
        },
        "/api/v1/orgs/{org}/invitations": {
            "post": _op("Invite someone by link (admin)", body=Invite, ok="201", params=org),
            "get": _op("Pending invitations (admin)", params=org),
        },
        "/api/v1/orgs/{org}/invitations/{invitation}": {
            "delete": _op(
                "Withdraw an invitation (admin)",
                ok="204",
                params=_path_params("org", "invitation"),
            ),
        },
        "/api/v1/invitations/{token}": {
            "get": _op("What an invitation offers", auth=False, params=_path_params("token")),
        },
        "/api/v1/invitations/{token}/accept": {
            "post": _op(
                "Accept an invitation (logged in, or signing up)",
                body=Accept,
                auth=False,
                params=_path_params("token"),
            ),
        },
        "/api/v1/orgs/{org}/tokens": {
            "post": _op(
                "Make an API token, shown once (admin)", body=NewToken, ok="201", params=org
            ),
            "get": _op("API tokens, without their secrets (admin)", params=org),
        },
        "/api/v1/orgs/{org}/tokens/{token}": {
            "delete": _op(
                "Revoke an API token (admin)", ok="204", params=_path_params("org", "token")
            ),
        },
        "/api/v1/orgs/{org}/audit": {
            "get": _op("The audit log, newest first (admin)", params=[*org, *paging]),
        },
        "/api/v1/audit": {
            "get": _op(
                "The server's own audit log: logins, also to no account (server operators)",
                params=paging,
            ),
        },
    }


@bp.get("/api/v1/openapi.json")
async def openapi() -> Response:
    return json_response(document(), headers={"Access-Control-Allow-Origin": "*"})
