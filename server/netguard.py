"""Where the server's own connections may go: checks, channels and webhooks.

Monitors and notification channels make the server (and remote probes)
connect to addresses that members type in, so without a rule a member could
aim them at the server's own loopback services or at a cloud's metadata
service and read what comes back. A :class:`NetworkRule` lists the networks
such connections may reach; it is an operator's setting (``--check-networks``),
because self-hosted users do monitor their private networks.

A rule is a comma-separated list read left to right, the first entry that
matches an address deciding; an address no entry matches is refused:

* ``public``: globally routable addresses;
* ``private``: RFC 1918 and RFC 6598 (shared) IPv4, IPv6 unique local
  (``fc00::/7``);
* ``loopback``: ``127.0.0.0/8`` and ``::1``;
* ``link-local``: ``169.254.0.0/16`` (where clouds put their metadata
  service) and ``fe80::/10``;
* ``any``: all of the above;
* an address or a network (``10.2.0.0/16``), or either behind ``!`` to
  refuse it (``!10.2.3.0/24,private``).

Unspecified (``0.0.0.0``, ``::``) and multicast addresses are refused
whatever the rule says. The default is ``public,private``.

Names are resolved once and the connection is made to an address that was
checked (:func:`connect`, :class:`GuardedBackend`), so a name cannot resolve
to an allowed address for the check and another for the connection; HTTP
redirects go through the same door on every hop.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

import httpcore
import httpx
import trio

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_RULE: Final = "public,private"
RESOLVE_TIMEOUT: Final = 5.0  # seconds a name may take to resolve
LIMITS: Final = httpx.Limits(max_connections=1_000, max_keepalive_connections=100)


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_PRIVATE = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
_LOOPBACK = _nets("127.0.0.0/8", "::1/128")
_LINK_LOCAL = _nets("169.254.0.0/16", "fe80::/10")


def _in(nets: tuple[Network, ...]) -> Callable[[Address], bool]:
    return lambda a: any(a in n for n in nets)


def _public(address: Address) -> bool:
    return address.is_global


NAMED: Final[dict[str, Callable[[Address], bool]]] = {
    "public": _public,
    "private": _in(_PRIVATE),
    "loopback": _in(_LOOPBACK),
    "link-local": _in(_LINK_LOCAL),
    "any": lambda a: True,
}


class Refused(Exception):
    """An address the rule does not let these connections reach."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 one it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class NetworkRule:
    """Which addresses outbound checks and notifications may connect to."""

    text: str
    entries: tuple[tuple[bool, Callable[[Address], bool]], ...]  # (allow?, matches)
    why: str  # where the rule comes from, for refusals

    @classmethod
    def parse(cls, text: str, why: str | None = None) -> NetworkRule:
        """``"public,private"``, ``"any"``, ``"!10.2.3.0/24,private"``...; ValueError if wrong."""
        entries = []
        for raw in (part.strip() for part in text.split(",")):
            if not raw:
                continue
            allow = not raw.startswith("!")
            name = raw.lstrip("!").strip().lower()
            if name in NAMED:
                entries.append((allow, NAMED[name]))
                continue
            try:
                network = ipaddress.ip_network(name, strict=False)
            except ValueError:
                raise ValueError(
                    f"{raw!r} is neither a network (10.0.0.0/8) nor one of {', '.join(NAMED)}"
                ) from None
            entries.append((allow, _in((network,))))
        if not entries:
            raise ValueError("a network rule needs at least one entry")
        return cls(text, tuple(entries), why or f"its --check-networks rule is {text}")

    def allows(self, address: Address) -> bool:
        address = plain(address)
        if address.is_unspecified or address.is_multicast:
            return False
        for allow, matches in self.entries:
            if matches(address):
                return allow
        return False

    def __str__(self) -> str:
        return self.text


ANY: Final = NetworkRule.parse("any")


async def resolve(rule: NetworkRule, host: str, port: int) -> list[Address]:
    """The addresses ``host`` resolves to that ``rule`` allows, in the resolver's order.

    OSError if it does not resolve (or not within :data:`RESOLVE_TIMEOUT`);
    :class:`Refused`, naming the address, if it resolves only to refused ones.
    """
    host = host.strip("[]")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        with trio.move_on_after(RESOLVE_TIMEOUT) as scope:
            infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
        if scope.cancelled_caught:
            raise OSError(f"resolving {host} took more than {RESOLVE_TIMEOUT:g} s") from None
        addresses = _addresses(infos)
    return allowed(rule, host, addresses)


def resolve_blocking(rule: NetworkRule, host: str, port: int) -> list[Address]:
    """:func:`resolve` for a thread that is not trio's (a library that blocks):
    the system resolver's own timeout applies."""
    host = host.strip("[]")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    return allowed(rule, host, addresses)


def _addresses(infos: Iterable[tuple[typing.Any, ...]]) -> list[Address]:
    return list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )


def allowed(rule: NetworkRule, host: str, addresses: list[Address]) -> list[Address]:
    """Those of ``host``'s ``addresses`` that ``rule`` allows; :class:`Refused` if none."""
    found = [a for a in addresses if rule.allows(a)]
    if not found:
        shown = host if str(addresses[0]) == host else f"{host} ({addresses[0]})"
        raise Refused(f"{shown} is in a network this server does not connect to ({rule.why})")
    return found


async def connect(rule: NetworkRule, host: str, port: int) -> trio.SocketStream:
    """A TCP connection to ``host`` at an address ``rule`` allows, tried in turn."""
    errors: list[OSError] = []
    for address in await resolve(rule, host, port):
        try:
            return await trio.open_tcp_stream(str(address), port)
        except OSError as exc:
            errors.append(exc)
    raise errors[0] if len(errors) == 1 else OSError(f"no address of {host} answered: {errors}")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend, connecting only where ``rule`` allows (every
    connection of the client, so every redirect hop too)."""

    def __init__(self, rule: NetworkRule) -> None:
        self.rule = rule
        self.inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(self.rule, host, port)
        except Refused as exc:
            raise httpcore.ConnectError(exc.message) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from here")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go through :class:`GuardedBackend`."""

    def __init__(
        self,
        rule: NetworkRule,
        *,
        verify: bool | typing.Any = True,
        limits: httpx.Limits = LIMITS,
    ) -> None:
        # httpx builds its pool with the default backend and offers no way to
        # pass another: let it build a cheap one, then replace it with ours.
        super().__init__(verify=False, limits=limits, trust_env=False)
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(rule),
        )


def refusal(exc: BaseException) -> Refused | None:
    """The :class:`Refused` behind ``exc`` (httpx wraps it twice), if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Refused):
            return e
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)
    return None
