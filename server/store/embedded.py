"""The embedded PostgreSQL: a real server from the ``pgserver`` wheel.

Used when no database URL is given. Its data lives in ``<data-dir>/pg``; it is
started on first use and stopped when the last process using it exits.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "switchboard"


def embedded_dsn(data_dir: Path, *, database: str = DATABASE) -> str:
    """Start (or join) the embedded server and return a DSN for ``database``.

    Blocking (it may run initdb): call it from a thread.
    """
    # Imported here: only the embedded default needs it.
    from pgserver.postgres_server import PostgresServer, get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    with PostgresServer._lock:
        forget_the_dead(pgdata / ".handle_pids.json")
    server = get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created database %s in %s", database, data_dir / "pg")
    return str(server.get_uri(database))


def forget_the_dead(handles: Path) -> None:
    """Drop the processes that died without letting go of the server.

    pgserver stops PostgreSQL when the last process using it exits, counting
    them in this file; one killed (SIGKILL) stays in it for good, and the
    server would then outlive every later process. With the dead forgotten,
    this process adopts the running server and stops it when it is the last.
    """
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        log.info("forgetting %d dead users of the embedded PostgreSQL", len(pids) - len(alive))
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    """Running (a zombie, killed and not yet reaped, is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's, and there
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust the signal
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
