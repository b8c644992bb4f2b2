"""Reading the past back out of the event log: services' status changes."""

from __future__ import annotations

from datetime import datetime

from ..domain.history import Change
from ..domain.model import ServiceStatus
from .pg import Store

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
