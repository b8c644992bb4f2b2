"""Fixtures for the notification tests: a real database, mail server and HTTP receiver."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import trio
from notify_support import BASE_URL, KEY, Mailbox, Receiver, Wired
from support import Api, admin_token

import server.main
from server.config import Config
from server.main import Server
from server.netguard import ANY
from server.notify import Notifier, NotifySettings, RetryPolicy, SmtpSettings
from server.store import Store


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox.running() as box:
        yield box


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    found = Receiver()
    await nursery.start(found.serve)
    return found


@pytest.fixture
def settings(mailbox: Mailbox) -> NotifySettings:
    """Quick retries, a local mail server, local webhooks allowed."""
    return NotifySettings(
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=mailbox.port,
            starttls=False,
            sender="Demo status <status@example.com>",
            timeout=5,
        ),
        retry=RetryPolicy(first=0.1, cap=1.0, attempts=4),
        poll_seconds=0.5,
        http_timeout=3,
        allow_private_webhooks=True,
        network_rule=ANY,
        subscribes_burst=100,
    )


@pytest.fixture
def make_notifier(store: Store, settings: NotifySettings) -> Callable[..., Notifier]:
    """``make_notifier(**setting_changes)``: a notifier on the test's database."""

    def make(**changes: Any) -> Notifier:
        return Notifier(
            store, base_url=BASE_URL, key=KEY, settings=dataclasses.replace(settings, **changes)
        )

    return make


@pytest.fixture
async def wired(
    config: Config,
    nursery: trio.Nursery,
    settings: NotifySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Wired]:
    """The whole server with the demo organization, its notification routes and
    its notifier, made with the tests' settings (their mail server, short retries)."""
    made: list[Notifier] = []

    def make(
        _config: Config,
        store: Store,
        base_url: str,
        _secret: str,
        _clock: Any,
        page_of: Callable[[str], str],
    ) -> Notifier:
        notifier = Notifier(store, base_url=base_url, key=KEY, settings=settings, page_of=page_of)
        made.append(notifier)
        return notifier

    monkeypatch.setattr(server.main, "_notifier", make)
    running: Server = await nursery.start(Server(config).run)
    yield Wired(running, made[0])
    await running.stop()


@pytest.fixture
async def api(wired: Wired) -> AsyncIterator[Api]:
    """The demo organization's admin, on the wired server."""
    async with Api.open(wired.server.base_url, admin_token("demo")) as client:
        yield client


@pytest.fixture
async def public(wired: Wired) -> AsyncIterator[httpx.AsyncClient]:
    """Nobody in particular: no token, a program that asks for JSON."""
    async with httpx.AsyncClient(
        base_url=wired.server.base_url, headers={"Accept": "application/json"}, timeout=10
    ) as client:
        yield client
