"""Monitors' results and uptime, and the heartbeat door.

Monitors themselves are a collection of ``/api/v1`` (server/rest/api.py):
they live in the organization's state. Their results live in their own
tables; these routes read them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from quart import Blueprint, Response, request

from ..domain.model import iso, parse_iso, to_millisecond
from ..domain.monitors import Monitor
from ..domain.schema import parse
from ..domain.transaction import find_monitor
from ..errors import NotFound, ValidationError
from ..monitoring.service import MAX_BEAT_MESSAGE, Beat
from ..monitoring.uptime import WINDOWS, summarize, verdict_spans
from ..store.monitoring import (
    monitor_verdicts,
    recent_results,
    region_rollups,
    rollups,
    since_days,
    storage_bytes,
)
from .common import json_body, json_response, parts, query_int

bp = Blueprint("monitors", __name__, url_prefix="/api/v1")


async def _monitor(org: str, ref: str) -> Monitor:
    state = (await parts().registry.org(org)).state
    return find_monitor(state, ref)


@bp.get("/orgs/<org>/monitors/<ref>/results")
async def results(org: str, ref: str) -> Response:
    """A monitor's check results, newest first: ``?limit=`` and ``?before=<time>``."""
    monitor = await _monitor(org, ref)
    limit = query_int("limit", 100, 1, 1_000)
    before = None
    if (raw := request.args.get("before")) is not None:
        try:
            before = parse_iso(raw)
        except ValueError:
            raise ValidationError(
                f"query parameter before must be an RFC 3339 time; got {raw!r}", field="before"
            ) from None
    rows = await recent_results(parts().store, monitor.id, before=before, limit=limit + 1)
    data = [_result(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = f"{request.path}?limit={limit}&before={data[-1]['at']}"
    return json_response({"data": data, "next": following})


def _result(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": iso(row["at"]),
        "region": row["region"],
        "outcome": row["outcome"],
        "latency_ms": None if row["latency_ms"] is None else round(row["latency_ms"], 1),
        "status_code": row["status_code"],
        # The result's words: why it failed, or what a heartbeat's job said.
        "error": row["error"] if row["outcome"] != "up" else None,
        "message": row["error"],
    }


@bp.get("/orgs/<org>/monitors/<ref>/uptime")
async def uptime(org: str, ref: str) -> Response:
    """Uptime over 24 hours, 7, 30 and 90 days from the verdicts, each region's
    checks beside it, by day, and hourly response times."""
    monitor = await _monitor(org, ref)
    store, now = parts().store, to_millisecond(parts().registry.clock.now())  # as it is said
    since = since_days(now, 90)
    changes = await monitor_verdicts(store, monitor.id, now - WINDOWS["90d"])
    spans = verdict_spans(
        changes, monitor.verdict.value, monitor.verdict_since or monitor.created_at, now
    )
    rows = await rollups(store, monitor.id, since)
    summary = summarize(spans, rows, await region_rollups(store, monitor.id, since), now)
    for point in summary["response_times"]:
        point["hour"] = iso(point["hour"])
    return json_response(
        {"monitor": monitor.id, "verdict": monitor.verdict.value, "at": iso(now), **summary}
    )


@bp.post("/orgs/<org>/monitors/<ref>/check")
async def check_now(org: str, ref: str) -> Response:
    """Run the monitor's check now, from the region of the node that runs the
    organization; the result counts."""
    monitor = await _monitor(org, ref)
    region, outcome = await parts().monitoring.check_now(monitor.id)
    return json_response(
        {
            "region": region,
            "outcome": outcome.outcome,
            "latency_ms": None if outcome.latency_ms is None else round(outcome.latency_ms, 1),
            "status_code": outcome.status_code,
            "error": outcome.error,
        }
    )


@bp.get("/monitoring")
async def monitoring_stats() -> Response:
    """The server's probe: checks started and skipped, how late they start, and
    what the results tables take (server-wide operators only)."""
    monitoring = parts().monitoring
    stats = monitoring.stats() if monitoring is not None else {}
    stats["storage_bytes"] = await storage_bytes(parts().store)
    return json_response(stats)


@bp.delete("/monitoring/regions/<region>")
async def forget_region(region: str) -> Response:
    """Retire a remote region whose probe is offline: it is known no more."""
    monitoring = parts().monitoring
    if monitoring is None:
        raise NotFound(f"no probe region {region!r}", field="region")
    monitoring.forget_region(region)
    return Response(b"", 204)


@bp.get("/orgs/<org>/probes")
async def org_probes(org: str) -> Response:
    """The regions the organization's monitors are checked from, live or offline."""
    state = (await parts().registry.org(org)).state
    monitoring = parts().monitoring
    return json_response({"data": monitoring.org_regions(state) if monitoring else []})


@bp.get("/runtime")
async def runtime() -> Response:
    """The process itself: connections open and shed, WebSocket figures, and the
    garbage collector's pauses by generation (server-wide operators only)."""
    figures = parts().runtime
    return json_response(figures() if figures is not None else {})


@bp.route("/heartbeat/<token>", methods=["GET", "POST", "HEAD"])
async def heartbeat(token: str) -> Response:
    """A scheduled job says it ran, and how (``status=up|down``, ``msg``, ``ping``
    in milliseconds, as Uptime Kuma's push URL takes them). The token is the
    whole credential."""
    beat = await _beat()
    monitoring = parts().monitoring
    if monitoring is None or len(token) > 200 or not await monitoring.beat(token, beat):
        raise NotFound("no heartbeat monitor has this token", field="token")
    if request.method == "HEAD":
        return Response(b"", 200)
    return json_response({"ok": True})


_BEAT_FIELDS = ("status", "msg", "ping")


async def _beat() -> Beat:
    """The beat's parameters: the query's, and for a POST its JSON or form body's
    (which win). Other parameters are let be; an empty ``msg`` or ``ping`` is
    none (Kuma's URL sends ``ping=`` when it has none); a long ``msg`` is cut."""
    given: dict[str, Any] = {k: request.args[k] for k in _BEAT_FIELDS if k in request.args}
    if request.method == "POST":
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form
            given.update({k: form[k] for k in _BEAT_FIELDS if k in form})
        elif (await request.get_data(as_text=False)).strip():
            body = await json_body()
            given.update({k: body[k] for k in _BEAT_FIELDS if k in body})
    for key in ("msg", "ping"):
        if given.get(key) == "":
            del given[key]
    if isinstance(given.get("ping"), str):
        with contextlib.suppress(ValueError):  # if not a number, refused below by name
            given["ping"] = float(given["ping"])
    if isinstance(given.get("msg"), str):
        given["msg"] = given["msg"][:MAX_BEAT_MESSAGE]
    return parse(Beat, given, where="heartbeat")
