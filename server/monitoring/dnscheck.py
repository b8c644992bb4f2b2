"""The DNS check: one query, with dnspython on trio, and its verdict.

The query goes to the spec's ``resolver`` (its name resolved and held to the
network rule like any target) or, without one, to the servers the prober's
system uses (``/etc/resolv.conf``: the operator's own, as every check's name
resolution is, so the rule does not apply to them). UDP first, TCP when the
answer is truncated; each server in turn until one answers, all within the
spec's ``timeout``.

What the records hold is not repeated in the result's words (a resolver
inside the operator's network would tell members what it knows): a mismatch
says what was expected and how many records came.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import trio

from ..domain.specs import DnsSpec, Match, RecordType, dns_matches, dns_value
from ..netguard import NetworkRule, Refused, resolve
from .checks import CheckResult, describe_error, down, ms_since, quoted, timed, timed_out

Server = tuple[str, int]  # (address, port)


@functools.cache
def system_servers() -> tuple[Server, ...]:
    """The name servers of this machine's resolver configuration, read once."""
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration:
        return ()
    port = resolver.port
    return tuple((str(ns), port) for ns in resolver.nameservers)


async def check_dns(
    spec: DnsSpec, rule: NetworkRule, system: Sequence[Server] | None = None
) -> CheckResult:
    """Ask for ``spec.name``'s records and judge them.

    ``system``: the servers asked when the spec names no resolver (by default
    this machine's, :func:`system_servers`).
    """
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            if spec.resolver is not None:
                addresses = await resolve(rule, spec.resolver, spec.resolver_port)
                servers: Sequence[Server] = [(str(a), spec.resolver_port) for a in addresses]
            else:
                servers = system_servers() if system is None else system
                if not servers:
                    return down("this prober has no DNS resolver configured (/etc/resolv.conf)")
            response = await _ask(spec, servers, start)
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except (OSError, Refused, dns.exception.DNSException) as exc:
        return down(describe_error(exc))
    latency = ms_since(start)
    return _judge(spec, response, latency)


async def _ask(spec: DnsSpec, servers: Sequence[Server], start: float) -> dns.message.Message:
    """The first answer of the servers, asked in turn; the last error if none answers."""
    query = dns.message.make_query(dns.name.from_text(spec.name), spec.record_type.value)
    query.flags |= dns.flags.RD
    error: BaseException | None = None  # the first server's that did not time out
    for i, (address, port) in enumerate(servers):
        # Each server gets an equal share of the time left.
        left = spec.timeout - (trio.current_time() - start)
        with trio.move_on_after(left / (len(servers) - i)):
            try:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, address, port=port, ignore_unexpected=True
                )
                return response
            except (OSError, dns.exception.DNSException) as exc:
                error = error or exc
    raise error or trio.TooSlowError()


def _judge(spec: DnsSpec, response: dns.message.Message, latency: float) -> CheckResult:
    kind = spec.record_type
    name = spec.name.rstrip(".")
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return down(f"{name} does not exist (NXDOMAIN)", latency)
    if rcode != dns.rcode.NOERROR:
        return down(f"the resolver answered {dns.rcode.to_text(rcode)}", latency)
    if not isinstance(response, dns.message.QueryMessage):  # pragma: no cover - a query's answer
        return down("the resolver's answer could not be read", latency)
    try:
        answer = response.resolve_chaining().answer
    except dns.exception.DNSException as exc:
        return down(f"the resolver's answer could not be followed: {exc}", latency)
    if answer is None or len(answer) == 0:
        return down(f"no {kind.value} records for {name}", latency)
    found = [_text(kind, rdata) for rdata in answer]
    if spec.expected:
        wanted = [dns_value(kind, value) for value in spec.expected]
        present = [any(dns_matches(kind, w, f) for f in found) for w in wanted]
        if spec.match is Match.ALL and not all(present):
            missing = [spec.expected[i] for i, ok in enumerate(present) if not ok]
            return down(
                f"{kind.value} records of {name} lack {_listed(missing)}"
                f" ({len(found)} record{'s' if len(found) != 1 else ''})",
                latency,
            )
        if spec.match is Match.ANY and not any(present):
            return down(
                f"no {kind.value} record of {name} is {_listed(spec.expected, 'or')}"
                f" ({len(found)} record{'s' if len(found) != 1 else ''})",
                latency,
            )
    return timed(latency, spec.degraded_ms)


def _text(kind: RecordType, rdata: object) -> str:
    """A record as :func:`~server.domain.specs.dns_value` writes it."""
    if kind is RecordType.TXT:
        strings = getattr(rdata, "strings", ())
        return b"".join(strings).decode("utf-8", errors="replace")
    if kind is RecordType.MX:
        exchange = getattr(rdata, "exchange", dns.name.root)
        return f"{getattr(rdata, 'preference', 0)} {_name(exchange)}"
    if kind in (RecordType.CNAME, RecordType.NS):
        return _name(getattr(rdata, "target", dns.name.root))
    return dns_value(kind, str(rdata))


def _name(name: dns.name.Name) -> str:
    text = name.to_text(omit_final_dot=True).lower()
    return text or "."


def _listed(values: Sequence[str], joiner: str = "and") -> str:
    shown = [quoted(v) for v in values[:3]]
    more = f" and {len(values) - 3} more" if len(values) > 3 else ""
    if len(shown) == 1:
        return shown[0] + more
    return f"{', '.join(shown[:-1])} {joiner} {shown[-1]}{more}"
