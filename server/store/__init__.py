"""Storage: PostgreSQL event log and snapshots, and the embedded server.

Nothing outside this package knows that asyncpg runs on asyncio.
"""

from . import receipts
from .embedded import embedded_dsn
from .pg import (
    AuditEntry,
    ConcurrencyError,
    Duplicate,
    Loaded,
    NewStream,
    QuotaExceeded,
    Refused,
    Store,
    StoreError,
    StoreUnavailable,
    StreamExists,
    WriteUnconfirmed,
)

__all__ = [
    "AuditEntry",
    "ConcurrencyError",
    "Duplicate",
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
