"""Decide what a command does to an organization: pure, no I/O.

:func:`decide` takes the current state and a command and returns the events it
causes, the state after them, and the result the caller is told. It never
changes the state it was given; a rule that is broken raises a
:class:`~server.errors.DomainError` and nothing happens.

The status policy, in one place: a service's status is worked out from what
holds it (:func:`~server.domain.holds.shown_status`), never remembered apart
from it, so that the service, its incidents and its monitors cannot disagree.

* A running maintenance holds its services under maintenance; so does a
  person who puts a service under maintenance by hand.
* Otherwise a service shows the worst, along operational ->
  degraded_performance -> partial_outage -> major_outage, of: what a person
  set (``manual``; what it was created with until then), what each active
  incident requires of it, and what each of its monitors under the status
  policy asks.
* An incident's requirements are set when it is opened (it can only make a
  service worse then) and changed by its updates, in either direction (a
  recovery posted in an update happens); resolving or deleting it lets go.
  Each timeline entry records the services it moved, old -> new.
* A person may set a service's status by hand, but not below what its
  incidents or monitors require: that is refused (conflict), naming them, so
  that what the page shows always follows from its incidents.
* When a maintenance ends, each service shows at once what still holds it:
  its monitors' verdicts (muted meanwhile, see monitor_rules), its incidents,
  what a person set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import Conflict, InvalidTransition, NotFound, ValidationError
from . import commands as c
from . import hosts, looks, monitor_rules, postmortems, probe_rules, texts
from .holds import holders_of, service_moves, settle, shown_status
from .model import (
    DEFAULT_BODIES,
    IMPACT_OF_STATUS,
    MAINTENANCE_OVER,
    SEVERITY,
    Group,
    Impact,
    Incident,
    IncidentStatus,
    Maintenance,
    MaintenanceStatus,
    Org,
    OrgState,
    Service,
    ServiceStatus,
    SignUp,
    Update,
    check_incident_move,
    check_maintenance_move,
    to_millisecond,
    worst,
)
from .schema import MISSING
from .transaction import Decision, Tx, find_incident, find_maintenance, find_service

# Words the URLs use (``/admin/incidents/{id}`` and ``/admin/join/{token}``
# sit beside ``/admin/{org}``).
RESERVED_SLUGS = frozenset(
    {"api", "admin", "ws", "static", "status", "health", "ready", "new", "incidents", "join"}
)


def new_org(cmd: c.CreateOrg, ctx: c.Context) -> Decision:
    """The first event of a new organization's stream."""
    check_slug(cmd.slug)
    ctx = dataclasses.replace(ctx, now=to_millisecond(ctx.now))
    org = Org(
        id=ctx.new_id(),
        slug=cmd.slug,
        name=cmd.name,
        created_at=ctx.now,
        updated_at=ctx.now,
        listed=cmd.listed,
    )
    tx = Tx(OrgState(org=org), ctx, _HANDLERS)
    tx.emit("org.created", {"org": org.to_dict()})
    return Decision(tx.state, tx.events, org.to_dict())


def check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"slug {slug!r} is reserved; choose another", field="slug")


def decide(state: OrgState, cmd: Any, ctx: c.Context) -> Decision:
    """Apply one command to a fork of ``state``; see the module docstring."""
    if state.deleted:
        raise NotFound(f"organization {state.org.slug!r} was deleted")
    tx = Tx(state, dataclasses.replace(ctx, now=to_millisecond(ctx.now)), _HANDLERS)
    result = tx.handle(cmd)
    tx.finish()
    return Decision(tx.state, tx.events, result)


# ---------------------------------------------------------------------------
# organization


def _update_org(tx: Tx, cmd: c.UpdateOrg) -> Any:
    old = org = tx.state.org
    if cmd.name is not MISSING:
        org = replace(org, name=cmd.name)
    if cmd.listed is not MISSING:
        org = replace(org, listed=cmd.listed)
    if cmd.region_labels is not MISSING:
        org = replace(org, region_labels=dict(cmd.region_labels))
    if cmd.monitor_texts is not MISSING:
        org = replace(org, monitor_texts=texts.check(cmd.monitor_texts))
    if cmd.domains is not MISSING:
        org = replace(org, domains=hosts.check_domains(cmd.domains))
    if cmd.subscriptions is not MISSING:
        wanted = set(cmd.subscriptions)
        org = replace(org, subscriptions=tuple(k for k in SignUp if k in wanted))
    if cmd.logo_url is not MISSING:
        org = replace(org, logo_url=cmd.logo_url)
    if cmd.accent_color is not MISSING:
        accent = None if cmd.accent_color is None else looks.check_accent(cmd.accent_color)
        org = replace(org, accent_color=accent)
    if cmd.header_links is not MISSING:
        links = tuple({"label": link.label, "url": link.url} for link in cmd.header_links)
        org = replace(org, header_links=links)
    if cmd.footer_text is not MISSING:
        org = replace(org, footer_text=cmd.footer_text)
    if cmd.time_zone is not MISSING:
        org = replace(org, time_zone=looks.check_zone(cmd.time_zone))
    if org != old:
        org = replace(org, updated_at=tx.ctx.now)
        tx.emit("org.updated", {"org": org.to_dict()})
        if org.region_labels != old.region_labels:
            for service_id in list(tx.state.services):
                monitor_rules.show_regions(tx, service_id)
    return org.to_dict()


def _note_change(tx: Tx, cmd: c.NoteChange) -> Any:
    tx.emit("change.noted", {"action": cmd.action, "target": cmd.target})
    return {"noted": cmd.action}


def _delete_org(tx: Tx, cmd: c.DeleteOrg) -> Any:
    tx.emit("org.deleted", {"slug": tx.state.org.slug})
    return {"deleted": tx.state.org.slug}


# ---------------------------------------------------------------------------
# services and groups


def _group_for(tx: Tx, name: str | None) -> str | None:
    """The id of the group called ``name``, creating it on first use."""
    if name is None:
        return None
    folded = name.casefold()
    for group in tx.state.groups.values():
        if group.name.casefold() == folded:
            return group.id
    group = Group(id=tx.ctx.new_id(), name=name, created_at=tx.ctx.now, updated_at=tx.ctx.now)
    tx.emit("group.created", {"group": group.to_dict()})
    return group.id


def _drop_group_if_empty(tx: Tx, group_id: str | None) -> None:
    if group_id is None or group_id not in tx.state.groups:
        return
    if not any(s.group_id == group_id for s in tx.state.services.values()):
        tx.emit("group.deleted", {"id": group_id})


def _check_unique_name(state: OrgState, name: str, *, other_than: str | None = None) -> None:
    folded = name.casefold()
    for service in state.services.values():
        if service.id != other_than and service.name.casefold() == folded:
            raise Conflict(f"a service is already called {service.name!r}", field="name")


def _create_service(tx: Tx, cmd: c.CreateService) -> Any:
    _check_unique_name(tx.state, cmd.name)
    if len(tx.state.services) >= 500:
        raise ValidationError("an organization may have at most 500 services", field="name")
    position = cmd.position
    if position is None:
        position = 1 + max((s.position for s in tx.state.services.values()), default=0)
    service = Service(
        id=tx.ctx.new_id(),
        name=cmd.name,
        description=cmd.description or None,
        group_id=_group_for(tx, cmd.group),
        position=position,
        status=cmd.status,
        showcase=cmd.showcase,
        only_show_if_degraded=cmd.only_show_if_degraded,
        show_response_times=cmd.show_response_times,
        created_at=tx.ctx.now,
        updated_at=tx.ctx.now,
        manual=cmd.status,
    )
    tx.put_service(service, created=True)
    return service.to_dict()


def _update_service(tx: Tx, cmd: c.UpdateService) -> Any:
    old = find_service(tx.state, cmd.service)
    changes: dict[str, Any] = {}
    if cmd.name is not MISSING and cmd.name != old.name:
        _check_unique_name(tx.state, cmd.name, other_than=old.id)
        changes["name"] = cmd.name
    if cmd.description is not MISSING:
        changes["description"] = cmd.description or None
    if cmd.group is not MISSING:
        changes["group_id"] = _group_for(tx, cmd.group)
    for attr in ("position", "showcase", "only_show_if_degraded", "show_response_times"):
        value = getattr(cmd, attr)
        if value is not MISSING:
            changes[attr] = value
    if cmd.status is not MISSING:
        _check_manual(tx.state, old, cmd.status)
        changes["manual"] = cmd.status
    new = replace(old, **changes)
    new = replace(new, status=shown_status(tx.state, new))
    if new != old:
        new = replace(new, updated_at=tx.ctx.now)
        extra = {"previous_status": old.status.value} if new.status != old.status else {}
        tx.put_service(new, extra=extra)
        if new.group_id != old.group_id:
            _drop_group_if_empty(tx, old.group_id)
    return new.to_dict()


def _check_manual(state: OrgState, service: Service, status: ServiceStatus) -> None:
    """A person may set any status but one better than what holds the service."""
    if status is ServiceStatus.UNDER_MAINTENANCE:
        return
    holders = [
        (who, need)
        for who, need in holders_of(state, service.id)
        if SEVERITY[need] > SEVERITY[status]
    ]
    if holders:
        need = worst(*(n for _, n in holders))
        who = " and ".join(w for w, _ in holders)
        raise Conflict(
            f"{service.name} cannot show {status.value} while {who} require"
            f"{'s' if len(holders) == 1 else ''} {need.value}: change what the incident says of"
            " it (or resolve it), or pause the monitor",
            field="status",
        )


def _delete_service(tx: Tx, cmd: c.DeleteService) -> Any:
    service = find_service(tx.state, cmd.service)
    for incident in tx.state.incidents.values():
        if incident.active and service.id in incident.services:
            raise Conflict(
                f"service {service.name!r} is affected by the active incident "
                f"{incident.name!r}; resolve it first",
                field="service",
            )
    for maintenance in tx.state.maintenances.values():
        if maintenance.status not in MAINTENANCE_OVER and service.id in maintenance.service_ids:
            raise Conflict(
                f"service {service.name!r} is in the maintenance {maintenance.name!r}; "
                "complete or cancel it first",
                field="service",
            )
    monitor_rules.drop_for_service(tx, service.id)
    tx.emit("service.deleted", {"id": service.id, "name": service.name})
    _drop_group_if_empty(tx, service.group_id)
    return {"deleted": service.id}


# ---------------------------------------------------------------------------
# incidents


def _resolve_services(
    state: OrgState, refs: Mapping[str, ServiceStatus]
) -> dict[str, ServiceStatus]:
    out: dict[str, ServiceStatus] = {}
    for ref, status in refs.items():
        if status is ServiceStatus.UNDER_MAINTENANCE:
            raise ValidationError(
                f"an incident cannot put {ref!r} under maintenance; schedule a maintenance",
                field="services",
            )
        out[find_service(state, ref).id] = status
    return out


def _derived_impact(requirements: Iterable[ServiceStatus]) -> Impact:
    return IMPACT_OF_STATUS[worst(*requirements)]


def _create_incident(tx: Tx, cmd: c.CreateIncident) -> Any:
    if cmd.status is IncidentStatus.POSTMORTEM:
        raise InvalidTransition(
            "an incident cannot start in postmortem; create it resolved, then add the postmortem"
        )
    requirements = _resolve_services(tx.state, cmd.services)
    incident_id = tx.ctx.new_id()
    now = tx.ctx.now
    started_at = cmd.started_at or now
    if started_at > now:
        raise ValidationError("started_at cannot be in the future", field="started_at")
    resolved = cmd.status is IncidentStatus.RESOLVED
    impact = cmd.impact if cmd.impact is not None else _derived_impact(requirements.values())
    update = Update(
        id=tx.ctx.new_id(),
        status=cmd.status.value,
        body=cmd.body or DEFAULT_BODIES[cmd.status.value],
        created_at=now,
        author=tx.ctx.author,
    )
    incident = Incident(
        id=incident_id,
        name=cmd.name,
        status=cmd.status,
        impact=impact,
        impact_override=cmd.impact is not None,
        services=requirements,
        updates=(update,),
        created_at=now,
        updated_at=now,
        started_at=started_at,
        monitoring_at=now if cmd.status is IncidentStatus.MONITORING else None,
        resolved_at=now if resolved else None,
        notes_room=tx.ctx.new_id(),
    )
    # Opened, it can only make its services worse (the worst of what holds
    # them counts); a backfilled, resolved one records them and holds nothing.
    incident = _with_moves(tx, incident)
    tx.put_incident(incident, created=True)
    settle(tx, requirements, incident_id)
    return incident.to_dict()


def _with_moves(tx: Tx, incident: Incident, *, entry: bool = True) -> Incident:
    """The incident with the service moves it makes recorded on its last
    timeline entry (``entry``: that entry is this change's)."""
    if not entry:
        return incident
    incidents = {**tx.state.incidents, incident.id: incident}
    moves = service_moves(tx.state, incident.services, incidents=incidents)
    last = replace(incident.updates[-1], affected=tuple(moves))
    return replace(incident, updates=(*incident.updates[:-1], last))


def _update_incident(tx: Tx, cmd: c.UpdateIncident) -> Any:
    old = find_incident(tx.state, cmd.incident)
    if postmortems.writes(old, cmd):
        return postmortems.write(tx, old, cmd)
    status = old.status if cmd.status is MISSING else cmd.status
    # An update says something when it moves the status, carries words, or
    # names services; anything else (a retried resolve, an empty body) adds
    # nothing to the timeline.
    timeline_entry = status is not old.status or bool(cmd.body) or cmd.services is not MISSING
    if timeline_entry:
        check_incident_move(old.status, status)
    if cmd.services is not MISSING and not old.active:
        raise InvalidTransition(
            f"incident {old.name!r} is {old.status}; its services no longer change",
            field="services",
        )
    # Only what this update says about services is applied: an update that
    # says nothing leaves alone a status a member has since set by hand.
    given = {} if cmd.services is MISSING else _resolve_services(tx.state, cmd.services)
    requirements = {**old.services, **given}
    now = tx.ctx.now
    incident = replace(old, services=requirements, status=status)
    if cmd.name is not MISSING:
        incident = replace(incident, name=cmd.name)
    if cmd.impact is not MISSING:
        incident = replace(incident, impact=cmd.impact, impact_override=True)
    elif not incident.impact_override:
        incident = replace(incident, impact=_derived_impact(requirements.values()))
    if status is IncidentStatus.MONITORING and old.monitoring_at is None:
        incident = replace(incident, monitoring_at=now)
    if status is IncidentStatus.RESOLVED and old.active:
        incident = replace(incident, resolved_at=now)
    if timeline_entry:
        body = cmd.body if cmd.body is not MISSING and cmd.body else DEFAULT_BODIES[status.value]
        update = Update(tx.ctx.new_id(), status.value, body, now, tx.ctx.author)
        incident = replace(incident, updates=(*incident.updates, update))
    if incident == old:
        return old.to_dict()  # nothing changed: no event
    incident = _with_moves(tx, replace(incident, updated_at=now), entry=timeline_entry)
    tx.put_incident(incident)
    settle(tx, requirements, old.id)
    return incident.to_dict()


def _resolve_incident(tx: Tx, cmd: c.ResolveIncident) -> Any:
    return _update_incident(
        tx, c.UpdateIncident(incident=cmd.incident, status=IncidentStatus.RESOLVED, body=cmd.body)
    )


def _delete_incident(tx: Tx, cmd: c.DeleteIncident) -> Any:
    incident = find_incident(tx.state, cmd.incident)
    tx.emit("incident.deleted", {"id": incident.id})
    settle(tx, incident.services, incident.id)  # what it held is let go
    return {"deleted": incident.id}


# ---------------------------------------------------------------------------
# maintenances


def _move_maintenance(
    tx: Tx, old: Maintenance, new: Maintenance, status: MaintenanceStatus, body: str | None
) -> Maintenance:
    """Record a status move (and its side effects) on ``new``, a changed ``old``."""
    now = tx.ctx.now
    if status is not old.status:
        check_maintenance_move(old.status, status)
        new = replace(new, status=status)
        if status is MaintenanceStatus.IN_PROGRESS and old.started_at is None:
            new = replace(new, started_at=now)
        if status is MaintenanceStatus.COMPLETED:
            new = replace(new, completed_at=now)
    moved = new.running != old.running
    ended = old.running and not new.running
    if status is not old.status or body:
        maintenances = {**tx.state.maintenances, new.id: new}
        moves = (
            service_moves(tx.state, new.service_ids, maintenances=maintenances, release=ended)
            if moved
            else ()
        )
        update = Update(
            tx.ctx.new_id(),
            status.value,
            body or DEFAULT_BODIES[status.value],
            now,
            tx.ctx.author,
            tuple(moves),
        )
        new = replace(new, updates=(*new.updates, update))
    new = replace(new, updated_at=now)
    tx.put_maintenance(new, created=old.id not in tx.state.maintenances)
    if moved:
        settle(tx, new.service_ids, new.id, release=ended)
    if ended:
        monitor_rules.after_maintenance(tx, new.service_ids)
    return new


def _check_window(start: datetime, until: datetime, now: datetime) -> None:
    if until <= start:
        raise ValidationError(
            "scheduled_until must be after scheduled_for", field="scheduled_until"
        )
    if until <= now:
        raise ValidationError(
            "scheduled_until is already past; a maintenance must end in the future",
            field="scheduled_until",
        )


def _service_ids(state: OrgState, refs: Iterable[str]) -> tuple[str, ...]:
    ids: list[str] = []
    for ref in refs:
        service_id = find_service(state, ref).id
        if service_id not in ids:
            ids.append(service_id)
    return tuple(ids)


def _schedule_maintenance(tx: Tx, cmd: c.ScheduleMaintenance) -> Any:
    now = tx.ctx.now
    _check_window(cmd.scheduled_for, cmd.scheduled_until, now)
    draft = Maintenance(
        id=tx.ctx.new_id(),
        name=cmd.name,
        status=MaintenanceStatus.SCHEDULED,
        scheduled_for=cmd.scheduled_for,
        scheduled_until=cmd.scheduled_until,
        service_ids=_service_ids(tx.state, cmd.services),
        auto_start=cmd.auto_start,
        auto_complete=cmd.auto_complete,
        updates=(),
        created_at=now,
        updated_at=now,
    )
    maintenance = _move_maintenance(
        tx, draft, draft, MaintenanceStatus.SCHEDULED, cmd.body or DEFAULT_BODIES["scheduled"]
    )
    # Already due (scheduled_for is past): start it in the same breath.
    maintenance = _tick_one(tx, maintenance)
    return maintenance.to_dict()


def _update_maintenance(tx: Tx, cmd: c.UpdateMaintenance) -> Any:
    old = find_maintenance(tx.state, cmd.maintenance)
    if old.status in MAINTENANCE_OVER:
        raise InvalidTransition(f"maintenance {old.name!r} is {old.status} and cannot change")
    changes: dict[str, Any] = {}
    for attr in ("name", "scheduled_for", "scheduled_until", "auto_start", "auto_complete"):
        value = getattr(cmd, attr)
        if value is not MISSING:
            changes[attr] = value
    if cmd.services is not MISSING and _service_ids(tx.state, cmd.services) != old.service_ids:
        if old.running:
            raise InvalidTransition(
                "the services of a running maintenance cannot change; complete it and schedule another",
                field="services",
            )
        changes["service_ids"] = _service_ids(tx.state, cmd.services)
    changes = {k: v for k, v in changes.items() if getattr(old, k) != v}
    new = replace(old, **changes)
    if "scheduled_for" in changes or "scheduled_until" in changes:
        if old.status is not MaintenanceStatus.SCHEDULED and "scheduled_for" in changes:
            raise InvalidTransition(
                "a maintenance that has started keeps its start time", field="scheduled_for"
            )
        _check_window(new.scheduled_for, new.scheduled_until, tx.ctx.now)
    status = old.status if cmd.status is MISSING else cmd.status
    body = None if cmd.body is MISSING else cmd.body
    if new == old and status is old.status and not body:
        return old.to_dict()
    new = _move_maintenance(tx, old, new, status, body)
    return _tick_one(tx, new).to_dict()


def _cancel_maintenance(tx: Tx, cmd: c.CancelMaintenance) -> Any:
    old = find_maintenance(tx.state, cmd.maintenance)
    if old.status in MAINTENANCE_OVER:
        raise InvalidTransition(f"maintenance {old.name!r} is {old.status} and cannot change")
    body = None if cmd.body is MISSING else cmd.body
    return _move_maintenance(tx, old, old, MaintenanceStatus.CANCELLED, body).to_dict()


def _delete_maintenance(tx: Tx, cmd: c.DeleteMaintenance) -> Any:
    maintenance = find_maintenance(tx.state, cmd.maintenance)
    tx.emit("maintenance.deleted", {"id": maintenance.id})
    if maintenance.running:
        settle(tx, maintenance.service_ids, maintenance.id, release=True)
        monitor_rules.after_maintenance(tx, maintenance.service_ids)
    return {"deleted": maintenance.id}


def _tick_one(tx: Tx, maintenance: Maintenance) -> Maintenance:
    """Start or complete one maintenance if its time has come."""
    now = tx.ctx.now
    due = maintenance.next_due()
    while due is not None and due <= now:
        if maintenance.status is MaintenanceStatus.SCHEDULED:
            target = MaintenanceStatus.IN_PROGRESS
        else:
            target = MaintenanceStatus.COMPLETED
        maintenance = _move_maintenance(tx, maintenance, maintenance, target, None)
        due = maintenance.next_due()
    return maintenance


def _tick(tx: Tx, cmd: c.Tick) -> Any:
    for maintenance in list(tx.state.maintenances.values()):
        _tick_one(tx, maintenance)
    monitor_rules.due(tx)
    _archive_due(tx)
    return None


def _archive_due(tx: Tx) -> None:
    """Incidents resolved longer ago than the context keeps leave the state
    (``incident.archived`` carries the whole incident, which the store keeps
    and serves from then on)."""
    keep = tx.ctx.keep_resolved
    if keep is None:
        return
    for incident in list(tx.state.incidents.values()):
        if (
            not incident.active
            and incident.resolved_at is not None
            and incident.resolved_at + keep <= tx.ctx.now
        ):
            tx.emit("incident.archived", {"id": incident.id, "incident": incident.to_dict()})


# The dispatch table every transaction is given: the rules here, and those of
# monitor_rules (which opens and resolves incidents through Tx.handle),
# probe_rules and postmortems.
_HANDLERS: Mapping[type, Any] = {
    c.UpdateOrg: _update_org,
    c.DeleteOrg: _delete_org,
    c.NoteChange: _note_change,
    c.CreateService: _create_service,
    c.UpdateService: _update_service,
    c.DeleteService: _delete_service,
    c.CreateIncident: _create_incident,
    c.UpdateIncident: _update_incident,
    c.ResolveIncident: _resolve_incident,
    c.DeleteIncident: _delete_incident,
    c.ScheduleMaintenance: _schedule_maintenance,
    c.UpdateMaintenance: _update_maintenance,
    c.CancelMaintenance: _cancel_maintenance,
    c.DeleteMaintenance: _delete_maintenance,
    c.Tick: _tick,
    **monitor_rules.HANDLERS,
    **probe_rules.HANDLERS,
    **postmortems.HANDLERS,
}
