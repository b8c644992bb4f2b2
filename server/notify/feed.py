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
from collections.abc import Sequence
from typing import Any

import trio

from ..domain.events import Event
from ..domain.model import OrgState
from ..store import Store, StoreError
from .deliveries import Notifier, notification_for

log = logging.getLogger(__name__)

BATCH = 500  # events read per transaction

_BEHIND = """
SELECT s.id FROM streams AS s LEFT JOIN notify_cursors AS c ON c.stream = s.id
WHERE s.kind = 'org' AND s.version > COALESCE(c.version, 0)
"""

_EVENTS = """
SELECT version, public_seq, name, data, at, author FROM events
WHERE stream = $1 AND version > COALESCE((SELECT version FROM notify_cursors WHERE stream = $1), 0)
ORDER BY version LIMIT $2
"""

_MOVE = """
INSERT INTO notify_cursors (stream, version) VALUES ($1, $2)
ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version
WHERE notify_cursors.version < EXCLUDED.version
"""


class Feed:
    def __init__(self, store: Store, notifier: Notifier, *, sweep_seconds: float = 5.0) -> None:
        self.store = store
        self.notifier = notifier
        self.sweep_seconds = sweep_seconds
        self.due: set[str] = set()  # streams with events not yet told
        self._wake = trio.Event()

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """An organization committed (an observer of the registry): look soon."""
        if events:
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
        """Turn the next events of ``stream`` into deliveries; how many were read."""
        rows = await self.store.fetch(_EVENTS, stream, BATCH)
        if not rows:
            return 0
        org = stream.removeprefix("org:")
        statements: list[tuple[str, Sequence[Any]]] = []
        for row in rows:
            event = Event(
                row["version"],
                row["public_seq"],
                row["name"],
                row["data"],
                row["at"],
                row["author"],
            )
            told = notification_for(event)
            if told is not None:
                statements.append(self.notifier.fan_out(org, *told))
        statements.append((_MOVE, (stream, rows[-1]["version"])))
        await self.store.write(statements)
        if len(statements) > 1:
            self.notifier.wake()
        return len(rows)
