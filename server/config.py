"""Settings, from flags and the environment, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one client or actor may hold. Every queue has a size."""

    max_message: int = 64 * 1024  # bytes in one client WebSocket message
    max_body: int = 1024 * 1024  # bytes in one REST request body
    outbound_backlog: int = 1024 * 1024  # bytes queued for a slow WebSocket reader
    # SO_SNDBUF for WebSockets (the kernel doubles it): what a stalled reader can
    # pile up in the kernel, on top of outbound_backlog; 0 leaves it to the kernel.
    socket_send_buffer: int = 128 * 1024
    # Every wait that depends on the database (a connection, a query, a command
    # waiting for its actor's commit) ends after this, with a clear error.
    database_seconds: float = 10.0
    idempotency_hours: float = 24.0  # how long an idempotency key's first answer is kept
    inbox: int = 1024  # commands waiting for one actor
    batch: int = 256  # commands one actor decides per commit
    ring: int = 1024  # recent events per topic kept for resume with `since`
    snapshot_every: int = 200  # events between snapshots
    actor_idle_seconds: float = 300.0  # an unwatched actor stops after this
    # With a node id (several nodes, one database): how long an actor's lease
    # lasts unrenewed, and how often its node renews it. A dead node's actors
    # can be taken over after at most lease_seconds; a node cut off from the
    # database for longer loses them.
    lease_seconds: float = 8.0
    lease_renew_seconds: float = 2.0
    incident_memory_days: float = 90.0  # resolved longer ago: served from the store, not memory
    heartbeat_ms: int = 30_000  # clients send something at least this often
    handshake_timeout: float = 10.0  # seconds to receive a connection's first request head
    http_keepalive_seconds: float = 5.0  # an idle keep-alive connection is closed after this
    http_read_seconds: float = 10.0  # silence while a request (head or body) arrives
    body_seconds: float = 30.0  # a request's whole body must arrive within this
    write_stall_seconds: float = 30.0  # a socket that takes no bytes for this long is dropped
    max_connections: int = 0  # open connections; 0: the open-files limit less a reserve
    reserved_connections: int = 32  # kept, above max_connections, for health checks and operators
    max_headers: int = 100  # header fields in one request
    # 1: the listener answers public documents (status pages, the Statuspage
    # API, feeds, badges) itself from what it kept; 0: all goes through Quart.
    fast_reads: int = 1
    room_max_document: int = 1_048_576  # code points in a room's text
    # Code points one operation may insert: at most 4 UTF-8 bytes each, an
    # operation this size still fits a message (max_message), with room to spare.
    room_max_insert: int = 16_000
    room_max_components: int = 10_000  # components in one operation
    room_window: int = 8_192  # recent operations kept for late ones and replays (> room_batch)
    room_snapshot_every: int = 100  # commits of operations between snapshots...
    room_snapshot_ops: int = 10_000  # ...or operations, whichever comes first
    room_history_days: float = 30.0  # how far back a room's past texts can be read
    room_batch: int = 4096  # operations one room decides per commit (and its inbox holds)
    rooms_per_org: int = 100  # ad-hoc rooms one organization may hold (incident notes aside)
    edits_per_second: float = 50.0  # doc.op and presence messages per connection, sustained
    edits_burst: int = 500  # ... and in a burst
    # Rates are per second; a rate of 0 turns that limit off.
    messages_per_second: float = 200.0  # WebSocket messages of any kind, per connection
    messages_burst: int = 1_000
    public_per_second: float = 20.0  # status pages and the Statuspage API, per client address
    public_burst: int = 200
    connects_per_second: float = 5.0  # WebSocket connects, per client address
    connects_burst: int = 100
    logins_per_second: float = 0.2  # login attempts, per client address
    logins_burst: int = 10
    login_failures_free: int = 5  # failed logins to one account before each next one waits
    access_token_seconds: int = 900  # lifetime of a login's access token
    session_days: float = 30.0  # a login (its refresh token) ends after this
    invitation_hours: float = 72.0  # default lifetime of an invitation link
    checks_concurrency: int = 1_000  # uptime checks the server's probe runs at once
    check_results_days: int = 30  # how long every check result is kept (rollups: 400 days)
    notify_attempts: int = 8  # sending a notification is tried this often in all
    notify_retry_first: float = 10.0  # seconds before the second try; doubling...
    notify_retry_cap: float = 3600.0  # ...up to this
    notify_concurrency: int = 8  # notifications in flight at once

    def __post_init__(self) -> None:
        # A limit no message could reach is a limit no client can be told of:
        # the largest operation must fit the largest message.
        if self.room_max_insert * 4 + 1024 > self.max_message:
            raise ValueError(
                f"room_max_insert ({self.room_max_insert}) code points, at up to 4 bytes"
                f" each, must fit in max_message ({self.max_message} bytes) with 1 KiB to"
                " spare"
            )


def parse_limits(text: str, base: Limits | None = None) -> Limits:
    """``"name=value,name=value"`` (or one pair) applied over ``base``; ValueError if wrong."""
    base = base or Limits()
    kinds = {f.name: f.type for f in dataclasses.fields(Limits)}
    changes: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or name not in kinds:
            raise ValueError(f"unknown limit {name!r}; limits are: {', '.join(sorted(kinds))}")
        try:
            value = float(raw) if kinds[name] in (float, "float") else int(raw)
        except ValueError:
            raise ValueError(f"limit {name} needs a number, not {raw.strip()!r}") from None
        if value < 0:
            raise ValueError(f"limit {name} cannot be negative")
        changes[name] = value
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".switchboard")
    database_url: str | None = None  # None: the embedded PostgreSQL in data_dir
    secret: str | None = None  # None: read or create <data_dir>/secret
    public_url: str | None = None  # how clients reach us; default http://host:port
    # The organization served at the root of every host name no organization
    # claimed (one tenant); None: the server's own front page there.
    default_org: str | None = None
    demo: bool = False  # seed the demo organization on first start
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For we believe
    oidc_file: Path | None = None  # JSON list of external identity providers
    region: str = "local"  # the name of the region the server's own probe checks from
    probe: bool = True  # run the server's own probe (heartbeats are taken either way)
    smtp_host: str | None = None  # where notification email goes; None: no email
    smtp_port: int = 587
    smtp_from: str = "Switchboard <switchboard@localhost>"
    smtp_starttls: bool = True  # upgrade the connection (port 587)
    smtp_ssl: bool = False  # TLS from the start (port 465)
    smtp_user: str | None = None
    smtp_password: str | None = None  # SWITCHBOARD_SMTP_PASSWORD only: not a flag
    allow_private_webhooks: bool = False  # subscribers' webhooks may point into private networks
    # Where monitors' checks and notification channels may connect (server/netguard.py).
    check_networks: str = "public,private"
    # This node's name among several sharing one database; None: alone, no leases.
    node_id: str | None = None
    # The NATS servers the nodes talk through (with node_id); empty: none.
    nats: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def base_url(self, port: int | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port if port is not None else self.port}"

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        """Defaults, then environment variables, then explicit overrides (flags)."""
        env: dict[str, object] = {}
        if url := os.environ.get("DATABASE_URL"):
            env["database_url"] = url
        if secret := os.environ.get("SWITCHBOARD_SECRET"):
            env["secret"] = secret
        if public := os.environ.get("SWITCHBOARD_PUBLIC_URL"):
            env["public_url"] = public
        if default_org := os.environ.get("SWITCHBOARD_DEFAULT_ORG"):
            env["default_org"] = default_org
        if data := os.environ.get("SWITCHBOARD_DATA_DIR"):
            env["data_dir"] = Path(data)
        if limits := os.environ.get("SWITCHBOARD_LIMITS"):
            env["limits"] = parse_limits(limits)
        if proxies := os.environ.get("SWITCHBOARD_TRUSTED_PROXIES"):
            env["trusted_proxies"] = tuple(p.strip() for p in proxies.split(",") if p.strip())
        if oidc := os.environ.get("SWITCHBOARD_OIDC"):
            env["oidc_file"] = Path(oidc)
        if region := os.environ.get("SWITCHBOARD_REGION"):
            env["region"] = region
        if smtp := os.environ.get("SWITCHBOARD_SMTP_HOST"):
            env["smtp_host"] = smtp
        if password := os.environ.get("SWITCHBOARD_SMTP_PASSWORD"):
            env["smtp_password"] = password
        if networks := os.environ.get("SWITCHBOARD_CHECK_NETWORKS"):
            env["check_networks"] = networks
        if nats := os.environ.get("SWITCHBOARD_NATS"):
            env["nats"] = tuple(u.strip() for u in nats.split(",") if u.strip())
        if node := os.environ.get("SWITCHBOARD_NODE_ID"):
            env["node_id"] = node
        env.update({k: v for k, v in overrides.items() if v is not None})
        if env.get("demo") and "check_networks" not in env:
            # The demo's monitors may watch this machine (the tour checks /health).
            env["check_networks"] = "public,private,loopback"
        return cls(**env)  # type: ignore[arg-type]
