"""A server with smaller limits than the defaults says so in its welcome, and
the client keeps its room operations under them."""

from __future__ import annotations

import pytest
import trio
from support import Api, admin_token, token
from switchboard_client import Backoff, Limits, connect

from server.config import Limits as ServerLimits
from server.main import Server


@pytest.fixture
def limits() -> ServerLimits:
    return ServerLimits(max_message=8 * 1024, room_max_insert=1_000, room_max_components=50)


async def test_the_welcome_states_the_limits_and_the_client_keeps_under_them(
    server: Server, api: Api
) -> None:
    incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Small"}, status=201)
    room_id = incident["notes_room"]
    paste = '😀 "quoted" é\n' * 1_500  # 21,000 code points, 4-byte ones among them
    async with connect(
        server.base_url, token("demo", "responder"), backoff=Backoff(base=0.05, cap=0.3)
    ) as client:
        assert client.welcome["limits"] == {
            "max_message": 8 * 1024,
            "room_max_insert": 1_000,
            "room_max_components": 50,
        }
        assert client.limits == Limits(8 * 1024, 1_000, 50)
        room = await client.join_room(room_id)
        await room.insert(0, paste)
        for n in range(120):  # scattered edits: composed, they would need many components
            await room.insert(n * 150, "|")
        with trio.fail_after(30):  # a hang guard
            await room.flush(request_timeout=30)
        text = room.text
    async with Api.open(server.base_url, admin_token("demo")) as reader:
        stored = await reader.ok("GET", f"/api/v1/rooms/{room_id}/text")
    assert stored["text"] == text and len(text) == len(paste) + 120
