"""Events: what happened to an organization, in the order it happened.

An event is self-contained: ``*.created`` and ``*.updated`` carry the whole
entity as it is afterwards, so :func:`apply` is a plain replacement and a
subscriber needs nothing but the event to stay current. The same function
builds state while a command is decided and while the log is replayed, so the
two cannot drift apart.

Every event has the organization's stream position (``version``, the ``org:``
topic's seq) and, when the public may see it, the ``status:`` topic's seq.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .model import (
    Group,
    Incident,
    Maintenance,
    Org,
    OrgState,
    OverallStatus,
    Service,
    iso,
    parse_iso,
)
from .monitors import Monitor, shown_spec

# Events the public sees on ``status:<org>`` (with their data made public).
PUBLIC_EVENTS = frozenset(
    {
        "org.updated",
        "group.created",
        "group.updated",
        "group.deleted",
        "service.created",
        "service.updated",
        "service.deleted",
        "incident.created",
        "incident.updated",
        "incident.deleted",
        "maintenance.created",
        "maintenance.updated",
        "maintenance.deleted",
        "status.changed",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    version: int
    public_seq: int | None  # None: members only
    name: str
    data: Mapping[str, Any]
    at: datetime
    author: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "public_seq": self.public_seq,
            "name": self.name,
            "data": self.data,
            "at": iso(self.at),
            "author": self.author,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        return cls(
            version=d["version"],
            public_seq=d["public_seq"],
            name=d["name"],
            data=d["data"],
            at=parse_iso(d["at"]),
            author=d["author"],
        )


def public_data(event: Event) -> Mapping[str, Any]:
    """The event's data as the public may see it (authors and internals dropped)."""
    data = event.data
    for key, kind in (("incident", Incident), ("maintenance", Maintenance), ("service", Service)):
        # from_dict then to_dict(public=True): the entity decides what is private.
        entity = data.get(key)
        if isinstance(entity, Mapping):
            public = kind.from_dict(entity).to_dict(public=True)
            return {**data, key: public}
    return data


def member_data(event: Event) -> Mapping[str, Any]:
    """The event's data as members see it on ``org:``: a monitor's secrets hidden."""
    data = event.data
    monitor = data.get("monitor")
    if isinstance(monitor, Mapping) and isinstance(monitor.get("spec"), Mapping):
        return {**data, "monitor": {**monitor, "spec": shown_spec(monitor["spec"])}}
    return data


def verdict_changes(before: OrgState, events: Sequence[Event]) -> list[tuple[str, Event, str]]:
    """The monitors whose verdict ``events`` set (a new monitor's) or changed,
    after ``before``: (monitor id, the event, the verdict). Uptime is worked
    out from these."""
    changed: list[tuple[str, Event, str]] = []
    latest: dict[str, str | None] = {}
    for event in events:
        if event.name not in ("monitor.created", "monitor.updated"):
            if event.name == "monitor.deleted":
                latest[event.data["id"]] = None
            continue
        monitor = event.data["monitor"]
        monitor_id, verdict = monitor["id"], monitor["verdict"]
        if monitor_id in latest:
            was = latest[monitor_id]
        else:
            old = before.monitors.get(monitor_id)
            was = None if old is None else old.verdict.value
        if verdict != was:
            changed.append((monitor_id, event, verdict))
        latest[monitor_id] = verdict
    return changed


def apply(state: OrgState, event: Event) -> None:
    """Apply one event to ``state`` in place (on a fork, or while replaying)."""
    name, data = event.name, event.data
    kind, _, what = name.partition(".")
    if kind == "org":
        if what == "deleted":
            state.deleted = True
        else:
            state.org = Org.from_dict(data["org"])
    elif kind == "group":
        _put_or_delete(state.groups, what, data, "group", Group.from_dict)
    elif kind == "service":
        old = state.services.get(data["service"]["id"]) if what == "updated" else None
        _put_or_delete(state.services, what, data, "service", Service.from_dict)
        # Logged before statuses were worked out from their holders: a change
        # that an incident, a maintenance or a monitor made kept what a person set.
        caused = "cause" in data or event.author == "monitor"
        if old is not None and caused and "manual_status" not in data["service"]:
            state.services[old.id] = replace(state.services[old.id], manual=old.manual)
    elif name == "incident.archived":
        state.incidents.pop(data["id"], None)
        state.archived_incidents += 1
    elif kind == "incident":
        _put_or_delete(state.incidents, what, data, "incident", Incident.from_dict)
    elif kind == "maintenance":
        _put_or_delete(state.maintenances, what, data, "maintenance", Maintenance.from_dict)
    elif kind == "monitor":
        _put_or_delete(state.monitors, what, data, "monitor", Monitor.from_dict)
    elif name == "status.changed":
        state.status = OverallStatus.from_dict(data["status"])
    elif kind == "probe":
        pass  # a region's probe went offline or online: told, not kept
    elif name == "change.noted":
        pass  # a change kept elsewhere (members, tokens, channels...): told, not kept here
    else:
        raise ValueError(f"unknown event {name!r} at version {event.version}")
    state.version = event.version
    state.updated_at = event.at
    if event.public_seq is not None:
        state.public_seq = event.public_seq


def _put_or_delete(
    table: dict[str, Any], what: str, data: Mapping[str, Any], key: str, build: Any
) -> None:
    if what == "deleted":
        table.pop(data["id"], None)
    else:
        entity = build(data[key])
        table[entity.id] = entity
