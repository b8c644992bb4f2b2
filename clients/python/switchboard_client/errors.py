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


class ConnectionLost(Exception):
    """The connection went away before the answer came: the request may or may
    not have been carried out. (The client reconnects on its own.)"""


def error_from(answer: dict[str, Any]) -> SwitchboardError:
    return SwitchboardError(
        str(answer.get("code", "error")), str(answer.get("message", "")), answer.get("field")
    )
