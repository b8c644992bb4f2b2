"""Check settings: what is accepted, what is refused (and which field is named), round trips."""

from __future__ import annotations

import re
from typing import Any

import httpx
import idna
import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.domain.specs import (
    HttpMethod,
    HttpSpec,
    TcpSpec,
    TlsSpec,
    parse_spec,
    spec_to_dict,
)
from server.errors import ValidationError

URL = "https://status.example.com/health"


def refused(kind: str, data: Any, **kw: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_spec(kind, data, **kw)
    return info.value


class TestHttp:
    def test_defaults(self) -> None:
        spec = parse_spec("http", {"url": URL})
        assert spec == HttpSpec(url=URL)
        assert isinstance(spec, HttpSpec)
        assert spec.method is HttpMethod.GET
        assert spec.headers == {} and spec.body is None
        assert spec.expected_status == ["200-399"]
        assert spec.keyword is None and spec.keyword_absent is False
        assert spec.json_path is None and spec.json_expected is None
        assert spec.timeout == 10.0 and spec.degraded_ms is None
        assert spec.follow_redirects is True and spec.verify_tls is True

    def test_everything_given(self) -> None:
        data = {
            "url": "http://10.0.0.5:8080/api?x=1",
            "method": "POST",
            "headers": {"Authorization": "Bearer abc", "X-Trace": ""},
            "body": '  {"ping": true}\n',
            "expected_status": ["200", "300-308"],
            "keyword": "ok",
            "keyword_absent": True,
            "json_path": "items.0.ok",
            "json_expected": True,
            "timeout": 2.5,
            "degraded_ms": 800,
            "follow_redirects": False,
            "verify_tls": False,
        }
        spec = parse_spec("http", data)
        assert isinstance(spec, HttpSpec)
        assert spec.method is HttpMethod.POST
        assert spec.body == '  {"ping": true}\n'  # a body keeps its whitespace
        assert spec.status_ranges() == [(200, 200), (300, 308)]
        assert spec.json_expected == "true"
        assert spec.timeout == 2.5

    @pytest.mark.parametrize(
        ("given", "kept"),
        [("ok", "ok"), (42, "42"), (1.5, "1.5"), (False, "false"), ("null", "null")],
    )
    def test_json_expected_is_kept_as_text(self, given: Any, kept: str) -> None:
        spec = parse_spec("http", {"url": URL, "json_path": "a", "json_expected": given})
        assert isinstance(spec, HttpSpec) and spec.json_expected == kept

    def test_whole_seconds_become_float(self) -> None:
        spec = parse_spec("http", {"url": URL, "timeout": 3})
        assert isinstance(spec, HttpSpec)
        assert spec.timeout == 3.0 and isinstance(spec.timeout, float)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"url": 5}, "url"),
            ({"url": "ftp://example.com/"}, "url"),
            ({"url": "example.com"}, "url"),
            ({"url": "https://"}, "url"),
            ({"url": "http://:80/"}, "url"),
            ({"url": "http://[::1/"}, "url"),
            ({"url": "https://example.com/" + "a" * 2000}, "url"),
            ({"method": "get"}, "method"),
            ({"method": "TRACE"}, "method"),
            ({"headers": ["X-A"]}, "headers"),
            ({"headers": {"Bad Name": "x"}}, "headers key"),
            ({"headers": {"X-A": "one\r\nX-B: two"}}, "headers.X-A"),
            ({"headers": {"X-A": 1}}, "headers.X-A"),
            ({"headers": {"X-A": "grün"}}, "headers.X-A"),
            ({"headers": {"Content-Length": "5"}}, "headers.Content-Length"),
            ({"headers": {"transfer-encoding": "chunked"}}, "headers.transfer-encoding"),
            ({"headers": {f"X-{i}": "v" for i in range(51)}}, "headers"),
            ({"body": 12}, "body"),
            ({"body": "x" * (100 * 1024 + 1)}, "body"),
            ({"expected_status": "200"}, "expected_status"),
            ({"expected_status": []}, "expected_status"),
            ({"expected_status": [200]}, "expected_status[0]"),
            ({"expected_status": ["200", "2xx"]}, "expected_status[1]"),
            ({"expected_status": ["299-200"]}, "expected_status[0]"),
            ({"expected_status": ["600"]}, "expected_status[0]"),
            ({"expected_status": ["099"]}, "expected_status[0]"),
            ({"keyword": ""}, "keyword"),
            ({"keyword": "k" * 1001}, "keyword"),
            ({"keyword_absent": True}, "keyword_absent"),
            ({"keyword_absent": "yes", "keyword": "x"}, "keyword_absent"),
            ({"json_path": "a..b"}, "json_path"),
            ({"json_path": ".a"}, "json_path"),
            ({"json_path": "a b"}, "json_path"),
            ({"json_expected": "x"}, "json_expected"),
            ({"json_path": "a", "json_expected": [1]}, "json_expected"),
            ({"json_path": "a", "json_expected": {"a": 1}}, "json_expected"),
            ({"timeout": 0.5}, "timeout"),
            ({"timeout": 61}, "timeout"),
            ({"timeout": "10"}, "timeout"),
            ({"timeout": True}, "timeout"),
            ({"timeout": None}, "timeout"),
            ({"timeout": float("nan")}, "timeout"),
            ({"degraded_ms": 0}, "degraded_ms"),
            ({"degraded_ms": 60_001}, "degraded_ms"),
            ({"degraded_ms": 1.5}, "degraded_ms"),
            ({"follow_redirects": 1}, "follow_redirects"),
            ({"verify_tls": None}, "verify_tls"),
            ({"method": "HEAD", "keyword": "ok"}, "keyword"),
            ({"method": "HEAD", "json_path": "ok"}, "json_path"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        error = refused("http", data if "url" in data else {"url": URL, **data})
        assert error.field == field, error.message
        assert error.message.startswith(field) or field in error.message

    def test_missing_url_is_named(self) -> None:
        assert refused("http", {"method": "GET"}).field == "url"

    def test_prefix_goes_before_every_field(self) -> None:
        assert refused("http", {"url": "ftp://x"}, prefix="spec.").field == "spec.url"
        assert refused("http", {"url": URL, "timeout": 0}, prefix="spec.").field == "spec.timeout"
        error = refused("http", {"url": URL, "expected_status": ["700"]}, prefix="spec.")
        assert error.field == "spec.expected_status[0]"
        assert refused("http", {"url": URL, "x": 1}, prefix="spec.").field == "spec.x"
        assert refused("http", [], prefix="spec.").field == "spec"

    def test_messages_say_what_is_wrong(self) -> None:
        assert refused("http", {"url": "ftp://x"}).message == (
            "url must be an http:// or https:// URL; got 'ftp://x'"
        )
        assert refused("http", {"url": URL, "timeout": 90}).message == (
            "timeout must be between 1 and 60 seconds"
        )
        assert refused("http", {"url": URL, "keyword_absent": True}).message == (
            "keyword_absent needs a keyword to look for"
        )

    @pytest.mark.parametrize("url", ["http://xn--a/", "https://xn--ab-.example/x"])
    def test_an_a_label_that_does_not_decode_is_refused(self, url: str) -> None:
        """Not a crash of the organization's actor: the client could not read it either."""
        error = refused("http", {"url": url})
        assert error.field == "url" and "does not decode" in error.message


class TestTcpAndTls:
    def test_tcp(self) -> None:
        spec = parse_spec("tcp", {"host": "db.internal", "port": 5432})
        assert spec == TcpSpec(host="db.internal", port=5432)
        assert isinstance(spec, TcpSpec) and spec.timeout == 10.0 and spec.degraded_ms is None

    def test_tls_defaults(self) -> None:
        spec = parse_spec("tls", {"host": "example.com"})
        assert spec == TlsSpec(host="example.com")
        assert isinstance(spec, TlsSpec)
        assert (spec.port, spec.days_before_expiry, spec.server_name) == (443, 14, None)

    @pytest.mark.parametrize(
        "host",
        [
            "example.com",
            "example.com.",
            "a",
            "my_service",
            "10.0.0.1",
            "::1",
            "2001:db8::5",
            "xn--bcher-kva.example",
        ],
    )
    def test_hosts(self, host: str) -> None:
        assert parse_spec("tcp", {"host": host, "port": 1}) == TcpSpec(host=host, port=1)

    @pytest.mark.parametrize(
        "host", ["", "-bad.com", "a b", "http://x", "[::1]", "::g", "1:2:3", "a" * 254, "host/path"]
    )
    def test_bad_hosts(self, host: str) -> None:
        assert refused("tcp", {"host": host, "port": 80}).field == "host"
        assert refused("tls", {"host": "ok.com", "server_name": host}).field == "server_name"

    @pytest.mark.parametrize(
        ("kind", "data", "field"),
        [
            ("tcp", {"host": "a"}, "port"),
            ("tcp", {"port": 80}, "host"),
            ("tcp", {"host": "a", "port": 0}, "port"),
            ("tcp", {"host": "a", "port": 65_536}, "port"),
            ("tcp", {"host": "a", "port": "80"}, "port"),
            ("tcp", {"host": "a", "port": 80, "timeout": 100}, "timeout"),
            ("tcp", {"host": "a", "port": 80, "degraded_ms": 0}, "degraded_ms"),
            ("tcp", {"host": "a", "port": 80, "url": URL}, "url"),
            ("tls", {"host": "a", "days_before_expiry": 0}, "days_before_expiry"),
            ("tls", {"host": "a", "days_before_expiry": 366}, "days_before_expiry"),
            ("tls", {"host": "a", "timeout": 0}, "timeout"),
            ("tls", {"host": "a", "degraded_ms": 5}, "degraded_ms"),
        ],
    )
    def test_refused(self, kind: str, data: dict[str, Any], field: str) -> None:
        assert refused(kind, data).field == field

    @pytest.mark.parametrize("kind", ["heartbeat", "HTTP", "icmp", ""])
    def test_unknown_kind(self, kind: str) -> None:
        error = refused(kind, {})
        assert error.field == "kind"
        assert "http, tcp, tls" in error.message


class TestRoundTrip:
    @pytest.mark.parametrize(
        ("kind", "data"),
        [
            ("http", {"url": URL}),
            (
                "http",
                {
                    "url": URL,
                    "method": "PUT",
                    "headers": {"X-Key": "v"},
                    "body": "a\n",
                    "expected_status": ["204"],
                    "keyword": "up",
                    "keyword_absent": True,
                    "json_path": "a.b",
                    "json_expected": 3,
                    "timeout": 1.5,
                    "degraded_ms": 100,
                    "follow_redirects": False,
                    "verify_tls": False,
                },
            ),
            ("tcp", {"host": "::1", "port": 22, "degraded_ms": 50}),
            ("tls", {"host": "1.2.3.4", "server_name": "example.com", "days_before_expiry": 30}),
        ],
    )
    def test_through_json(self, kind: str, data: dict[str, Any]) -> None:
        spec = parse_spec(kind, data)
        stored = orjson.loads(orjson.dumps(spec_to_dict(spec)))
        assert parse_spec(kind, stored) == spec
        assert spec_to_dict(parse_spec(kind, stored)) == stored

    def test_every_field_is_written(self) -> None:
        out = spec_to_dict(parse_spec("tls", {"host": "example.com"}))
        assert out == {
            "host": "example.com",
            "port": 443,
            "days_before_expiry": 14,
            "timeout": 10.0,
            "server_name": None,
        }

    def test_dict_is_a_copy(self) -> None:
        spec = parse_spec("http", {"url": URL, "headers": {"A": "b"}})
        out = spec_to_dict(spec)
        out["headers"]["A"] = "changed"
        out["expected_status"].append("500")
        assert isinstance(spec, HttpSpec)
        assert spec.headers == {"A": "b"} and spec.expected_status == ["200-399"]
        assert out["method"] == "GET" and type(out["method"]) is str


UNDECODABLE = "an A-label that does not decode"  # httpx raises; the spec refuses


def told_by_the_client(url: str) -> object:
    """What the URL check said when it asked httpx, the client that sends the
    requests: its refusal, or that there is no host (or what it raised)."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as exc:
        return f"url is not a valid URL: {exc}"
    except idna.IDNAError:
        return UNDECODABLE
    except Exception as exc:
        return type(exc)
    return None if host else f"url must name a host; got {url!r}"


def told_by_the_spec(url: str) -> object:
    try:
        parse_spec("http", {"url": url})
    except ValidationError as exc:
        return UNDECODABLE if "does not decode" in exc.message else exc.message
    except Exception as exc:
        return type(exc)
    return None


# Pieces of URLs the schema lets through (http or https, no whitespace, no
# control character but DEL), chosen where httpx's reading of a URL can fail.
_HOST_CHARS = "abzAZ09-._~!$&'()*+,;=\"`{}%|\\<>[]^:@\x7füßé中\u0300\u200d\U0001f600"
_hosts = st.one_of(
    st.text(_HOST_CHARS, max_size=12),
    st.builds("xn--{}".format, st.text("abz09-.%^é", max_size=8)),
    st.builds("{}.{}.{}.{}".format, *[st.integers(0, 999) for _ in range(4)]),
    st.builds("[{}]".format, st.text("0123456789abcdefg:.%z", max_size=16)),
    st.lists(
        st.sampled_from(["a", "B", "xn--bcher-kva", "ü", "-a", "a-", "", "1"]), max_size=4
    ).map(".".join),
)
_urls = st.builds(
    "{}://{}{}{}{}".format,
    st.sampled_from(["http", "https", "HTTP", "hTtPs"]),
    st.sampled_from(["", "user@", "u:p@", "a@b@"]),
    _hosts,
    st.one_of(st.just(""), st.text("0123456789+-_x٨:", max_size=6).map(":{}".format)),
    st.sampled_from(["", "/", "/a/../b?q=1#f", "?x", "#y"]),
)


class TestTheUrlAsTheClientReadsIt:
    """The URL check is the client's own reading of a URL, ported so that it
    needs no HTTP library: for any URL the schema lets through it says what
    asking httpx said."""

    @pytest.mark.parametrize(
        "url",
        [
            URL,
            "HTTP://A/",
            "http://a:99999/",
            "http://a:+80/",
            "http://a:x/",
            "http://1.2.3.999/",
            "http://1.2.3.4:8080/",
            "http://[::1/",
            "http://[zz]/",
            "http://[::1]:80/",
            "http://ü.com/",
            "http://a..ü/",
            "http://xn--bcher-kva.example/",
            "http:///x",
            "http://:80/",
            "http://u@/",
            "http://a@b@c:1/",
            "http://%zz/",
            "http://a\x7f/",
            "http://a^b/",
        ],
    )
    def test_known_urls(self, url: str) -> None:
        assert told_by_the_spec(url) == told_by_the_client(url)

    @settings(max_examples=2_000, deadline=None)
    @given(url=_urls)
    def test_any_url(self, url: str) -> None:
        assume(re.fullmatch(r"https?://\S+", url, re.IGNORECASE))  # else the schema refuses it
        assert told_by_the_spec(url) == told_by_the_client(url)
