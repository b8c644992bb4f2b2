"""Routes anyone may call: health, readiness, the Statuspage-compatible API."""

from __future__ import annotations

import trio
from quart import Blueprint, Response, current_app, render_template, request

from ..domain.statuspage import DOCUMENTS
from ..errors import RateLimited
from ..ratelimit import KeyedBuckets
from ..store import StoreError
from .common import client_ip, error_response, json_response, parts
from .hosts import page_url
from .web import page_headers

bp = Blueprint("public", __name__)


@bp.before_app_request
async def limit_public() -> None:
    """Status pages and the Statuspage API: a token bucket per client address."""
    if not request.path.startswith("/status/"):
        return
    buckets: KeyedBuckets = current_app.config["PUBLIC_BUCKETS"]
    wait = buckets.take(client_ip())
    if wait:
        raise RateLimited("too many requests from this address; slow down", wait)


# Widgets and exporters fetch these from other origins.
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


@bp.get("/health")
async def health() -> Response:
    """The process is up (says nothing about the database: see /ready)."""
    return json_response({"status": "ok"})


READY_SECONDS = 1.0  # a readiness probe hears within this, whatever the database does


@bp.get("/ready")
async def ready() -> Response:
    """Ready to serve: the database answers (503 within a second when it does not)."""
    bus = parts().bus
    if bus is not None and not bus.connected:
        return json_response({"status": "unavailable", "reason": "not connected to NATS"}, 503)
    reason = f"the database did not answer within {READY_SECONDS:g} s"
    with trio.move_on_after(READY_SECONDS):
        try:
            await parts().store.ping()
        except StoreError as exc:
            reason = str(exc)
        else:
            return json_response({"status": "ready"})
    return json_response({"status": "unavailable", "reason": reason}, 503)


@bp.get("/status/<org>/api/v2/<path:document>")
async def statuspage(org: str, document: str) -> Response:
    """Atlassian Statuspage's public v2 API, from the actor's cached rendering."""
    if document not in DOCUMENTS:
        return error_response(
            404,
            "not_found",
            f"no document {document!r}; try {', '.join(DOCUMENTS)}",
            headers=PUBLIC_HEADERS,
        )
    handle = await parts().registry.org(org)
    version = str(handle.state.version)
    headers = {**PUBLIC_HEADERS, "ETag": f'"{version}"'}
    if request.if_none_match.contains_weak(version):  # compares unquoted tags
        return Response(b"", 304, headers)
    body = handle.document(document, page_url(org))
    return Response(body, 200, headers, content_type="application/json")


@bp.get("/ws")
async def websocket_only() -> Response:
    """A plain GET of /ws: say how to talk to it."""
    return error_response(
        426,
        "upgrade_required",
        "/ws speaks WebSocket; connect with a WebSocket client",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


@bp.get("/")
async def index() -> Response:
    """A small page pointing at what the server offers."""
    base = parts().base_url
    body = await render_template(
        "index.html",
        slugs=await parts().registry.listed(limit=20),
        ws_url=base.replace("http", "ws", 1) + "/ws",
    )
    return Response(body, 200, page_headers(), content_type="text/html; charset=utf-8")
