"""Switchboard's Python client: live status, commands, shared rooms.

::

    import switchboard_client

    async with switchboard_client.connect("ws://127.0.0.1:8080/ws", token=TOKEN) as client:
        events = await client.subscribe("status:demo")
        await client.service_update("demo", service="API", status="major_outage")
        async for event in events:
            print(event.name, event.data)

It runs on asyncio and on trio (through AnyIO). Logs go to the
``switchboard_client`` logger: connections, reconnections with the delay
chosen, resumptions, and giving up.
"""

from ._unset import UNSET, Unset
from .client import Backoff, Client, Event, Limits, Resync, State, Subscription, connect
from .errors import (
    Conflict,
    ConnectionLost,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    SwitchboardError,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from .room import Edit, Presence, Room, RoomReset

__version__ = "0.2.0"

__all__ = [
    "UNSET",
    "Backoff",
    "Client",
    "Conflict",
    "ConnectionLost",
    "Edit",
    "Event",
    "Forbidden",
    "InternalError",
    "Invalid",
    "Limits",
    "NotFound",
    "OutcomeUnknown",
    "Presence",
    "RateLimited",
    "Resync",
    "Room",
    "RoomReset",
    "State",
    "Subscription",
    "SwitchboardError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "Unset",
    "__version__",
    "connect",
]
