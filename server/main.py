"""The whole server: parts started in order, stopped in the reverse order.

Start: database (embedded unless a URL is given), migrations, the actor
registry, the WebSocket gateway, the Quart app, then the listening port.

Stop (SIGINT/SIGTERM or :meth:`Server.stop`): stop accepting, close every
WebSocket with 1001, let HTTP requests finish, let every actor drain its inbox
and take a final snapshot, then close the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from . import gcwatch
from .actors.gateway import Gateway
from .actors.notes import ChangeNotes
from .actors.ownership import Ownership
from .actors.registry import Registry
from .auth import Tokens, load_secret
from .clock import Clock
from .cluster.bus import Bus
from .cluster.fanout import Fanout
from .cluster.identity import IdentitySync
from .cluster.monitors import MonitorRelay
from .cluster.rooms import RoomRelay
from .cluster.router import Router
from .config import Config
from .domain.commands import CreateMonitor, UpdateMonitor
from .gcwatch import GcPauses
from .identity import Authenticator, Directory, Oidc
from .identity.oidc import load_providers
from .ids import new_id
from .listener import Listener, bind
from .monitoring.probe import Probe, refuse_unreachable
from .monitoring.service import Monitoring
from .netguard import NetworkRule
from .notify import Notifier, NotifySettings, RetryPolicy, SmtpSettings, derive_key
from .notify.feed import Feed
from .protocol.frames import CLOSE_GOING_AWAY
from .ratelimit import parse_networks
from .rest.common import Parts
from .rest.hosts import Hosts
from .seed import seed_demo
from .store import Leases, Store, StoreError, embedded_dsn, receipts

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds the actors get to drain their inboxes and snapshot


class Server:
    def __init__(
        self, config: Config, *, clock: Clock | None = None, id_factory: Callable[[], str] = new_id
    ) -> None:
        self.config = config
        self.clock = clock
        self.id_factory = id_factory
        self.port = 0
        self.base_url = ""
        self.dsn = ""
        self.demo_created = False
        self.tokens: Tokens | None = None
        self.auth: Authenticator | None = None
        self.registry: Registry | None = None
        self.gateway: Gateway | None = None
        self.monitoring: Monitoring | None = None
        self.notifier: Notifier | None = None
        self.notify_feed: Feed | None = None
        self.listener: Listener | None = None
        self.hosts: Hosts | None = None
        self.gc_pauses = GcPauses()
        self._stop = trio.Event()
        self._stopped = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        try:
            if config.database_url is not None:
                self.dsn = config.database_url
            else:
                self.dsn = await trio.to_thread.run_sync(embedded_dsn, config.data_dir)
            secret = load_secret(config.data_dir, config.secret)
            self.tokens = Tokens(secret)
            oidc = Oidc(load_providers(config.oidc_file))
            trusted = parse_networks(config.trusted_proxies)
            rule = NetworkRule.parse(config.check_networks)
            bound = config.limits.database_seconds
            async with (
                Store.open(self.dsn, bound=bound) as store,
                _bus(config) as bus,
                trio.open_nursery() as nursery,
            ):
                directory = Directory(
                    store, self.tokens, config.limits, clock=self.clock or Clock()
                )
                await directory.load()
                self.auth = Authenticator(self.tokens, directory, oidc)
                sock = bind(config.host, config.port)
                self.port = int(sock.getsockname()[1])
                self.base_url = config.base_url(self.port)
                self.registry = Registry(
                    store,
                    config.limits,
                    self.base_url,
                    clock=self.clock,
                    id_factory=self.id_factory,
                    ownership=(ownership := _ownership(config, store)),
                )
                if bus is not None and ownership is not None:
                    await _join_cluster(nursery, bus, store, self.registry, ownership)
                    await nursery.start(IdentitySync(bus, directory, ownership.node).run)
                self.hosts = Hosts(config.default_org)
                await self.hosts.load(store)
                self.registry.observers.append(self.hosts.observe)
                if config.node_id is not None:  # other nodes' claims too
                    nursery.start_soon(self.hosts.refresh, store)
                await nursery.start(self.registry.run)
                self.gateway = Gateway(self.registry, self.auth, config.limits, trusted)
                directory.revoke = self.gateway.revoke
                await nursery.start(self.gateway.run)
                self.monitoring = Monitoring(
                    self.registry,
                    store,
                    region=config.region,
                    retention_days=config.limits.check_results_days,
                    concurrency=config.limits.checks_concurrency,
                    probe=Probe(rule) if config.probe else None,
                )
                await nursery.start(self.monitoring.run)
                if bus is not None and ownership is not None:
                    relay = MonitorRelay(bus, self.registry, self.monitoring, ownership.node)
                    await nursery.start(relay.run)
                self.registry.preflight = functools.partial(_preflight, rule)
                self.gateway.monitoring = self.monitoring
                self.notifier = _notifier(
                    config,
                    store,
                    self.base_url,
                    secret,
                    self.clock,
                    functools.partial(self.hosts.public_page, self.base_url),
                )
                await nursery.start(self.notifier.run)
                self.notify_feed = Feed(store, self.notifier)
                self.registry.observers.append(self.notify_feed.observe)
                await nursery.start(self.notify_feed.run)
                notes = ChangeNotes(self.registry)
                directory.noted = self.notifier.noted = self.registry.noted = notes.noted
                await nursery.start(notes.run)
                app = _create_app(
                    Parts(
                        config,
                        self.registry,
                        self.gateway,
                        self.auth,
                        store,
                        self.base_url,
                        trusted,
                        self.monitoring,
                        self.notifier,
                        self.runtime,
                        bus,
                        _metrics(self),
                        self.hosts,
                    )
                )
                auth = self.auth
                listener = Listener(
                    sock,
                    app,
                    self.gateway,
                    config.limits,
                    lambda head: _operator_in(head, auth),
                )
                self.listener = listener
                if config.demo:
                    self.demo_created = await seed_demo(self.registry)
                listener_done = trio.Event()

                async def serve_http(*, task_status: trio.TaskStatus[None]) -> None:
                    try:
                        await listener.run(task_status=task_status)
                    finally:
                        listener_done.set()

                await nursery.start(serve_http)
                nursery.start_soon(_forget_receipts, store, config.limits.idempotency_hours)
                # Whatever start-up allocated lives as long as the process: keep it
                # out of the garbage collector's full scans.
                gcwatch.tune()
                gcwatch.freeze("start-up")
                self.gc_pauses.install()
                nursery.start_soon(gcwatch.settle)
                task_status.started(self)
                await self._stop.wait()

                log.info("stopping")
                listener.stop_accepting()
                self.gateway.close_all(CLOSE_GOING_AWAY, "server shutting down")
                await listener_done.wait()
                with trio.move_on_after(SHUTDOWN_GRACE):
                    await self.registry.shutdown()
                with trio.move_on_after(SHUTDOWN_GRACE):
                    with contextlib.suppress(StoreError, OSError):
                        await self.monitoring.flush()  # the results still buffered
                nursery.cancel_scope.cancel()
        finally:
            self.gc_pauses.remove()
            self._stopped.set()

    def runtime(self) -> dict[str, Any]:
        """What the process itself is doing: connections, the collector's pauses."""
        listener, gateway = self.listener, self.gateway
        return {
            "connections": {
                "open": listener.open if listener else 0,
                "served_at_most": listener.capacity if listener else 0,
                "shed": listener.shed if listener else 0,
                "websockets": len(gateway.connections) if gateway else 0,
            },
            "websocket": dataclasses.asdict(gateway.stats) if gateway else {},
            "fast_reads": listener.fast.figures() if listener and listener.fast else {},
            "gc": self.gc_pauses.summary(),
        }

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        """Stop gracefully and wait until everything is closed."""
        self._stop.set()
        await self._stopped.wait()


async def _preflight(rule: NetworkRule, command: object) -> None:
    """A monitor's target must be where the server's checks may connect."""
    if isinstance(command, CreateMonitor | UpdateMonitor) and isinstance(command.spec, dict):
        await refuse_unreachable(rule, command.spec)


RECEIPTS_PRUNED_EVERY = 3600.0  # seconds


async def _forget_receipts(store: Store, hours: float) -> None:
    """Idempotency receipts older than their window are deleted, hourly."""
    while True:
        with contextlib.suppress(StoreError):
            await receipts.prune(store, datetime.now(UTC) - timedelta(hours=hours))
        await trio.sleep(RECEIPTS_PRUNED_EVERY)


def _operator_in(head: bytes, auth: Authenticator) -> bool:
    """Whether a request head carries a server operator's bearer token."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            return scheme.lower() == b"bearer" and auth.is_server_operator(token.decode("latin-1"))
    return False


def _create_app(parts: Parts):  # type: ignore[no-untyped-def]
    from .app import create_app  # Quart is heavy to import; only the server needs it

    return create_app(parts)


def _metrics(server: Server) -> Any:
    from .metrics import Metrics  # only the server needs prometheus_client

    return Metrics(server)


def _notifier(
    config: Config,
    store: Store,
    base_url: str,
    secret: str,
    clock: Clock | None,
    page_of: Callable[[str], str],
) -> Notifier:
    limits = config.limits
    smtp = SmtpSettings(
        host=config.smtp_host,
        port=config.smtp_port,
        sender=config.smtp_from,
        starttls=config.smtp_starttls,
        ssl=config.smtp_ssl,
        username=config.smtp_user,
        password=config.smtp_password,
    )
    settings = NotifySettings(
        smtp=smtp,
        retry=RetryPolicy(
            first=limits.notify_retry_first,
            cap=limits.notify_retry_cap,
            attempts=limits.notify_attempts,
        ),
        concurrency=limits.notify_concurrency,
        allow_private_webhooks=config.allow_private_webhooks,
        network_rule=NetworkRule.parse(config.check_networks),
    )
    return Notifier(
        store,
        base_url=base_url,
        key=derive_key(secret),
        settings=settings,
        clock=clock,
        page_of=page_of,
    )


def _ownership(config: Config, store: Store) -> Ownership | None:
    """Leases for this node's actors, when it is one of several (a node id)."""
    if config.node_id is None:
        return None
    limits = config.limits
    return Ownership(
        Leases(store),
        config.node_id,
        seconds=limits.lease_seconds,
        renew=limits.lease_renew_seconds,
    )


@asynccontextmanager
async def _bus(config: Config) -> AsyncIterator[Bus | None]:
    """The NATS bus, when this node is one of several; else None."""
    if not config.nats:
        yield None
        return
    assert config.node_id is not None
    async with Bus.open(config.nats, name=config.node_id) as bus:
        yield bus


async def _join_cluster(
    nursery: trio.Nursery, bus: Bus, store: Store, registry: Registry, ownership: Ownership
) -> None:
    """Forward commands for organizations other nodes run, follow them, and
    reach the rooms other nodes run."""
    fanout = Fanout(bus, store, ownership)
    await nursery.start(fanout.run, registry)
    await nursery.start(Router(bus, registry, ownership.node).run)
    await nursery.start(RoomRelay(bus, registry, ownership.node).run)
