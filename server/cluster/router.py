"""Forwarding: a command for an organization another node runs goes to that
node over the bus, and comes back with the owner's exact answer.

Each node answers requests on its own subject, ``switchboard.node.<id>.execute``.
When a node's registry finds that an organization is :class:`Elsewhere` (its
lease is another node's), it hands the command to :meth:`Router.forward`,
which sends it, in its wire form (``commands.to_wire``) with who asked
(author, audit origin, idempotency receipt), to the owner. The owner runs it
as if it had come in at its own door, once: a forwarded command is never
forwarded again (if the owner has lost the organization meanwhile, it says
``unavailable``). Its answer, a result, a replayed result or an error, is
given to the caller unchanged (``errors.relayed``), so a client cannot tell
which node it reached.

Bounds: a forwarded command waits as long as one run locally
(``Limits.database_seconds``); no answer by then is ``outcome_unknown``, as
it is locally. No node answering on the owner's subject (it died, its lease
not yet expired) is ``unavailable`` at once: nothing was done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from functools import partial
from typing import Any

import orjson
import trio

from ..actors.mailbox import Replay, Reply
from ..actors.registry import Registry
from ..auth import Origin
from ..domain.commands import from_wire, to_wire
from ..errors import PeerError, Unavailable
from ..store.receipts import Receipt
from .bus import Bus, BusError, NoResponders
from .requests import answered, serve

log = logging.getLogger(__name__)


def subject(node: str) -> str:
    """Where ``node`` takes forwarded commands."""
    return f"switchboard.node.{node}.execute"


class Router:
    def __init__(self, bus: Bus, registry: Registry, node: str) -> None:
        self.bus = bus
        self.registry = registry
        self.node = node
        self.bound = registry.limits.database_seconds
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Answer commands forwarded to this node, and forward others' (the
        registry's ``forward`` is this router's while it runs)."""
        async with (
            trio.open_nursery() as nursery,
            await self.bus.subscribe(subject(self.node)) as sub,
        ):
            self._nursery = nursery
            self.registry.forward = self.forward
            task_status.started()
            try:
                await serve(sub, nursery, self._answer, "forwarded command")
            finally:
                self.registry.forward = None

    # -- the sending side ----------------------------------------------------------

    def forward(
        self,
        owner: str,
        slug: str,
        command: Any,
        author: str | None,
        reply: Reply,
        origin: Origin | None,
        receipt: Receipt | None,
        *,
        again: bool = True,
    ) -> None:
        """Send ``command`` to ``owner``; ``reply`` gets its answer. If the
        owner does not answer because it let the organization go (a node
        stopping), the command is submitted ``again``, once, to whoever
        runs it now (this node, or another)."""
        assert self._nursery is not None
        name, data = to_wire(command)
        request = {
            "slug": slug,
            "name": name,
            "data": data,
            "author": author,
            "origin": None if origin is None else asdict(origin),
            "receipt": None if receipt is None else asdict(receipt),
        }
        resubmit = None
        if again:
            resubmit = partial(
                self.registry.submit, slug, command, author, reply, origin, receipt, again=False
            )
        self._nursery.start_soon(self._forward, owner, slug, orjson.dumps(request), reply, resubmit)

    async def _forward(
        self,
        owner: str,
        slug: str,
        payload: bytes,
        reply: Reply,
        resubmit: Callable[[], Awaitable[None]] | None,
    ) -> None:
        try:
            answer = answered(await self.bus.request(subject(owner), payload, self.bound))
        except NoResponders:
            if resubmit is not None and await self.registry.recheck(slug, owner):
                try:
                    await resubmit()
                except PeerError as exc:
                    reply.reject(exc)
                return
            reply.reject(
                Unavailable(
                    f"organization {slug!r} is run by node {owner!r}, which does not answer"
                    " (if it stopped, another node takes over when its lease runs out);"
                    " nothing was changed: try again"
                )
            )
            return
        except (BusError, PeerError) as exc:  # the owner's error, or the bus's
            reply.reject(exc)
            return
        if answer.get("replayed"):
            reply.resolve(Replay(answer["result"]))
        else:
            reply.resolve(answer["result"])

    # -- the owner's side ------------------------------------------------------------

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        origin, receipt = request["origin"], request["receipt"]
        result = await self.registry.execute(
            request["slug"],
            from_wire(request["name"], request["data"]),
            request["author"],
            None if origin is None else Origin(**origin),
            None if receipt is None else Receipt(**receipt),
            forwarded=True,
        )
        if isinstance(result, Replay):
            return {"result": result.answer, "replayed": True}
        return {"result": result}
