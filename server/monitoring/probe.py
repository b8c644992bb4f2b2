"""A probe: runs one monitor's check with the right client and says the outcome.

The server runs one for its own region; ``switchboard probe`` runs one on
another machine. Both hold one set of HTTP clients (connections are kept
alive between checks of the same host) for their lifetime.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..domain.dsn import DsnError, parse_dsn
from ..domain.monitors import Monitor
from ..domain.specs import (
    DnsSpec,
    GrpcSpec,
    HttpSpec,
    PingSpec,
    PostgresSpec,
    TcpSpec,
    TlsSpec,
    WebSocketSpec,
    parse_spec,
)
from ..errors import ValidationError
from ..netguard import DEFAULT_RULE, NetworkRule, Refused, resolve
from .checks import HttpClients, check_http, check_tcp, check_tls, describe_error
from .dnscheck import Server, check_dns
from .grpccheck import check_grpc, h2_context
from .pgcheck import check_postgres
from .pingcheck import check_ping
from .reports import Outcome
from .wscheck import check_websocket

DEFAULT = NetworkRule.parse(DEFAULT_RULE)


_SECURE_SCHEMES = ("https", "wss")


async def refuse_unreachable(rule: NetworkRule, spec: Mapping[str, Any]) -> None:
    """ValidationError, naming the field, if a check's target resolves only to
    addresses ``rule`` refuses (a name that does not resolve yet is let be:
    its checks will say so). The target is the URL's host, ``host``, a DNS
    check's ``resolver`` or a DSN's host."""
    url, host, resolver, dsn = (spec.get(k) for k in ("url", "host", "resolver", "dsn"))
    try:
        if isinstance(url, str):
            field, parts = "spec.url", urlsplit(url)
            default = 443 if parts.scheme.lower() in _SECURE_SCHEMES else 80
            target, port = parts.hostname or "", parts.port or default
        elif isinstance(host, str):
            field, target, port = "spec.host", host, spec.get("port", 443)
        elif isinstance(resolver, str):
            field, target, port = "spec.resolver", resolver, spec.get("resolver_port", 53)
        elif isinstance(dsn, str):
            parsed = parse_dsn(dsn)
            field, target, port = "spec.dsn", parsed.host, parsed.port
        else:
            return
    except (ValueError, DsnError):
        return  # the spec's own validation will say why
    if not isinstance(port, int):
        return
    try:
        await resolve(rule, target, port)
    except Refused as exc:
        raise ValidationError(f"{field}: {exc.message}", field=field) from None
    except (OSError, ValueError):
        pass


class Probe:
    """Checks monitors, connecting only where ``rule`` allows (the server's or
    the remote probe's ``--check-networks``)."""

    def __init__(
        self,
        rule: NetworkRule = DEFAULT,
        *,
        ssl_context: ssl.SSLContext | None = None,
        name_servers: Sequence[Server] | None = None,
    ) -> None:
        self.rule = rule
        self.ssl_context = ssl_context
        self.name_servers = name_servers  # DNS checks without a resolver; None: the system's
        self.clients = HttpClients(rule, ssl_context=ssl_context)
        self._h2_contexts: dict[bool, ssl.SSLContext] = {}

    def h2_context(self, verify: bool) -> ssl.SSLContext:
        """The gRPC checks' TLS context (ALPN h2), made once per verification mode."""
        context = self._h2_contexts.get(verify)
        if context is None:
            context = self._h2_contexts[verify] = h2_context(self.ssl_context, verify=verify)
        return context

    async def check(self, monitor: Monitor) -> Outcome:
        try:
            spec = parse_spec(monitor.kind.value, dict(monitor.spec))
        except ValidationError as exc:  # stored before a rule changed: say so, do not crash
            return Outcome("down", error=f"the monitor's settings are invalid: {exc.message}")
        try:
            if isinstance(spec, HttpSpec):
                result = await check_http(spec, self.clients.for_spec(spec))
            elif isinstance(spec, TcpSpec):
                result = await check_tcp(spec, self.rule)
            elif isinstance(spec, TlsSpec):
                result = await check_tls(spec, self.rule, self.ssl_context)
            elif isinstance(spec, DnsSpec):
                result = await check_dns(spec, self.rule, self.name_servers)
            elif isinstance(spec, PingSpec):
                result = await check_ping(spec, self.rule)
            elif isinstance(spec, WebSocketSpec):
                result = await check_websocket(spec, self.rule, self.ssl_context)
            elif isinstance(spec, PostgresSpec):
                result = await check_postgres(spec, self.rule, self.ssl_context)
            elif isinstance(spec, GrpcSpec):
                result = await check_grpc(spec, self.rule, self.h2_context(spec.verify_tls))
            else:  # pragma: no cover - heartbeats have no probe
                raise AssertionError(f"no check for {monitor.kind}")
        except Exception as exc:  # a check must always give an outcome
            return Outcome("down", error=describe_error(exc))
        return Outcome(
            result.outcome, result.latency_ms, result.status_code, result.error, result.expires_at
        )

    async def aclose(self) -> None:
        await self.clients.aclose()
