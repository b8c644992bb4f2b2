"""Telling an organization of changes made outside its actor.

An organization's members, invitations, API tokens (the directory's), its
notification channels and subscribers (the notifier's) and its ad-hoc rooms
(the registry's) are not kept in its event log: each change is written to
their own tables, with an audit row. So that the members' consoles follow
those changes as they follow the rest, each such audit row is also told to
the organization as a :class:`~server.domain.commands.NoteChange`, which it
records as the members-only event ``change.noted`` on ``org:<slug>`` (with
its seq, its place in the ring for resuming, and across nodes like any
other command).

:meth:`ChangeNotes.noted` is called by whoever wrote the rows, after the
write, and never blocks: the rows go into a bounded channel, and one task
sends the commands in order. A note is a signal, not the record (the audit
log is): one the channel has no room for, or the organization cannot take
(deleted, its node unreachable), is logged and dropped; a console catches up
at its next change or reload.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import trio

from ..domain import commands as c
from ..errors import DomainError, OutcomeUnknown, Unavailable
from ..store import AuditEntry

log = logging.getLogger(__name__)

AUTHOR = "system"
QUEUE = 1_000  # notes waiting to be told; beyond, they are dropped (and logged)

#: Audit rows that are not changes to the organization: told to nobody.
UNTOLD = frozenset({"login", "login.fail"})


class Executes(Protocol):
    """What runs a command of an organization (the registry)."""

    async def execute(self, slug: str, command: object, author: str | None) -> object: ...


class ChangeNotes:
    """The one task that tells organizations of changes written elsewhere."""

    def __init__(self, registry: Executes, size: int = QUEUE) -> None:
        self.registry = registry
        self._send, self._receive = trio.open_memory_channel[AuditEntry](size)
        self.dropped = 0

    def noted(self, entries: Sequence[AuditEntry]) -> None:
        """Queue a note of each row of an organization's (never blocks)."""
        for entry in entries:
            if entry.org == "*" or entry.action in UNTOLD:
                continue
            try:
                self._send.send_nowait(entry)
            except trio.WouldBlock:
                self.dropped += 1
                log.warning("change notes: %s in %s not told (queue full)", entry.action, entry.org)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for entry in self._receive:
            command = c.NoteChange(entry.action, entry.target)
            try:
                await self.registry.execute(entry.org, command, AUTHOR)
            except (DomainError, Unavailable, OutcomeUnknown) as exc:
                log.info("change notes: %s in %s not told: %s", entry.action, entry.org, exc)
