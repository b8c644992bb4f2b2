"""Every error the server can tell a peer, and the table of their codes.

One family, so that one handler answers them all (a REST error body, a
WebSocket ``error`` frame, a refused handshake)::

    PeerError                    code, message, field: what the peer is told
    ├── DomainError              a command broke a domain rule; nothing changed
    │   ├── ValidationError      invalid_field
    │   ├── NotFound             not_found
    │   ├── Conflict             conflict
    │   ├── InvalidTransition    invalid_transition
    │   ├── InvitationInvalid    invitation_invalid
    │   └── HistoryCompacted     history_compacted
    ├── ProtocolError            a message we cannot take (its code says why)
    │   └── BadJson              invalid_json (a REST body)
    ├── RoomError                an operation a room cannot take (its code says why)
    ├── HandshakeError           a WebSocket upgrade refused (its status says why)
    ├── AuthError                unauthorized
    │   └── Forbidden            forbidden
    ├── RateLimited              rate_limited, with the seconds to wait
    ├── Unavailable              unavailable: nothing was changed; try again
    └── OutcomeUnknown           outcome_unknown: it may or may not have been done

The store's failures join the family where a peer hears of them
(``store.StoreUnavailable`` is an ``Unavailable``, ``store.WriteUnconfirmed``
an ``OutcomeUnknown``), and so do the cluster bus's
(``cluster.bus.BusUnavailable``, ``cluster.bus.Unanswered``). The operational-transform module is shared with the
bundled client and knows nothing of this family: its ``OTError`` is the peer's
malformed operation, and ``domain.room`` turns it into a ``RoomError`` at the
boundary.

A peer that breaks the WebSocket framing is not answered but closed with a
close code (``protocol.frames``: the decoder's ``FrameError`` becomes a
``Violation``). Errors that never reach a peer (a stream id taken, a
notification that failed to send, an address the network rule refuses) stay
beside the code that raises and catches them.

:data:`CODES` is the table of every code the server sends, with the HTTP status
it travels with and where it may appear; an error whose code is not in the table
cannot be built. docs/protocol.md and docs/api.md document each one (a test
walks the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final


@dataclass(frozen=True, slots=True)
class Code:
    """One error code: its HTTP status, and whether WebSocket ``error`` frames
    (``ws``) or HTTP answers (``http``) carry it."""

    status: int
    ws: bool = True
    http: bool = True


CODES: Final[Mapping[str, Code]] = {
    # The peer's input.
    "invalid_json": Code(400),
    "invalid_message": Code(400, http=False),
    "unknown_type": Code(400, http=False),
    "invalid_field": Code(422),
    "too_large": Code(413),
    "binary_unsupported": Code(400, http=False),
    "bad_request": Code(400, ws=False),
    "bad_handshake": Code(400, ws=False),
    "upgrade_required": Code(426, ws=False),
    "method_not_allowed": Code(405, ws=False),
    "timeout": Code(408, ws=False),
    "http_error": Code(400, ws=False),  # any other refusal of the HTTP layer, its own status
    # Who is asking.
    "unauthorized": Code(401),
    "forbidden": Code(403),
    "rate_limited": Code(429),
    # Topics and the connection's state.
    "unknown_topic": Code(404, http=False),
    "already_subscribed": Code(409, http=False),
    "not_subscribed": Code(409, http=False),
    "too_many_subscriptions": Code(409, http=False),
    "bad_state": Code(409, http=False),
    # The domain's rules.
    "not_found": Code(404),
    "conflict": Code(409),
    "invalid_transition": Code(409),
    "invitation_invalid": Code(410, ws=False),
    "history_compacted": Code(410, ws=False),
    # Rooms.
    "invalid_op": Code(422, http=False),
    "op_too_large": Code(413, http=False),
    "document_too_large": Code(413, http=False),
    "stale_revision": Code(409, http=False),
    # The server.
    "unavailable": Code(503),
    "outcome_unknown": Code(504),
    "internal": Code(500),
}


class PeerError(Exception):
    """What a peer is told when its request is not carried out: a stable
    ``code`` (what clients branch on), a ``message`` (what people read) and the
    ``field`` at fault, if one is."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if self.code not in CODES:
            raise LookupError(f"error code {self.code!r} is not in errors.CODES")
        self.message = message
        self.field = field

    @property
    def http_status(self) -> int:
        return CODES[self.code].status

    def http_headers(self) -> dict[str, str] | None:
        """Headers an HTTP answer carries beside the body."""
        return None

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


class _Coded(PeerError):
    """An error whose code is chosen where it is raised."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        self.code = code  # type: ignore[misc]  # the instance's own, from the table
        super().__init__(message, field=field)


# -- the domain ----------------------------------------------------------------------


class DomainError(PeerError):
    """A command broke a domain rule; nothing was changed. The peer's fault,
    never ours: answered with an ``error`` frame or a 4xx, and the caller goes on."""

    code = "invalid_field"


class ValidationError(DomainError):
    """A field is missing, of the wrong type, or has a value the rules refuse."""

    code = "invalid_field"


class NotFound(DomainError):
    """The organization, service, incident or maintenance named does not exist."""

    code = "not_found"


class Conflict(DomainError):
    """The change would clash with existing state, e.g. a duplicate name."""

    code = "conflict"


class InvalidTransition(DomainError):
    """A lifecycle (incident, maintenance) does not allow the requested move."""

    code = "invalid_transition"


class InvitationInvalid(DomainError):
    """An invitation that expired, was used, or was withdrawn."""

    code = "invitation_invalid"


class HistoryCompacted(DomainError):
    """A past text from before the history a room keeps (``room_history_days``)."""

    code = "history_compacted"


# -- the wire -------------------------------------------------------------------------


class ProtocolError(_Coded):
    """The peer sent something we cannot take; answer with an ``error`` and go
    on. ``id`` is the request's, when it could be read."""

    def __init__(
        self, code: str, message: str, *, id: Any = None, field: str | None = None
    ) -> None:
        super().__init__(code, message, field=field)
        self.id = id


class BadJson(ProtocolError):
    """A REST body that is not JSON."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_json", message)


class RoomError(_Coded):
    """An operation the room cannot take (``invalid_op``, ``op_too_large``,
    ``document_too_large``, ``stale_revision``); nothing changed."""


class HandshakeError(_Coded):
    """A WebSocket upgrade refused: answered with ``status`` and ``headers``,
    and the socket closed."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        code: str = "bad_handshake",
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers or []

    @property
    def http_status(self) -> int:
        return self.status


# -- who is asking ----------------------------------------------------------------------


class AuthError(PeerError):
    """The peer's credentials are missing or invalid."""

    code = "unauthorized"

    def http_headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"} if self.http_status == 401 else None


class Forbidden(AuthError):
    """The credentials are good, and not enough for this."""

    code = "forbidden"


class RateLimited(PeerError):
    """Over a rate limit: answered 429 with ``Retry-After``."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def http_headers(self) -> dict[str, str] | None:
        return {"Retry-After": retry_after(self.retry_after)}


# -- the server ----------------------------------------------------------------------------


class Unavailable(PeerError):
    """Not done now (the database down, an actor restarting): nothing was
    changed; try again."""

    code = "unavailable"

    def http_headers(self) -> dict[str, str] | None:
        return {"Retry-After": "1"}


class OutcomeUnknown(PeerError):
    """A change was sent and no answer came in time: it may or may not have
    been made. Read it back, or retry with the same idempotency key."""

    code = "outcome_unknown"


class Internal(PeerError):
    """Our bug: answered with a fixed message (the traceback goes to the log)."""

    code = "internal"

    def __init__(self) -> None:
        super().__init__("the server failed to handle this request")


class Relayed(_Coded):
    """An error another node gave a forwarded request, told here as it was
    (its code, and so its status, message and field)."""


# The kinds whose answer carries more than the code (headers), rebuilt as
# themselves; any other code is Relayed.
_REBUILT: Final[Mapping[str, type[PeerError]]] = {
    cls.code: cls for cls in (AuthError, Forbidden, Unavailable, OutcomeUnknown)
}


def relayed(code: str, message: str, field: str | None = None) -> PeerError:
    """The error another node answered with, to be told to our peer unchanged.
    A code the table does not hold (a newer node's) is told as ``internal``."""
    if code not in CODES:
        return Internal()
    kind = _REBUILT.get(code)
    if kind is not None:
        return kind(message, field=field)
    return Relayed(code, message, field=field)


def peer_error(error: BaseException) -> PeerError:
    """What to tell the peer about ``error``: itself if it is one of the family,
    else :class:`Internal`."""
    return error if isinstance(error, PeerError) else Internal()


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
