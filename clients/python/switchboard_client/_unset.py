"""A keyword argument not given, told apart from ``None`` (which may clear a field)."""

from __future__ import annotations

from typing import Any


class Unset:
    """The type of :data:`UNSET`: a keyword not given."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: A keyword not given: left out of the command.
UNSET = Unset()


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not UNSET}
