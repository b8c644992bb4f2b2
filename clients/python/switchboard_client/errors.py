"""Errors: the server's refusals carry its stable ``code``."""

from __future__ import annotations

from typing import Any


class SwitchboardError(Exception):
    """The server refused: ``code`` is stable (``not_found``, ``forbidden``...),
    ``message`` is for people, ``field`` names the offending field if any."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


class OutcomeUnknown(SwitchboardError):
    """The server could not tell whether the change was made (the database did
    not confirm it in time): read it back, or send the command again with the
    same ``idempotency_key``, which the server applies at most once."""


class ConnectionLost(Exception):
    """The connection went away before the answer came: the request may or may
    not have been carried out. (The client reconnects on its own.)"""


def error_from(answer: dict[str, Any]) -> SwitchboardError:
    code = str(answer.get("code", "error"))
    kind = OutcomeUnknown if code == "outcome_unknown" else SwitchboardError
    return kind(code, str(answer.get("message", "")), answer.get("field"))
