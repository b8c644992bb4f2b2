"""Routes anyone may call: health, readiness, the Statuspage-compatible API."""

from __future__ import annotations

import html

from quart import Blueprint, Response, current_app, request

from ..domain.statuspage import DOCUMENTS
from ..ratelimit import KeyedBuckets, RateLimited
from ..store import StoreError
from .common import client_ip, error_response, json_response, parts

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


@bp.get("/ready")
async def ready() -> Response:
    """Ready to serve: the database answers."""
    try:
        await parts().store.ping()
    except (StoreError, TimeoutError) as exc:
        return json_response({"status": "unavailable", "reason": str(exc)}, 503)
    return json_response({"status": "ready"})


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
    return Response(handle.document(document), 200, headers, content_type="application/json")


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
    slugs = await parts().registry.slugs(limit=20)
    items = "".join(
        f'<li><a href="/status/{s}">{html.escape(s)}</a> '
        f'(<a href="/status/{s}/api/v2/summary.json">API</a>, <code>status:{html.escape(s)}</code>)</li>'
        for s in slugs
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; line-height: 1.5">
<h1>Switchboard</h1>
<p>Live status pages and incident rooms.</p>
<h2>Organizations</h2><ul>{items or "<li>none yet</li>"}</ul>
<h2>Endpoints</h2>
<ul>
<li>WebSocket: <code>{html.escape(base.replace("http", "ws", 1))}/ws</code></li>
<li>Console: <a href="/admin">/admin</a></li>
<li>REST: <a href="/api/v1/openapi.json"><code>/api/v1/openapi.json</code></a></li>
<li>Health: <a href="/health">/health</a>, <a href="/ready">/ready</a></li>
</ul></body></html>"""
    return Response(body, 200, content_type="text/html; charset=utf-8")
