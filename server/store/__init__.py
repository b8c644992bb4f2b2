"""Storage: PostgreSQL event log and snapshots, and the embedded server.

Nothing outside this package knows that asyncpg runs on asyncio; inside it,
only :mod:`.database` does.
"""

from . import receipts
from .audit import AuditEntry
from .database import (
    Claimed,
    Database,
    Duplicate,
    Refused,
    StoreError,
    StoreUnavailable,
    WriteUnconfirmed,
)
from .embedded import embedded_dsn
from .eventlog import (
    ConcurrencyError,
    DomainTaken,
    Loaded,
    NewStream,
    QuotaExceeded,
    Store,
    StreamExists,
)
from .leases import Lease, Leases

__all__ = [
    "AuditEntry",
    "Claimed",
    "ConcurrencyError",
    "Database",
    "DomainTaken",
    "Duplicate",
    "Lease",
    "Leases",
    "Loaded",
    "NewStream",
    "QuotaExceeded",
    "Refused",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StreamExists",
    "WriteUnconfirmed",
    "embedded_dsn",
    "receipts",
]
