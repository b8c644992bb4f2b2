"""Monitors' results and uptime, and the heartbeat door.

Monitors themselves are a collection of ``/api/v1`` (server/rest/api.py):
they live in the organization's state. Their results live in their own
tables; these routes read them.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from quart import Blueprint, Response, request

from ..domain.model import iso, parse_iso, to_millisecond
from ..domain.monitors import Monitor
from ..domain.schema import parse
from ..domain.transaction import find_monitor
from ..errors import NotFound, ValidationError
from ..monitoring.reports import MAX_BEAT_MESSAGE, Beat
from ..monitoring.uptime import (
    CHART_STEPS,
    WINDOWS,
    chart_start,
    hour_point,
    measure,
    response_series,
    share,
    summarize,
    verdict_spans,
)
from ..store.monitoring import (
    monitor_verdicts,
    monitors_rollups,
    org_verdicts,
    recent_results,
    region_rollups,
    rollups,
    since_days,
    storage_bytes,
)
from .common import json_body, json_response, parts, query_choice, query_int
from .past import find_incident

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
    data = [_result(row) for row in rows]
    following = None
    if len(rows) > limit:
        # A page ends between two moments (to the millisecond, as they are said),
        # so that results made at once by several regions are not split between
        # pages, where the next page's ``before`` would leave some out.
        cut = limit
        while cut and data[cut - 1]["at"] == data[limit]["at"]:
            cut -= 1
        if cut:
            resume = parse_iso(data[cut]["at"]) + timedelta(milliseconds=1)
        else:  # more than a page in one millisecond: cut there
            cut, resume = limit, parse_iso(data[limit - 1]["at"])
        data = data[:cut]
        following = f"{request.path}?limit={limit}&before={iso(resume)}"
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


@bp.get("/orgs/<org>/monitors/<ref>/response-times")
async def response_times(org: str, ref: str) -> Response:
    """Each region's response times over ``?range=`` (24h, 7d, 30d or 90d), from
    the hourly rollups, a point per step (an hour up to 7 days, then 4 and 12)."""
    monitor = await _monitor(org, ref)
    span = query_choice("range", tuple(CHART_STEPS), "24h")
    now = to_millisecond(parts().registry.clock.now())
    step = CHART_STEPS[span]
    start = chart_start(now, WINDOWS[span], step)
    series = response_series(await region_rollups(parts().store, monitor.id, start), start, step)
    for region in series:
        for point in region["points"]:
            point["at"] = iso(point["at"])
    return json_response(
        {
            "monitor": monitor.id,
            "range": span,
            "from": iso(start),
            "at": iso(now),
            "step_seconds": int(step.total_seconds()),
            "regions": series,
        }
    )


@bp.get("/orgs/<org>/monitors/<ref>/incidents")
async def monitor_incidents(org: str, ref: str) -> Response:
    """The incidents the monitor opened (its last 20), most recently started first;
    one deleted since is left out."""
    handle = await parts().registry.org(org)
    monitor = find_monitor(handle.state, ref)
    ids = list(monitor.opened_incidents)
    if monitor.incident_id and monitor.incident_id not in ids:
        ids.append(monitor.incident_id)  # opened before monitors kept the list
    found = []
    for incident_id in ids:
        with contextlib.suppress(NotFound):
            found.append(await find_incident(handle, incident_id))
    found.sort(key=lambda i: i.started_at, reverse=True)
    return json_response({"data": [i.to_dict() for i in found]})


@bp.get("/orgs/<org>/uptime")
async def org_uptime(org: str) -> Response:
    """Every monitor's uptime over 24 hours and 30 days (the verdict's, as
    ``.../uptime`` says it) and its hourly response times over the last 24
    hours: what a list of the monitors shows."""
    handle = await parts().registry.org(org)
    monitors = sorted(handle.state.monitors.values(), key=lambda m: m.name.casefold())
    store, now = parts().store, to_millisecond(parts().registry.clock.now())
    changes: dict[str, list[dict[str, Any]]] = {}
    for row in await org_verdicts(store, handle.stream, now - WINDOWS["30d"]):
        changes.setdefault(row["monitor"], []).append(row)
    hours: dict[str, list[dict[str, Any]]] = {}
    for row in await monitors_rollups(store, [m.id for m in monitors], since_days(now, 1)):
        point = hour_point(row)
        point["hour"] = iso(point["hour"])
        hours.setdefault(row["monitor"], []).append(point)
    data = []
    for monitor in monitors:
        spans = verdict_spans(
            changes.get(monitor.id, []),
            monitor.verdict.value,
            monitor.verdict_since or monitor.created_at,
            now,
        )
        uptimes = {w: share(*measure(spans, now - WINDOWS[w], now)) for w in ("24h", "30d")}
        data.append(
            {
                "monitor": monitor.id,
                "verdict": monitor.verdict.value,
                "uptime": uptimes,
                "response_times": hours.get(monitor.id, []),
            }
        )
    return json_response({"at": iso(now), "data": data})


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
