"""The public status page, its history, feeds and badges.

``/status/<org>`` is drawn on the server, complete without JavaScript; it
embeds the public snapshot and the public topic's ``seq`` it was drawn from,
so that ``web/static/status.js`` subscribes with ``since`` and misses nothing
between the drawing and the subscription. What is drawn is kept until what it
shows changes (:mod:`.drawings`). Two small documents serve the script: what
happened on each day of the bars (``days.json``, for the days' popovers) and
the response-time charts (``response-times.json``, for a service that starts
showing one while the page is open).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from quart import Blueprint, Response, render_template, request

from ..actors.org import OrgHandle
from ..domain import history, looks, views
from ..domain.model import Incident, Maintenance, Org, OrgState, to_millisecond
from ..domain.monitors import Monitor, MonitorKind
from ..errors import NotFound, ValidationError
from ..monitoring import uptime
from ..monitoring.uptime import daily_shares, verdict_spans
from ..notify.deliveries import Notifier
from ..store.history import status_changes
from ..store.monitoring import monitor_verdicts, org_verdicts, rollups, since_days
from . import charts, drawings, hosts, markdown, render
from .common import parts, query_int
from .hosts import page_path
from .past import find_incident, incidents_newest_first
from .web import compressed, page_headers

bp = Blueprint("pages", __name__)

BAR_DAYS = 90
PHONE_DAYS = 30  # the days a bar shows on a phone (switchboard.css)
RECENT_DAYS = 14
HISTORY_PAGE = 20
FEED_ENTRIES = 50

PUBLIC_PAGE = {"Cache-Control": "no-cache", **page_headers()}


async def _org(slug: str) -> OrgHandle:
    return await parts().registry.org(slug)


def _headers(org: Org) -> dict[str, str]:
    """A page of ``org``'s: its logo's origin, if elsewhere, may serve images."""
    logo = org.logo_url
    if logo is None or not logo.startswith("https://"):
        return PUBLIC_PAGE
    parts_ = urlsplit(logo)  # checked by the domain: a plain host[:port]
    return {"Cache-Control": "no-cache", **page_headers(images=f"https://{parts_.netloc}")}


async def _page(template: str, status: int = 200, **context: Any) -> Response:
    body = await render_template(template, **context)
    org = context.get("org")
    headers = _headers(org) if isinstance(org, Org) else PUBLIC_PAGE
    return Response(body, status, headers, content_type="text/html; charset=utf-8")


async def _missing(message: str) -> Response:
    return await _page("not_found.html", 404, message=message)


# -- bars -----------------------------------------------------------------------


async def _service_bars(handle: OrgHandle, now: datetime) -> tuple[float, dict[str, history.Bar]]:
    """Each service's daily bars, and when they were worked out (kept a while:
    see :func:`drawings.figures`)."""
    state = handle.state

    async def work() -> dict[str, history.Bar]:
        since = now - timedelta(days=BAR_DAYS + 1)
        changes = await status_changes(parts().store, handle.stream, since)
        bars = history.bars(state.services.values(), changes, now, BAR_DAYS)
        if state.monitors:
            measured = await _measured_uptimes(state, since, now)
            bars = {
                sid: history.with_checks(bar, measured.get(sid, {})) for sid, bar in bars.items()
            }
        return bars

    return await drawings.figures("bars", handle.stream, state.version, work)


async def _service_hours(
    handle: OrgHandle, now: datetime
) -> tuple[float, dict[str, list[charts.Hour]]]:
    """The hours the response-time charts show, and when they were read (kept
    as the bars are)."""
    state = handle.state
    return await drawings.figures(
        "response-times", handle.stream, state.version, lambda: charts.service_hours(state, now)
    )


async def _measured_uptimes(
    state: OrgState, since: datetime, now: datetime
) -> dict[str, dict[date, float]]:
    """Per service and day, the uptime its monitors' verdicts say (the worst of
    them): the share of the day a monitor's verdict was known and not down."""
    changes: dict[str, list[dict[str, Any]]] = {}
    for row in await org_verdicts(parts().store, f"org:{state.org.slug}", since):
        changes.setdefault(row["monitor"], []).append(row)
    out: dict[str, dict[date, float]] = {}
    for monitor in state.monitors.values():
        spans = verdict_spans(
            changes.get(monitor.id, []),
            monitor.verdict.value,
            monitor.verdict_since or monitor.created_at,
            now,
        )
        days = out.setdefault(monitor.service_id, {})
        for day, share in daily_shares(spans, since.astimezone(UTC).date(), now).items():
            days[day] = min(share, days.get(day, 1.0))
    return out


def day_label(date_text: str, status: str | None, uptime: str | None) -> str:
    """A bar cell's words (status.js: ``dayLabel``)."""
    if status is None:
        return f"{date_text}: no data"
    return f"{date_text}: {render.STATUS_WORDS[status]}, {uptime} uptime"


def percent(share: float | None) -> str | None:
    return None if share is None else f"{share * 100:.2f}%"


def bar_view(bar: history.Bar) -> dict[str, Any]:
    """A bar as both the template and status.js draw it."""
    days = []
    for d in bar.days:
        status = None if d.status is None else d.status.value
        date_text = render.day(d.day)
        uptime = percent(d.uptime)
        days.append(
            {
                "iso": d.day.isoformat(),
                "date": date_text,
                "status": status,
                "uptime": uptime,
                "label": day_label(date_text, status, uptime),
            }
        )
    total = percent(bar.uptime)
    uptime_text = f"{total} uptime" if total else "No data"
    return {
        "days": days,
        "uptime_text": uptime_text,
        "summary": f"Last {len(days)} days: {uptime_text}",
    }


# -- the page -------------------------------------------------------------------


def _context(state: OrgState) -> dict[str, Any]:
    org = state.org
    return {
        "org": org,
        "slug": org.slug,
        "root": page_path(org.slug),  # where the page's links start on this host
        "names": {s.id: s.name for s in state.services.values()},
        "groups": {g.id: g.name for g in state.groups.values()},
        "overall": state.status.to_dict(),
        "offer": offered(state, parts().notifier),
        "time_zone": org.time_zone,
        "theme_url": theme_url(org),
    }


def offered(state: OrgState, notifier: Notifier | None) -> list[str]:
    """The ways the organization's page offers to subscribe: those it chose
    that this server can send (email needs a mail server; nothing is sent
    without a notifier). The feeds are always offered."""
    if notifier is None:
        return []
    possible = {"webhook", "email"} if notifier.settings.smtp.enabled else {"webhook"}
    return [k.value for k in state.org.subscriptions if k.value in possible]


# -- the organization's look ----------------------------------------------------------


def _theme_version(org: Org) -> str:
    return (org.accent_color or "#none")[1:]


def theme_url(org: Org) -> str:
    """Its stylesheet (status.js: ``themeUrl``): the accent, as custom properties
    the page's own stylesheet reads (the page's CSP allows no inline style)."""
    return f"{page_path(org.slug)}/theme.css?v={_theme_version(org)}"


def theme_css(org: Org) -> str:
    accent = org.accent_color
    if accent is None:
        return "/* No accent colour: the page's own. */\n"
    dark = looks.for_dark(accent)
    light_vars = f"--accent: {accent}; --link: {accent}; --focus: {accent};"
    dark_vars = f"--accent: {dark}; --link: {dark}; --focus: {dark};"
    return (
        f"/* {org.slug}'s accent colour, and its shade for the dark theme (AA on both). */\n"
        f":root {{ {light_vars} }}\n"
        "@media (prefers-color-scheme: dark) {\n"
        f'  :root:not([data-theme="light"]) {{ {dark_vars} }}\n'
        "}\n"
        f':root[data-theme="dark"] {{ {dark_vars} }}\n'
    )


@bp.get("/status/<org>/theme.css")
async def theme(org: str) -> Response:
    try:
        found = (await _org(org)).state.org
    except NotFound:
        return Response("/* no such status page */\n", 404, content_type="text/css; charset=utf-8")
    if request.args.get("v") == _theme_version(found):
        cache = "public, max-age=31536000, immutable"  # a new accent has a new link
    else:
        cache = "no-cache"
    body = theme_css(found)
    return Response(body, 200, {"Cache-Control": cache}, content_type="text/css; charset=utf-8")


@bp.get("/status/<org>")
async def status_page(org: str) -> Response:
    try:
        handle = await _org(org)
    except NotFound:
        return await _missing(f"There is no status page called {org!r}.")
    state = handle.state
    now = datetime.now(UTC)
    made, service_bars = await _service_bars(handle, now)
    read, hours = await _service_hours(handle, now)
    stamp = (state.version, made, read)
    body, gz = await drawings.drawn(
        ("page", handle.stream, page_path(org)),
        stamp,
        lambda: _draw_status(state, service_bars, hours, now),
    )
    return compressed(body, gz, _headers(state.org), "text/html; charset=utf-8")


async def _draw_status(
    state: OrgState,
    service_bars: dict[str, history.Bar],
    hours: dict[str, list[charts.Hour]],
    now: datetime,
) -> str:
    snapshot = views.public_snapshot(state)
    bars = {sid: bar_view(bar) for sid, bar in service_bars.items()}
    recent = history.recent_days(state.incidents.values(), now, RECENT_DAYS)
    days = [(render.day(d), [i.to_dict(public=True) for i in items]) for d, items in recent]
    context = _context(state)
    blocks = [
        (gid, [s.to_dict(public=True) for s in members])
        for gid, members in render.layout(views.ordered_services(state), context["groups"])
    ]
    data = render.page_json(
        org=state.org.slug,
        root=context["root"],
        seq=state.public_seq,
        snapshot=snapshot,
        today=now.date().isoformat(),
        bar_days=BAR_DAYS,
        phone_days=PHONE_DAYS,
        recent_days=RECENT_DAYS,
        past=[i for _, items in days for i in items],
        time_zone=state.org.time_zone,
    )
    return await render_template(
        "status.html",
        live=True,
        snapshot=snapshot,
        blocks=blocks,
        bars=bars,
        charts=charts.chart_views(hours, state, now),
        phone_days=PHONE_DAYS,
        days=days,
        data=data,
        **context,
    )


@bp.get("/status/<org>/history")
async def history_page(org: str) -> Response:
    try:
        handle = await _org(org)
    except NotFound:
        return await _missing(f"There is no status page called {org!r}.")
    state = handle.state
    page = query_int("page", 1, 1, 100_000)
    upto = page * HISTORY_PAGE + 1  # one more than the page, to know if another follows
    known, _ = await incidents_newest_first(handle, "resolved", upto)
    items, more = history.page_of(history.past_incidents(known), page, HISTORY_PAGE)
    months: list[tuple[str, list[dict[str, Any]]]] = []
    for incident in items:
        month = incident.started_at.astimezone(UTC).strftime("%B %Y")
        if not months or months[-1][0] != month:
            months.append((month, []))
        months[-1][1].append(incident.to_dict(public=True))
    return await _page(
        "history.html", live=False, months=months, page=page, more=more, **_context(state)
    )


@bp.get("/status/<org>/incidents/<incident>")
async def incident_page(org: str, incident: str) -> Response:
    try:
        handle = await _org(org)
        item = handle.state.incidents.get(incident)
        if item is None:
            item = await find_incident(handle, incident)
    except NotFound:
        return await _missing(f"There is no incident {incident!r} on {org!r}'s status page.")
    return await _page(
        "incident.html", live=False, item=item.to_dict(public=True), **_context(handle.state)
    )


@bp.get("/status/<org>/maintenances/<maintenance>")
async def maintenance_page(org: str, maintenance: str) -> Response:
    """One maintenance (its ``shortlink``), as the incident page shows an incident."""
    missing = f"There is no maintenance {maintenance!r} on {org!r}'s status page."
    try:
        state = (await _org(org)).state
    except NotFound:
        return await _missing(missing)
    item = state.maintenances.get(maintenance)
    if item is None:
        return await _missing(missing)
    return await _page(
        "maintenance.html", live=False, item=item.to_dict(public=True), **_context(state)
    )


# -- what the script reads ------------------------------------------------------


# Cached by browsers and proxies, asked again each time (a 304 while unchanged).
PUBLIC_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}


def _public_document(etag: str, build: Callable[[], dict[str, Any]]) -> Response:
    """A small JSON document of the public page, revalidated by its ``ETag``."""
    headers = {**PUBLIC_HEADERS, "ETag": f'"{etag}"'}
    if request.if_none_match.contains(etag):
        return Response(b"", 304, headers)
    return Response(orjson.dumps(build()), 200, headers, content_type="application/json")


@bp.get("/status/<org>/days.json")
async def days_document(org: str) -> Response:
    """What happened on each day of the bars: per service, the incidents that
    named it and the maintenances that covered it, day by day."""
    state = (await _org(org)).state
    now = datetime.now(UTC)
    etag = f"v{state.version}-{now.date().isoformat()}"  # spans still open end today
    return _public_document(etag, lambda: _days(state, now))


def _days(state: OrgState, now: datetime) -> dict[str, Any]:
    touched = history.days_touched(
        state.incidents.values(), state.maintenances.values(), now, BAR_DAYS
    )
    items: dict[str, Any] = {}
    for incident in state.incidents.values():
        if any(incident.id in ids for days in touched.values() for ids in days.values()):
            items[incident.id] = {
                "kind": "incident",
                "name": incident.name,
                "url": f"/status/{state.org.slug}/incidents/{incident.id}",
                "tag": render.IMPACT_WORDS[incident.impact.value],
                "window": _window(incident.started_at, incident.resolved_at),
            }
    for m in state.maintenances.values():
        if any(m.id in ids for days in touched.values() for ids in days.values()):
            assert m.started_at is not None  # only maintenances that ran touch a day
            items[m.id] = {
                "kind": "maintenance",
                "name": m.name,
                "url": f"/status/{state.org.slug}/maintenances/{m.id}",
                "tag": "Maintenance",
                "window": _window(m.started_at, m.completed_at),
            }
    return {
        "today": now.date().isoformat(),
        "days": BAR_DAYS,
        "services": {
            sid: {d.isoformat(): ids for d, ids in sorted(days.items())}
            for sid, days in touched.items()
        },
        "items": items,
    }


def _window(start: datetime, end: datetime | None) -> str:
    return f"{render.when(start)} to {render.when(end)}" if end else f"Since {render.when(start)}"


@bp.get("/status/<org>/response-times.json")
async def response_times_document(org: str) -> Response:
    """The response-time chart of each service that shows one, as the page draws it."""
    handle = await _org(org)
    state = handle.state
    now = datetime.now(UTC)
    read, hours = await _service_hours(handle, now)
    etag = f"v{state.version}-{read:.3f}-{charts.first_hour(now):%Y%m%d%H}"
    return _public_document(etag, lambda: {"services": charts.chart_views(hours, state, now)})


# -- feeds ----------------------------------------------------------------------


def _updates_html(item: Incident | Maintenance) -> str:
    parts_ = []
    if isinstance(item, Incident) and item.postmortem is not None:
        parts_.append(f"<h3>Postmortem</h3>\n{markdown.render(item.postmortem.body, 4)}")
    for update in reversed(item.updates):
        words = render.PROGRESS_WORDS.get(update.status, update.status)
        body = f" - {html.escape(update.body)}" if update.body else ""
        parts_.append(
            f"<p><small>{render.when(update.created_at)}</small><br>"
            f"<strong>{words}</strong>{body}</p>"
        )
    return "".join(parts_)


def _entries(state: OrgState, page_url: str) -> list[dict[str, Any]]:
    items: Iterable[Incident | Maintenance] = [
        *state.incidents.values(),
        *state.maintenances.values(),
    ]
    newest = sorted(items, key=lambda i: i.updated_at, reverse=True)[:FEED_ENTRIES]
    entries = []
    for item in newest:
        if isinstance(item, Incident):
            link = f"{page_url}/incidents/{item.id}"
            published = item.started_at
        else:
            link = f"{page_url}/maintenances/{item.id}"
            published = item.created_at
        entries.append(
            {
                "title": item.name,
                "link": link,
                "guid": f"{page_url}#{item.id}",
                "published": published,
                "updated": item.updated_at,
                "html": _updates_html(item),
            }
        )
    return entries


async def _feed(org: str, template: str, content_type: str) -> Response:
    try:
        handle = await _org(org)
    except NotFound:
        return Response("no such status page\n", 404, content_type="text/plain; charset=utf-8")
    state = handle.state
    etag = f"v{state.version}"
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": "public, max-age=60",
        "Access-Control-Allow-Origin": "*",
    }
    if request.if_none_match.contains(etag):
        return Response(b"", 304, headers)
    page_url = hosts.page_url(org)
    body, gz = await drawings.drawn(
        (template, handle.stream, page_url),
        (state.version,),
        lambda: render_template(
            template,
            org=state.org,
            page_url=page_url,
            entries=_entries(state, page_url),
            updated=state.updated_at or state.org.created_at,
        ),
    )
    return compressed(body, gz, headers, content_type)


@bp.get("/status/<org>/history.rss")
async def history_rss(org: str) -> Response:
    return await _feed(org, "history.rss.xml", "application/rss+xml; charset=utf-8")


@bp.get("/status/<org>/history.atom")
async def history_atom(org: str) -> Response:
    return await _feed(org, "history.atom.xml", "application/atom+xml; charset=utf-8")


# -- badges ---------------------------------------------------------------------

_CHAR = 6.6  # average advance of 11px Verdana, in pixels


def _width(text: str) -> int:
    return round(len(text) * _CHAR) + 12


async def _badge(
    key: tuple[str, ...],
    label: str,
    message: str,
    colour_key: str,
    version: int,
    *,
    etag: str | None = None,
) -> Response:
    """A badge, drawn once per ``version`` of what it shows, with that as its
    ETag; or, for one whose words do not follow a version (a monitor's
    figures), once per words, with ``etag`` made from them."""
    if etag is None:
        etag, stamp = f"v{version}", (float(version),)
    else:
        key, stamp = (*key, message), (0.0,)
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
    if request.if_none_match.contains(etag):
        return Response(b"", 304, headers)
    body, gz = await drawings.drawn(
        (*key, label),
        stamp,
        lambda: render_template(
            "badge.svg.xml",
            label=label,
            message=message,
            colour=render.BADGE_COLOURS[colour_key],
            left=_width(label),
            right=_width(message),
        ),
    )
    return compressed(body, gz, headers, "image/svg+xml; charset=utf-8")


def _badge_missing(what: str) -> Response:
    return Response(f"no such {what}\n", 404, content_type="text/plain; charset=utf-8")


@bp.get("/status/<org>/badge.svg")
async def badge(org: str) -> Response:
    try:
        state = (await _org(org)).state
    except NotFound:
        return _badge_missing("status page")
    status = state.status
    label = request.args.get("label", "status")[:40]
    return await _badge(
        ("badge", org), label, status.description, status.indicator.value, state.version
    )


@bp.get("/status/<org>/services/<service>/badge.svg")
async def service_badge(org: str, service: str) -> Response:
    try:
        state = (await _org(org)).state
    except NotFound:
        return _badge_missing("status page")
    folded = service.casefold()
    found = state.services.get(service) or next(
        (s for s in state.services.values() if s.name.casefold() == folded), None
    )
    if found is None:
        return _badge_missing("service")
    label = request.args.get("label", found.name)[:40]
    words = render.STATUS_WORDS[found.status.value]
    return await _badge(
        ("badge", org, found.id), label, words.lower(), found.status.value, state.version
    )


# -- monitors' badges -------------------------------------------------------------

BADGE_WINDOWS = ("24h", "7d", "30d")


def public_monitor(state: OrgState, monitor_id: str) -> Monitor | None:
    """A monitor whose badges anyone may see: named by its id (its name is the
    members'), of a service the public page lists. A service kept off the page
    while it works (``only_show_if_degraded``) keeps its monitors' figures to
    the members too. To everyone else such a monitor does not exist."""
    monitor = state.monitors.get(monitor_id)
    if monitor is None:
        return None
    service = state.services.get(monitor.service_id)
    if service is None or service.only_show_if_degraded:
        return None
    return monitor


Figure = Callable[[Monitor, datetime], Awaitable[tuple[str, str]]]


async def _monitor_badge(
    org: str, monitor_id: str, what: str, default_label: str, figure: Figure
) -> Response:
    """A monitor's badge: ``figure(state, monitor, now)`` gives its words and
    colour, kept a minute per organization version (see drawings.figure)."""
    try:
        handle = await _org(org)
    except NotFound:
        return _badge_missing("status page")
    state = handle.state
    monitor = public_monitor(state, monitor_id)
    if monitor is None:
        return _badge_missing("monitor")
    label = request.args.get("label", default_label)[:40]
    message, colour = await drawings.figure(
        ("figure", org, monitor.id, what),
        state.version,
        lambda: figure(monitor, to_millisecond(parts().registry.clock.now())),
    )
    digest = hashlib.blake2b(f"{label}\0{message}\0{colour}".encode(), digest_size=8)
    return await _badge(
        ("badge", org, monitor.id, what),
        label,
        message,
        colour,
        state.version,
        etag=f"m{digest.hexdigest()}",
    )


def uptime_colour(percent: float) -> str:
    """Green from 99.9 %, then amber, orange (from 95 %) and red."""
    if percent >= 99.9:
        return "operational"
    if percent >= 99.0:
        return "degraded_performance"
    return "partial_outage" if percent >= 95.0 else "major_outage"


@bp.get("/status/<org>/monitors/<monitor>/uptime.svg")
async def uptime_badge(org: str, monitor: str) -> Response:
    """The monitor's uptime over ``?window=`` 24h (the default), 7d or 30d,
    from its verdicts, as its uptime report works it out."""
    window = request.args.get("window", "24h")
    if window not in BADGE_WINDOWS:
        raise ValidationError(
            f"window must be one of {', '.join(BADGE_WINDOWS)}; got {window!r}", field="window"
        )

    async def figure(found: Monitor, now: datetime) -> tuple[str, str]:
        since = now - uptime.WINDOWS[window]
        changes = await monitor_verdicts(parts().store, found.id, since)
        spans = verdict_spans(
            changes, found.verdict.value, found.verdict_since or found.created_at, now
        )
        found_share = uptime.share(*uptime.measure(spans, since, now))
        if found_share is None:
            return "no data", "unknown"
        return f"{found_share:.2f}%", uptime_colour(found_share)

    return await _monitor_badge(org, monitor, f"uptime-{window}", f"uptime {window}", figure)


@bp.get("/status/<org>/monitors/<monitor>/response-time.svg")
async def response_time_badge(org: str, monitor: str) -> Response:
    """The monitor's average response time over the last 24 hours (every
    region's checks, from the hourly rollups)."""

    async def figure(found: Monitor, now: datetime) -> tuple[str, str]:
        rows = await rollups(parts().store, found.id, since_days(now, 1))
        count = sum(r["latency_count"] or 0 for r in rows)
        if not count:
            return "no data", "unknown"
        return f"{sum(r['latency_sum'] or 0 for r in rows) / count:,.0f} ms", "info"

    return await _monitor_badge(org, monitor, "response-time", "response 24h", figure)


@bp.get("/status/<org>/monitors/<monitor>/certificate.svg")
async def certificate_badge(org: str, monitor: str) -> Response:
    """A TLS monitor's certificate: the days left until it expires, as the
    last check that saw it found (amber within its ``days_before_expiry``)."""

    async def figure(found: Monitor, now: datetime) -> tuple[str, str]:
        monitoring = parts().monitoring
        expires = monitoring.cert_expires.get(found.id) if monitoring is not None else None
        if found.kind is not MonitorKind.TLS:
            return "not checked", "unknown"
        if expires is None:
            return "no data", "unknown"
        days = int((expires - now).total_seconds() // 86_400)
        if expires <= now:
            return "expired", "major_outage"
        warn = int(found.spec.get("days_before_expiry", 14))
        words = "1 day" if days == 1 else f"{days} days"
        return words, "degraded_performance" if days < warn else "operational"

    return await _monitor_badge(org, monitor, "certificate", "certificate", figure)
