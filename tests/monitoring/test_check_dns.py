"""DNS checks against a DNS server the test runs on loopback."""

from __future__ import annotations

from typing import Any

import dns.rcode
import pytest
import trio
from kind_targets import DnsServer, serve_dns

from server.domain.specs import DnsSpec, parse_spec
from server.monitoring.checks import CheckResult
from server.monitoring.dnscheck import check_dns
from server.netguard import ANY, NetworkRule

ZONE = {
    ("www.example.test", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.example.test", "AAAA"): ["2001:db8::10"],
    ("example.test", "MX"): ["10 mail.example.test.", "20 backup.example.test."],
    ("example.test", "TXT"): ['"v=spf1 " "-all"'],
    ("example.test", "NS"): ["ns1.example.test.", "ns2.example.test."],
    ("alias.example.test", "CNAME"): ["www.example.test."],
}


@pytest.fixture
async def resolver(nursery: trio.Nursery) -> DnsServer:
    server = await serve_dns(nursery)
    server.zone.update(ZONE)
    return server


async def ask(server: DnsServer, **settings: Any) -> CheckResult:
    spec = parse_spec(
        "dns", {"resolver": "127.0.0.1", "resolver_port": server.port, "timeout": 5, **settings}
    )
    assert isinstance(spec, DnsSpec)
    return await check_dns(spec, ANY)


async def test_a_name_that_resolves_is_up(resolver: DnsServer) -> None:
    result = await ask(resolver, name="www.example.test")
    assert result.outcome == "up" and result.error is None
    assert result.latency_ms is not None
    assert resolver.asked == [("www.example.test", "A")]


@pytest.mark.parametrize(
    ("settings", "outcome"),
    [
        ({"record_type": "A", "expected": ["192.0.2.11"]}, "up"),
        ({"record_type": "A", "expected": ["192.0.2.99", "192.0.2.10"]}, "up"),
        ({"record_type": "A", "expected": ["192.0.2.10", "192.0.2.11"], "match": "all"}, "up"),
        ({"record_type": "AAAA", "expected": ["2001:DB8:0::10"]}, "up"),
        ({"record_type": "MX", "expected": ["backup.example.test"]}, "up"),
        ({"record_type": "MX", "expected": ["10 MAIL.example.test."]}, "up"),
        ({"record_type": "TXT", "expected": ["v=spf1 -all"]}, "up"),
        ({"record_type": "NS", "expected": ["ns2.example.test"]}, "up"),
        ({"record_type": "MX", "expected": ["20 mail.example.test"]}, "down"),
        ({"record_type": "TXT", "expected": ["v=spf1"]}, "down"),
        ({"record_type": "NS", "expected": ["ns3.example.test"]}, "down"),
    ],
)
async def test_record_types_and_expected_values(
    resolver: DnsServer, settings: dict[str, Any], outcome: str
) -> None:
    name = "www.example.test" if settings["record_type"] in ("A", "AAAA") else "example.test"
    result = await ask(resolver, name=name, **settings)
    assert result.outcome == outcome, result.error


async def test_a_cname_is_followed_or_asked_for(resolver: DnsServer) -> None:
    followed = await ask(resolver, name="alias.example.test", expected=["192.0.2.10"])
    assert followed.outcome == "up", followed.error
    itself = await ask(
        resolver, name="alias.example.test", record_type="CNAME", expected=["www.example.test"]
    )
    assert itself.outcome == "up", itself.error


async def test_a_mismatch_says_what_was_expected_not_what_came(resolver: DnsServer) -> None:
    result = await ask(resolver, name="www.example.test", expected=["198.51.100.1"])
    assert result.outcome == "down"
    assert result.error == "no A record of www.example.test is '198.51.100.1' (2 records)"
    both = await ask(
        resolver, name="www.example.test", expected=["192.0.2.10", "198.51.100.1"], match="all"
    )
    assert both.outcome == "down"
    assert both.error == "A records of www.example.test lack '198.51.100.1' (2 records)"
    assert "192.0.2.11" not in str(result.error) + str(both.error)


async def test_a_name_that_does_not_exist_is_down(resolver: DnsServer) -> None:
    result = await ask(resolver, name="nowhere.example.test")
    assert result.outcome == "down"
    assert result.error == "nowhere.example.test does not exist (NXDOMAIN)"


async def test_a_name_without_records_of_the_type_is_down(resolver: DnsServer) -> None:
    result = await ask(resolver, name="example.test", record_type="AAAA")
    assert result.outcome == "down" and result.error == "no AAAA records for example.test"


async def test_a_failing_resolver_is_down(resolver: DnsServer) -> None:
    resolver.rcode = dns.rcode.SERVFAIL
    result = await ask(resolver, name="www.example.test")
    assert result.outcome == "down" and result.error == "the resolver answered SERVFAIL"


async def test_a_silent_resolver_times_out(resolver: DnsServer) -> None:
    resolver.silent = True
    result = await ask(resolver, name="www.example.test", timeout=1)
    assert result.outcome == "down" and result.error == "timed out after 1 s"
    assert resolver.asked  # it was asked


async def test_without_a_resolver_the_systems_servers_are_asked(resolver: DnsServer) -> None:
    spec = DnsSpec(name="www.example.test", timeout=5)
    result = await check_dns(spec, ANY, [("127.0.0.1", resolver.port)])
    assert result.outcome == "up", result.error
    # They are the operator's: the rule, which no loopback address passes, is not theirs.
    result = await check_dns(spec, NetworkRule.parse("public"), [("127.0.0.1", resolver.port)])
    assert result.outcome == "up", result.error
    assert len(resolver.asked) == 2
    nothing = await check_dns(spec, ANY, [])
    assert nothing.outcome == "down" and "no DNS resolver configured" in str(nothing.error)


async def test_the_next_system_server_is_asked_when_one_fails(
    resolver: DnsServer, nursery: trio.Nursery
) -> None:
    broken = await serve_dns(nursery)
    broken.silent = True
    spec = DnsSpec(name="www.example.test", timeout=2)
    result = await check_dns(spec, ANY, [("127.0.0.1", broken.port), ("127.0.0.1", resolver.port)])
    assert result.outcome == "up", result.error
    assert broken.asked and resolver.asked


async def test_a_resolver_in_a_refused_network_is_never_asked(resolver: DnsServer) -> None:
    spec = parse_spec(
        "dns", {"name": "www.example.test", "resolver": "localhost", "resolver_port": resolver.port}
    )
    assert isinstance(spec, DnsSpec)
    result = await check_dns(spec, NetworkRule.parse("public,private"))
    assert result.outcome == "down"
    assert "localhost (127.0.0.1" in str(result.error)
    assert "does not connect to" in str(result.error)
    assert resolver.asked == []
