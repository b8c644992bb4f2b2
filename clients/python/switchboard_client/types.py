"""What the server sends, as TypedDicts: command results, snapshots and events' data.

They describe the JSON the client hands over unchanged (a result is a
``dict``), so they cost nothing at run time and let a type checker follow
the fields::

    service: Service = await client.service_update("demo", service="API", status="major_outage")
    if event.name == "service.updated":
        data = cast(ServiceUpdated, event.data)
        print(data["service"]["status"], data.get("previous_status"))

Fields the server leaves out when they are null are ``NotRequired``; see
docs/protocol.md and docs/api.md for what each means.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from ._commands import (
    Impact,
    IncidentStatus,
    MaintenanceStatus,
    MonitorKind,
    MonitorPolicy,
    ServiceStatus,
)

# -- entities: what commands answer, and events carry ------------------------------


class Org(TypedDict):
    """An organization (``org.update``'s result)."""

    id: str
    slug: str
    name: str
    listed: bool
    region_labels: dict[str, str]
    monitor_texts: dict[str, str]
    created_at: str
    updated_at: str


class Group(TypedDict):
    """A group of services on the page."""

    id: str
    name: str
    created_at: str
    updated_at: str


class Service(TypedDict):
    """A service (component) and its status."""

    id: str
    name: str
    description: NotRequired[str | None]
    group_id: NotRequired[str | None]
    position: int
    status: ServiceStatus
    showcase: bool
    only_show_if_degraded: bool
    created_at: str
    updated_at: str
    manual_status: NotRequired[ServiceStatus]  # members only: what a person set
    failing_regions: NotRequired[list[str]]
    seen_from: NotRequired[list[str]]


class AffectedService(TypedDict):
    """A service an update moved, and how."""

    service_id: str
    name: str
    old_status: ServiceStatus
    new_status: ServiceStatus


class Update(TypedDict):
    """One entry of an incident's or a maintenance's timeline."""

    id: str
    status: str
    body: str
    created_at: str
    affected_services: list[AffectedService]
    author: NotRequired[str | None]  # members only


class Postmortem(TypedDict):
    """An incident's postmortem (Markdown)."""

    body: str
    published_at: str
    updated_at: str


class Incident(TypedDict):
    """An incident; ``notes_room`` (members only) is its room's id."""

    id: str
    name: str
    status: IncidentStatus
    impact: Impact
    services: dict[str, ServiceStatus]
    updates: list[Update]
    created_at: str
    updated_at: str
    started_at: str
    monitoring_at: NotRequired[str | None]
    resolved_at: NotRequired[str | None]
    postmortem: NotRequired[Postmortem | None]
    impact_override: NotRequired[bool]
    notes_room: NotRequired[str]


class Maintenance(TypedDict):
    """A scheduled maintenance window."""

    id: str
    name: str
    status: MaintenanceStatus
    scheduled_for: str
    scheduled_until: str
    service_ids: list[str]
    updates: list[Update]
    created_at: str
    updated_at: str
    started_at: NotRequired[str | None]
    completed_at: NotRequired[str | None]
    auto_start: NotRequired[bool]
    auto_complete: NotRequired[bool]


class Monitor(TypedDict):
    """An uptime monitor, as members see it (``verdict``: up, degraded, down...)."""

    id: str
    name: str
    service_id: str
    kind: MonitorKind
    verdict: str
    verdict_since: NotRequired[str | None]
    failing_regions: list[str]
    spec: NotRequired[dict[str, Any]]
    interval: NotRequired[int]
    regions: NotRequired[list[str]]
    quorum: NotRequired[int]
    down_after: NotRequired[int]
    up_after: NotRequired[int]
    policy: NotRequired[MonitorPolicy]
    down_status: NotRequired[ServiceStatus]
    grace: NotRequired[int]
    resolve_after: NotRequired[int]
    paused: NotRequired[bool]
    error: NotRequired[str | None]
    incident_id: NotRequired[str | None]
    flapping: NotRequired[bool]
    heartbeat_token: NotRequired[str]  # once, in monitor.create's result
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class Deleted(TypedDict):
    """What a ``*.delete`` command answers."""

    deleted: str


class OverallStatus(TypedDict):
    """The page's overall status."""

    indicator: str  # none, minor, major, critical, maintenance
    description: str


class StatusSnapshot(TypedDict):
    """The snapshot of a ``status:`` or ``org:`` topic (``Subscription.snapshot``)."""

    org: Org
    updated_at: str
    status: OverallStatus
    groups: list[Group]
    services: list[Service]
    incidents: list[Incident]
    maintenances: list[Maintenance]
    monitors: NotRequired[list[Monitor]]  # org: topics only


# -- events' data ------------------------------------------------------------------


class OrgUpdated(TypedDict):
    """``org.updated``."""

    org: Org


class GroupChanged(TypedDict):
    """``group.created``, ``group.updated``."""

    group: Group


class ServiceChanged(TypedDict):
    """``service.created``."""

    service: Service


class ServiceUpdated(TypedDict):
    """``service.updated``: ``cause`` is the incident or maintenance that moved it."""

    service: Service
    previous_status: NotRequired[ServiceStatus]
    cause: NotRequired[str]


class IncidentChanged(TypedDict):
    """``incident.created``, ``incident.updated``."""

    incident: Incident


class MaintenanceChanged(TypedDict):
    """``maintenance.created``, ``maintenance.updated``."""

    maintenance: Maintenance


class MonitorChanged(TypedDict):
    """``monitor.created``, ``monitor.updated`` (members only)."""

    monitor: Monitor


class EntityDeleted(TypedDict):
    """``*.deleted`` (``service.deleted`` adds ``name``)."""

    id: str
    name: NotRequired[str]


class StatusChanged(TypedDict):
    """``status.changed``: the page's overall status moved."""

    status: OverallStatus


class ProbeState(TypedDict):
    """``probe.offline``, ``probe.online``: a region's probe went silent, or reports again."""

    region: str
    last_seen: str | None
    monitors: list[dict[str, str]]


#: Which TypedDict each event's ``data`` is.
EVENT_DATA: dict[str, type] = {
    "org.updated": OrgUpdated,
    "group.created": GroupChanged,
    "group.updated": GroupChanged,
    "group.deleted": EntityDeleted,
    "service.created": ServiceChanged,
    "service.updated": ServiceUpdated,
    "service.deleted": EntityDeleted,
    "incident.created": IncidentChanged,
    "incident.updated": IncidentChanged,
    "incident.deleted": EntityDeleted,
    "maintenance.created": MaintenanceChanged,
    "maintenance.updated": MaintenanceChanged,
    "maintenance.deleted": EntityDeleted,
    "status.changed": StatusChanged,
    "monitor.created": MonitorChanged,
    "monitor.updated": MonitorChanged,
    "monitor.deleted": EntityDeleted,
    "probe.offline": ProbeState,
    "probe.online": ProbeState,
}


# -- rooms and probes --------------------------------------------------------------


class Selection(TypedDict):
    """A cursor (``anchor == head``) or a selected range, in code points."""

    anchor: int
    head: int


class Participant(TypedDict):
    """Someone in a room."""

    client_id: str
    name: str
    colour: str
    role: str
    selection: Selection | None
    status: str  # active, idle, typing


class ProbeResult(TypedDict):
    """One check's result, as a probe reports it (:meth:`Client.report`)."""

    id: str
    monitor: str
    at: str
    outcome: str  # up, degraded, down
    latency_ms: NotRequired[float | None]
    status_code: NotRequired[int | None]
    error: NotRequired[str | None]


class ProbeReport(TypedDict):
    """The answer to a report: how many results counted, and the monitors unknown."""

    accepted: int
    unknown: list[str]


__all__ = [
    "EVENT_DATA",
    "AffectedService",
    "Deleted",
    "EntityDeleted",
    "Group",
    "GroupChanged",
    "Impact",
    "Incident",
    "IncidentChanged",
    "IncidentStatus",
    "Maintenance",
    "MaintenanceChanged",
    "MaintenanceStatus",
    "Monitor",
    "MonitorChanged",
    "MonitorKind",
    "MonitorPolicy",
    "Org",
    "OrgUpdated",
    "OverallStatus",
    "Participant",
    "Postmortem",
    "ProbeReport",
    "ProbeResult",
    "ProbeState",
    "Selection",
    "Service",
    "ServiceChanged",
    "ServiceStatus",
    "ServiceUpdated",
    "StatusChanged",
    "StatusSnapshot",
    "Update",
]
