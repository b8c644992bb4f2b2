"""Roles and actions: the words the policy is written in (pure; no I/O).

Every door (REST routes, WebSocket topics and messages, commands) names the
:class:`Action` it performs; :data:`POLICY` says which :class:`Role` each
action needs. The action of each organization command is a property of the
command itself, in the catalogue beside it (:mod:`server.domain.commands`);
the rest of the table is :mod:`server.policy`.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Final


class Role(IntEnum):
    """Roles, weakest first: each may do what the ones before it may."""

    VIEWER = 1
    RESPONDER = 2
    ADMIN = 3
    OWNER = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except (KeyError, AttributeError):
            raise ValueError(
                f"unknown role {name!r}; roles are {', '.join(r.name.lower() for r in cls)}"
            ) from None

    def __str__(self) -> str:
        return self.name.lower()


class Action(Enum):
    """Everything that can be asked of an organization."""

    READ = "read"  # the org: topic, incident rooms, REST reads
    CHANGE = "change"  # services, incidents, maintenances, monitors, room edits, new rooms
    ADMINISTER = "administer"  # settings, members, invitations, tokens, channels, the audit log
    OWN = "own"  # deleting the organization, making or unmaking owners


#: The weakest role allowed each action.
POLICY: Final[dict[Action, Role]] = {
    Action.READ: Role.VIEWER,
    Action.CHANGE: Role.RESPONDER,
    Action.ADMINISTER: Role.ADMIN,
    Action.OWN: Role.OWNER,
}
