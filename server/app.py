"""The Quart-Trio application: REST routes and their error handling.

Every error leaves as JSON ``{"error": {"code", "message", "field"?}}`` with a
stable code; bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from .errors import Internal, PeerError
from .ratelimit import KeyedBuckets
from .rest import (
    access,
    api,
    console,
    drawings,
    hosts,
    idempotency,
    identity,
    metrics,
    monitors,
    openapi,
    pages,
    public,
    rooms,
    web,
)
from .rest import notify as notify_rest
from .rest.common import Parts, error_response, peer_error_response

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "too_large",
    431: "too_large",
}


def _same_site(location: str) -> str:
    """A Location reduced to its path (and query): never another site."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")  # never "//host", which browsers read as a site
    return path + (f"?{parts.query}" if parts.query else "")


def create_app(server_parts: Parts) -> QuartTrio:
    app = QuartTrio("switchboard", static_folder=None)
    app.config["SWITCHBOARD"] = server_parts
    app.config["MAX_CONTENT_LENGTH"] = server_parts.config.limits.max_body
    app.config["JSON_SORT_KEYS"] = False
    limits = server_parts.config.limits
    app.config["PUBLIC_BUCKETS"] = KeyedBuckets(limits.public_per_second, limits.public_burst)
    app.config["DRAWINGS"] = drawings.Drawings()
    web.install(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(rooms.bp)
    app.register_blueprint(identity.bp)
    app.register_blueprint(monitors.bp)
    app.register_blueprint(notify_rest.bp)
    app.register_blueprint(metrics.bp)
    app.config["NOTIFIER"] = server_parts.notifier
    if server_parts.hosts is not None:
        app.asgi_app = hosts.ByHost(  # type: ignore[method-assign]
            app.asgi_app, server_parts.hosts, server_parts.trusted_proxies
        )
    app.config["BODY_TIMEOUT"] = limits.body_seconds

    @app.before_request
    async def well_formed() -> Response | None:
        # The listener checks a connection's first head; these are the later ones.
        if request.http_version not in ("1.0", "1.1"):
            return error_response(505, "bad_request", "only HTTP/1.0 and HTTP/1.1 are spoken here")
        if len(request.headers) > limits.max_headers:
            return error_response(
                431, "too_large", f"a request may carry at most {limits.max_headers} header fields"
            )
        return None

    access.install(app)
    idempotency.install(app)

    @app.after_request
    async def hygiene(response: Response) -> Response:
        # No response may be sniffed into something it is not (a JSON error
        # rendered as HTML, a badge as a script).
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Redirects that routing makes (``//`` merged, a trailing slash) name
        # only the path: a Location built from the Host header would send
        # readers to whatever host a request claimed.
        if g.get("replayed"):
            response.headers["Idempotent-Replayed"] = "true"
        location = response.headers.get("Location")
        if location and 300 <= response.status_code < 400:
            response.headers["Location"] = _same_site(location)
        return response

    @app.errorhandler(PeerError)
    async def peer_error(error: PeerError) -> Response:
        return peer_error_response(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        return error_response(status, code, error.description or error.name)

    @app.errorhandler(Exception)
    async def internal(error: Exception) -> Response:
        log.exception("unhandled error in a request", exc_info=error)
        return peer_error_response(Internal())

    return app
