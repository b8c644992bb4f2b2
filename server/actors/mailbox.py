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

from ..auth import AuthError, Origin
from ..domain.errors import DomainError
from ..protocol.messages import Ack, Error, RequestId

if TYPE_CHECKING:
    from .connection import Connection


class Unavailable(Exception):
    """The actor could not do it now (database down, actor restarting); try again."""

    code = "unavailable"
    http_status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    if isinstance(error, DomainError):
        return Error(id=request_id, code=error.code, message=error.message, field=error.field)
    if isinstance(error, AuthError | Unavailable):
        return Error(id=request_id, code=error.code, message=error.message)
    return Error(id=request_id, code="internal", message="the server failed to handle this request")


@dataclass(frozen=True, slots=True)
class FrameReply:
    """Answers a WebSocket request with an ``ack`` or ``error`` frame."""

    conn: Connection
    request_id: RequestId

    def resolve(self, result: Any) -> None:
        self.conn.send(Ack(id=self.request_id, result=result))

    def reject(self, error: BaseException) -> None:
        self.conn.send(error_message(error, self.request_id))


@dataclass(frozen=True, slots=True)
class Do:
    """Decide a command; answer through ``reply`` once its events are durable."""

    command: Any
    author: str | None
    reply: Reply | None  # None for the actor's own timer ticks
    origin: Origin | None = None  # who and from where, for the audit log
