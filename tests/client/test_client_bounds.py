"""The client against a server that goes away, pauses, comes back or refuses:
every wait ends, and says why.

Waits are guarded with ``trio.fail_after``: a hang guard, never a measurement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from support import Api, ServerProcess, admin_token, eventually, token
from switchboard_client import (
    Backoff,
    ConnectionLost,
    Forbidden,
    Invalid,
    Limits,
    NotFound,
    OutcomeUnknown,
    State,
    SwitchboardError,
    TooLarge,
    Unauthorized,
    connect,
)
from switchboard_client.room import Room
from switchboard_client.testing import RunningServer

QUICK = Backoff(base=0.05, cap=0.3)
GUARD = 30  # seconds: a hang guard


@pytest.fixture
async def process(database_url: str, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """The server in a child process: it can be stopped, paused and restarted."""
    server = await ServerProcess.start(database_url, str(tmp_path / "server"), "--demo")
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.process.pid, signal.SIGCONT)
        if server.process.returncode is None:
            server.kill()
            await server.wait()


@contextlib.contextmanager
def paused(server: ServerProcess) -> Any:
    """SIGSTOP: the server's sockets stay open, and nothing answers."""
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


async def notes_room(base_url: str, bearer: str | None = None) -> str:
    async with Api.open(base_url, bearer or admin_token("demo")) as api:
        incident = await api.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "Notes"}, status=201
        )
    return str(incident["notes_room"])


async def ending(source: Any) -> BaseException:
    """Read ``source`` (a subscription or a room) to its end: the error it ends with."""
    try:
        async for _ in source:
            pass
    except SwitchboardError as exc:
        return exc
    raise AssertionError("the iterator ended without an error")


async def test_giving_up_ends_every_iterator_and_waiting_call_with_the_reason(
    process: ServerProcess,
) -> None:
    room_id = await notes_room(process.base_url)
    backoff = Backoff(base=0.05, cap=0.2, max_attempts=2)
    async with connect(process.base_url, token("demo", "responder"), backoff=backoff) as client:
        events = await client.subscribe("org:demo")
        room = await client.join_room(room_id)
        await process.stop()  # closes with 1001; then nothing listens there
        ended: dict[str, BaseException] = {}

        async def into(name: str, source: Any) -> None:
            ended[name] = await ending(source)

        async def call() -> None:
            try:
                await client.wait_state(State.RECONNECTING)
                await client.service_update("demo", service="API", status="major_outage")
            except SwitchboardError as exc:
                ended["call"] = exc

        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(into, "events", events)
                nursery.start_soon(into, "room", room)
                nursery.start_soon(call)
        assert client.state is State.CLOSED and client.fatal is not None
        for name, error in ended.items():
            assert isinstance(error, ConnectionLost), (name, error)
            assert "cannot connect to ws://" in str(error), (name, error)  # the OS's words
            assert "gave up after 2 failed attempts" in str(error), (name, error)
        assert set(ended) == {"events", "room", "call"}
        with pytest.raises(ConnectionLost):  # and so does whatever comes after
            await room.insert(0, "late")


async def test_a_client_told_not_to_retry_gives_up_with_the_servers_close_code(
    switchboard_server: RunningServer,
) -> None:
    backoff = Backoff(max_attempts=0)
    async with connect(switchboard_server.url, None, backoff=backoff) as client:
        events = await client.subscribe("status:demo")
        await switchboard_server.stop()
        with trio.fail_after(GUARD):
            error = await ending(events)
        assert isinstance(error, ConnectionLost) and error.close_code == 1001
        assert "closed the connection with 1001" in str(error)


async def test_a_wrong_path_fails_at_once_with_the_http_status(
    switchboard_server: RunningServer,
) -> None:
    wrong = f"ws://127.0.0.1:{switchboard_server.port}/nope"
    with trio.fail_after(GUARD), pytest.raises(ConnectionLost) as failed:
        async with connect(wrong):  # never gives up by default: this is not worth retrying
            pass
    assert failed.value.status == 404 and "HTTP 404" in str(failed.value)
    assert "gave up" not in str(failed.value)


async def test_a_revoked_token_ends_subscriptions_with_4003(
    switchboard_server: RunningServer,
) -> None:
    async with Api.open(switchboard_server.url, switchboard_server.token()) as api:
        made = await api.ok(
            "POST", "/api/v1/orgs/demo/tokens", {"name": "bot", "role": "responder"}, status=201
        )
        async with connect(switchboard_server.url, made["token"], backoff=QUICK) as client:
            events = await client.subscribe("org:demo")
            response = await api.delete(f"/api/v1/orgs/demo/tokens/{made['id']}")
            assert response.status_code == 204
            with trio.fail_after(GUARD):
                error = await ending(events)
            assert isinstance(error, Unauthorized) and error.close_code == 4003
            assert error.code == "credentials_revoked"
            with pytest.raises(Unauthorized):
                await client.service_update("demo", service="API", status="operational")


async def test_connecting_to_a_paused_server_ends_within_connect_timeout(
    process: ServerProcess,
) -> None:
    with paused(process), trio.fail_after(GUARD), pytest.raises(ConnectionLost) as failed:
        async with connect(process.base_url, connect_timeout=1.0, backoff=QUICK):
            pass
    assert failed.value.code == "timeout"
    assert "not connected within 1 s" in str(failed.value)


async def test_calls_to_a_paused_server_end_within_request_timeout(
    process: ServerProcess,
) -> None:
    async with connect(
        process.base_url,
        token("demo", "responder"),
        backoff=QUICK,
        attempt_timeout=1.0,
        request_timeout=1.0,
        heartbeat=0.5,
    ) as client:
        with paused(process), trio.fail_after(GUARD):
            # Sent, never answered: it may or may not have been carried out.
            with pytest.raises(OutcomeUnknown) as unknown:
                await client.service_update("demo", service="API", status="major_outage")
            assert unknown.value.code == "timeout"
            # The heartbeat gives up on the silent connection; the next call
            # waits for a reconnection that cannot come, within its bound.
            await client.wait_state(State.RECONNECTING)
            with pytest.raises(ConnectionLost) as unsent:
                await client.service_update("demo", service="API", status="major_outage")
            assert unsent.value.code == "timeout" and "nothing was sent" in str(unsent.value)
        with trio.fail_after(GUARD):
            await client.wait_state(State.CONNECTED)  # back once the server is
            await client.service_update("demo", service="API", status="operational")


async def test_fail_fast_raises_at_once_while_disconnected(
    switchboard_server: RunningServer,
) -> None:
    async with connect(
        switchboard_server.url, switchboard_server.token(), backoff=QUICK, fail_fast=True
    ) as client:
        await switchboard_server.stop()
        with trio.fail_after(GUARD):
            await client.wait_state(State.RECONNECTING)
            with pytest.raises(ConnectionLost) as failed:
                await client.service_update("demo", service="API", status="major_outage")
        assert failed.value.code == "not_connected"
        assert "with 1001" in str(failed.value) or "cannot connect" in str(failed.value)
        await switchboard_server.restart()
        with trio.fail_after(GUARD):
            await client.wait_state(State.CONNECTED)
        await client.service_update("demo", service="API", status="operational")


async def test_refusals_raise_the_class_of_their_code(
    switchboard_server: RunningServer, switchboard_client: Any
) -> None:
    async with switchboard_client(role="responder") as client:
        with pytest.raises(NotFound) as missing:
            await client.service_update("demo", service="nosuch", status="operational")
        assert missing.value.code == "not_found" and missing.value.field == "service"
        with pytest.raises(Invalid) as wrong:
            await client.service_update("demo", service="API", status="sideways")  # type: ignore[arg-type]
        assert wrong.value.field == "status"
        with pytest.raises(Forbidden):
            await client.command("other", "service.update", service="API", status="operational")


async def test_room_edits_while_offline_return_at_once_and_arrive_after(
    switchboard_server: RunningServer,
) -> None:
    room_id = await notes_room(switchboard_server.url, switchboard_server.token())
    async with connect(
        switchboard_server.url, switchboard_server.token(role="responder"), backoff=QUICK
    ) as client:
        room = await client.join_room(room_id)
        await room.insert(0, "online. ")
        await room.flush()
        await switchboard_server.stop()
        with trio.fail_after(GUARD):
            await client.wait_state(State.RECONNECTING)
        with trio.fail_after(GUARD):  # a hang guard: before the fix, these waited for the server
            await room.insert(len(room.text), "offline one. ")
            await room.delete(0, 1)
            await room.replace(0, 5, "ONLINE")
            await room.insert(len(room.text), "offline two.")
        assert room.text == "ONLINE. offline one. offline two."
        assert room.unacknowledged >= 1
        with pytest.raises(ConnectionLost) as waiting:
            await room.flush(request_timeout=0.2)  # kept, not lost: it says so
        assert "edits wait" in str(waiting.value)
        await switchboard_server.restart()
        with trio.fail_after(GUARD):
            await room.flush(request_timeout=GUARD)
    async with Api.open(switchboard_server.url, switchboard_server.token()) as api:
        stored = await api.ok("GET", f"/api/v1/rooms/{room_id}/text")
    assert stored["text"] == "ONLINE. offline one. offline two."


async def test_a_huge_paste_is_split_to_fit_the_servers_limits(
    switchboard_server: RunningServer,
) -> None:
    room_id = await notes_room(switchboard_server.url, switchboard_server.token())
    # 70,000 code points, many of them 4 bytes, and quotes that JSON escapes.
    paste = ('Primary down 😀 "quoted" é 漢字\n' * 2_500)[:70_000]
    assert len(paste) == 70_000 and len(paste.encode()) > 64 * 1024
    async with connect(
        switchboard_server.url, switchboard_server.token(role="responder"), backoff=QUICK
    ) as client:
        room = await client.join_room(room_id)
        await room.insert(0, "Before. ")
        await room.insert(8, paste)
        await room.replace(0, 7, paste[:30_000])  # a large replace, too
        with trio.fail_after(GUARD):
            await room.flush(request_timeout=GUARD)
        expected = paste[:30_000] + " " + paste
        assert room.text == expected
    async with Api.open(switchboard_server.url, switchboard_server.token()) as api:
        stored = await api.ok("GET", f"/api/v1/rooms/{room_id}/text")
    assert stored["text"] == expected


async def oversized_paste(server: RunningServer) -> Room:
    """A room with a 70,000-character insert sent whole, under limits the
    server does not have (given to connect(), they stand): it is refused."""
    room_id = await notes_room(server.url, server.token())
    lying = Limits(max_message=1 << 30, room_max_insert=1 << 30)
    async with connect(
        server.url, server.token(role="responder"), backoff=QUICK, limits=lying
    ) as client:
        room = await client.join_room(room_id)
        await room.insert(0, "x" * 70_000)
        with trio.fail_after(GUARD), pytest.raises(TooLarge) as refused:
            await room.flush(request_timeout=GUARD)
        assert refused.value.code == "too_large"
        with trio.fail_after(GUARD):
            assert isinstance(await ending(room), TooLarge)  # its iterator ends so too
        assert room.closed and room.error is not None
    return room


async def test_an_operation_the_server_refuses_as_too_large_closes_the_room(
    switchboard_server: RunningServer,
) -> None:
    await oversized_paste(switchboard_server)


async def test_an_error_without_an_id_closes_the_rooms_awaiting_an_ack(
    switchboard_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Room._op_message

    def op_first(self: Room, out: Any) -> dict[str, Any]:
        # The operation before the id: the server cannot name it in its refusal.
        message = original(self, out)
        return {"op": message.pop("op"), **message}

    monkeypatch.setattr(Room, "_op_message", op_first)
    await oversized_paste(switchboard_server)


async def test_the_log_tells_connects_reconnects_resumes_and_giving_up(
    switchboard_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard_client")
    # Patient while the server restarts (however long that takes here), then
    # quick to give up once it is stopped for good.
    patient = Backoff(base=0.05, cap=0.3)
    async with connect(switchboard_server.url, None, backoff=patient) as client:
        await client.subscribe("status:demo")
        await switchboard_server.restart()
        await eventually(lambda: client.connects == 2, "a reconnection", within=GUARD)
        client.backoff = Backoff(base=0.05, cap=0.3, max_attempts=2)
        await switchboard_server.stop()
        await eventually(lambda: client.state is State.CLOSED, "giving up", within=GUARD)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "switchboard_client"]
    assert ("INFO", f"connected to {switchboard_server.ws_url} as anonymous") in said
    assert any(level == "WARNING" and "reconnecting in" in text for level, text in said), said
    assert (
        "INFO",
        f"reconnected to {switchboard_server.ws_url}; resumed 1 topics and rooms",
    ) in said
    assert any(level == "ERROR" and text.startswith("giving up: ") for level, text in said), said
