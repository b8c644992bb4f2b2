"""Check settings of the DNS, ping, WebSocket, PostgreSQL and gRPC kinds:
what is accepted, what is refused (and which field is named), round trips,
and what members are shown of a DSN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from server.domain.dsn import DsnError, SslMode, parse_dsn, shown_dsn
from server.domain.monitor_rules import target
from server.domain.monitors import Monitor, MonitorKind, MonitorPolicy, kept_secrets, shown_spec
from server.domain.specs import (
    DnsSpec,
    GrpcSpec,
    Match,
    PingSpec,
    PostgresSpec,
    RecordType,
    WebSocketSpec,
    dns_matches,
    dns_value,
    parse_spec,
    spec_to_dict,
    ws_target,
)
from server.domain.values import ServiceStatus
from server.errors import ValidationError

DSN = "postgresql://app:s3cret%40pw@db.internal:6432/orders?sslmode=verify-full"


def refused(kind: str, data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_spec(kind, data, prefix="spec.")
    return info.value


class TestDns:
    def test_defaults(self) -> None:
        spec = parse_spec("dns", {"name": "example.com"})
        assert spec == DnsSpec(name="example.com")
        assert isinstance(spec, DnsSpec)
        assert spec.record_type is RecordType.A and spec.resolver is None
        assert (spec.resolver_port, spec.expected, spec.match) == (53, [], Match.ANY)

    def test_everything_given(self) -> None:
        data = {
            "name": "_sip._tcp.example.com.",
            "record_type": "MX",
            "resolver": "10.0.0.53",
            "resolver_port": 5353,
            "expected": ["10 mail.example.com", "backup.example.com."],
            "match": "all",
            "timeout": 2,
            "degraded_ms": 300,
        }
        spec = parse_spec("dns", data)
        assert isinstance(spec, DnsSpec)
        assert spec.record_type is RecordType.MX and spec.match is Match.ALL
        assert spec.resolver == "10.0.0.53" and spec.resolver_port == 5353

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"name": ""}, "spec.name"),
            ({"name": "::1"}, "spec.name"),
            ({"name": "a b.example"}, "spec.name"),
            ({"record_type": "SRV"}, "spec.record_type"),
            ({"record_type": "a"}, "spec.record_type"),
            ({"resolver": "8.8.8.8:53"}, "spec.resolver"),
            ({"resolver": "1:2:3"}, "spec.resolver"),
            ({"resolver_port": 0}, "spec.resolver_port"),
            ({"expected": "1.2.3.4"}, "spec.expected"),
            ({"expected": ["1.2.3.4", "1.2.3"]}, "spec.expected[1]"),
            ({"record_type": "AAAA", "expected": ["1.2.3.4"]}, "spec.expected[0]"),
            ({"record_type": "CNAME", "expected": ["not a name"]}, "spec.expected[0]"),
            ({"record_type": "MX", "expected": ["ten mail.example.com"]}, "spec.expected[0]"),
            ({"expected": ["1.1.1.1"] * 21}, "spec.expected"),
            ({"match": "all"}, "spec.match"),
            ({"match": "some", "expected": ["1.1.1.1"]}, "spec.match"),
            ({"timeout": 0}, "spec.timeout"),
            ({"port": 53}, "spec.port"),
        ],
    )
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        error = refused("dns", {"name": "example.com", **data})
        assert error.field == field, error.message
        assert error.message.startswith(field) or repr(field.removeprefix("spec.")) in error.message

    def test_values_are_compared_in_their_plain_form(self) -> None:
        assert dns_value(RecordType.AAAA, "2001:DB8:0::1") == "2001:db8::1"
        assert dns_value(RecordType.CNAME, "Edge.Example.COM.") == "edge.example.com"
        assert dns_value(RecordType.MX, "010  Mail.example.com.") == "10 mail.example.com"
        assert dns_value(RecordType.TXT, "v=spf1 -all") == "v=spf1 -all"
        # An MX value without its preference matches the exchange alone.
        assert dns_matches(RecordType.MX, "mail.example.com", "10 mail.example.com")
        assert not dns_matches(RecordType.MX, "20 mail.example.com", "10 mail.example.com")
        assert not dns_matches(RecordType.NS, "example.com", "ns.example.com")


class TestPing:
    def test_defaults(self) -> None:
        spec = parse_spec("ping", {"host": "10.0.0.1"})
        assert spec == PingSpec(host="10.0.0.1", count=3, timeout=10.0)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"host": "no host"}, "spec.host"),
            ({"host": "[::1]"}, "spec.host"),
            ({"host": "a", "count": 0}, "spec.count"),
            ({"host": "a", "count": 11}, "spec.count"),
            ({"host": "a", "port": 7}, "spec.port"),
            ({}, "spec.host"),
        ],
    )
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        assert refused("ping", data).field == field


class TestWebSocket:
    def test_defaults(self) -> None:
        spec = parse_spec("websocket", {"url": "wss://example.com/live"})
        assert spec == WebSocketSpec(url="wss://example.com/live")

    def test_send_keeps_its_whitespace_and_a_pattern_is_kept(self) -> None:
        spec = parse_spec(
            "websocket",
            {"url": "ws://10.0.0.2:9000/", "send": ' {"op": "ping"}\n', "expect_regex": r"pong|ok"},
        )
        assert isinstance(spec, WebSocketSpec)
        assert spec.send == ' {"op": "ping"}\n' and spec.expect_regex == "pong|ok"

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"url": "http://example.com/"}, "spec.url"),
            ({"url": "ws://"}, "spec.url"),
            ({"url": "ws://user:pw@example.com/"}, "spec.url"),
            ({"url": "ws://example.com:99999/"}, "spec.url"),
            ({"url": "ws://[::g]/"}, "spec.url"),
            ({"headers": {"Sec-WebSocket-Key": "x"}}, "spec.headers.Sec-WebSocket-Key"),
            ({"headers": {"Host": "x"}}, "spec.headers.Host"),
            ({"send": ""}, "spec.send"),
            ({"send": 5}, "spec.send"),
            ({"send": "x" * (64 * 1024 + 1)}, "spec.send"),
            ({"expect_regex": "(unclosed"}, "spec.expect_regex"),
            ({"expect_regex": r"(a)\1"}, "spec.expect_regex"),  # no backreferences in RE2
            ({"expect_regex": "a", "expect": "b"}, "spec.expect_regex"),
            ({"expect": ""}, "spec.expect"),
            ({"verify_tls": "no"}, "spec.verify_tls"),
        ],
    )
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        error = refused("websocket", {"url": "ws://example.com/", **data})
        assert error.field == field, error.message

    def test_a_bad_pattern_is_named_in_words(self) -> None:
        error = refused("websocket", {"url": "ws://a/", "expect_regex": "(x"})
        assert error.message.startswith("spec.expect_regex is not a valid regular expression")
        assert "missing )" in error.message

    @pytest.mark.parametrize(
        ("url", "secure", "host", "port", "resource", "authority"),
        [
            ("ws://example.com", False, "example.com", 80, "/", "example.com"),
            ("wss://Example.COM/a/b?c=1#frag", True, "example.com", 443, "/a/b?c=1", "example.com"),
            ("ws://10.0.0.1:8080?x", False, "10.0.0.1", 8080, "/?x", "10.0.0.1:8080"),
            ("wss://[::1]:9443/s", True, "::1", 9443, "/s", "[::1]:9443"),
            ("ws://bücher.example/", False, "xn--bcher-kva.example", 80, "/", None),
        ],
    )
    def test_targets(
        self,
        url: str,
        secure: bool,
        host: str,
        port: int,
        resource: str,
        authority: str | None,
    ) -> None:
        target = ws_target(url)
        assert (target.secure, target.host, target.port, target.resource) == (
            secure,
            host,
            port,
            resource,
        )
        assert target.authority == (authority or host)


class TestPostgres:
    def test_the_dsn_is_read(self) -> None:
        dsn = parse_dsn(DSN)
        assert (dsn.host, dsn.port, dsn.user, dsn.password, dsn.database) == (
            "db.internal",
            6432,
            "app",
            "s3cret@pw",
            "orders",
        )
        assert dsn.sslmode is SslMode.VERIFY_FULL
        defaults = parse_dsn("postgres://monitor@[2001:db8::7]")
        assert (defaults.host, defaults.port, defaults.database) == ("2001:db8::7", 5432, "monitor")
        assert defaults.password is None and defaults.sslmode is SslMode.PREFER

    def test_spec(self) -> None:
        spec = parse_spec("postgres", {"dsn": DSN, "timeout": 3})
        assert spec == PostgresSpec(dsn=DSN, timeout=3.0)

    @pytest.mark.parametrize(
        ("dsn", "words"),
        [
            ("host=db user=app", "key=value form"),
            ("mysql://app@db/x", "must be a URL"),
            ("postgresql://db/x", "must name a user"),
            ("postgresql://app:pw@/x?host=/var/run/postgresql", "must name a host"),
            ("postgresql://app:pw@%2Fvar%2Frun%2Fpostgresql/x", "TCP host"),
            ("postgresql://app:pw@a,b/x", "one host"),
            ("postgresql://app:pw@db:port/x", "not a number"),
            ("postgresql://app:pw@db:70000/x", "outside"),
            ("postgresql://app:pw@db/x?sslrootcert=/etc/ssl/key.pem", "sslrootcert"),
            ("postgresql://app:pw@db/x?passfile=/root/.pgpass", "passfile"),
            ("postgresql://app:pw@db/x?sslmode=sometimes", "sslmode"),
            ("postgresql://app:pw@db/x/y", "one database"),
            ("postgresql://app:pw@db bad/x", "spaces"),
            ("postgresql://app:pw@[::g]/x", "IPv6"),
        ],
    )
    def test_refused_without_repeating_it(self, dsn: str, words: str) -> None:
        error = refused("postgres", {"dsn": dsn})
        assert error.field == "spec.dsn" and words in error.message, error.message
        assert "pw" not in error.message

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({}, "spec.dsn"),
            ({"dsn": 5}, "spec.dsn"),
            ({"dsn": DSN, "query": "SELECT 2"}, "spec.query"),
            ({"dsn": DSN, "timeout": 61}, "spec.timeout"),
        ],
    )
    def test_refused_fields(self, data: dict[str, Any], field: str) -> None:
        assert refused("postgres", data).field == field

    def test_members_see_it_without_its_password(self) -> None:
        stored = spec_to_dict(parse_spec("postgres", {"dsn": DSN}))
        shown = shown_spec(stored)
        assert "dsn" not in shown and "s3cret" not in str(shown)
        assert shown["dsn_shown"] == (
            "postgresql://app:***@db.internal:6432/orders?sslmode=verify-full"
        )
        assert shown_dsn("postgresql://app@db/x") == "postgresql://app@db:5432/x?sslmode=prefer"
        assert shown_dsn("not a dsn at all, with a password") == "***"

    def test_an_update_that_does_not_restate_it_keeps_it(self) -> None:
        stored = spec_to_dict(parse_spec("postgres", {"dsn": DSN}))
        shown = shown_spec(stored)
        assert kept_secrets(stored, {**shown, "timeout": 5})["dsn"] == DSN
        assert kept_secrets(stored, {**shown, "dsn": None})["dsn"] == DSN
        moved = "postgresql://app:new@db2.internal/orders"
        assert kept_secrets(stored, {**shown, "dsn": moved})["dsn"] == moved

    def test_errors_are_words(self) -> None:
        with pytest.raises(DsnError, match="must name a user"):
            parse_dsn("postgresql://db.internal/x")


class TestGrpc:
    def test_defaults(self) -> None:
        spec = parse_spec("grpc", {"host": "api.internal", "port": 50051})
        assert spec == GrpcSpec(host="api.internal", port=50051)
        assert isinstance(spec, GrpcSpec)
        assert (spec.service, spec.tls, spec.verify_tls, spec.server_name) == (
            "",
            False,
            True,
            None,
        )

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"port": None}, "spec.port"),
            ({"service": "my service"}, "spec.service"),
            ({"service": "a/b"}, "spec.service"),
            ({"server_name": "api.example.com"}, "spec.server_name"),
            ({"verify_tls": False}, "spec.verify_tls"),
            ({"tls": True, "server_name": "bad name"}, "spec.server_name"),
            ({"tls": 1}, "spec.tls"),
        ],
    )
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        error = refused("grpc", {"host": "a", "port": 1, **data})
        assert error.field == field, error.message


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (
            "dns",
            {
                "name": "example.com",
                "record_type": "TXT",
                "resolver": "::1",
                "expected": [" v=spf1 -all"],
                "match": "all",
            },
        ),
        ("ping", {"host": "example.com", "count": 5, "degraded_ms": 100}),
        (
            "websocket",
            {
                "url": "wss://example.com/x",
                "headers": {"Authorization": "Bearer t"},
                "send": "hi\n",
                "expect": "hello",
                "verify_tls": False,
            },
        ),
        ("postgres", {"dsn": DSN, "degraded_ms": 50}),
        (
            "grpc",
            {"host": "::1", "port": 9, "service": "a.B", "tls": True, "server_name": "x.test"},
        ),
    ],
)
def test_round_trip_through_json(kind: str, data: dict[str, Any]) -> None:
    spec = parse_spec(kind, data)
    stored = orjson.loads(orjson.dumps(spec_to_dict(spec)))
    assert parse_spec(kind, stored) == spec
    assert spec_to_dict(parse_spec(kind, stored)) == stored


@pytest.mark.parametrize(
    ("kind", "data", "shown"),
    [
        ("dns", {"name": "example.com", "record_type": "MX"}, "example.com MX"),
        ("ping", {"host": "10.0.0.1"}, "10.0.0.1"),
        ("websocket", {"url": "wss://example.com/live?key=k"}, "wss://example.com/live"),
        ("postgres", {"dsn": DSN}, "db.internal:6432/orders"),
        ("grpc", {"host": "api.internal", "port": 50051}, "api.internal:50051"),
    ],
)
def test_alerts_name_the_target_without_its_secrets(
    kind: str, data: dict[str, Any], shown: str
) -> None:
    now = datetime.now(UTC)
    monitor = Monitor(
        id="m1",
        name="M",
        service_id="s1",
        kind=MonitorKind(kind),
        spec=spec_to_dict(parse_spec(kind, data)),
        interval=30,
        regions=(),
        quorum=1,
        down_after=2,
        up_after=2,
        policy=MonitorPolicy.STATUS,
        down_status=ServiceStatus.MAJOR_OUTAGE,
        grace=60,
        paused=False,
        created_at=now,
        updated_at=now,
    )
    assert target(monitor) == shown
