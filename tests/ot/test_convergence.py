"""Randomized simulation: several OTClients and one RoomState must converge.

Each client has a FIFO channel to the server and one back. A seeded scheduler
picks, at every step, one of: a client makes a local edit; the server takes
the next message from a client (``receive``, then an ``ack`` to the author's
connection and the applied ``op`` to everyone else connected, per client in
revision order, as the room actor does); a client takes the next message from
the server; a client disconnects (everything in flight on that connection is
lost, or, with ``delayed``, what it had sent still reaches the server later,
as from a dead connection) or reconnects.

On reconnect the server replays every operation after ``client.rev``; the
client recognizes its own outstanding operation among them (same client_id
and client_op_id) and takes it as an acknowledgement, then sends
``client.resend()`` (which is then only an operation it has not seen applied).
A client answered ``stale_revision`` resyncs from a snapshot of the server
(its unacknowledged edits are lost by design).

Throughout, each client's text must equal the server's text at ``client.rev``
with its outstanding and buffered operations applied, and every acknowledged
operation must be exactly what the server applied. At the end every client
holds the server's text, is synchronized, and is at the server's revision.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from ot_support import ASCII, CJK, PIECES, UNICODE, random_op
from switchboard_ot import Op, OTClient, OTError, Outgoing, apply, inserted, normalize

from server.domain.room import Applied, RoomLimits, RoomMeta, RoomState, receive, replay
from server.domain.text_buffer import TextBuffer
from server.errors import RoomError

META = RoomMeta(
    id="room-1",
    org="demo",
    title="Convergence",
    incident=None,
    created_at=datetime(2024, 1, 1, tzinfo=UTC),
    created_by=None,
)


@dataclass(frozen=True)
class Config:
    clients: tuple[int, int] = (2, 3)
    edits: tuple[int, int] = (4, 12)  # local edits per client
    pieces: tuple[str, ...] = ASCII
    window: tuple[int, int] = (1_000, 1_000)
    disconnects: int = 0  # how many disconnects a run may have
    delayed: bool = False  # a dead connection's messages may still reach the server
    max_len: int = 60  # the edits lean to deleting past this
    # (inserted code points, components) one composed operation may hold; None: no bound
    fits: tuple[int, int] | None = None


@dataclass
class ToServer:
    epoch: int  # the connection it was sent on
    out: Outgoing


@dataclass
class ToClient:
    kind: str  # "op", "ack" or "error"
    rev: int = 0
    op: Op = field(default_factory=list)
    client_id: str = ""
    client_op_id: int = 0
    code: str = ""


@dataclass
class Peer:
    id: str
    ot: OTClient
    edits_left: int
    speed: float  # how eagerly it reads its messages (slow readers fall behind)
    connected: bool = True
    epoch: int = 0
    inbox: deque[ToClient] = field(default_factory=deque)
    outbox: deque[ToServer] = field(default_factory=deque)


class Simulation:
    def __init__(self, seed: int, config: Config) -> None:
        self.seed = seed
        self.config = config
        self.rng = rng = random.Random(seed)
        initial = "".join(rng.choice(config.pieces) for _ in range(rng.randint(0, 20)))
        self.initial = initial
        self.limits = RoomLimits(window=rng.randint(*config.window))
        self.state = RoomState(meta=META, text=TextBuffer(initial))
        self.history = [initial]  # the server's text at each revision
        self.log: list[Applied] = []  # every applied operation, log[rev - 1]
        self.delayed: list[tuple[Peer, ToServer]] = []
        self.disconnects = config.disconnects
        self.stats: Counter[str] = Counter()
        self.fits: Callable[[Op], bool] | None = None
        if config.fits is not None:
            most, parts = config.fits
            self.fits = lambda op: inserted(op) <= most and len(op) <= parts
        self.peers = [
            Peer(
                id=f"client-{i}",
                ot=OTClient(0, initial, fits=self.fits),
                edits_left=rng.randint(*config.edits),
                speed=rng.choice([0.2, 1.0, 1.0, 3.0]),
            )
            for i in range(rng.randint(*config.clients))
        ]

    # -- the server ------------------------------------------------------------

    def serve(self, peer: Peer, msg: ToServer) -> None:
        state = self.state
        before_rev, before_text = state.rev, str(state.text)
        live = peer.connected and peer.epoch == msg.epoch
        try:
            applied = receive(
                state,
                rev=msg.out.rev,
                op=msg.out.op,
                client_id=peer.id,
                client_op_id=msg.out.client_op_id,
                author=peer.id.upper(),
                limits=self.limits,
            )
        except RoomError as exc:
            assert exc.code == "stale_revision", (exc.code, exc.message)
            assert (state.rev, str(state.text)) == (before_rev, before_text)
            self.stats["stale_revision"] += 1
            if live:
                peer.inbox.append(
                    ToClient("error", client_op_id=msg.out.client_op_id, code=exc.code)
                )
            return
        if applied.rev > before_rev:
            assert applied.rev == state.rev == before_rev + 1
            assert applied.client_op_id == msg.out.client_op_id
            self.log.append(applied)
            text = str(state.text)
            assert text == apply(self.history[-1], applied.op)
            assert len(state.text) == len(text)
            self.history.append(text)
            self.stats["applied"] += 1
            if not live:
                self.stats["applied_from_dead_connection"] += 1
            if msg.out.rev < before_rev:
                self.stats["transformed_on_server"] += 1
            for other in self.peers:
                if not other.connected:
                    continue  # it catches up on reconnect
                if other is peer and live:
                    other.inbox.append(
                        ToClient("ack", rev=applied.rev, client_op_id=applied.client_op_id)
                    )
                else:
                    other.inbox.append(
                        ToClient(
                            "op",
                            rev=applied.rev,
                            op=applied.op,
                            client_id=applied.client_id,
                            client_op_id=applied.client_op_id,
                        )
                    )
        else:
            # A resend of an operation already applied: the original record, nothing changed.
            assert (state.rev, str(state.text)) == (before_rev, before_text)
            assert applied is self.log[applied.rev - 1]
            assert applied.client_id == peer.id
            assert applied.client_op_id == msg.out.client_op_id
            assert self.config.delayed, "only a message from a dead connection makes a duplicate"
            self.stats["deduplicated"] += 1
            if live:
                peer.inbox.append(
                    ToClient("ack", rev=applied.rev, client_op_id=applied.client_op_id)
                )

    # -- a client --------------------------------------------------------------

    def send(self, peer: Peer, out: Outgoing | None) -> None:
        if out is not None and peer.connected:
            # One operation in flight per connection, except when a resend is overtaken
            # by its original (from a dead connection) being applied and taken as the ack.
            assert not peer.outbox or self.config.delayed, "one operation in flight"
            peer.outbox.append(ToServer(peer.epoch, out))

    def take_ack(self, peer: Peer, rev: int) -> Outgoing | None:
        """The client's outstanding operation is the one the server applied at ``rev``."""
        client = peer.ot
        assert client.outstanding is not None
        record = self.log[rev - 1]
        assert record.client_id == peer.id
        assert record.client_op_id == client.outstanding.client_op_id
        # Client and server transformed it against the same operations.
        assert normalize(client.outstanding.op) == normalize(record.op)
        return client.ack()

    def edit(self, peer: Peer) -> None:
        client = peer.ot
        op = random_op(self.rng, client.text, self.config.pieces, max_len=self.config.max_len)
        before = client.outstanding
        out = client.local(op)
        peer.edits_left -= 1
        self.stats["edits"] += 1
        if not peer.connected:
            self.stats["offline_edits"] += 1
        if out is not None:
            assert before is None and client.state == "awaiting_confirm"
            self.send(peer, out)
        else:
            assert client.state == "awaiting_with_buffer"

    def deliver(self, peer: Peer) -> None:
        client = peer.ot
        msg = peer.inbox.popleft()
        if msg.kind == "op":
            assert msg.rev == client.rev + 1, "messages arrive in revision order"
            outstanding = client.outstanding
            if (
                msg.client_id == peer.id
                and outstanding is not None
                and msg.client_op_id == outstanding.client_op_id
            ):
                # Our operation, sent on a connection that has since died, applied late.
                self.stats["own_op_taken_as_ack"] += 1
                self.send(peer, self.take_ack(peer, msg.rev))
            else:
                client.remote(msg.op)
        elif msg.kind == "ack":
            if msg.rev <= client.rev:
                # The answer to a resend the server recognized; we already saw it applied.
                assert self.config.delayed
                self.stats["duplicate_ack_ignored"] += 1
            else:
                assert msg.rev == client.rev + 1, "acks arrive in revision order"
                assert client.outstanding is not None
                assert client.outstanding.client_op_id == msg.client_op_id
                self.send(peer, self.take_ack(peer, msg.rev))
        else:
            assert msg.kind == "error" and msg.code == "stale_revision"
            outstanding = client.outstanding
            if outstanding is None or outstanding.client_op_id != msg.client_op_id:
                # About an operation already seen applied (a resend too late to confirm).
                self.stats["stale_error_ignored"] += 1
            else:
                self.resync(peer)
        self.check_client(peer)

    def resync(self, peer: Peer) -> None:
        """Start again from a snapshot of the server; unconfirmed edits are lost."""
        client = peer.ot
        self.stats["resyncs"] += 1
        if client.buffer is not None:
            self.stats["resync_lost_buffer"] += 1
        client.rev = self.state.rev
        client.text = str(self.state.text)
        client.outstanding = None
        client.buffer = None
        client.queued = []
        peer.inbox.clear()  # all of it is in the snapshot

    def disconnect(self, peer: Peer) -> None:
        self.disconnects -= 1
        self.stats["disconnects"] += 1
        peer.connected = False
        peer.inbox.clear()
        if self.config.delayed:
            self.delayed.extend((peer, msg) for msg in peer.outbox)
        elif peer.outbox:
            self.stats["lost_in_flight"] += 1
        peer.outbox.clear()

    def reconnect(self, peer: Peer) -> None:
        client = peer.ot
        peer.connected = True
        peer.epoch += 1
        # The server replays what this client missed, in order.
        for record in self.log[client.rev :]:
            outstanding = client.outstanding
            if (
                record.client_id == peer.id
                and outstanding is not None
                and record.client_op_id == outstanding.client_op_id
            ):
                self.stats["replay_ack"] += 1
                # A buffered op becomes outstanding; resend() below sends it at our new rev.
                self.take_ack(peer, record.rev)
            else:
                client.remote(record.op)
            self.check_client(peer)
        assert client.rev == self.state.rev
        out = client.resend()
        if out is not None:
            self.stats["resends"] += 1
            assert out.rev == client.rev
        self.send(peer, out)

    def check_client(self, peer: Peer) -> None:
        """The client's text is the server's at client.rev plus what it has not had confirmed."""
        client = peer.ot
        expected = self.history[client.rev]
        if client.outstanding is not None:
            expected = apply(expected, client.outstanding.op)
        else:
            assert client.buffer is None
        if client.buffer is not None:
            expected = apply(expected, client.buffer)
        else:
            assert not client.queued
        for op in client.queued:
            expected = apply(expected, op)
        if client.queued:
            self.stats["queued"] += 1
        assert client.text == expected

    # -- the run -----------------------------------------------------------------

    def step(self) -> bool:
        """Take one random action; False when nothing is left to do."""
        actions: list[tuple[float, Callable[[], None]]] = []
        for peer in self.peers:
            if peer.edits_left:
                actions.append((2.0, partial(self.edit, peer)))
            if peer.connected and peer.outbox:
                actions.append((1.5, partial(self.serve_next, peer)))
            if peer.inbox:
                actions.append((1.5 * peer.speed, partial(self.deliver, peer)))
            if peer.connected and self.disconnects > 0:
                actions.append((0.08, partial(self.disconnect, peer)))
            if not peer.connected:
                actions.append((0.4, partial(self.reconnect, peer)))
        if self.delayed:
            actions.append((0.5, self.serve_delayed))
        if not actions:
            return False
        weights = [w for w, _ in actions]
        _, action = self.rng.choices(actions, weights)[0]
        action()
        return True

    def serve_next(self, peer: Peer) -> None:
        self.serve(peer, peer.outbox.popleft())

    def serve_delayed(self) -> None:
        peer, msg = self.delayed.pop(self.rng.randrange(len(self.delayed)))
        self.serve(peer, msg)

    def run(self) -> Counter[str]:
        steps = 0
        while self.step():
            steps += 1
            assert steps < 50_000, "the run does not settle"
        self.check_end()
        return self.stats

    def check_end(self) -> None:
        state = self.state
        text = str(state.text)
        for peer in self.peers:
            assert peer.connected and not peer.inbox and not peer.outbox
            assert peer.ot.state == "synchronized", peer.id
            assert peer.ot.rev == state.rev, peer.id
            assert peer.ot.text == text, peer.id
        assert state.rev == len(self.log)
        assert len(state.text) == len(text)
        # The log replays to the same text, by hand and through replay().
        now = self.initial
        for record in self.log:
            now = apply(now, record.op)
        assert now == text
        fresh = RoomState(meta=META, text=TextBuffer(self.initial))
        replay(fresh, 1, [a.record() for a in self.log], self.limits)
        assert (fresh.rev, str(fresh.text)) == (state.rev, text)
        assert fresh.last_op == state.last_op
        assert [(a.rev, a.op) for a in fresh.window] == [(a.rev, a.op) for a in state.window]
        assert len(state.window) <= self.limits.window


def run(seed: int, config: Config) -> Counter[str]:
    return Simulation(seed, config).run()


STEADY = Config(clients=(2, 3), pieces=ASCII)
UNICODE_CROWD = Config(clients=(2, 5), pieces=UNICODE, disconnects=2)
RECONNECT_LOST = Config(clients=(2, 5), pieces=PIECES, disconnects=5)
RECONNECT_DELAYED = Config(clients=(2, 4), pieces=PIECES, disconnects=5, delayed=True)
SMALL_WINDOW = Config(
    clients=(3, 5), pieces=ASCII + CJK, window=(1, 3), disconnects=3, delayed=True, edits=(4, 10)
)
# Clients that compose buffered edits only within a bound, queueing the rest.
BOUNDED = Config(
    clients=(2, 4), pieces=PIECES, edits=(10, 30), disconnects=4, delayed=True, fits=(3, 4)
)
LONG_RUNS = Config(
    clients=(2, 4), pieces=PIECES, edits=(30, 80), disconnects=8, delayed=True, max_len=200
)


def seeds(n: int, start: int = 0) -> list[Any]:
    return [pytest.param(s, id=f"seed{s}") for s in range(start, start + n)]


@pytest.mark.parametrize("seed", seeds(600))
def test_steady_ascii_clients_converge(seed: int) -> None:
    stats = run(seed, STEADY)
    assert stats["stale_revision"] == 0 and stats["resyncs"] == 0


@pytest.mark.parametrize("seed", seeds(500))
def test_astral_cjk_combining_clients_converge(seed: int) -> None:
    stats = run(seed, UNICODE_CROWD)
    assert stats["stale_revision"] == 0


@pytest.mark.parametrize("seed", seeds(500))
def test_reconnecting_clients_converge_when_in_flight_messages_are_lost(seed: int) -> None:
    stats = run(seed, RECONNECT_LOST)
    assert stats["stale_revision"] == 0 and stats["deduplicated"] == 0


@pytest.mark.parametrize("seed", seeds(500))
def test_reconnecting_clients_converge_when_old_messages_arrive_late(seed: int) -> None:
    stats = run(seed, RECONNECT_DELAYED)
    assert stats["stale_revision"] == 0


@pytest.mark.parametrize("seed", seeds(500))
def test_small_window_stale_clients_resync_and_converge(seed: int) -> None:
    run(seed, SMALL_WINDOW)


@pytest.mark.parametrize("seed", seeds(300))
def test_clients_composing_within_a_bound_converge(seed: int) -> None:
    stats = run(seed, BOUNDED)
    assert stats["stale_revision"] == 0


def test_bounded_clients_queue_edits() -> None:
    assert sum(run(seed, BOUNDED)["queued"] for seed in range(20)) > 0


@pytest.mark.parametrize("seed", seeds(150))
def test_long_sessions_converge(seed: int) -> None:
    stats = run(seed, LONG_RUNS)
    assert stats["stale_revision"] == 0


def test_the_simulations_reach_every_path() -> None:
    """Further seeds, run together, so that the paths above are known to be taken."""
    total: Counter[str] = Counter()
    for seed in range(10_000, 10_060):
        total += run(seed, RECONNECT_LOST)
    assert total["replay_ack"] > 0  # own op recognized in the replay
    assert total["resends"] > 0
    assert total["lost_in_flight"] > 0
    assert total["offline_edits"] > 0
    assert total["transformed_on_server"] > 0
    delayed: Counter[str] = Counter()
    for seed in range(10_000, 10_060):
        delayed += run(seed, RECONNECT_DELAYED)
    assert delayed["applied_from_dead_connection"] > 0
    assert delayed["own_op_taken_as_ack"] > 0
    assert delayed["deduplicated"] > 0
    assert delayed["duplicate_ack_ignored"] > 0
    small: Counter[str] = Counter()
    for seed in range(10_000, 10_060):
        small += run(seed, SMALL_WINDOW)
    assert small["stale_revision"] > 0
    assert small["resyncs"] > 0
    assert small["applied"] > 0


# ---------------------------------------------------------------------------
# the client state machine on its own


def test_client_states_and_ids() -> None:
    client = OTClient(3, "abc")
    assert client.state == "synchronized"
    first = client.local([3, "d"])
    assert first == Outgoing(3, [3, "d"], 1)
    assert client.state == "awaiting_confirm"
    assert client.local([4, "e"]) is None
    assert client.local([">", 5]) is None
    assert client.state == "awaiting_with_buffer"
    assert client.buffer == [">", 4, "e"]
    assert client.text == ">abcde"
    # Someone else's op at revision 4, made on "abc".
    # Transformed against the outstanding op, then the buffer, which wins the tie
    # at position 0 (the client passes its own op first, like the server).
    assert client.remote(["X", 3]) == [1, "X", 5]
    assert client.text == ">Xabcde"
    assert client.rev == 4
    assert client.outstanding == Outgoing(3, [4, "d"], 1)  # its base rev is kept
    assert client.buffer == [">", 5, "e"]
    second = client.ack()
    assert second is not None and second.client_op_id == 2 and second.rev == 5
    assert client.state == "awaiting_confirm" and client.buffer is None
    assert client.ack() is None
    assert client.state == "synchronized" and client.rev == 6
    with pytest.raises(OTError):
        client.ack()


def test_a_restarted_session_drops_its_edits_and_keeps_counting() -> None:
    client = OTClient(0, "")
    client.local(["a"])  # id 1, outstanding
    client.local([1, "b"])  # buffered
    fresh = client.restart(40, "the room's text")
    assert fresh.state == "synchronized" and fresh.text == "the room's text" and fresh.rev == 40
    # The server has seen ids up to 1 from this client_id: 2 is new, not a resend.
    out = fresh.local([15, "!"])
    assert out == Outgoing(40, [15, "!"], 2)


def test_client_resend_rebases_on_what_it_has_seen() -> None:
    client = OTClient(0, "")
    out = client.local(["hi"])
    assert out == Outgoing(0, ["hi"], 1)
    client.remote(["yo"])
    again = client.resend()
    assert again is not None
    assert (again.rev, again.client_op_id) == (1, 1)
    assert apply("yo", again.op) == client.text == "hiyo"
    client.ack()
    assert client.resend() is None
