"""A probe: runs one monitor's check with the right client and says the outcome.

The server runs one for its own region; ``switchboard probe`` runs one on
another machine. Both hold one set of HTTP clients (connections are kept
alive between checks of the same host) for their lifetime.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..domain.monitors import Monitor
from ..domain.specs import HttpSpec, TcpSpec, TlsSpec, parse_spec
from ..errors import ValidationError
from ..netguard import DEFAULT_RULE, NetworkRule, Refused, resolve
from .checks import HttpClients, check_http, check_tcp, check_tls, describe_error
from .service import Outcome

DEFAULT = NetworkRule.parse(DEFAULT_RULE)


async def refuse_unreachable(rule: NetworkRule, spec: Mapping[str, Any]) -> None:
    """ValidationError, naming the field, if a check's target resolves only to
    addresses ``rule`` refuses (a name that does not resolve yet is let be:
    its checks will say so)."""
    url, host = spec.get("url"), spec.get("host")
    if isinstance(url, str):
        field, parts = "spec.url", urlsplit(url)
        target, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    elif isinstance(host, str):
        field, target, port = "spec.host", host, spec.get("port", 443)
        if not isinstance(port, int):
            return  # the spec's own validation will say why
    else:
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
        self, rule: NetworkRule = DEFAULT, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.rule = rule
        self.ssl_context = ssl_context
        self.clients = HttpClients(rule, ssl_context=ssl_context)

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
            else:  # pragma: no cover - heartbeats have no probe
                raise AssertionError(f"no check for {monitor.kind}")
        except Exception as exc:  # a check must always give an outcome
            return Outcome("down", error=describe_error(exc))
        return Outcome(
            result.outcome, result.latency_ms, result.status_code, result.error, result.expires_at
        )

    async def aclose(self) -> None:
        await self.clients.aclose()
