"""A probe: runs one monitor's check with the right client and says the outcome.

The server runs one for its own region; ``switchboard probe`` runs one on
another machine. Both hold one set of HTTP clients (connections are kept
alive between checks of the same host) for their lifetime.
"""

from __future__ import annotations

import ssl

from ..domain.errors import ValidationError
from ..domain.monitors import Monitor
from .checks import HttpClients, check_http, check_tcp, check_tls, describe_error
from .service import Outcome
from .specs import HttpSpec, TcpSpec, TlsSpec, parse_spec


class Probe:
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.clients = HttpClients(ssl_context=ssl_context)

    async def check(self, monitor: Monitor) -> Outcome:
        try:
            spec = parse_spec(monitor.kind.value, dict(monitor.spec))
        except ValidationError as exc:  # stored before a rule changed: say so, do not crash
            return Outcome("down", error=f"the monitor's settings are invalid: {exc.message}")
        try:
            if isinstance(spec, HttpSpec):
                result = await check_http(spec, self.clients.for_spec(spec))
            elif isinstance(spec, TcpSpec):
                result = await check_tcp(spec)
            elif isinstance(spec, TlsSpec):
                result = await check_tls(spec, self.ssl_context)
            else:  # pragma: no cover - heartbeats have no probe
                raise AssertionError(f"no check for {monitor.kind}")
        except Exception as exc:  # a check must always give an outcome
            return Outcome("down", error=describe_error(exc))
        return Outcome(result.outcome, result.latency_ms, result.status_code, result.error)

    async def aclose(self) -> None:
        await self.clients.aclose()
