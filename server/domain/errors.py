"""Errors raised when a command breaks a domain rule.

Every one carries a stable ``code`` (what clients branch on) and a message that
says what was wrong and why (what people read)::

    DomainError                 a command broke a rule
    ├── ValidationError         a field's value is unacceptable    code "invalid_field"
    ├── NotFound                the thing named does not exist      code "not_found"
    ├── Conflict                it would clash with existing state  code "conflict"
    └── InvalidTransition       the lifecycle forbids that move     code "invalid_transition"

These are the peer's fault, never ours: callers answer them with an ``error``
frame or a 4xx response and carry on.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a domain rule; nothing was changed."""

    code = "domain_error"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


class ValidationError(DomainError):
    """A field is missing, of the wrong type, or has a value the rules refuse."""

    code = "invalid_field"
    http_status = 422


class NotFound(DomainError):
    """The organization, service, incident or maintenance named does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    """The change would clash with existing state, e.g. a duplicate name."""

    code = "conflict"
    http_status = 409


class InvalidTransition(DomainError):
    """A lifecycle (incident, maintenance) does not allow the requested move."""

    code = "invalid_transition"
    http_status = 409
