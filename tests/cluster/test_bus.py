"""The cluster's bus against a real nats-server: messages, queue groups,
requests, and what a node sees when NATS goes away and comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from nats_support import BOUND, NatsServer, free_port

from server.cluster.bus import (
    Bus,
    BusUnavailable,
    Idle,
    Message,
    NoResponders,
    SlowConsumer,
    Unanswered,
)
from server.errors import OutcomeUnknown, PeerError, Unavailable


@asynccontextmanager
async def two(url: str, **options: object) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two nodes' buses on one NATS server."""
    async with Bus.open(url, name="a", **options) as a, Bus.open(url, name="b", **options) as b:  # type: ignore[arg-type]
        yield a, b


async def serve(sub: AsyncIterator[Message], answer: bytes = b"re:") -> None:
    async for message in sub:
        await message.respond(answer + message.data)


async def test_publish_reaches_a_subscriber_on_another_connection(nats_server: NatsServer) -> None:
    async with two(nats_server.url) as (a, b):
        assert a.connected and b.connected and a.epoch == 0
        async with await a.subscribe("org.*.events") as sub:
            await b.publish("org.acme.events", b"hello")
            message = await sub.receive(BOUND)
            assert (message.subject, message.data, message.reply) == (
                "org.acme.events",
                b"hello",
                "",
            )
        assert sub.closed
        with pytest.raises(StopAsyncIteration):
            await sub.__anext__()


async def test_a_queue_group_gives_each_message_to_exactly_one_member(
    nats_server: NatsServer,
) -> None:
    sent = 200
    got: dict[str, list[int]] = {"a": [], "b": []}
    async with two(nats_server.url) as (a, b), Bus.open(nats_server.url, name="p") as publisher:
        first = await a.subscribe("work", queue="workers")
        second = await b.subscribe("work", queue="workers")
        for i in range(sent):
            await publisher.publish("work", str(i).encode())

        async def collect(name: str, sub: AsyncIterator[Message], done: trio.CancelScope) -> None:
            async for message in sub:
                got[name].append(int(message.data))
                if len(got["a"]) + len(got["b"]) == sent:
                    done.cancel()

        with trio.fail_after(BOUND):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect, "a", first, nursery.cancel_scope)
                nursery.start_soon(collect, "b", second, nursery.cancel_scope)
    assert sorted(got["a"] + got["b"]) == list(range(sent))  # each once, none lost
    assert got["a"] and got["b"]  # shared (both empty-handed: 2 ** -199)


async def test_a_request_is_answered(nats_server: NatsServer) -> None:
    async with two(nats_server.url) as (a, b), trio.open_nursery() as nursery:
        nursery.start_soon(serve, await a.subscribe("svc.echo", queue="echo"))
        assert await b.request("svc.echo", b"ping", bound=BOUND) == b"re:ping"
        assert await b.request("svc.echo", b"again", bound=BOUND) == b"re:again"
        nursery.cancel_scope.cancel()


async def test_a_request_nobody_takes_is_unavailable_at_once(nats_server: NatsServer) -> None:
    async with Bus.open(nats_server.url, name="a") as bus:
        # NATS answers "no responders" itself: not the timeout (that would be
        # Unanswered, and only after BOUND).
        with pytest.raises(NoResponders) as caught:
            await bus.request("nobody.home", b"x", bound=BOUND)
    assert isinstance(caught.value, Unavailable) and caught.value.code == "unavailable"


async def test_a_request_taken_and_never_answered_is_outcome_unknown(
    nats_server: NatsServer,
) -> None:
    async with two(nats_server.url) as (a, b), await a.subscribe("svc.silent") as taken:
        with pytest.raises(Unanswered) as caught:
            await b.request("svc.silent", b"do it", bound=0.2)
        assert isinstance(caught.value, OutcomeUnknown) and caught.value.code == "outcome_unknown"
        assert (await taken.receive(BOUND)).data == b"do it"  # it did arrive


async def test_a_responder_answers_with_the_message_it_got(nats_server: NatsServer) -> None:
    async with two(nats_server.url) as (a, b), await a.subscribe("svc.twice") as sub:
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                assert await b.request("svc.twice", b"2", bound=BOUND) == b"22"

            nursery.start_soon(ask)
            message = await sub.receive(BOUND)
            assert message.reply
            await message.respond(message.data * 2)
        plain = await a.subscribe("plain")
        await b.publish("plain", b"x")
        with pytest.raises(Exception, match="expects no answer"):
            await (await plain.receive(BOUND)).respond(b"?")


async def test_an_idle_subscription_says_so(nats_server: NatsServer) -> None:
    async with (
        Bus.open(nats_server.url, name="a") as bus,
        await bus.subscribe("quiet", idle=0.05) as sub,
    ):
        with pytest.raises(Idle):
            await sub.__anext__()
        with pytest.raises(Idle):
            await sub.receive(0)


async def test_a_slow_consumer_is_told_where_messages_were_dropped(
    nats_server: NatsServer,
) -> None:
    async with (
        two(nats_server.url) as (a, b),
        await a.subscribe("burst", buffer=2) as sub,
        await a.subscribe("burst-end") as end,
    ):
        for i in range(5):
            await b.publish("burst", b"%d" % i)
        await b.publish("burst-end", b"")
        # One publisher's messages reach a connection in order, and nats-py
        # hands them to the subscriptions' callbacks in that order: once the
        # last is in, the burst has been taken (or dropped) by the first.
        await end.receive(BOUND)
        assert sub.dropped == 3
        assert (await sub.receive(BOUND)).data == b"0"
        assert (await sub.receive(BOUND)).data == b"1"
        with pytest.raises(SlowConsumer) as caught:
            await sub.receive(BOUND)
        assert caught.value.dropped == 3
        await b.publish("burst", b"later")  # the gap told once; what follows flows
        assert (await sub.receive(BOUND)).data == b"later"


async def test_no_server_is_unavailable_within_the_connect_bound() -> None:
    with pytest.raises(BusUnavailable) as caught:
        async with Bus.open(f"nats://127.0.0.1:{free_port()}", name="a", connect_bound=0.3):
            pytest.fail("connected to nothing")
    assert isinstance(caught.value, PeerError) and caught.value.code == "unavailable"


async def test_a_dead_server_makes_every_operation_unavailable_at_once(
    nats_server: NatsServer,
) -> None:
    changes: list[bool] = []
    async with (
        Bus.open(nats_server.url, name="a", on_change=changes.append) as bus,
        await bus.subscribe("svc.slow") as taken,
        trio.open_nursery() as nursery,
    ):
        cut_short: list[BaseException] = []

        async def in_flight() -> None:
            try:
                await bus.request("svc.slow", b"x", bound=BOUND)
            except Unanswered as exc:
                cut_short.append(exc)

        nursery.start_soon(in_flight)
        await taken.receive(BOUND)  # the request is out, waiting for its answer
        await nats_server.kill()
        await bus.wait_disconnected(BOUND)
        assert not bus.connected and changes == [False]
        # Each raises at once (a wait would end in Unanswered, after BOUND).
        with pytest.raises(BusUnavailable):
            await bus.publish("anything", b"x")
        with pytest.raises(BusUnavailable):
            await bus.request("svc.slow", b"x", bound=BOUND)
        with pytest.raises(BusUnavailable):
            await bus.flush(BOUND)
        with pytest.raises(BusUnavailable):
            await bus.subscribe("new")
        with pytest.raises(BusUnavailable):
            await bus.wait_connected(0)
    # The request waiting when the connection dropped was told so, not left to time out.
    assert len(cut_short) == 1 and "lost" in str(cut_short[0])
    assert taken.closed  # with the bus


async def test_after_a_restart_the_bus_reconnects_and_its_subscriptions_deliver_again(
    nats_server: NatsServer,
) -> None:
    changes: list[bool] = []
    async with (
        Bus.open(nats_server.url, name="a", reconnect_wait=0.05, on_change=changes.append) as a,
        Bus.open(nats_server.url, name="b", reconnect_wait=0.05) as b,
        await a.subscribe("org.acme.events") as sub,
    ):
        await b.publish("org.acme.events", b"before")
        assert (await sub.receive(BOUND)).data == b"before"

        await nats_server.kill()
        await a.wait_disconnected(BOUND)
        await nats_server.start()
        await a.wait_connected(BOUND)
        await b.wait_connected(BOUND)

        assert changes == [False, True] and a.epoch == 1
        await b.publish("org.acme.events", b"after")
        assert (await sub.receive(BOUND)).data == b"after"
