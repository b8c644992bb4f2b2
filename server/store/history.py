"""Reading the past back out of the event log: services' status changes, and
incidents archived out of their organization's memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.history import Change
from ..domain.model import ServiceStatus
from .eventlog import Store

# Every service.updated event that moved a status carries ``previous_status``.
# The event's JSON is read whole and picked apart here: PostgreSQL's json
# operators stop at text it cannot hold (a NUL in a name stored before such
# text was refused), and one such event must not break the page for good.
_CHANGES = """
SELECT at, data FROM events
 WHERE stream = $1 AND name = 'service.updated' AND at >= $2
 ORDER BY version
"""


async def status_changes(store: Store, stream: str, since: datetime) -> list[Change]:
    """The status changes of an organization's services since ``since``, oldest first."""
    changes = []
    for row in await store.fetch(_CHANGES, stream, since):
        data = row["data"]
        previous = data.get("previous_status")
        service = data.get("service") or {}
        if previous is None:
            continue
        changes.append(
            Change(
                row["at"], service["id"], ServiceStatus(service["status"]), ServiceStatus(previous)
            )
        )
    return changes


# Incidents that left their organization's memory: the incident.archived
# event holds each one's last state (read whole: see above about json).
_ARCHIVED = """
SELECT e.data FROM incident_archive a
  JOIN events e ON e.stream = a.stream AND e.version = a.version
 WHERE a.stream = $1
"""


async def archived_incident(store: Store, stream: str, incident_id: str) -> dict[str, Any] | None:
    """An archived incident of ``stream``, as it was when it left memory."""
    rows = await store.fetch(_ARCHIVED + " AND a.id = $2", stream, incident_id)
    return dict(rows[0]["data"]["incident"]) if rows else None


async def archived_incidents(store: Store, stream: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently started of ``stream``'s archived incidents."""
    rows = await store.fetch(_ARCHIVED + " ORDER BY a.started_at DESC LIMIT $2", stream, limit)
    return [dict(r["data"]["incident"]) for r in rows]
