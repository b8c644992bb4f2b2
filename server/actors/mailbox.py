"""What goes into an actor's inbox, and how answers come back.

A request carries a :class:`Reply`. Trio callers (REST handlers) use a
:class:`Future` and wait on it; a WebSocket request uses a
:class:`FrameReply`, which writes the ``ack`` or ``error`` frame straight to
the connection, so that a client can pipeline requests without its reader
waiting for each answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import outcome
import trio

from ..auth import Origin
from ..errors import OutcomeUnknown, peer_error
from ..protocol.messages import Ack, Error, RequestId
from ..store.receipts import Receipt

if TYPE_CHECKING:
    from .connection import Connection


class Reply(Protocol):
    def resolve(self, result: Any) -> None: ...

    def reject(self, error: BaseException) -> None: ...


class Future:
    """A one-shot answer for a trio task."""

    __slots__ = ("_done", "_outcome")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._outcome: outcome.Outcome[Any] | None = None

    def resolve(self, result: Any) -> None:
        if self._outcome is None:
            self._outcome = outcome.Value(result)
            self._done.set()

    def reject(self, error: BaseException) -> None:
        if self._outcome is None:
            self._outcome = outcome.Error(error)
            self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        assert self._outcome is not None
        return self._outcome.unwrap()


def error_message(error: BaseException, request_id: RequestId) -> Error:
    """The ``error`` frame for an exception raised while serving a request."""
    told = peer_error(error)
    return Error(id=request_id, code=told.code, message=told.message, field=told.field)


class FrameReply:
    """Answers a WebSocket request with an ``ack`` or ``error`` frame, once.

    If no answer comes by ``deadline`` (trio time), :meth:`expire` says
    ``outcome_unknown``; whatever the actor says later is dropped.
    """

    __slots__ = ("answered", "conn", "deadline", "request_id")

    def __init__(self, conn: Connection, request_id: RequestId, deadline: float) -> None:
        self.conn = conn
        self.request_id = request_id
        self.deadline = deadline
        self.answered = False

    def resolve(self, result: Any) -> None:
        if not self.answered:
            self.answered = True
            if isinstance(result, Replay):
                self.conn.send(Ack(id=self.request_id, result=result.answer, replayed=True))
            else:
                self.conn.send(Ack(id=self.request_id, result=result))

    def reject(self, error: BaseException) -> None:
        if not self.answered:
            self.answered = True
            self.conn.send(error_message(error, self.request_id))

    def expire(self) -> None:
        self.reject(
            OutcomeUnknown(
                "no answer came in time: the change may or may not have been made;"
                " read it back, or retry with the same idempotency key"
            )
        )


@dataclass(frozen=True, slots=True)
class Do:
    """Decide a command; answer through ``reply`` once its events are durable."""

    command: Any
    author: str | None
    reply: Reply | None  # None for the actor's own timer ticks
    origin: Origin | None = None  # who and from where, for the audit log
    receipt: Receipt | None = None  # sent with an idempotency key


@dataclass(frozen=True, slots=True)
class Replay:
    """The answer a keyed command got the first time: it changed nothing now."""

    answer: Any
