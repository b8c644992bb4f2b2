"""``GET /metrics``: the server's figures for Prometheus (see :mod:`server.metrics`)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from ..errors import NotFound
from .common import parts

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
async def metrics() -> Response:
    """Prometheus' text format (or OpenMetrics, when the scraper asks for it);
    server-wide operators only."""
    found = parts().metrics
    if found is None:
        raise NotFound("this server keeps no metrics")
    body, content_type = await found.scrape(request.headers.get("Accept"))
    return Response(body, 200, {"Cache-Control": "no-store"}, content_type=content_type)
