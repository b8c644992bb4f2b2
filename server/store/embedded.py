"""The embedded PostgreSQL: a real server from the ``pgserver`` wheel.

Used when no database URL is given. Its data lives in ``<data-dir>/pg``; it is
started on first use and stopped when the last process using it exits.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "switchboard"


def embedded_dsn(data_dir: Path, *, database: str = DATABASE) -> str:
    """Start (or join) the embedded server and return a DSN for ``database``.

    Blocking (it may run initdb): call it from a thread.
    """
    # Imported here: only the embedded default needs it.
    from pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created database %s in %s", database, data_dir / "pg")
    return str(server.get_uri(database))
