"""The audit log's rows: who changed what, when, from where.

They are written with the change they record: by :meth:`Database.write` with
its statements, or by the event log (:mod:`.eventlog`) with the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log: who changed what, when, from where."""

    org: str
    at: datetime
    actor_kind: str
    actor_id: str
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: Any = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.org,
            self.at,
            self.actor_kind,
            self.actor_id,
            self.actor,
            self.action,
            self.target,
            self.ip,
            self.details,
        )


INSERT_AUDIT = (
    "INSERT INTO audit_log (org, at, actor_kind, actor_id, actor, action, target, ip, details)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
