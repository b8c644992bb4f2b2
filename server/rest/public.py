"""Routes anyone may call: health, readiness, the Statuspage-compatible API."""

from __future__ import annotations

import re

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
# Every answer on a public path says so, errors (404, 429) included, and shows
# scripts of other origins the headers they read.
CROSS_ORIGIN = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Retry-After",
}
PREFLIGHT_SECONDS = 86400  # how long a browser may keep a preflight's answer
_HEADER_NAMES = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")


def _public_path() -> bool:
    return request.path.startswith("/status/")


@bp.before_app_request
async def preflight() -> Response | None:
    """A browser's CORS preflight for a public path: reading (GET, HEAD) with
    whatever request headers it asks for is allowed from any origin. Nothing
    else is (a subscription's POST stays with the page's own form)."""
    if request.method != "OPTIONS" or not _public_path():
        return None
    if "Access-Control-Request-Method" not in request.headers:
        return None  # a plain OPTIONS: routing answers it
    headers = {
        **CROSS_ORIGIN,
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Max-Age": str(PREFLIGHT_SECONDS),
    }
    asked = request.headers.get("Access-Control-Request-Headers", "").strip()
    if asked and _HEADER_NAMES.fullmatch(asked):
        headers["Access-Control-Allow-Headers"] = asked
    return Response(b"", 204, headers)


@bp.after_app_request
async def cross_origin(response: Response) -> Response:
    if _public_path():
        for name, value in CROSS_ORIGIN.items():
            response.headers.setdefault(name, value)
    return response


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
