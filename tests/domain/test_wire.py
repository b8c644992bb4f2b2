"""The wire form of commands: what one node forwards to the node that owns
the organization (every command decided in the domain tests crosses it too,
in domain_support.World.decide)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.domain import commands as c
from server.errors import ValidationError


def test_a_command_with_times_and_unset_fields_comes_back_equal() -> None:
    command = c.parse_command(
        "maintenance.schedule",
        {
            "name": "DB upgrade",
            "scheduled_for": "2026-12-03T10:00:00.123Z",
            "scheduled_until": "2026-12-03T11:00:00Z",
        },
    )
    name, data = c.to_wire(command)
    assert name == "maintenance.schedule"
    assert data["scheduled_for"].startswith("2026-12-03T10:00:00.123")
    assert c.from_wire(name, data) == command
    assert command.scheduled_for == datetime(2026, 12, 3, 10, 0, 0, 123000, tzinfo=UTC)


def test_internal_commands_cross_too() -> None:
    assert c.from_wire(*c.to_wire(c.Tick())) == c.Tick()


def test_what_no_node_sends_is_refused() -> None:
    with pytest.raises(ValidationError):
        c.from_wire("no.such", {})
    with pytest.raises(ValidationError):
        c.from_wire("service.create", {"name": ""})
