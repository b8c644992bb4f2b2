"""The bundled Python client against a real server, through the pytest kit."""

from __future__ import annotations

import contextlib
import random
from functools import partial
from typing import Any

import pytest
import trio
from switchboard_client import (
    Backoff,
    ConnectionLost,
    Event,
    OutcomeUnknown,
    State,
    SwitchboardError,
    connect,
)
from switchboard_client.testing import RunningServer, assert_event

QUICK = Backoff(base=0.05, cap=0.5)  # the kit's, for clients that connect on their own


class Relay:
    """A TCP relay in front of the server: a client connected through it loses
    its connection when the test calls :meth:`cut`, as on a failing network."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.port = 0
        self.scopes: list[trio.CancelScope] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def carry(self, near: trio.SocketStream) -> None:
        """Relay one connection until either side closes it, or :meth:`cut`."""
        far = await trio.open_tcp_stream("127.0.0.1", self.server.server.port)
        async with near, far, trio.open_nursery() as nursery:
            self.scopes.append(nursery.cancel_scope)
            nursery.start_soon(self._pipe, near, far, nursery.cancel_scope)
            nursery.start_soon(self._pipe, far, near, nursery.cancel_scope)

    @staticmethod
    async def _pipe(
        source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope
    ) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            while chunk := await source.receive_some():
                await sink.send_all(chunk)
        both.cancel()  # one side is gone: so is the connection

    def cut(self) -> None:
        """Drop every connection carried so far (both ends are closed)."""
        for scope in self.scopes:
            scope.cancel()
        self.scopes.clear()


@pytest.fixture
async def relay(switchboard_server: RunningServer, nursery: trio.Nursery) -> Relay:
    running = Relay(switchboard_server)
    listeners = await nursery.start(partial(trio.serve_tcp, running.carry, 0, host="127.0.0.1"))
    running.port = listeners[0].socket.getsockname()[1]
    return running


async def test_subscribe_commands_and_typed_errors(
    switchboard_server: RunningServer, switchboard_client: Any
) -> None:
    async with switchboard_client(role="responder") as client:
        assert client.state is State.CONNECTED and client.welcome["role"] == "responder"
        events = await client.subscribe("status:demo")
        assert {s["name"] for s in events.snapshot["services"]} >= {"API", "Website"}
        await client.service_update("demo", service="api", status="major_outage")
        updated = await assert_event(events, "service.updated")
        assert updated.data["service"]["status"] == "major_outage"
        created = await client.incident_create("demo", name="Broken", body="Looking")
        assert created["id"]
        await assert_event(
            events, "incident.created", where=lambda e: e.data["incident"]["id"] == created["id"]
        )
        with pytest.raises(SwitchboardError) as missing:
            await client.service_update("demo", service="nosuch", status="operational")
        assert missing.value.code == "not_found" and missing.value.field == "service"
        with pytest.raises(SwitchboardError) as wrong:
            await client.service_update("demo", service="api", status="sideways")
        assert wrong.value.code == "invalid_field" and wrong.value.field == "status"
        # Refused, they published nothing: the next update seen is the next one made.
        await client.service_update("demo", service="website", status="degraded_performance")
        after = await assert_event(events, "service.updated")
        assert after.data["service"]["name"] == "Website", after
    async with switchboard_client(role="viewer") as viewer:
        with pytest.raises(SwitchboardError) as denied:
            await viewer.incident_create("demo", name="No")
        assert denied.value.code == "forbidden"


async def test_a_refused_token_is_not_retried(switchboard_server: RunningServer) -> None:
    with pytest.raises(SwitchboardError) as refused:
        async with connect(switchboard_server.ws_url, "not-a-token"):
            pass
    assert refused.value.code == "unauthorized"


async def test_reconnect_after_a_restart_mid_stream_has_no_gap_and_no_duplicate(
    switchboard_server: RunningServer, switchboard_client: Any
) -> None:
    async with switchboard_client(role="viewer", token=None) as watcher:
        events = await watcher.subscribe("status:demo")
        first = events.seq
        for round_ in range(3):
            async with switchboard_client(role="responder") as publisher:
                for n in range(10):
                    status = "major_outage" if n % 2 else "operational"
                    await publisher.service_update("demo", service="api", status=status)
            if round_ < 2:
                await switchboard_server.restart()  # mid-stream: the watcher keeps going
                await watcher.wait_state(State.CONNECTED)
        async with switchboard_client(token=None) as late:
            head = (await late.subscribe("status:demo")).seq
        received: list[Event] = []
        with trio.fail_after(10):  # the subscription queued everything meanwhile
            while not received or received[-1].seq < head:
                item = await events.next()
                assert isinstance(item, Event)
                received.append(item)
        seqs = [e.seq for e in received]
        assert head >= first + 30  # every change published something
        assert seqs == list(range(first + 1, head + 1)), seqs  # no gap, no duplicate
        assert watcher.connects == 3


async def test_a_killed_connection_resumes(switchboard_server: RunningServer, relay: Relay) -> None:
    responder = switchboard_server.token(role="responder")
    async with connect(relay.ws_url, responder, backoff=QUICK) as client:
        events = await client.subscribe("org:demo")
        await client.service_update("demo", service="api", status="partial_outage")
        before = await assert_event(events, "service.updated")
        relay.cut()  # the TCP connection dies under it
        # Sent into the dying connection, it may fail (whether it ran is unknown).
        with contextlib.suppress(OutcomeUnknown):
            await client.service_update("demo", service="api", status="operational")
        # The next command waits for the new connection.
        await client.service_update("demo", service="website", status="degraded_performance")
        seqs = [before.seq]
        while True:
            with trio.fail_after(10):
                event = await events.next()
            assert isinstance(event, Event)
            seqs.append(event.seq)
            if event.name == "service.updated" and event.data["service"]["name"] == "Website":
                break
        assert seqs == list(range(seqs[0], seqs[-1] + 1))  # in order, none twice, none lost
        assert client.connects == 2


async def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    rng = random.Random(7)
    delays = [[backoff.delay(n, rng) for _ in range(200)] for n in range(8)]
    assert all(0 <= d <= min(2.0, 0.1 * 2**n) for n, ds in enumerate(delays) for d in ds)
    assert max(delays[7]) > 1.5 and max(delays[0]) <= 0.1  # grows, then capped
    assert len({round(d, 6) for d in delays[5]}) > 150  # jittered


async def test_connecting_to_nothing_gives_up_when_told() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionLost):
        async with connect(f"ws://127.0.0.1:{port}/ws", backoff=Backoff(base=0.01, max_attempts=2)):
            pass


async def test_two_clients_editing_one_room_converge(
    switchboard_server: RunningServer, switchboard_client: Any, relay: Relay
) -> None:
    async with switchboard_client(role="admin") as admin:
        incident = await admin.incident_create("demo", name="Notes")
    room_id = incident["notes_room"]
    responder = switchboard_server.token(role="responder")
    async with (
        connect(relay.ws_url, responder, backoff=QUICK) as a,
        switchboard_client(role="responder") as b,
    ):
        ra = await a.join_room(room_id, name="Ana")
        rb = await b.join_room(room_id, name="Bo")
        rng = random.Random(3)
        for n in range(60):
            for room in (ra, rb):
                text = room.text
                pos = rng.randint(0, len(text))
                if text and rng.random() < 0.3:
                    await room.delete(min(pos, len(text) - 1), 1)
                else:
                    await room.insert(pos, rng.choice(["x", "😀", "é", "漢"]))
            if n == 30:
                relay.cut()  # one of them drops and resumes mid-typing
        await ra.flush()
        await rb.flush()
        with trio.fail_after(10):
            while ra.text != rb.text or ra.rev != rb.rev:
                await (ra if ra.rev < rb.rev else rb).next()  # the one behind catches up
        await rb.set_presence(selection=(1, 1), status="typing")
        with trio.fail_after(5):
            while not any(p.get("status") == "typing" for p in ra.participants):
                await ra.next()
        assert {p["name"] for p in ra.participants} == {"Ana", "Bo"}
        assert (a.connects, b.connects) == (2, 1)
    async with switchboard_client(role="viewer") as viewer:
        room = await viewer.join_room(room_id)
        assert room.text == ra.text and room.rev == ra.rev
        await room.insert(0, "no")  # applied here at once; the server refuses it
        with pytest.raises(SwitchboardError) as refused:
            await room.flush()
        assert refused.value.code == "forbidden"


def test_every_command_has_its_typed_method_in_step_with_the_server() -> None:
    """The methods are generated from the server's catalogue; generating them
    again gives the same file, and each takes exactly its command's fields."""
    import dataclasses
    import importlib.util
    import inspect
    from pathlib import Path

    from switchboard_client import Client
    from switchboard_client._commands import COMMANDS as CLIENT_COMMANDS

    from server.domain.commands import SPECS

    assert set(CLIENT_COMMANDS) == set(SPECS)
    for name, spec in SPECS.items():
        method = getattr(Client, name.replace(".", "_"))
        keywords = [
            p.name
            for p in inspect.signature(method).parameters.values()
            if p.kind is p.KEYWORD_ONLY
        ]
        fields = [f.name for f in dataclasses.fields(spec.cls)]
        assert keywords == [*fields, "idempotency_key", "request_timeout"], name
    script = Path(__file__).parents[2] / "clients/python/tools/generate_commands.py"
    loaded = importlib.util.spec_from_file_location("generate_commands", script)
    assert loaded is not None and loaded.loader is not None
    generator = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(generator)
    assert generator.render() == generator.TARGET.read_text(), (
        "run: python clients/python/tools/generate_commands.py"
    )
