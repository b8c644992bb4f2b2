"""Words, formats and layout the pages share with their JavaScript.

The public page is drawn twice: by the server (its first paint, and all of it
without JavaScript) and by ``web/static/status.js`` as events arrive. So that
both say the same thing, the words come from here only: the page embeds
:data:`LABELS` for the script, and the script formats times the way
:func:`when` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ..domain import looks
from ..domain.model import Service

STATUS_WORDS: Mapping[str, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
STATUS_ICONS: Mapping[str, str] = {
    "operational": "✓",
    "degraded_performance": "▲",
    "partial_outage": "◆",
    "major_outage": "✕",
    "under_maintenance": "⚙",
}
INDICATOR_ICONS: Mapping[str, str] = {
    "none": "✓",
    "minor": "▲",
    "major": "◆",
    "critical": "✕",
    "maintenance": "⚙",
}
PROGRESS_WORDS: Mapping[str, str] = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
IMPACT_WORDS: Mapping[str, str] = {
    "none": "No impact",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
}
# Badge colours (text is white on them, AA contrast or better).
BADGE_COLOURS: Mapping[str, str] = {
    "none": "#137333",
    "operational": "#137333",
    "minor": "#8a5300",
    "degraded_performance": "#8a5300",
    "major": "#b3410e",
    "partial_outage": "#b3410e",
    "critical": "#b3261e",
    "major_outage": "#b3261e",
    "maintenance": "#1a5fb4",
    "under_maintenance": "#1a5fb4",
    "info": "#1a5fb4",  # a figure that is neither good nor bad (a response time)
    "unknown": "#5f6368",  # no data yet
}

LABELS: Mapping[str, Mapping[str, str]] = {
    "status": STATUS_WORDS,
    "status_icon": STATUS_ICONS,
    "indicator_icon": INDICATOR_ICONS,
    "progress": PROGRESS_WORDS,
    "impact": IMPACT_WORDS,
}

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def when(moment: datetime | str | None, zone: str = "UTC") -> str:
    """``Nov 22, 12:05 UTC``, or in ``zone`` ``Nov 22, 13:05 UTC+1``: how the
    pages show a moment (status.js: ``when``)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = moment.astimezone(UTC) if zone == "UTC" else looks.local(moment, zone)
    label = looks.zone_label(moment.utcoffset())
    return f"{MONTHS[moment.month - 1]} {moment.day}, {moment.hour:02d}:{moment.minute:02d} {label}"


def day(d: date) -> str:
    """``Nov 22, 2026`` (status.js: ``day``)."""
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def visible(service: Service) -> bool:
    """Whether the public page lists a service (status.js: ``visible``)."""
    return not (service.only_show_if_degraded and service.status.value == "operational")


def layout(
    services: Iterable[Service], groups: Mapping[str, str]
) -> list[tuple[str | None, list[Service]]]:
    """Services in page order, runs of one group gathered under it, each group
    where its first service is (status.js: ``layout``)."""
    blocks: list[tuple[str | None, list[Service]]] = []
    index: dict[str, int] = {}
    for service in services:
        if not visible(service):
            continue
        gid = service.group_id
        if gid is None or gid not in groups:
            blocks.append((None, [service]))
        elif gid in index:
            blocks[index[gid]][1].append(service)
        else:
            index[gid] = len(blocks)
            blocks.append((gid, [service]))
    return blocks


def services_named(ids: Iterable[str], names: Mapping[str, str]) -> str:
    return ", ".join(names[i] for i in ids if i in names)


def page_json(**parts: Any) -> dict[str, Any]:
    """What the page embeds for its script."""
    return {"labels": LABELS, **parts}
