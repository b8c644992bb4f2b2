"""The organization's entities and their lifecycles.

Entities are frozen dataclasses: a change builds a new value with
``dataclasses.replace`` and the organization's state swaps it in, so a command
that fails half-way leaves nothing behind. ``to_dict`` gives the JSON form used
in events, snapshots and API answers; ``from_dict`` reads it back.

Field names follow Atlassian Statuspage where both have the idea (a service is
Statuspage's "component"), so the Statuspage-compatible API is a rendering, not
a translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..errors import InvalidTransition
from .monitors import Monitor, monitor_due

# Moments and a service's status sit below the entities, in values.py (monitors
# need them, and the state holds monitors); they are read from here too.
from .values import ServiceStatus as ServiceStatus
from .values import iso as iso
from .values import iso_or_none as iso_or_none
from .values import parse_iso as parse_iso
from .values import parse_iso_or_none as parse_iso_or_none
from .values import to_millisecond as to_millisecond

# ---------------------------------------------------------------------------
# statuses


# The worsening chain incidents move along. ``under_maintenance`` is not on it:
# planned work is neither better nor worse than an outage, it is different.
SEVERITY: Mapping[ServiceStatus, int] = {
    ServiceStatus.OPERATIONAL: 0,
    ServiceStatus.DEGRADED_PERFORMANCE: 1,
    ServiceStatus.PARTIAL_OUTAGE: 2,
    ServiceStatus.MAJOR_OUTAGE: 3,
}
CHAIN: tuple[ServiceStatus, ...] = tuple(SEVERITY)


def worst(*statuses: ServiceStatus) -> ServiceStatus:
    """The most severe of some statuses on the chain (operational if none)."""
    best = ServiceStatus.OPERATIONAL
    for status in statuses:
        if SEVERITY[status] > SEVERITY[best]:
            best = status
    return best


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


IMPACT_LEVEL: Mapping[Impact, int] = {impact: n for n, impact in enumerate(Impact)}

# The impact an incident has when nobody set one: that of its worst service.
IMPACT_OF_STATUS: Mapping[ServiceStatus, Impact] = {
    ServiceStatus.OPERATIONAL: Impact.NONE,
    ServiceStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
    ServiceStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ServiceStatus.MAJOR_OUTAGE: Impact.CRITICAL,
}


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


ACTIVE_INCIDENT = frozenset(
    {IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING}
)

# An active incident moves freely between the active statuses (a fix that did
# not hold sends it back to investigating). Once resolved it is never reopened:
# it takes further notes (as resolved) and then a postmortem.
INCIDENT_MOVES: Mapping[IncidentStatus, frozenset[IncidentStatus]] = {
    **{s: ACTIVE_INCIDENT | {IncidentStatus.RESOLVED} for s in ACTIVE_INCIDENT},
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM}),
    IncidentStatus.POSTMORTEM: frozenset({IncidentStatus.POSTMORTEM}),
}


def check_incident_move(old: IncidentStatus, new: IncidentStatus) -> None:
    if new not in INCIDENT_MOVES[old]:
        if new in ACTIVE_INCIDENT:
            why = "a resolved incident is never reopened; open a new incident instead"
        elif old is IncidentStatus.POSTMORTEM:
            why = "after the postmortem, only the postmortem can be revised"
        else:
            why = "an incident reaches postmortem only after it is resolved"
        raise InvalidTransition(f"incident status {old} -> {new} is not allowed: {why}")


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Services are under maintenance while it is in one of these.
MAINTENANCE_RUNNING = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})
MAINTENANCE_OVER = frozenset({MaintenanceStatus.COMPLETED, MaintenanceStatus.CANCELLED})

MAINTENANCE_MOVES: Mapping[MaintenanceStatus, frozenset[MaintenanceStatus]] = {
    MaintenanceStatus.SCHEDULED: frozenset(
        {MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.CANCELLED}
    ),
    MaintenanceStatus.IN_PROGRESS: frozenset(
        {MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING, MaintenanceStatus.COMPLETED}
    ),
    MaintenanceStatus.VERIFYING: frozenset(
        {MaintenanceStatus.VERIFYING, MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.COMPLETED}
    ),
    MaintenanceStatus.COMPLETED: frozenset(),
    MaintenanceStatus.CANCELLED: frozenset(),
}


def check_maintenance_move(old: MaintenanceStatus, new: MaintenanceStatus) -> None:
    if new not in MAINTENANCE_MOVES[old]:
        if old in MAINTENANCE_OVER:
            why = f"a {old} maintenance is over and cannot change"
        elif new is MaintenanceStatus.CANCELLED:
            why = "only a maintenance that has not started can be cancelled; complete it instead"
        else:
            why = "maintenance runs scheduled -> in_progress -> verifying -> completed"
        raise InvalidTransition(f"maintenance status {old} -> {new} is not allowed: {why}")


# Used when an update changes the status without saying anything.
DEFAULT_BODIES: Mapping[str, str] = {
    "investigating": "We are investigating this issue.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "postmortem": "A postmortem has been published.",
    "scheduled": "This maintenance is scheduled.",
    "in_progress": "Scheduled maintenance is currently in progress.",
    "verifying": "Maintenance work is done; we are verifying the results.",
    "completed": "The scheduled maintenance has been completed.",
    "cancelled": "This scheduled maintenance has been cancelled.",
}


class SignUp(StrEnum):
    """How the public may subscribe to a status page's notifications."""

    EMAIL = "email"
    WEBHOOK = "webhook"


# ---------------------------------------------------------------------------
# entities


@dataclass(frozen=True, slots=True)
class Org:
    """An organization: one status page, its services and incidents."""

    id: str  # Statuspage's page id; stable, never shown in URLs
    slug: str  # URL name, validated by rules.check_slug
    name: str
    created_at: datetime
    updated_at: datetime
    listed: bool = False  # named on the server's front page (opt-in)
    # What the public is told of probe regions: their labels (a region without
    # one is never named), and the words of incidents monitors open (see texts.py).
    region_labels: Mapping[str, str] = field(default_factory=dict)
    monitor_texts: Mapping[str, str] = field(default_factory=dict)  # only those changed
    # Host names that serve this organization's public page at their root
    # (custom domains; see hosts.py): unique across the server.
    domains: tuple[str, ...] = ()
    # The ways its status page offers to subscribe (email only where the server
    # can send mail), in SignUp's order; none: the feeds only.
    subscriptions: tuple[SignUp, ...] = tuple(SignUp)
    # How the public page looks (see looks.py) and who may subscribe to it.
    logo_url: str | None = None  # https://, or a path on this server
    accent_color: str | None = None  # #rrggbb with AA contrast on the light page
    header_links: tuple[Mapping[str, str], ...] = ()  # [{label, url}], at most 5
    footer_text: str = ""
    time_zone: str = "UTC"  # the public page's times are shown in it

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "listed": self.listed,
            "region_labels": dict(self.region_labels),
            "monitor_texts": dict(self.monitor_texts),
            "domains": list(self.domains),
            "subscriptions": [kind.value for kind in self.subscriptions],
            "logo_url": self.logo_url,
            "accent_color": self.accent_color,
            "header_links": [dict(link) for link in self.header_links],
            "footer_text": self.footer_text,
            "time_zone": self.time_zone,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Org:
        return cls(
            id=d["id"],
            slug=d["slug"],
            name=d["name"],
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
            listed=d.get("listed", False),  # earlier organizations: unlisted
            region_labels=dict(d.get("region_labels") or {}),
            monitor_texts=dict(d.get("monitor_texts") or {}),
            domains=tuple(d.get("domains") or ()),
            # Earlier organizations offered every way there was.
            subscriptions=tuple(
                SignUp(k) for k in d.get("subscriptions", [k.value for k in SignUp])
            ),
            # Organizations from before these existed: the page as it was.
            logo_url=d.get("logo_url"),
            accent_color=d.get("accent_color"),
            header_links=tuple(dict(link) for link in d.get("header_links") or ()),
            footer_text=d.get("footer_text") or "",
            time_zone=d.get("time_zone") or "UTC",
        )


@dataclass(frozen=True, slots=True)
class Group:
    """A component group; exists while at least one service belongs to it."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Group:
        return cls(
            id=d["id"],
            name=d["name"],
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class Service:
    """A service (Statuspage: component) and its current status.

    ``status`` is what the service shows, worked out from what holds it
    (see :func:`server.domain.holds.shown_status`): under maintenance while a
    running maintenance covers it, else the worst of ``manual`` (what a
    person set, or it was created with), what each active incident requires
    of it and what its monitors ask for.
    """

    id: str
    name: str
    description: str | None
    group_id: str | None
    position: int
    status: ServiceStatus
    showcase: bool
    only_show_if_degraded: bool
    created_at: datetime
    updated_at: datetime
    manual: ServiceStatus = ServiceStatus.OPERATIONAL  # set by hand: the floor of status
    # Regions whose probes see one of its monitors failing (even below the
    # quorum), and the public labels of those that have one: the public page
    # says where a problem is seen, by label only.
    failing_regions: tuple[str, ...] = ()
    seen_from: tuple[str, ...] = ()
    # The public page draws its monitors' hourly response times (off unless set).
    show_response_times: bool = False

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "group_id": self.group_id,
            "position": self.position,
            "status": self.status.value,
            "showcase": self.showcase,
            "only_show_if_degraded": self.only_show_if_degraded,
            "show_response_times": self.show_response_times,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if public:
            if self.seen_from:  # only while there are some
                out["failing_regions"] = list(self.seen_from)
            return out
        if self.failing_regions:
            out["failing_regions"] = list(self.failing_regions)
            out["seen_from"] = list(self.seen_from)
        out["manual_status"] = self.manual.value
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Service:
        manual = d.get("manual_status")
        if manual is None:  # recorded before statuses were worked out from their holders
            manual = d.get("maintenance_baseline") or d["status"]
        return cls(
            id=d["id"],
            name=d["name"],
            description=d["description"],
            group_id=d["group_id"],
            position=d["position"],
            status=ServiceStatus(d["status"]),
            showcase=d["showcase"],
            only_show_if_degraded=d["only_show_if_degraded"],
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
            manual=ServiceStatus(manual),
            failing_regions=tuple(d.get("failing_regions", ())),
            seen_from=tuple(d.get("seen_from", ())),
            show_response_times=d.get("show_response_times", False),  # earlier: off
        )


@dataclass(frozen=True, slots=True)
class AffectedService:
    """One service's status as an update changed it (old -> new)."""

    service_id: str
    name: str
    old_status: ServiceStatus
    new_status: ServiceStatus

    def to_dict(self) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "name": self.name,
            "old_status": self.old_status.value,
            "new_status": self.new_status.value,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AffectedService:
        return cls(
            service_id=d["service_id"],
            name=d["name"],
            old_status=ServiceStatus(d["old_status"]),
            new_status=ServiceStatus(d["new_status"]),
        )


@dataclass(frozen=True, slots=True)
class Update:
    """One entry of an incident's or a maintenance's timeline."""

    id: str
    status: str  # an IncidentStatus or a MaintenanceStatus value
    body: str
    created_at: datetime
    author: str | None  # who wrote it; members see it, the public does not
    affected: tuple[AffectedService, ...] = ()

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "body": self.body,
            "created_at": iso(self.created_at),
            "affected_services": [a.to_dict() for a in self.affected],
        }
        if not public:
            out["author"] = self.author
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Update:
        return cls(
            id=d["id"],
            status=d["status"],
            body=d["body"],
            created_at=parse_iso(d["created_at"]),
            author=d.get("author"),
            affected=tuple(AffectedService.from_dict(a) for a in d["affected_services"]),
        )


@dataclass(frozen=True, slots=True)
class Postmortem:
    """An incident's postmortem: Markdown source, rendered where it is shown.

    An incident has one at most; a revision replaces its body (the timeline
    says that it was revised, without repeating the text)."""

    body: str
    published_at: datetime
    updated_at: datetime  # the last revision (published_at until there is one)

    def to_dict(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "published_at": iso(self.published_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Postmortem:
        return cls(d["body"], parse_iso(d["published_at"]), parse_iso(d["updated_at"]))


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident: its status, impact, the services it affects and its timeline."""

    id: str
    name: str
    status: IncidentStatus
    impact: Impact
    # True once someone set the impact by hand; until then it follows the
    # worst status the incident requires of its services.
    impact_override: bool
    # What this incident requires of each service it affects (service id ->
    # status on the chain). Only active incidents' requirements count.
    services: Mapping[str, ServiceStatus]
    updates: tuple[Update, ...]  # oldest first
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    monitoring_at: datetime | None = None
    resolved_at: datetime | None = None
    notes_room: str | None = None  # the responders' shared notes (members only)
    # Written once resolved (status postmortem). Incidents stored before it had
    # its own place have none: their postmortem text stays in their timeline.
    postmortem: Postmortem | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_INCIDENT

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "impact": self.impact.value,
            "services": {sid: status.value for sid, status in self.services.items()},
            "updates": [u.to_dict(public=public) for u in self.updates],
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "monitoring_at": iso_or_none(self.monitoring_at),
            "resolved_at": iso_or_none(self.resolved_at),
            "postmortem": None if self.postmortem is None else self.postmortem.to_dict(),
        }
        if not public:
            out["impact_override"] = self.impact_override
            out["notes_room"] = self.notes_room
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Incident:
        return cls(
            id=d["id"],
            name=d["name"],
            status=IncidentStatus(d["status"]),
            impact=Impact(d["impact"]),
            impact_override=d.get("impact_override", False),
            services={sid: ServiceStatus(s) for sid, s in d["services"].items()},
            updates=tuple(Update.from_dict(u) for u in d["updates"]),
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
            started_at=parse_iso(d["started_at"]),
            monitoring_at=parse_iso_or_none(d["monitoring_at"]),
            resolved_at=parse_iso_or_none(d["resolved_at"]),
            notes_room=d.get("notes_room"),
            postmortem=None
            if d.get("postmortem") is None
            else Postmortem.from_dict(d["postmortem"]),
        )


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A scheduled maintenance window over some services."""

    id: str
    name: str
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    service_ids: tuple[str, ...]
    auto_start: bool  # the organization's actor starts it at scheduled_for
    auto_complete: bool  # ... and completes it at scheduled_until
    updates: tuple[Update, ...]  # oldest first
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.status in MAINTENANCE_RUNNING

    def next_due(self) -> datetime | None:
        """When the actor must next act on this maintenance, if ever."""
        if self.status is MaintenanceStatus.SCHEDULED and self.auto_start:
            return self.scheduled_for
        if self.status in MAINTENANCE_RUNNING and self.auto_complete:
            return self.scheduled_until
        return None

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "scheduled_for": iso(self.scheduled_for),
            "scheduled_until": iso(self.scheduled_until),
            "service_ids": list(self.service_ids),
            "updates": [u.to_dict(public=public) for u in self.updates],
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso_or_none(self.started_at),
            "completed_at": iso_or_none(self.completed_at),
        }
        if not public:
            out["auto_start"] = self.auto_start
            out["auto_complete"] = self.auto_complete
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Maintenance:
        return cls(
            id=d["id"],
            name=d["name"],
            status=MaintenanceStatus(d["status"]),
            scheduled_for=parse_iso(d["scheduled_for"]),
            scheduled_until=parse_iso(d["scheduled_until"]),
            service_ids=tuple(d["service_ids"]),
            auto_start=d.get("auto_start", True),
            auto_complete=d.get("auto_complete", True),
            updates=tuple(Update.from_dict(u) for u in d["updates"]),
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
            started_at=parse_iso_or_none(d["started_at"]),
            completed_at=parse_iso_or_none(d["completed_at"]),
        )


class Indicator(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class OverallStatus:
    """The page's blended status, as Statuspage's ``status`` object."""

    indicator: Indicator
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"indicator": self.indicator.value, "description": self.description}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OverallStatus:
        return cls(indicator=Indicator(d["indicator"]), description=d["description"])


ALL_OPERATIONAL = OverallStatus(Indicator.NONE, "All Systems Operational")


@dataclass(slots=True)
class OrgState:
    """Everything an organization's actor owns.

    Mutable, but only ever through :func:`server.domain.events.apply` on a
    :meth:`fork`: the actor swaps a fork in once a command has fully succeeded.
    """

    org: Org
    groups: dict[str, Group] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    maintenances: dict[str, Maintenance] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)
    status: OverallStatus = ALL_OPERATIONAL
    version: int = 0  # events applied; the org topic's seq
    public_seq: int = 0  # public events applied; the status topic's seq
    deleted: bool = False
    updated_at: datetime | None = None  # time of the last event
    archived_incidents: int = 0  # resolved long ago: kept in the store, not here

    def fork(self) -> OrgState:
        """A copy that can be changed without touching this one (entities are frozen)."""
        return OrgState(
            org=self.org,
            groups=dict(self.groups),
            services=dict(self.services),
            incidents=dict(self.incidents),
            maintenances=dict(self.maintenances),
            monitors=dict(self.monitors),
            status=self.status,
            version=self.version,
            public_seq=self.public_seq,
            deleted=self.deleted,
            updated_at=self.updated_at,
            archived_incidents=self.archived_incidents,
        )

    def next_due(self, keep_resolved: timedelta | None = None) -> datetime | None:
        """The earliest moment the actor must act on its own: a maintenance to
        start or complete, a monitor's incident to resolve or its flapping to
        end, or (with ``keep_resolved``) an incident to archive."""
        dues = [d for m in self.maintenances.values() if (d := m.next_due()) is not None]
        dues += [d for m in self.monitors.values() if (d := monitor_due(m, self.incidents))]
        if keep_resolved is not None:
            dues += [
                i.resolved_at + keep_resolved
                for i in self.incidents.values()
                if not i.active and i.resolved_at is not None
            ]
        return min(dues, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "org": self.org.to_dict(),
            "groups": [g.to_dict() for g in self.groups.values()],
            "services": [s.to_dict() for s in self.services.values()],
            "incidents": [i.to_dict() for i in self.incidents.values()],
            "maintenances": [m.to_dict() for m in self.maintenances.values()],
            "monitors": [m.to_dict(stored=True) for m in self.monitors.values()],
            "status": self.status.to_dict(),
            "version": self.version,
            "public_seq": self.public_seq,
            "deleted": self.deleted,
            "updated_at": iso_or_none(self.updated_at),
            "archived_incidents": self.archived_incidents,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OrgState:
        incidents = {i["id"]: Incident.from_dict(i) for i in d["incidents"]}
        return cls(
            org=Org.from_dict(d["org"]),
            groups={g["id"]: Group.from_dict(g) for g in d["groups"]},
            services={s["id"]: _older_service(s, incidents) for s in d["services"]},
            incidents=incidents,
            maintenances={m["id"]: Maintenance.from_dict(m) for m in d["maintenances"]},
            monitors={m["id"]: Monitor.from_dict(m) for m in d.get("monitors", ())},
            status=OverallStatus.from_dict(d["status"]),
            version=d["version"],
            public_seq=d["public_seq"],
            deleted=d["deleted"],
            updated_at=parse_iso_or_none(d.get("updated_at")),
            archived_incidents=d.get("archived_incidents", 0),
        )


def _older_service(d: Mapping[str, Any], incidents: Mapping[str, Incident]) -> Service:
    """A service from a snapshot; one taken before statuses were worked out from
    their holders has no ``manual_status``: a status that its active incidents
    account for was theirs, not a person's."""
    service = Service.from_dict(d)
    if "manual_status" in d or service.status not in SEVERITY:
        return service
    required = [
        i.services[service.id] for i in incidents.values() if i.active and service.id in i.services
    ]
    if required and worst(*required) is service.status:
        return replace(service, manual=ServiceStatus.OPERATIONAL)
    return service
