"""Reading the past back out of the event log: services' status changes."""

from __future__ import annotations

from datetime import datetime

from ..domain.history import Change
from ..domain.model import ServiceStatus
from .pg import Store

# Every service.updated event that moved a status carries ``previous_status``.
_CHANGES = """
SELECT at, data->'service'->>'id' AS service, data->'service'->>'status' AS status,
       data->>'previous_status' AS previous
  FROM events
 WHERE stream = $1 AND name = 'service.updated' AND at >= $2
   AND (data->>'previous_status') IS NOT NULL
 ORDER BY version
"""


async def status_changes(store: Store, stream: str, since: datetime) -> list[Change]:
    """The status changes of an organization's services since ``since``, oldest first."""
    rows = await store.fetch(_CHANGES, stream, since)
    return [
        Change(
            row["at"], row["service"], ServiceStatus(row["status"]), ServiceStatus(row["previous"])
        )
        for row in rows
    ]
