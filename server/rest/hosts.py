"""Which organization a request's host name serves at its root, and the
address a reader came through.

An organization's claimed host names (custom domains, ``domains`` in its
settings) serve its public documents at their root: ``/`` is its page,
``/history`` its history, ``/api/v2/summary.json`` its Statuspage summary,
and so on for every path under ``/status/{org}``. With ``--default-org``,
every other host name serves that organization the same way (one tenant).
The server's own paths (:data:`SERVER_PATHS`: the console, ``/api/v1``,
``/ws``, the static files, health) keep their meaning on every host, and so
does ``/status/...``.

:class:`ByHost` does it before routing, by rewriting the request's path
(``/history`` on ``status.acme.com`` is routed as ``/status/acme/history``)
and marking the request as served at the root (:data:`ROOTED`), so that the
documents link to ``/history`` there and to ``/status/acme/history``
elsewhere.

Behind a trusted proxy (``--trusted-proxy``), the host and scheme are those
the proxy says the reader used: ``X-Forwarded-Host`` and
``X-Forwarded-Proto`` (their last value: the one the nearest proxy wrote),
else the request's own ``Host`` and scheme.

Each node keeps every claim in memory (:class:`Hosts`): read from the store
at start-up, changed as the organizations it runs commit, and, among several
nodes, read again every :data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import trio
from quart import request

from ..domain.events import Event
from ..domain.model import OrgState
from ..ratelimit import Network, trusted_peer
from ..store import Store, StoreError
from .common import parts

# Paths that are the server's own on every host.
SERVER_PATHS: Final = ("/admin", "/api/v1", "/health", "/ready", "/metrics", "/static", "/ws")
ROOTED: Final = "switchboard.rooted"  # in a rewritten request's scope: the slug at the root
REFRESH_SECONDS: Final = 5.0  # among several nodes: how often claims are read again
# What a Host header may be: a name or an IPv4 address, or an IPv6 literal, and a port.
_HOST: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?"
)


class Hosts:
    """The host names claimed on this server, and the organization each serves."""

    def __init__(self, default_org: str | None = None) -> None:
        self.default_org = default_org
        self.by_host: dict[str, str] = {}  # host name -> slug
        self.by_org: dict[str, tuple[str, ...]] = {}  # slug -> its host names

    def org_at(self, host: str | None) -> str | None:
        """The slug a request for ``host`` (as a Host header has it) is served
        at the root, or None: the server's own pages."""
        if host:
            name = _name(host)
            slug = self.by_host.get(name)
            if slug is not None:
                return slug
        return self.default_org

    def replace(self, claims: Mapping[str, str]) -> None:
        """Every claim, as the store has them (host name -> stream)."""
        by_org: dict[str, list[str]] = {}
        for host, stream in sorted(claims.items()):
            by_org.setdefault(stream.removeprefix("org:"), []).append(host)
        self.by_org = {slug: tuple(names) for slug, names in by_org.items()}
        self.by_host = {host: slug for slug, names in self.by_org.items() for host in names}

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """An organization committed (a registry observer): its claims now."""
        domains = () if state.deleted else state.org.domains
        held = self.by_org.get(slug, ())
        if set(domains) == set(held):
            return
        for host in held:
            if self.by_host.get(host) == slug:
                del self.by_host[host]
        for host in domains:
            self.by_host[host] = slug
        if domains:
            self.by_org[slug] = tuple(domains)
        else:
            self.by_org.pop(slug, None)

    def public_page(self, base_url: str, slug: str) -> str:
        """Where ``slug``'s public page is for a reader who is not making a
        request (a notification's links): the root of its custom domain, reached
        as ``base_url`` is (its scheme and port), when it claims one (of several,
        the first in alphabetical order); else ``{base_url}/status/{slug}``."""
        names = self.by_org.get(slug)
        if not names:
            return f"{base_url}/status/{slug}"
        origin = urlsplit(base_url)
        port = f":{origin.port}" if origin.port is not None else ""
        return f"{origin.scheme}://{min(names)}{port}"

    async def load(self, store: Store) -> None:
        self.replace(await store.domains())

    async def refresh(self, store: Store, every: float = REFRESH_SECONDS) -> None:
        """Read the claims again every ``every`` seconds (other nodes' commits)."""
        while True:
            await trio.sleep(every)
            with contextlib.suppress(StoreError):
                await self.load(store)


def _name(host: str) -> str:
    """A Host header's name: lower case, without its port and trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def _last(value: str | None) -> str | None:
    if not value:
        return None
    last = value.rsplit(",", 1)[-1].strip()
    return last or None


def reader(
    scheme: str, header: Callable[[str], str | None], peer: str, trusted: Sequence[Network]
) -> tuple[str, str | None]:
    """The scheme and host (with its port, if any) the reader came through;
    the host is None when the request names none that is well formed."""
    host = header("host")
    if trusted_peer(peer, trusted):
        scheme = _last(header("x-forwarded-proto")) or scheme
        host = _last(header("x-forwarded-host")) or host
    scheme = scheme.lower() if scheme.lower() in ("http", "https") else "http"
    if host is None or not _HOST.fullmatch(host.strip()):
        return scheme, None
    return scheme, host.strip()


def _server_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in (*SERVER_PATHS, "/status"))


class ByHost:
    """ASGI middleware: routes a request for a host that serves an organization
    at its root to that organization's public paths (see the module docstring)."""

    def __init__(self, app: Any, hosts: Hosts, trusted: Sequence[Network]) -> None:
        self.app = app
        self.hosts = hosts
        self.trusted = trusted

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not _server_path(scope["path"]):
            headers: dict[str, str] = {}
            for name, value in scope["headers"]:
                headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
            peer = (scope.get("client") or ("",))[0]
            _, host = reader(scope["scheme"], headers.get, peer, self.trusted)
            slug = self.hosts.org_at(host)
            if slug is not None:
                scope = _rooted(scope, slug)
        await self.app(scope, receive, send)


def _rooted(scope: Any, slug: str) -> Any:
    path: str = scope["path"]
    raw: bytes = scope.get("raw_path") or path.encode()
    prefix = f"/status/{slug}"
    return {
        **scope,
        "path": prefix + ("" if path == "/" else path),
        "raw_path": prefix.encode() + (b"" if raw == b"/" else raw),
        ROOTED: slug,
    }


# -- what the documents of a request link to ---------------------------------------


def reader_origin(base_url: str, trusted: Sequence[Network]) -> str:
    """``scheme://host[:port]`` the reader of this request came through
    (``base_url`` when it named no host)."""
    scheme, host = reader(request.scheme, request.headers.get, request.remote_addr or "", trusted)
    return base_url if host is None else f"{scheme}://{host}"


def page_path(slug: str) -> str:
    """Where ``slug``'s page is on the host of this request: ``""`` at the
    root of its own host name, else ``/status/{slug}``."""
    return "" if request.scope.get(ROOTED) == slug else f"/status/{slug}"


def page_url(slug: str) -> str:
    """The absolute address of ``slug``'s page for the reader of this request:
    what the documents' links start with."""
    found = parts()
    return reader_origin(found.base_url, found.trusted_proxies) + page_path(slug)
