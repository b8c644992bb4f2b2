"""From the organizations' event logs to deliveries: every event once, in order.

Notifications are read back from the event log rather than taken from the
actors as they commit, so that none is lost to a crash between a commit and
its fan-out, and none is repeated when an actor replays its log on loading:
each organization has a cursor (the last version told), moved forward in the
same transaction as the deliveries its events made. An actor's commit only
wakes the feed; a sweep every few seconds catches anything a wakeup missed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from ..domain.events import Event, public_data
from ..domain.model import OrgState
from ..store import Claimed, Store, StoreError
from .deliveries import Notifier
from .records import NotificationEvent

log = logging.getLogger(__name__)

BATCH = 500  # events read per transaction
# The events notifications come from.
TOLD = ("incident.", "maintenance.", "monitor.updated", "probe.")

_BEHIND = """
SELECT s.id FROM streams AS s LEFT JOIN notify_cursors AS c ON c.stream = s.id
WHERE s.kind = 'org' AND s.version > COALESCE(c.version, 0)
"""


def _told_sql() -> str:
    """``TOLD`` as a condition on ``events.name``."""
    tests = [f"name LIKE '{t}%'" if t.endswith(".") else f"name = '{t}'" for t in TOLD]
    return " OR ".join(tests)


# The next events that may be told, with the cursor and how far the log goes:
# events in between that cannot be told are passed over without reading them.
_EVENTS = f"""
WITH cursor AS (
    SELECT COALESCE((SELECT version FROM notify_cursors WHERE stream = $1), 0) AS since
)
SELECT cursor.since, s.version AS upto, e.version, e.public_seq, e.name, e.data, e.at, e.author
FROM streams AS s CROSS JOIN cursor
LEFT JOIN LATERAL (
    SELECT * FROM events
    WHERE stream = $1 AND version > cursor.since AND ({_told_sql()})
    ORDER BY version LIMIT $2
) AS e ON true
WHERE s.id = $1
"""

# The cursor moves from where the reader found it, or not at all: of two
# nodes that read the same events, one writes their deliveries.
_MOVE = """
INSERT INTO notify_cursors (stream, version) VALUES ($1, $3)
ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version
WHERE notify_cursors.version = $2
"""


@dataclass(frozen=True, slots=True)
class Batch:
    """Events of one stream read past its cursor, and where the cursor goes."""

    stream: str
    since: int
    upto: int
    events: list[Event]


class Feed:
    def __init__(self, store: Store, notifier: Notifier, *, sweep_seconds: float = 5.0) -> None:
        self.store = store
        self.notifier = notifier
        self.sweep_seconds = sweep_seconds
        self.due: set[str] = set()  # streams with events not yet told
        self._wake = trio.Event()

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """An organization committed (an observer of the registry): look soon if
        anything in it may be told; the sweep moves the cursor past the rest."""
        if any(e.name.startswith(TOLD) for e in events):
            self.due.add(f"org:{slug}")
            self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.move_on_after(self.sweep_seconds):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                if not self.due:  # a sweep: whatever is behind
                    self.due.update(r["id"] for r in await self.store.fetch(_BEHIND))
                while self.due:
                    stream = self.due.pop()
                    if await self.tell(stream) == BATCH:
                        self.due.add(stream)  # more where that came from
            except (StoreError, OSError) as exc:
                log.warning("notifications wait for the database: %s", exc)
                await trio.sleep(1.0)

    async def tell(self, stream: str) -> int:
        """Turn the next events of ``stream`` into deliveries; how many were told
        (0 as well when another node told them first)."""
        batch = await self.read(stream)
        return 0 if batch is None else await self.write(batch)

    async def read(self, stream: str) -> Batch | None:
        """The next events of ``stream`` that may be told; None if none."""
        rows = await self.store.fetch(_EVENTS, stream, BATCH)
        if not rows:
            return None  # no such stream
        found = [r for r in rows if r["version"] is not None]
        # All read: the cursor goes to the end of the log; else past the last read.
        upto = found[-1]["version"] if len(found) == BATCH else rows[0]["upto"]
        if upto <= rows[0]["since"]:
            return None
        events = [
            Event(r["version"], r["public_seq"], r["name"], r["data"], r["at"], r["author"])
            for r in found
        ]
        return Batch(stream, rows[0]["since"], upto, events)

    async def write(self, batch: Batch) -> int:
        """Make ``batch``'s deliveries and move the cursor past it, if the
        cursor is still where it was read (else 0: another node did)."""
        org = batch.stream.removeprefix("org:")
        statements: list[tuple[str, Sequence[Any]]] = []
        for event in batch.events:
            told = notification_for(event)
            if told is not None:
                statements.append(self.notifier.fan_out(org, *told))
        claim = (_MOVE, (batch.stream, batch.since, batch.upto))
        try:
            await self.store.write(statements, claim=claim)
        except Claimed:
            return 0
        if statements:
            self.notifier.wake()
        return len(batch.events)


# -- which events are told, and how ------------------------------------------


def _new_entry(entity: Mapping[str, Any]) -> bool:
    """Whether the change that made this version also added to the timeline."""
    updates = entity.get("updates") or []
    return bool(updates) and updates[-1].get("created_at") == entity.get("updated_at")


_MONITOR_FIELDS = ("id", "name", "service_id", "kind", "verdict", "verdict_since")
_ALERT_FIELDS = (
    "service",
    "target",
    "down_since",
    "down_for_seconds",
    "changes",
    "window_minutes",
    "after_maintenance",
)


def _monitor_notification(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """What the rules decided to tell of a monitor (``alert``: down, degraded,
    up, flapping, stable; none while muted by a maintenance), with what a
    person needs to act: the service, what is checked, since when, why."""
    monitor, alert = data.get("monitor"), data.get("alert")
    if not isinstance(monitor, Mapping):
        return None
    if not isinstance(alert, Mapping):
        alert = _logged_before_alerts(monitor, data.get("previous_verdict"))
        if alert is None:
            return None
    kind = NotificationEvent(f"monitor.{alert['kind']}")
    shown = {k: monitor.get(k) for k in _MONITOR_FIELDS}
    shown["failing_regions"] = list(monitor.get("failing_regions") or [])
    payload: dict[str, Any] = {"monitor": shown}
    payload.update((k, alert[k]) for k in _ALERT_FIELDS if k in alert)
    if kind is not NotificationEvent.MONITOR_UP and monitor.get("error"):
        payload["message"] = str(monitor["error"])
    return kind.value, payload


def _logged_before_alerts(monitor: Mapping[str, Any], before: object) -> Mapping[str, Any] | None:
    """An event logged before the rules decided alerts: down when the verdict
    turned down, up when it came back from down or degraded."""
    verdict = monitor.get("verdict")
    if before is None:
        return None
    if verdict == "down":
        return {"kind": "down"}
    if verdict == "up" and before in ("down", "degraded"):
        return {"kind": "up"}
    return None


_PROBE_KINDS = {
    "probe.offline": NotificationEvent.PROBE_OFFLINE,
    "probe.online": NotificationEvent.PROBE_ONLINE,
}


def _probe_notification(name: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``probe.offline`` and ``probe.online``, as recorded: the region, when it
    was last heard, and the organization's monitors it checks (members only)."""
    kind = _PROBE_KINDS.get(name)
    if kind is None:
        return None
    monitors = data.get("monitors")
    return kind.value, {
        "region": data.get("region"),
        "last_seen": data.get("last_seen"),
        "monitors": list(monitors) if isinstance(monitors, list) else [],
    }


def notification_for(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The notification an organization's event makes, with the public view as payload.

    None for events nobody is notified of (deletions, edits that add nothing to
    a timeline, members-only events but for a monitor's verdict and a probe
    going offline or coming back, whose payload is what was recorded).
    """
    if event.name == "monitor.updated":
        return _monitor_notification(event.data)
    if event.name.startswith("probe."):
        return _probe_notification(event.name, event.data)
    if event.public_seq is None or not event.name.startswith(("incident.", "maintenance.")):
        return None
    data = public_data(event)
    if event.name.startswith("incident."):
        incident = data.get("incident")
        if not isinstance(incident, Mapping):
            return None
        payload: dict[str, Any] = {"incident": dict(incident)}
        if event.name == "incident.created":
            return NotificationEvent.INCIDENT_CREATED.value, payload
        if incident.get("status") == "resolved" and incident.get("resolved_at") == incident.get(
            "updated_at"
        ):
            return NotificationEvent.INCIDENT_RESOLVED.value, payload
        if _new_entry(incident):
            return NotificationEvent.INCIDENT_UPDATED.value, payload
        return None
    if event.name.startswith("maintenance."):
        maintenance = data.get("maintenance")
        if not isinstance(maintenance, Mapping):
            return None
        payload = {"maintenance": dict(maintenance)}
        if data.get("services"):  # by name (logged since notifications carry them)
            payload["services"] = list(data["services"])
        status, updated = maintenance.get("status"), maintenance.get("updated_at")
        if event.name == "maintenance.created" and status == "scheduled":
            return NotificationEvent.MAINTENANCE_SCHEDULED.value, payload
        if status == "in_progress" and maintenance.get("started_at") == updated:
            return NotificationEvent.MAINTENANCE_STARTED.value, payload
        if status == "completed" and maintenance.get("completed_at") == updated:
            return NotificationEvent.MAINTENANCE_COMPLETED.value, payload
        if status == "cancelled" and _new_entry(maintenance):
            return NotificationEvent.MAINTENANCE_CANCELLED.value, payload
        if _new_entry(maintenance):
            return NotificationEvent.MAINTENANCE_UPDATED.value, payload
    return None
