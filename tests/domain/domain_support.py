"""Shared helpers for the domain tests (fixtures are in conftest.py).

``Harness`` drives one organization through the pure rules: it creates the
org with ``rules.new_org`` and applies wire commands with ``rules.decide``,
keeping the state, the whole event log and a clock the test controls. Ids are
deterministic (``id1``, ``id2``, ...).

``random_program`` / ``run_program`` generate and run random command sequences
for the property-based tests (policy model, replay, overall status).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from server.domain import commands as c
from server.domain import rules
from server.domain.events import Event
from server.domain.model import (
    CHAIN,
    Impact,
    IncidentStatus,
    MaintenanceStatus,
    OrgState,
    Service,
    ServiceStatus,
)
from server.domain.transaction import Decision, find_service
from server.errors import DomainError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(**delta: float) -> datetime:
    """T0 shifted, e.g. ``at(hours=2)``."""
    return T0 + timedelta(**delta)


def stamp(moment: datetime) -> str:
    """A wire time string (what a client sends)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Harness:
    """One organization, a clock and a deterministic id source."""

    def __init__(
        self, *, now: datetime = T0, author: str | None = "alice", slug: str = "demo"
    ) -> None:
        self.now = now
        self.author = author
        self._counter = itertools.count(1)
        decision = rules.new_org(c.CreateOrg(slug, "Demo"), self.ctx())
        self.state: OrgState = decision.state
        self.log: list[Event] = list(decision.events)
        self.last = decision

    # -- plumbing -------------------------------------------------------------

    def new_id(self) -> str:
        return f"id{next(self._counter)}"

    def ctx(self, now: datetime | None = None) -> c.Context:
        return c.Context(
            now=self.now if now is None else now, author=self.author, new_id=self.new_id
        )

    def decide(self, cmd: Any, *, now: datetime | None = None) -> Decision:
        """Decide a command object; on success adopt the new state and its events.

        Every command decided here also crosses the wire form nodes forward
        commands in, and must come back equal."""
        assert c.from_wire(*c.to_wire(cmd)) == cmd, cmd
        decision = rules.decide(self.state, cmd, self.ctx(now))
        self.state = decision.state
        self.log.extend(decision.events)
        self.last = decision
        return decision

    def do(self, name: str, data: Any = None, *, now: datetime | None = None) -> Decision:
        """Parse a wire command and decide it."""
        return self.decide(c.parse_command(name, data), now=now)

    def tick(self, now: datetime | None = None) -> Decision:
        return self.decide(c.Tick(), now=now)

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def names(self, decision: Decision | None = None) -> list[str]:
        return [e.name for e in (decision or self.last).events]

    # -- shortcuts ------------------------------------------------------------

    def service(self, ref: str) -> Service:
        return find_service(self.state, ref)

    def status(self, ref: str) -> ServiceStatus:
        return self.service(ref).status

    def statuses(self) -> dict[str, str]:
        return {s.name: s.status.value for s in self.state.services.values()}

    def add_service(self, name: str, **fields: Any) -> str:
        return self.do("service.create", {"name": name, **fields}).result["id"]

    def set_status(self, ref: str, status: str) -> Decision:
        return self.do("service.update", {"service": ref, "status": status})

    def open_incident(
        self, name: str = "Outage", services: dict[str, str] | None = None, **fields: Any
    ) -> str:
        data = {"name": name, "services": services or {}, **fields}
        return self.do("incident.create", data).result["id"]

    def update_incident(self, incident_id: str, **fields: Any) -> Decision:
        return self.do("incident.update", {"incident": incident_id, **fields})

    def resolve(self, incident_id: str, **fields: Any) -> Decision:
        return self.do("incident.resolve", {"incident": incident_id, **fields})

    def schedule(
        self,
        services: list[str],
        *,
        start: datetime,
        until: datetime,
        name: str = "Upgrade",
        **fields: Any,
    ) -> str:
        data = {
            "name": name,
            "scheduled_for": stamp(start),
            "scheduled_until": stamp(until),
            "services": services,
            **fields,
        }
        return self.do("maintenance.schedule", data).result["id"]

    def maintenance_status(self, maintenance_id: str) -> MaintenanceStatus:
        return self.state.maintenances[maintenance_id].status


def replay(events: list[Event]) -> OrgState:
    """Rebuild an organization from its log: a fresh state from the first event, then apply."""
    from server.domain.events import apply
    from server.domain.model import Org

    first, *rest = events
    assert first.name == "org.created"
    state = OrgState(org=Org.from_dict(first.data["org"]))
    apply(state, first)
    for event in rest:
        apply(state, event)
    return state


# ---------------------------------------------------------------------------
# random programs


SERVICE_NAMES = ("API", "Web", "DB", "Auth", "CDN", "api")
GROUP_NAMES = (None, "Core", "Edge", "core")

_chain = st.sampled_from([s.value for s in CHAIN])
_any_status = st.sampled_from([s.value for s in ServiceStatus])
_index = st.integers(0, 7)
_requirements = st.dictionaries(_index, _chain, max_size=3)

step = st.one_of(
    st.tuples(
        st.just("create_service"),
        st.integers(0, len(SERVICE_NAMES) - 1),
        _any_status,
        st.sampled_from(GROUP_NAMES),
    ),
    st.tuples(st.just("set_status"), _index, _any_status),
    st.tuples(st.just("move_group"), _index, st.sampled_from(GROUP_NAMES)),
    st.tuples(st.just("delete_service"), _index),
    st.tuples(
        st.just("create_incident"),
        st.sampled_from([s.value for s in IncidentStatus]),
        _requirements,
        st.one_of(st.none(), st.sampled_from([i.value for i in Impact])),
    ),
    st.tuples(
        st.just("update_incident"),
        _index,
        st.one_of(st.none(), st.sampled_from([s.value for s in IncidentStatus])),
        st.one_of(st.none(), _requirements, _requirements),
    ),
    st.tuples(st.just("resolve_incident"), _index),
    st.tuples(st.just("delete_incident"), _index),
    st.tuples(
        st.just("schedule"),
        st.integers(-90, 180),  # start, minutes from now
        st.integers(1, 240),  # duration in minutes
        st.lists(_index, max_size=3),
        st.booleans(),
        st.booleans(),
    ),
    st.tuples(
        st.just("update_maintenance"), _index, st.sampled_from([s.value for s in MaintenanceStatus])
    ),
    st.tuples(st.just("cancel_maintenance"), _index),
    st.tuples(st.just("delete_maintenance"), _index),
    st.tuples(st.just("advance"), st.integers(1, 120)),
)


# Every program starts with three services so that most steps have something to act on.
SETUP: list[tuple[Any, ...]] = [
    ("create_service", 0, "operational", None),
    ("create_service", 1, "operational", "Core"),
    ("create_service", 2, "operational", "Core"),
]


def random_program(
    min_size: int = 10, max_size: int = 60
) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Sequences of abstract steps; ``run_program`` resolves them against the state."""
    return st.lists(step, min_size=min_size, max_size=max_size).map(lambda ops: SETUP + ops)


def _pick(table: dict[str, Any], index: int) -> str | None:
    keys = list(table)
    return keys[index % len(keys)] if keys else None


def to_command(h: Harness, op: tuple[Any, ...]) -> Any:
    """The concrete command for an abstract step (``None``: nothing to do)."""
    kind, *args = op
    state = h.state

    def svc(i: int) -> str | None:
        return _pick(state.services, i)

    if kind == "create_service":
        name_i, status, group = args
        data = {"name": SERVICE_NAMES[name_i], "status": status, "group": group}
        return c.parse_command("service.create", data)
    if kind == "set_status":
        ref = svc(args[0])
        return (
            None
            if ref is None
            else c.parse_command("service.update", {"service": ref, "status": args[1]})
        )
    if kind == "move_group":
        ref = svc(args[0])
        return (
            None
            if ref is None
            else c.parse_command("service.update", {"service": ref, "group": args[1]})
        )
    if kind == "delete_service":
        ref = svc(args[0])
        return None if ref is None else c.parse_command("service.delete", {"service": ref})
    if kind == "create_incident":
        status, reqs, impact = args
        services = {svc(i): s for i, s in reqs.items() if svc(i) is not None}
        data = {"name": "Incident", "status": status, "services": services, "impact": impact}
        return c.parse_command("incident.create", data)
    if kind in ("update_incident", "resolve_incident", "delete_incident") and not state.incidents:
        # Nothing to act on yet: open one instead, so that later steps have a target.
        first = svc(args[0])
        services = {} if first is None else {first: "major_outage"}
        return c.parse_command("incident.create", {"name": "Incident", "services": services})
    if (
        kind in ("update_maintenance", "cancel_maintenance", "delete_maintenance")
        and not state.maintenances
    ):
        first = svc(args[0])
        data = {
            "name": "Maintenance",
            "scheduled_for": stamp(h.now + timedelta(minutes=30)),
            "scheduled_until": stamp(h.now + timedelta(minutes=90)),
            "services": [] if first is None else [first],
        }
        return c.parse_command("maintenance.schedule", data)
    if kind == "update_incident":
        ref = _pick(state.incidents, args[0])
        if ref is None:
            return None
        data: dict[str, Any] = {"incident": ref}
        if args[1] is not None:
            data["status"] = args[1]
        if args[1] == "postmortem":
            data["body"] = "What happened"  # a postmortem needs its text
        if args[2] is not None:
            data["services"] = {svc(i): s for i, s in args[2].items() if svc(i) is not None}
        return c.parse_command("incident.update", data)
    if kind in ("resolve_incident", "delete_incident"):
        ref = _pick(state.incidents, args[0])
        name = "incident.resolve" if kind == "resolve_incident" else "incident.delete"
        return None if ref is None else c.parse_command(name, {"incident": ref})
    if kind == "schedule":
        start_min, duration, idxs, auto_start, auto_complete = args
        start = h.now + timedelta(minutes=start_min)
        data = {
            "name": "Maintenance",
            "scheduled_for": stamp(start),
            "scheduled_until": stamp(start + timedelta(minutes=duration)),
            "services": [s for i in idxs if (s := svc(i)) is not None],
            "auto_start": auto_start,
            "auto_complete": auto_complete,
        }
        return c.parse_command("maintenance.schedule", data)
    if kind == "update_maintenance":
        ref = _pick(state.maintenances, args[0])
        return (
            None
            if ref is None
            else c.parse_command("maintenance.update", {"maintenance": ref, "status": args[1]})
        )
    if kind in ("cancel_maintenance", "delete_maintenance"):
        ref = _pick(state.maintenances, args[0])
        name = "maintenance.cancel" if kind == "cancel_maintenance" else "maintenance.delete"
        return None if ref is None else c.parse_command(name, {"maintenance": ref})
    if kind == "advance":
        h.advance(minutes=args[0])
        return c.Tick()
    raise AssertionError(f"unknown step {kind}")


@dataclass
class Step:
    """One executed step: the state before it, the command and what came of it."""

    before: OrgState
    command: Any
    decision: Decision | None = None
    error: DomainError | None = None
    after: OrgState | None = field(default=None)


def run_program(h: Harness, program: list[tuple[Any, ...]]) -> Iterator[Step]:
    """Run the steps one by one, yielding each (errors are caught and reported)."""
    for op in program:
        before = h.state
        command = to_command(h, op)
        if command is None:
            continue
        result = Step(before=before, command=command)
        try:
            result.decision = h.decide(command)
        except DomainError as error:
            result.error = error
        result.after = h.state
        yield result
