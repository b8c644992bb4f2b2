"""Errors: one hierarchy, rooted at :class:`SwitchboardError`.

The server's refusals carry its stable ``code``, and each family of codes has
its class (:class:`NotFound`, :class:`Forbidden`, :class:`Invalid`...), so a
caller can catch what it can act on. Two classes say what became of a request
when no answer came:

* :class:`OutcomeUnknown`: the request was sent and may or may not have been
  carried out (the server said ``outcome_unknown``; or the answer did not come
  within ``request_timeout``; or the connection was lost after sending). Read
  the state back, or send the command again with the same
  ``idempotency_key``: the server applies it at most once.
* :class:`ConnectionLost`: the request was not sent, or the client is closed:
  no connection within the time allowed, ``fail_fast`` while disconnected, or
  the client gave up (``str(error)`` says why: the HTTP status, the OS error,
  the server's close code and reason). Nothing was changed.
"""

from __future__ import annotations

from typing import Any


class SwitchboardError(Exception):
    """Anything that went wrong talking to Switchboard.

    ``code`` is stable (the server's, such as ``not_found``, or the client's
    own: ``connection_lost``, ``timeout``, ``gave_up``...), ``message`` is for
    people, ``field`` names the offending field if any. When the error came
    from the connection itself: ``status`` is the HTTP status of a refused
    WebSocket upgrade, ``close_code`` and ``close_reason`` the server's close
    frame, ``retry_after`` the seconds the server asked to wait.
    """

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        *,
        status: int | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.close_code = close_code
        self.close_reason = close_reason
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied and pickled whole (an error several waiters raise is copied).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[SwitchboardError], args: tuple[Any, ...], state: dict[str, Any]
) -> SwitchboardError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class Invalid(SwitchboardError):
    """The request is malformed or a field's value is refused
    (``invalid_field``, ``invalid_op``, ``unknown_type``, ``bad_state``...)."""


class TooLarge(Invalid):
    """Over a size limit (``too_large``: the message; ``op_too_large``,
    ``document_too_large``: a room's operation or text)."""


class NotFound(SwitchboardError):
    """No such thing (``not_found``), or no such topic (``unknown_topic``)."""


class Unauthorized(SwitchboardError):
    """No valid credentials: the token was refused (``unauthorized``) or
    revoked while connected (close code 4003, ``code`` ``credentials_revoked``)."""


class Forbidden(SwitchboardError):
    """Valid credentials, but a role too low or another organization's."""


class Conflict(SwitchboardError):
    """The request clashes with the current state (``conflict``,
    ``invalid_transition``, ``already_subscribed``, ``stale_revision``...)."""


class RateLimited(SwitchboardError):
    """More requests than the server takes (``rate_limited``); the request
    was dropped and may be sent again after a pause."""


class Unavailable(SwitchboardError):
    """The server cannot serve it now and changed nothing (``unavailable``);
    try again later."""


class InternalError(SwitchboardError):
    """The server failed (``internal``)."""


class OutcomeUnknown(SwitchboardError):
    """The request was sent, and whether it was carried out is unknown: the
    server could not confirm it in time (``outcome_unknown``), or no answer came
    within ``request_timeout`` (``timeout``), or the connection was lost after
    sending (``connection_lost``). Read the state back, or send the command
    again with the same ``idempotency_key``, which the server applies at most once."""


class ConnectionLost(SwitchboardError):
    """No connection to send the request on, so nothing was changed: the
    client is closed, gave up reconnecting (``str()`` says why), is
    ``fail_fast`` and disconnected, or did not reconnect within the time
    allowed (``timeout``)."""


_CLASSES: dict[str, type[SwitchboardError]] = {
    **dict.fromkeys(
        (
            "invalid_json",
            "invalid_message",
            "unknown_type",
            "invalid_field",
            "binary_unsupported",
            "bad_state",
            "invalid_op",
            "bad_handshake",
        ),
        Invalid,
    ),
    **dict.fromkeys(("too_large", "op_too_large", "document_too_large"), TooLarge),
    **dict.fromkeys(("not_found", "unknown_topic", "history_compacted"), NotFound),
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    **dict.fromkeys(
        (
            "conflict",
            "invalid_transition",
            "already_subscribed",
            "not_subscribed",
            "stale_revision",
            "too_many_subscriptions",
        ),
        Conflict,
    ),
    "rate_limited": RateLimited,
    "unavailable": Unavailable,
    "internal": InternalError,
    "outcome_unknown": OutcomeUnknown,
}


def error_class(code: str) -> type[SwitchboardError]:
    """The class of errors with this ``code`` (:class:`SwitchboardError` for codes it does not know)."""
    return _CLASSES.get(code, SwitchboardError)


def error_from(answer: dict[str, Any]) -> SwitchboardError:
    """The error a server's ``error`` message (or a REST ``error`` object) stands for."""
    code = str(answer.get("code", "error"))
    return error_class(code)(code, str(answer.get("message", "")), answer.get("field"))


__all__ = [
    "Conflict",
    "ConnectionLost",
    "Forbidden",
    "InternalError",
    "Invalid",
    "NotFound",
    "OutcomeUnknown",
    "RateLimited",
    "SwitchboardError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "error_class",
    "error_from",
]
