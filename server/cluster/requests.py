"""Requests between nodes, over the bus: each is a JSON object, and so is its
answer, ``{"result": ...}`` (with whatever else the asker needs) or ``{"error":
{code, message, field?}}``, one of the family of errors, which the asker
raises as the far node's own (``errors.relayed``).

:func:`serve` answers the requests of one subscription, each in a task of its
own: a :class:`~server.errors.PeerError` is told as it is, anything else (our
bug) is logged and told as ``internal``. An answer that cannot be sent is
logged; the asker's bound tells it that the outcome is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import trio

from ..errors import Internal, PeerError, relayed
from .bus import BusError, Message, SlowConsumer, Subscription

log = logging.getLogger(__name__)

Answer = Callable[[Any], Awaitable[dict[str, Any]]]


async def serve(sub: Subscription, nursery: trio.Nursery, answer: Answer, what: str) -> None:
    """Answer each request on ``sub`` with ``answer(request)``, in ``nursery``
    (``what``: what a request is, for the log)."""
    while True:
        try:
            message = await sub.receive()
        except SlowConsumer as exc:  # their senders learn it by their bound
            log.warning("%ss dropped: %s", what, exc)
            continue
        nursery.start_soon(_respond, message, answer, what)


async def _respond(message: Message, answer: Answer, what: str) -> None:
    reply: dict[str, Any]
    try:
        reply = await answer(orjson.loads(message.data))
    except PeerError as exc:
        reply = {"error": exc.to_dict()}
    except Exception:  # our bug: the sender hears internal, as it would locally
        log.exception("a %s failed", what)
        reply = {"error": Internal().to_dict()}
    try:
        await message.respond(orjson.dumps(reply))
    except BusError as exc:  # the sender's bound tells it the outcome is unknown
        log.warning("the answer to a %s was lost: %s", what, exc)


def answered(data: bytes) -> dict[str, Any]:
    """An answer as it came; the error it carries is raised, as the far node's."""
    answer: dict[str, Any] = orjson.loads(data)
    if "error" in answer:
        error = answer["error"]
        raise relayed(error["code"], error["message"], error.get("field"))
    return answer
