"""Switchboard's Python client: live status, commands, shared rooms.

::

    import switchboard_client

    async with switchboard_client.connect("ws://127.0.0.1:8080/ws", token=TOKEN) as client:
        events = await client.subscribe("status:demo")
        await client.service_update("demo", service="api", status="major_outage")
        async for event in events:
            print(event.name, event.data)
"""

from .client import Backoff, Client, Event, Resync, State, Subscription, connect
from .errors import ConnectionLost, OutcomeUnknown, SwitchboardError
from .room import Edit, Presence, Room, RoomReset

__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "Client",
    "ConnectionLost",
    "Edit",
    "Event",
    "OutcomeUnknown",
    "Presence",
    "Resync",
    "Room",
    "RoomReset",
    "State",
    "Subscription",
    "SwitchboardError",
    "connect",
]
