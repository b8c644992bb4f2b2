"""Identities across nodes: an API token made on one node works on another at
once, and revoked there, its connections on every node are closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest
import trio
from nats_support import NatsServer
from support import TEST_SECRET, eventually

from server.auth import SYSTEM, Principal, Role, Tokens
from server.cluster.bus import Bus
from server.cluster.identity import IdentitySync
from server.config import Limits
from server.errors import AuthError
from server.identity.directory import Directory
from server.store import Store

Match = Callable[[Principal], bool]


@pytest.fixture
async def directories(
    database_url: str, nats_server: NatsServer, nursery: trio.Nursery
) -> AsyncIterator[tuple[Directory, Directory, list[tuple[Match, str]]]]:
    """Node a's directory, node b's, and what b was asked to close."""
    closed: list[tuple[Match, str]] = []
    made: list[Directory] = []
    async with AsyncExitStack() as stack:
        for name in ("a", "b"):
            store = await stack.enter_async_context(Store.open(database_url))
            bus = await stack.enter_async_context(Bus.open(nats_server.url, name=name))
            directory = Directory(store, Tokens(TEST_SECRET), Limits())
            await directory.load()
            if name == "b":
                directory.revoke = lambda match, reason: closed.append((match, reason))
            await nursery.start(IdentitySync(bus, directory, name).run)
            made.append(directory)
        yield made[0], made[1], closed
        nursery.cancel_scope.cancel()


async def test_a_token_made_on_one_node_works_on_the_other_and_ends_on_both(
    directories: tuple[Directory, Directory, list[tuple[Match, str]]],
) -> None:
    a, b, closed = directories
    token, secret = await a.create_token(
        "demo", "deploys", Role.RESPONDER, None, Role.OWNER, SYSTEM
    )
    principal = await eventually(lambda: _principal(b, secret), "b to know the token")
    assert principal.id == token.id
    await a.revoke_token("demo", token.id, SYSTEM)
    assert not any(match(principal) for match, _ in closed)  # made, not ended
    await eventually(
        lambda: any(match(principal) for match, _ in closed), "b to close its connections"
    )
    with pytest.raises(AuthError):
        b.token_principal(secret)


def _principal(directory: Directory, secret: str) -> Principal | None:
    try:
        return directory.token_principal(secret)
    except AuthError:
        return None
