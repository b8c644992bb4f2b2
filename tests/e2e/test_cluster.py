"""Three node processes on one PostgreSQL and one NATS: writes through any
node, subscribers on every node, a room edited through a node that does not
run it, the owner of the organization and the room killed with SIGKILL, then
its successor paused with SIGSTOP past its lease."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio
from nats_support import started
from support import Api, ServerProcess, admin_token, eventually, open_ws, shown, token
from switchboard_client import connect
from switchboard_client.client import Backoff

from server.store import Store

pytestmark = pytest.mark.slow
ORG = "/api/v1/orgs/demo"
STATUSES = ("degraded_performance", "partial_outage", "operational")
BOUND = 60.0  # a hang guard for a whole phase, not a measure


class Watcher:
    """A subscriber of status:demo that moves to another node when its node dies,
    resuming from the last seq it saw; keeps every event it got."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.seqs: list[int] = []
        self.names: list[str] = []
        self.moves = 0

    async def run(self, start: int, *, task_status: trio.TaskStatus[None]) -> None:
        at, first = start, True
        while True:
            url = self.urls[at % len(self.urls)]
            try:
                async with open_ws(url) as ws:
                    since = self.seqs[-1] if self.seqs else None
                    answer = await ws.subscribe("status:demo", since=since)
                    if since is not None:
                        assert answer["resumed"], answer  # never a snapshot after a move
                    if first:
                        task_status.started()
                        first = False
                    while True:
                        event = await ws.event()
                        self.seqs.append(event["seq"])
                        self.names.append(event["name"])
            except AssertionError:
                raise
            except Exception:  # its node died (or refused it): the next node
                at += 1
                self.moves += 1
                await trio.sleep(0.2)  # a client's pause before reconnecting: the scenario


class Typist:
    """Types numbered words at the end of a room through the bundled client,
    given every node's URL (the first one it is given a node that does not
    run the room); keeps the words the room acknowledged."""

    def __init__(self, urls: list[str], room: str) -> None:
        self.urls = urls
        self.room = room
        self.acked: list[str] = []
        self.connects = 0

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        backoff = Backoff(base=0.1, cap=1.0)
        async with connect(self.urls, token("demo", "responder"), backoff=backoff) as client:
            room = await client.join_room(self.room, name="Typist")
            task_status.started()
            for n in range(10_000):
                word = f"w{n};"
                await room.insert(len(room.text), word)
                with trio.fail_after(BOUND):  # (a hang guard; the client's own bound, the same)
                    await room.flush(request_timeout=BOUND)
                if word in room.text:  # (a reset to the room's text would drop it)
                    self.acked.append(word)
                self.connects = client.connects
                await trio.sleep(0.05)


async def anchor(url: str, room: str, *, task_status: trio.TaskStatus[None]) -> None:
    """A client in the room on ``url``, which then runs it; stays until its node dies."""
    try:
        async with open_ws(url) as ws:
            await ws.hello(token("demo", "responder"))
            joined = await ws.request(
                {"type": "subscribe", "topic": f"room:{room}", "client_id": "anchor-01"}
            )
            assert joined["type"] == "subscribed", joined
            task_status.started()
            await trio.sleep_forever()
    except OSError:  # its node died under it
        pass


async def owner(store: Store, stream: str = "org:demo") -> str:
    rows = await store.fetch(
        "SELECT owner FROM leases WHERE stream = $1 AND expires_at > clock_timestamp()", stream
    )
    return str(rows[0]["owner"]) if rows else ""


async def write(api: Api, n: int) -> bool:
    """One change; True if it was acknowledged (a refusal, or an unknown
    outcome, is told as such and tried again by the caller)."""
    try:
        response = await api.request(
            "PATCH", f"{ORG}/services/website", {"status": STATUSES[n % 3]}
        )
    except httpx.TransportError:
        return False
    return response.status_code == 200


@asynccontextmanager
async def cluster(database_url: str, tmp_path: Path) -> AsyncIterator[dict[str, ServerProcess]]:
    nats = await started(tmp_path)
    nodes: dict[str, ServerProcess] = {}
    try:
        for name in "abc":
            extra = ["--nats", nats.url, "--node-id", name, *(["--demo"] if name == "a" else [])]
            nodes[name] = await ServerProcess.start(database_url, str(tmp_path / name), *extra)
        yield nodes
    finally:
        for node in nodes.values():
            if node.process.returncode is None:
                node.process.send_signal(signal.SIGCONT)
                node.kill()
                with trio.move_on_after(10):
                    await node.process.wait()
        await nats.kill()


async def test_a_node_dies_and_another_pauses_and_nothing_is_lost_or_doubled(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        cluster(database_url, tmp_path) as nodes,
        Store.open(database_url) as store,
        AsyncExitStack() as stack,
        trio.open_nursery() as nursery,
    ):
        urls = [n.base_url for n in nodes.values()]
        apis = {
            name: await stack.enter_async_context(Api.open(node.base_url, admin_token("demo")))
            for name, node in nodes.items()
        }
        watchers = [Watcher(urls) for _ in range(6)]
        for i, watcher in enumerate(watchers):
            await nursery.start(watcher.run, i)
        acked = 0
        for n in range(12):  # through every node in turn
            assert await write(apis["abc"[n % 3]], n), n
            acked += 1

        # The organization's node runs the incident's notes room too (a client
        # there joined first); the typist's node passes it through.
        runs = await owner(store)
        incident = await apis[runs].ok("POST", f"{ORG}/incidents", {"name": "Edge down"}, 201)
        room = incident["notes_room"]
        await nursery.start(anchor, nodes[runs].base_url, room)
        assert await owner(store, f"room:{room}") == runs
        others = [n.base_url for name, n in nodes.items() if name != runs]
        typist = Typist([*others, nodes[runs].base_url], room)
        await nursery.start(typist.run)
        await eventually(lambda: len(typist.acked) >= 5, "words typed through another node")

        # A maintenance that starts while the owner is dead and ends after:
        # the node that adopts the organization runs its timers unasked.
        now = datetime.now(UTC)
        window = {
            "name": "Failover window",
            "scheduled_for": (now + timedelta(seconds=3)).isoformat(),
            "scheduled_until": (now + timedelta(seconds=16)).isoformat(),
        }
        maintenance = await apis["a"].ok("POST", f"{ORG}/maintenances", window, 201)

        # Kill the owner; writes through the others come back once its lease runs out.
        dead = await owner(store)
        assert dead in nodes
        nodes[dead].kill()
        await nodes[dead].wait()
        alive = [name for name in nodes if name != dead]
        tries = iter(range(10_000))
        await eventually(
            lambda: write(apis[alive[next(tries) % 2]], acked),
            "a write after the kill",
            within=BOUND,
        )
        acked += 1
        successor = await owner(store)
        assert successor in alive

        # Pause the successor past its lease: the last node adopts the organization,
        # and once the paused one runs again, nothing it still holds commits.
        last = next(name for name in alive if name != successor)
        os.kill(nodes[successor].process.pid, signal.SIGSTOP)
        await eventually(lambda: write(apis[last], acked), "a write after the pause", within=BOUND)
        acked += 1
        assert await owner(store) == last
        os.kill(nodes[successor].process.pid, signal.SIGCONT)
        for _ in range(3):  # through the woken node: forwarded to the new owner
            await eventually(
                lambda n=acked: write(apis[successor], n), "a write via the woken node"
            )
            acked += 1

        # Every acknowledged write is in the log once, in order, with no gap.
        loaded = await store.load("org:demo")
        assert loaded is not None
        versions = [e.version for e in await store.events_after("org:demo", 0, limit=10_000)]
        assert versions == list(range(1, len(versions) + 1))
        updates = [
            e
            for e in await store.events_after("org:demo", 0, limit=10_000)
            if e.name == "service.updated" and e.author is not None and e.author != "system"
        ]
        assert len(updates) >= acked  # an unknown outcome may have been done as well

        # Every watcher got the public events in order, with no gap and none twice,
        # however many times it moved.
        top = max(e.public_seq or 0 for e in await store.events_after("org:demo", 0, 10_000))
        await eventually(
            lambda: all(w.seqs and w.seqs[-1] == top for w in watchers),
            "every watcher to catch up",
            within=BOUND,
        )
        for watcher in watchers:
            assert watcher.seqs == list(range(watcher.seqs[0], top + 1)), watcher.seqs
        assert any(w.moves for w in watchers)  # those on the dead node moved

        # The maintenance started and ended by itself, on the nodes that lived.
        done = await shown(
            apis[last],
            f"{ORG}/maintenances/{maintenance['id']}",
            lambda m: m["status"] == "completed",
            within=BOUND,
        )
        moves = [(u["status"], u["author"]) for u in done["updates"]]
        assert moves == [
            ("scheduled", "admin-tester"),
            ("in_progress", "system"),  # by the timer, on whichever node ran it then
            ("completed", "system"),
        ]
        late = [
            datetime.fromisoformat(done[got]) - datetime.fromisoformat(done[due])
            for got, due in (("started_at", "scheduled_for"), ("completed_at", "scheduled_until"))
        ]
        print(f"maintenance started {late[0]} after its time, completed {late[1]} after")

        # Every word the room acknowledged is in its text once, though the node
        # that ran it died: the typist moved and went on.
        typed = len(typist.acked)
        await eventually(
            lambda: len(typist.acked) > typed, "more words after the moves", within=BOUND
        )
        async with Api.open(nodes[last].base_url, admin_token("demo")) as api:
            text = (await api.ok("GET", f"/api/v1/rooms/{room}/text"))["text"]
        assert all(text.count(word) == 1 for word in typist.acked), (typist.acked, text)
        assert typist.connects > 1
        nursery.cancel_scope.cancel()
