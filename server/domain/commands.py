"""The commands an organization takes, as typed records.

REST bodies and WebSocket ``command`` frames are parsed into these same
records by :func:`parse_command`, so both doors apply the same validation and
reach the organization's actor with the same request.

Services, incidents and maintenances are named by id; services may also be
named by their (unique, case-insensitive) name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeAlias

import orjson

from ..errors import ValidationError
from .access import Action
from .hosts import MAX_DOMAINS
from .model import Impact, IncidentStatus, MaintenanceStatus, ServiceStatus, SignUp
from .monitors import MonitorKind, MonitorPolicy, Verdict
from .schema import MISSING, Items, Missing, Range, Text, given, parse

Name: TypeAlias = Annotated[str, Text(1, 100)]
Description: TypeAlias = Annotated[str, Text(0, 1_000, lines=True)]
Body: TypeAlias = Annotated[str, Text(0, 10_000, lines=True)]
Ref: TypeAlias = Annotated[str, Text(1, 100)]
Position: TypeAlias = Annotated[int, Range(0, 1_000_000)]
ServiceStatuses: TypeAlias = Annotated[dict[str, ServiceStatus], Items(200)]
ServiceRefs: TypeAlias = Annotated[list[Ref], Items(200)]

SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?"
Slug: TypeAlias = Annotated[
    str,
    Text(1, 40, SLUG_PATTERN, "must be 1-40 lowercase letters, digits or inner hyphens"),
]
Region: TypeAlias = Annotated[
    str,
    Text(1, 40, SLUG_PATTERN, "must be 1-40 lowercase letters, digits or inner hyphens"),
]
RegionLabels: TypeAlias = Annotated[dict[Region, Annotated[str, Text(1, 60)]], Items(50)]
MonitorTexts: TypeAlias = Annotated[dict[str, Annotated[str, Text(1, 1_000)]], Items(20)]
Domains: TypeAlias = Annotated[list[Annotated[str, Text(1, 253)]], Items(MAX_DOMAINS)]
SignUps: TypeAlias = Annotated[list[SignUp], Items(len(SignUp))]
# Where a public page may link: the web, or a path on this server. A logo is
# shown from https:// only, or from here: the page's Content-Security-Policy
# names its origin, so the host is a plain name or address.
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?"
_PATH = r"/(?![/\\])[^\s\\]*"
PageUrl: TypeAlias = Annotated[
    str,
    Text(
        1,
        2_000,
        rf"https?://{_HOST}(?:[/?#][^\s\\]*)?|{_PATH}",
        "must be an http(s):// URL or a path",
    ),
]
LogoUrl: TypeAlias = Annotated[
    str,
    Text(
        1, 2_000, rf"https://{_HOST}(?:[/?#][^\s\\]*)?|{_PATH}", "must be an https:// URL or a path"
    ),
]
Colour: TypeAlias = Annotated[str, Text(1, 20, r"#[0-9A-Fa-f]{6}", "must be a colour as #rrggbb")]
FooterText: TypeAlias = Annotated[str, Text(0, 500, lines=True)]
TimeZone: TypeAlias = Annotated[str, Text(1, 60)]


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link in the public page's header."""

    label: Annotated[str, Text(1, 40)]
    url: PageUrl


@dataclass(frozen=True, slots=True)
class CreateOrg:
    slug: Slug
    name: Name
    listed: bool = False  # named on the server's front page


@dataclass(frozen=True, slots=True)
class UpdateOrg:
    name: Name | Missing = MISSING
    listed: bool | Missing = MISSING
    # Each replaces the whole set: {} names no region, and restores every text.
    region_labels: RegionLabels | Missing = MISSING
    monitor_texts: MonitorTexts | Missing = MISSING
    # Host names serving the public page at their root; replaces the whole set.
    domains: Domains | Missing = MISSING
    subscriptions: SignUps | Missing = MISSING  # replaces the set; [] offers the feeds only
    # The public page's look; null takes a logo or an accent away.
    logo_url: LogoUrl | Missing | None = MISSING
    accent_color: Colour | Missing | None = MISSING
    header_links: Annotated[list[PageLink], Items(5)] | Missing = MISSING
    footer_text: FooterText | Missing = MISSING
    time_zone: TimeZone | Missing = MISSING


@dataclass(frozen=True, slots=True)
class DeleteOrg:
    pass


@dataclass(frozen=True, slots=True)
class CreateService:
    name: Name
    description: Description | None = None
    group: Name | None = None
    position: Position | None = None
    status: ServiceStatus = ServiceStatus.OPERATIONAL
    showcase: bool = True
    only_show_if_degraded: bool = False
    show_response_times: bool = False


@dataclass(frozen=True, slots=True)
class UpdateService:
    service: Ref
    name: Name | Missing = MISSING
    description: Description | Missing | None = MISSING
    group: Name | Missing | None = MISSING
    position: Position | Missing = MISSING
    status: ServiceStatus | Missing = MISSING
    showcase: bool | Missing = MISSING
    only_show_if_degraded: bool | Missing = MISSING
    show_response_times: bool | Missing = MISSING


@dataclass(frozen=True, slots=True)
class DeleteService:
    service: Ref


@dataclass(frozen=True, slots=True)
class CreateIncident:
    name: Name
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    impact: Impact | None = None  # None: follow the worst affected service
    body: Body = ""
    services: ServiceStatuses = field(default_factory=dict)
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpdateIncident:
    incident: Ref
    status: IncidentStatus | Missing = MISSING
    body: Body | Missing = MISSING
    services: ServiceStatuses | Missing = MISSING
    name: Name | Missing = MISSING
    impact: Impact | Missing = MISSING


@dataclass(frozen=True, slots=True)
class ResolveIncident:
    incident: Ref
    body: Body | Missing = MISSING


@dataclass(frozen=True, slots=True)
class WritePostmortem:
    """Publish a resolved incident's postmortem, or revise it (Markdown)."""

    incident: Ref
    body: Body  # required, and not blank (the rules say so)


@dataclass(frozen=True, slots=True)
class DeleteIncident:
    incident: Ref


@dataclass(frozen=True, slots=True)
class ScheduleMaintenance:
    name: Name
    scheduled_for: datetime
    scheduled_until: datetime
    services: ServiceRefs = field(default_factory=list)
    body: Body = ""
    auto_start: bool = True
    auto_complete: bool = True


@dataclass(frozen=True, slots=True)
class UpdateMaintenance:
    maintenance: Ref
    status: MaintenanceStatus | Missing = MISSING
    body: Body | Missing = MISSING
    name: Name | Missing = MISSING
    scheduled_for: datetime | Missing = MISSING
    scheduled_until: datetime | Missing = MISSING
    services: ServiceRefs | Missing = MISSING
    auto_start: bool | Missing = MISSING
    auto_complete: bool | Missing = MISSING


@dataclass(frozen=True, slots=True)
class CancelMaintenance:
    maintenance: Ref
    body: Body | Missing = MISSING


@dataclass(frozen=True, slots=True)
class DeleteMaintenance:
    maintenance: Ref


@dataclass(frozen=True, slots=True)
class Tick:
    """Internal: the actor's timer fired; start or complete what is due."""


Interval: TypeAlias = Annotated[int, Range(10, 86_400)]
Count: TypeAlias = Annotated[int, Range(1, 20)]
Regions: TypeAlias = Annotated[list[Region], Items(20)]
Spec: TypeAlias = Annotated[dict[str, Any], Items(50)]
Grace: TypeAlias = Annotated[int, Range(0, 86_400)]
ResolveAfter: TypeAlias = Annotated[int, Range(0, 86_400)]


@dataclass(frozen=True, slots=True)
class CreateMonitor:
    name: Name
    service: Ref
    kind: MonitorKind
    spec: Spec = field(default_factory=dict)
    interval: Interval = 30
    regions: Regions = field(default_factory=list)
    quorum: Count = 1
    down_after: Count = 2
    up_after: Count = 2
    policy: MonitorPolicy = MonitorPolicy.STATUS
    down_status: ServiceStatus = ServiceStatus.MAJOR_OUTAGE
    grace: Grace = 60
    resolve_after: ResolveAfter = 300  # seconds up before the incident it opened is resolved
    paused: bool = False


@dataclass(frozen=True, slots=True)
class UpdateMonitor:
    monitor: Ref
    name: Name | Missing = MISSING
    service: Ref | Missing = MISSING
    spec: Spec | Missing = MISSING
    interval: Interval | Missing = MISSING
    regions: Regions | Missing = MISSING
    quorum: Count | Missing = MISSING
    down_after: Count | Missing = MISSING
    up_after: Count | Missing = MISSING
    policy: MonitorPolicy | Missing = MISSING
    down_status: ServiceStatus | Missing = MISSING
    grace: Grace | Missing = MISSING
    resolve_after: ResolveAfter | Missing = MISSING
    paused: bool | Missing = MISSING


@dataclass(frozen=True, slots=True)
class DeleteMonitor:
    monitor: Ref


@dataclass(frozen=True, slots=True)
class NewHeartbeatToken:
    """A heartbeat monitor's push URL is replaced: the old one stops working."""

    monitor: Ref


@dataclass(frozen=True, slots=True)
class SetMonitorState:
    """Internal: the probes' verdict on a monitor changed (see server/monitoring)."""

    monitor: Ref
    verdict: Verdict
    failing_regions: list[str] = field(default_factory=list)
    error: str | None = None


class ProbeState(StrEnum):
    OFFLINE = "offline"  # no result from the region's probe for a while
    ONLINE = "online"  # it reports again


@dataclass(frozen=True, slots=True)
class NoteProbe:
    """Internal: a region's probe went silent, or came back (see server/monitoring).
    Tells the members of an organization whose monitors it checks."""

    region: Region
    state: ProbeState
    last_seen: datetime | None = None  # its last result, if it ever sent one


@dataclass(frozen=True, slots=True)
class NoteChange:
    """Internal: a change made outside the organization's actor (to its
    members, invitations, API tokens, notification channels or subscribers)
    was written with its audit row. Recorded as ``change.noted``, a
    members-only event, so that the members' consoles follow it."""

    action: Annotated[str, Text(1, 60)]  # the audit row's, e.g. "member.role"
    target: Annotated[str, Text(1, 200)] | None = None


Command: TypeAlias = (
    CreateOrg
    | UpdateOrg
    | DeleteOrg
    | CreateService
    | UpdateService
    | DeleteService
    | CreateIncident
    | UpdateIncident
    | ResolveIncident
    | WritePostmortem
    | DeleteIncident
    | ScheduleMaintenance
    | UpdateMaintenance
    | CancelMaintenance
    | DeleteMaintenance
    | Tick
    | CreateMonitor
    | UpdateMonitor
    | DeleteMonitor
    | NewHeartbeatToken
    | SetMonitorState
    | NoteProbe
    | NoteChange
)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command clients may send: its name on the wire, its record, and the
    action (hence the weakest role) it needs. REST and WebSocket both read
    this, so no door can ask less than the command does."""

    name: str
    cls: type
    action: Action
    wire: bool = True  # sent over the WebSocket too (else REST only)


#: Every command a client may send, with what it takes to send it. Internal
#: commands (``Tick``, ``SetMonitorState``, ``NoteProbe``, ``NoteChange``) have
#: no door and are not here;
#: creating an organization is the server's, not an organization's (``org.create``
#: needs a server-wide operator token).
CATALOGUE: tuple[CommandSpec, ...] = (
    CommandSpec("org.update", UpdateOrg, Action.ADMINISTER),
    CommandSpec("org.delete", DeleteOrg, Action.OWN, wire=False),
    CommandSpec("service.create", CreateService, Action.CHANGE),
    CommandSpec("service.update", UpdateService, Action.CHANGE),
    CommandSpec("service.delete", DeleteService, Action.CHANGE),
    CommandSpec("incident.create", CreateIncident, Action.CHANGE),
    CommandSpec("incident.update", UpdateIncident, Action.CHANGE),
    CommandSpec("incident.resolve", ResolveIncident, Action.CHANGE),
    CommandSpec("incident.postmortem", WritePostmortem, Action.CHANGE),
    CommandSpec("incident.delete", DeleteIncident, Action.CHANGE),
    CommandSpec("maintenance.schedule", ScheduleMaintenance, Action.CHANGE),
    CommandSpec("maintenance.update", UpdateMaintenance, Action.CHANGE),
    CommandSpec("maintenance.cancel", CancelMaintenance, Action.CHANGE),
    CommandSpec("maintenance.delete", DeleteMaintenance, Action.CHANGE),
    CommandSpec("monitor.create", CreateMonitor, Action.CHANGE),
    CommandSpec("monitor.update", UpdateMonitor, Action.CHANGE),
    CommandSpec("monitor.delete", DeleteMonitor, Action.CHANGE),
    CommandSpec("monitor.token", NewHeartbeatToken, Action.CHANGE),
)
SPEC_OF: Mapping[type, CommandSpec] = {spec.cls: spec for spec in CATALOGUE}
#: The commands a WebSocket ``command`` frame may name.
SPECS: Mapping[str, CommandSpec] = {spec.name: spec for spec in CATALOGUE if spec.wire}
# The commands by the name they use on the wire, and the other way round.
COMMANDS: Mapping[str, type] = {name: spec.cls for name, spec in SPECS.items()}
COMMAND_NAMES: Mapping[type, str] = {
    **{spec.cls: spec.name for spec in CATALOGUE},
    CreateOrg: "org.create",
    Tick: "tick",
    SetMonitorState: "monitor.state",
    NoteProbe: "probe.state",
    NoteChange: "change.note",
}


#: Every command by its name, internal ones included (what a node forwards).
COMMAND_TYPES: Mapping[str, type] = {name: cls for cls, name in COMMAND_NAMES.items()}


def to_wire(command: Any) -> tuple[str, dict[str, Any]]:
    """A command as its name and JSON-ready data: what :func:`from_wire`
    builds back, equal, on another node."""
    return COMMAND_NAMES[type(command)], orjson.loads(orjson.dumps(given(command)))


def from_wire(name: str, data: Any) -> Any:
    """The command :func:`to_wire` gave ``(name, data)`` for; ValidationError
    for what no node would have sent."""
    try:
        cls = COMMAND_TYPES[name]
    except KeyError:
        raise ValidationError(f"unknown command {name!r}", field="name") from None
    return parse(cls, data, where=name)


def action_of(command: type | object) -> Action:
    """The action a command (class or record) needs; KeyError for internal ones."""
    cls = command if isinstance(command, type) else type(command)
    return SPEC_OF[cls].action


def parse_command(name: str, data: Any) -> Any:
    """The command called ``name`` built from ``data``, or ValidationError."""
    try:
        cls = COMMANDS[name]
    except KeyError:
        raise ValidationError(
            f"unknown command {name!r}; known: {', '.join(COMMANDS)}", field="name"
        ) from None
    return parse(cls, {} if data is None else data, where=name)


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks and when: everything a rule needs from outside."""

    now: datetime
    author: str | None
    new_id: Any  # () -> str; injected so tests can make ids predictable
    new_secret: Any = None  # () -> str, for heartbeat tokens; random unless injected
    # How long a resolved incident stays in the actor's state before it is
    # archived (kept in the store, read from there); None: for ever.
    keep_resolved: timedelta | None = None
    # The regions probes report from (the server's own and every remote one it
    # knows): a monitor checked everywhere cannot ask a larger quorum. None:
    # not known here (domain tests, tools), not checked.
    regions: frozenset[str] | None = None
