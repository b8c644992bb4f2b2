"""``/admin``: the console's pages. Each is a shell its script fills in through
the REST API and the WebSocket, as the logged-in user (``web/static/session.js``)."""

from __future__ import annotations

from quart import Blueprint, Response, render_template

from .web import page_headers

bp = Blueprint("console", __name__)

CONSOLE_PAGE = {"Cache-Control": "no-cache", **page_headers(frames=False)}


async def _shell(template: str, **context: str) -> Response:
    body = await render_template(template, **context)
    return Response(body, 200, CONSOLE_PAGE, content_type="text/html; charset=utf-8")


@bp.get("/admin")
@bp.get("/admin/<path:view>")
async def console(view: str = "") -> Response:
    """The console; its script routes ``/admin/...`` paths itself."""
    return await _shell("admin.html")


@bp.get("/admin/incidents/<incident>")
async def incident_room(incident: str) -> Response:
    """An incident's room: the shared notes beside its timeline."""
    return await _shell("incident_room.html", incident=incident)
