"""Read-only views of an organization: topic snapshots and list queries.

``status:<org>`` subscribers get :func:`public_snapshot` (what the public page
shows), ``org:<org>`` subscribers :func:`member_snapshot` (the same with
authors and internal fields). Both carry everything a client needs to render
the present; history comes from the REST lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .model import (
    MAINTENANCE_OVER,
    Incident,
    Maintenance,
    MaintenanceStatus,
    OrgState,
    Service,
    iso_or_none,
)


def ordered_services(state: OrgState) -> list[Service]:
    return sorted(state.services.values(), key=lambda s: (s.position, s.name.casefold()))


def active_incidents(state: OrgState) -> list[Incident]:
    return sorted(
        (i for i in state.incidents.values() if i.active), key=lambda i: i.started_at, reverse=True
    )


def incidents_newest_first(state: OrgState) -> list[Incident]:
    return sorted(state.incidents.values(), key=lambda i: i.started_at, reverse=True)


def open_maintenances(state: OrgState) -> list[Maintenance]:
    """Scheduled and running maintenances, soonest first."""
    return sorted(
        (m for m in state.maintenances.values() if m.status not in MAINTENANCE_OVER),
        key=lambda m: m.scheduled_for,
    )


def maintenances_newest_first(state: OrgState) -> list[Maintenance]:
    return sorted(state.maintenances.values(), key=lambda m: m.scheduled_for, reverse=True)


def _snapshot(state: OrgState, *, public: bool) -> dict[str, Any]:
    org = state.org.to_dict()
    return {
        "org": {"slug": org["slug"], "name": org["name"], "id": org["id"]},
        "updated_at": iso_or_none(state.updated_at),
        "status": state.status.to_dict(),
        "groups": [g.to_dict() for g in state.groups.values()],
        "services": [s.to_dict(public=public) for s in ordered_services(state)],
        "incidents": [i.to_dict(public=public) for i in active_incidents(state)],
        "maintenances": [m.to_dict(public=public) for m in open_maintenances(state)],
    }


def public_snapshot(state: OrgState) -> dict[str, Any]:
    return _snapshot(state, public=True)


def member_snapshot(state: OrgState) -> dict[str, Any]:
    """The public snapshot with private fields, and the monitors."""
    snapshot = _snapshot(state, public=False)
    snapshot["monitors"] = [
        m.to_dict() for m in sorted(state.monitors.values(), key=lambda m: m.name.casefold())
    ]
    return snapshot


INCIDENT_FILTERS = ("all", "active", "resolved")
MAINTENANCE_FILTERS = ("all", "open", "upcoming", "running", "over")


def filter_incidents(state: OrgState, which: str) -> list[Incident]:
    items: Iterable[Incident] = incidents_newest_first(state)
    if which == "active":
        items = (i for i in items if i.active)
    elif which == "resolved":
        items = (i for i in items if not i.active)
    return list(items)


def filter_maintenances(state: OrgState, which: str) -> list[Maintenance]:
    items: Iterable[Maintenance] = maintenances_newest_first(state)
    if which == "open":
        items = (m for m in items if m.status not in MAINTENANCE_OVER)
    elif which == "upcoming":
        items = (m for m in items if m.status is MaintenanceStatus.SCHEDULED)
    elif which == "running":
        items = (m for m in items if m.running)
    elif which == "over":
        items = (m for m in items if m.status in MAINTENANCE_OVER)
    return list(items)
