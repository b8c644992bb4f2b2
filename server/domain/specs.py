"""What an uptime check looks at: typed records read from a monitor's JSON ``spec``.

A monitor stores its settings as a JSON object whose shape depends on its kind
(``http``, ``tcp``, ``tls``, ``dns``, ``ping``, ``websocket``, ``postgres`` or
``grpc``). :func:`parse_spec` turns that object into one
of the frozen records below, refusing anything a probe could not act on with a
:class:`~server.errors.ValidationError` that names the field, and
:func:`spec_to_dict` turns a record back into the same JSON (the two
round-trip), so what is stored is always what was checked.

Most fields are checked by :mod:`server.domain.schema`; the few it cannot
express (seconds as a fractional number, a request body whose whitespace
matters, a JSON scalar of any type) carry their own converter in the field's
metadata, and rules that tie fields together are checked after parsing.

The records are the domain's (the monitors' rules check a spec when it is
set; the probes in server/monitoring act on it), and like the rest of the
domain they need nothing that does I/O: a URL is read as httpx, the client
the checks send with, reads it, without httpx (tests/monitoring/test_specs.py
holds the two to the same answers).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Annotated, Any, Final, TypeAlias

import idna
import orjson
import re2

from ..errors import ValidationError
from .dsn import DsnError, parse_dsn
from .schema import Items, Range, Text, check_chars, parse


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


# A DNS name (labels of letters, digits, hyphens and, for internal names,
# underscores), an IPv4 address, or an IPv6 address without brackets (the
# last is confirmed with ipaddress after parsing).
HOST_PATTERN: Final = (
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
    r"|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"
)
HOST_HINT: Final = "must be a host name or an IP address (IPv6 without brackets)"
# RFC 9110 token characters.
HEADER_NAME_PATTERN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
STATUS_PATTERN: Final = r"\d{3}(?:-\d{3})?"
JSON_PATH_PATTERN: Final = r"[^.\s]+(?:\.[^.\s]+)*"

MAX_BODY_BYTES: Final = 100 * 1024
MAX_EXPECTED_TEXT: Final = 1_000
# Headers that frame the message or manage the connection: the HTTP client
# sets these itself, and a stale value would corrupt the request.
FRAMING_HEADERS: Final = frozenset(
    {"connection", "content-length", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)

Host: TypeAlias = Annotated[str, Text(1, 253, HOST_PATTERN, HOST_HINT)]
Port: TypeAlias = Annotated[int, Range(1, 65_535)]
DegradedMs: TypeAlias = Annotated[int, Range(1, 60_000)]
Url: TypeAlias = Annotated[
    str, Text(1, 2_000, r"(?i)https?://\S+", "must be an http:// or https:// URL")
]
HeaderName: TypeAlias = Annotated[
    str, Text(1, 100, HEADER_NAME_PATTERN, "must be an HTTP header name")
]
HeaderValue: TypeAlias = Annotated[
    str,
    # HTTP/1.1 carries header values as bytes; httpx sends them as ASCII.
    Text(0, 4_000, r"[\t\x20-\x7e]*", "must be printable ASCII, without line breaks", lines=True),
]
Headers: TypeAlias = Annotated[dict[HeaderName, HeaderValue], Items(50)]
StatusCodes: TypeAlias = Annotated[
    str, Text(3, 7, STATUS_PATTERN, 'must be a status code like "200" or a range like "200-299"')
]
ExpectedStatus: TypeAlias = Annotated[list[StatusCodes], Items(20)]
Keyword: TypeAlias = Annotated[str, Text(1, 1_000, lines=True)]
JsonPath: TypeAlias = Annotated[
    str, Text(1, 500, JSON_PATH_PATTERN, "must be a dotted path like status.db or items.0.ok")
]

Check: TypeAlias = Callable[[Any, str], Any]


def _seconds(lo: float, hi: float) -> Check:
    """A duration in seconds; the schema only knows integers, and 0.5 s is useful."""

    def check(value: Any, where: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationError(f"{where} must be a number of seconds", field=where)
        if not lo <= value <= hi:
            raise ValidationError(f"{where} must be between {lo:g} and {hi:g} seconds", field=where)
        return float(value)

    return check


def _body(value: Any, where: str) -> str | None:
    """A request body, kept as given: unlike other text, its whitespace may matter."""
    return _as_given(value, where, MAX_BODY_BYTES)


def _as_given(value: Any, where: str, max_bytes: int) -> str | None:
    """Text kept as given, whitespace and all, of at most ``max_bytes`` bytes."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string", field=where)
    check_chars(value, where)
    size = len(value.encode())
    if size > max_bytes:
        raise ValidationError(
            f"{where} must be at most {max_bytes:,} bytes (got {size:,})", field=where
        )
    return value


def _json_text(value: Any, where: str) -> str | None:
    """Any JSON scalar, held as the text it is compared by (see :func:`json_text`)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where} must be a finite number", field=where)
    if not isinstance(value, str | int | float):  # bool is an int
        raise ValidationError(f"{where} must be a string, a number or true/false", field=where)
    text = check_chars(json_text(value), where)
    if len(text) > MAX_EXPECTED_TEXT:
        raise ValidationError(
            f"{where} must be at most {MAX_EXPECTED_TEXT:,} characters (got {len(text):,})",
            field=where,
        )
    return text


def json_text(value: Any) -> str:
    """The text a JSON value is compared by: a string as itself, anything else
    as compact JSON (``true``, ``null``, ``42``, ``1.5``, ``{"a":1}``)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _own(check: Check, default: Any = None) -> Any:
    """A field read by its own converter rather than by the schema."""
    return field(default=default, metadata={"parse": "as_is", "check": check})


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """An HTTP(S) request and what its answer must look like to count as up.

    ``expected_status`` lists codes (``"204"``) and inclusive ranges
    (``"200-299"``); any match will do. ``keyword`` must appear in the body
    (case-sensitive), or must not when ``keyword_absent``. ``json_path`` names
    a value in a JSON body by keys and list indexes (``items.0.ok``): it must
    exist and, when ``json_expected`` is given, equal it compared as text, a
    string as itself and anything else as JSON (``true``, ``42``, ``null``),
    so ``json_expected`` may be given as ``42`` or ``"42"`` alike. An answer
    that passes but took longer than ``degraded_ms`` counts as degraded.
    """

    url: Url
    method: HttpMethod = HttpMethod.GET
    headers: Headers = field(default_factory=dict)
    body: str | None = _own(_body)
    expected_status: ExpectedStatus = field(default_factory=lambda: ["200-399"])
    keyword: Keyword | None = None
    keyword_absent: bool = False
    json_path: JsonPath | None = None
    json_expected: str | None = _own(_json_text)
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None
    follow_redirects: bool = True
    verify_tls: bool = True

    def status_ranges(self) -> list[tuple[int, int]]:
        """``expected_status`` as inclusive ``(low, high)`` pairs."""
        out = []
        for item in self.expected_status:
            low, _, high = item.partition("-")
            out.append((int(low), int(high or low)))
        return out


@dataclass(frozen=True, slots=True)
class TcpSpec:
    """A TCP port that must accept a connection."""

    host: Host
    port: Port
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None


@dataclass(frozen=True, slots=True)
class TlsSpec:
    """A TLS endpoint whose certificate must be trusted, match the name and not
    expire within ``days_before_expiry`` days (else degraded).

    ``server_name`` is the name sent (SNI) and verified, when it differs from
    the address connected to.
    """

    host: Host
    port: Port = 443
    days_before_expiry: Annotated[int, Range(1, 365)] = 14
    timeout: float = _own(_seconds(1, 60), 10.0)
    server_name: Host | None = None


class RecordType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"
    MX = "MX"
    TXT = "TXT"
    NS = "NS"


class Match(StrEnum):
    ANY = "any"  # at least one expected value is among the records
    ALL = "all"  # every expected value is among the records


# A domain name: the host pattern without its IP address part (an address is
# a name too, to DNS, but never the one meant).
DOMAIN_PATTERN: Final = HOST_PATTERN.split("|", 1)[0]
DomainName: TypeAlias = Annotated[
    str, Text(1, 253, DOMAIN_PATTERN, "must be a domain name like www.example.com")
]
ExpectedValue: TypeAlias = Annotated[str, Text(1, MAX_EXPECTED_TEXT)]
ExpectedValues: TypeAlias = Annotated[list[ExpectedValue], Items(20)]


@dataclass(frozen=True, slots=True)
class DnsSpec:
    """A name that must resolve, to records of ``record_type``.

    ``resolver`` (and ``resolver_port``) names the DNS server asked; without
    one, the servers the prober's system uses. ``expected`` values, when
    given, are compared with the records (see :func:`dns_value`): with
    ``match`` ``any`` one of them must be there, with ``all`` every one.
    """

    name: DomainName
    record_type: RecordType = RecordType.A
    resolver: Host | None = None
    resolver_port: Port = 53
    expected: ExpectedValues = field(default_factory=list)
    match: Match = Match.ANY
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None


def dns_value(kind: RecordType, text: str) -> str:
    """A record (or an expected value) as the text it is compared by;
    ValueError if it cannot be one of ``kind``.

    Addresses in their compressed form, names in lower case without the final
    dot, ``MX`` as ``preference exchange`` (an expected value may leave the
    preference out: it then matches the exchange alone), ``TXT`` as its
    strings joined, exactly.
    """
    text = text.strip()
    if kind is RecordType.A:
        return str(ipaddress.IPv4Address(text))
    if kind is RecordType.AAAA:
        return ipaddress.IPv6Address(text).compressed
    if kind is RecordType.TXT:
        return text
    preference = ""
    if kind is RecordType.MX:
        first, _, rest = text.partition(" ")
        if rest:
            if not first.isascii() or not first.isdigit() or int(first) > 65_535:
                raise ValueError("an MX value is an exchange, or a preference and an exchange")
            preference, text = f"{int(first)} ", rest.strip()
    name = text.lower().rstrip(".") if text != "." else "."
    if name != "." and re.fullmatch(DOMAIN_PATTERN, name) is None:
        raise ValueError("not a domain name")
    return preference + name


def dns_matches(kind: RecordType, expected: str, found: str) -> bool:
    """Whether the record ``found`` is the ``expected`` value (both as
    :func:`dns_value` writes them)."""
    if expected == found:
        return True
    return kind is RecordType.MX and " " not in expected and found.partition(" ")[2] == expected


@dataclass(frozen=True, slots=True)
class PingSpec:
    """A host that must answer ICMP echo requests: ``count`` of them are sent;
    all lost is down, some lost (or an average round trip slower than
    ``degraded_ms``) degraded."""

    host: Host
    count: Annotated[int, Range(1, 10)] = 3
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None


MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_PATTERN: Final = 500
WsUrl: TypeAlias = Annotated[
    str, Text(1, 2_000, r"(?i)wss?://\S+", "must be a ws:// or wss:// URL")
]
# What the WebSocket handshake sets itself.
HANDSHAKE_HEADERS: Final = FRAMING_HEADERS | {
    "host",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
}
_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False


def _message(value: Any, where: str) -> str | None:
    """A text message to send, kept as given (its whitespace may matter)."""
    if value == "":
        raise ValidationError(f"{where} must not be empty", field=where)
    return _as_given(value, where, MAX_MESSAGE_BYTES)


def _pattern(value: Any, where: str) -> str | None:
    """A regular expression in RE2's syntax (linear time whatever the text:
    no pattern a member writes can stall a probe)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string", field=where)
    check_chars(value, where)
    if not 0 < len(value) <= MAX_PATTERN:
        raise ValidationError(
            f"{where} must be 1 to {MAX_PATTERN} characters (got {len(value)})", field=where
        )
    try:
        re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0] if exc.args else "invalid"
        if isinstance(why, bytes):
            why = why.decode(errors="replace")
        raise ValidationError(
            f"{where} is not a valid regular expression (RE2 syntax): {why}", field=where
        ) from None
    return value


def compile_pattern(pattern: str) -> Any:
    """A checked pattern (see :func:`_pattern`), compiled."""
    return re2.compile(pattern, _RE2_OPTIONS)


@dataclass(frozen=True, slots=True)
class WebSocketSpec:
    """A WebSocket endpoint whose upgrade must succeed.

    ``send`` is a text message sent once connected; ``expect`` must then be
    found in the first message the server sends (case-sensitive), or
    ``expect_regex`` (RE2 syntax) must match somewhere in it. Only the first
    64 KiB of that message are read.
    """

    url: WsUrl
    headers: Headers = field(default_factory=dict)
    send: str | None = _own(_message)
    expect: Keyword | None = None
    expect_regex: str | None = _own(_pattern)
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class WsTarget:
    secure: bool
    host: str  # as connected to and sent in Host (IDNA-encoded; IPv6 unbracketed)
    port: int
    resource: str  # the path and query

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def ws_target(url: str) -> WsTarget:
    """Where a ``ws://`` or ``wss://`` URL points; ValueError if it names no
    reachable host."""
    scheme, _, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    resource = rest[len(authority) :].split("#", 1)[0] or "/"
    if resource.startswith("?"):
        resource = "/" + resource
    _, at, hostport = authority.rpartition("@")
    if at:
        raise ValueError("credentials in the URL are not accepted (send a header instead)")
    found = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::(\d*))?", hostport)
    if found is None:
        raise ValueError("its host and port cannot be read")
    host, port_text = found[1], found[2]
    if host.startswith("["):
        try:
            host = ipaddress.IPv6Address(host[1:-1]).compressed
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address") from None
    elif not host:
        raise ValueError("it names no host")
    else:
        try:
            host = idna.encode(host.lower().rstrip("."), uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ValueError(f"{host!r} is not a host name") from None
        if re.fullmatch(HOST_PATTERN, host) is None:
            raise ValueError(f"{host!r} is not a host name")
    secure = scheme.lower() == "wss"
    port = int(port_text) if port_text else (443 if secure else 80)
    if not 1 <= port <= 65_535:
        raise ValueError(f"port {port} is outside 1-65535")
    return WsTarget(secure, host, port, resource)


def _dsn(value: Any, where: str) -> str:
    """A PostgreSQL URL (see :mod:`.dsn`); the errors never repeat it."""
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string", field=where)
    try:
        parse_dsn(value)
    except DsnError as exc:
        raise ValidationError(f"{where} {exc}", field=where) from None
    return value


@dataclass(frozen=True, slots=True)
class PostgresSpec:
    """A PostgreSQL server that must accept a connection and answer ``SELECT 1``.

    ``dsn`` is a secret (it holds the password): written, never shown again
    in full.
    """

    dsn: str = field(metadata={"parse": "as_is", "check": _dsn})
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None


GrpcService: TypeAlias = Annotated[
    str,
    Text(
        0,
        200,
        r"[A-Za-z0-9_.]*",
        "must be a service name like my.package.Service, or empty for the whole server",
    ),
]


@dataclass(frozen=True, slots=True)
class GrpcSpec:
    """A gRPC server whose standard health service (``grpc.health.v1.Health``)
    must say SERVING for ``service`` ("": the server as a whole).

    ``tls`` speaks TLS (verified unless ``verify_tls`` is false; the name
    verified is ``server_name`` when given, else ``host``); plaintext HTTP/2
    otherwise.
    """

    host: Host
    port: Port
    service: GrpcService = ""
    tls: bool = False
    verify_tls: bool = True
    server_name: Host | None = None
    timeout: float = _own(_seconds(1, 60), 10.0)
    degraded_ms: DegradedMs | None = None


Spec: TypeAlias = (
    HttpSpec | TcpSpec | TlsSpec | DnsSpec | PingSpec | WebSocketSpec | PostgresSpec | GrpcSpec
)

SPEC_TYPES: Final[dict[str, type[Spec]]] = {
    "http": HttpSpec,
    "tcp": TcpSpec,
    "tls": TlsSpec,
    "dns": DnsSpec,
    "ping": PingSpec,
    "websocket": WebSocketSpec,
    "postgres": PostgresSpec,
    "grpc": GrpcSpec,
}


def parse_spec(kind: str, data: Any, *, prefix: str = "") -> Spec:
    """The settings of a ``kind`` check from JSON, or ValidationError naming the field.

    ``prefix`` is put before field names in errors (``"spec."`` when the
    settings sit inside a monitor).
    """
    cls = SPEC_TYPES.get(kind)
    if cls is None:
        raise ValidationError(
            f"kind must be one of {', '.join(SPEC_TYPES)} to have check settings; got {kind!r}",
            field="kind",
        )
    where = f"the {kind} check"
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must be a JSON object", field=prefix.rstrip(".") or None)
    values = dict(data)
    for f in dataclasses.fields(cls):
        check = f.metadata.get("check")
        if check is not None and f.name in values:
            values[f.name] = check(values[f.name], f"{prefix}{f.name}")
    spec = parse(cls, values, where=where, prefix=prefix)
    if isinstance(spec, HttpSpec):
        _check_http(spec, prefix)
    elif isinstance(spec, DnsSpec):
        _check_dns(spec, prefix)
    elif isinstance(spec, WebSocketSpec):
        _check_websocket(spec, prefix)
    elif not isinstance(spec, PostgresSpec):
        _check_host(spec.host, f"{prefix}host")
        if isinstance(spec, TlsSpec | GrpcSpec) and spec.server_name is not None:
            _check_host(spec.server_name, f"{prefix}server_name")
        if isinstance(spec, GrpcSpec):
            _check_grpc(spec, prefix)
    return spec


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The JSON form of a spec, every field included; ``parse_spec`` reads it back."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dict | list):
            value = value.copy()
        out[f.name] = value
    return out


def _check_host(host: str, where: str) -> None:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValidationError(f"{where} {HOST_HINT}; got {host!r}", field=where) from None


class _Refused(Exception):
    """A URL the HTTP client would not send, in the client's words."""


# How the HTTP client (httpx) splits a URL's authority: [userinfo@]host[:port],
# the host a bracketed IPv6 literal or anything up to ":" or "@".
_AUTHORITY: Final = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>\[.*\]|[^:@]*):?(?P<port>.*)")
_IPV4_LIKE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_LITERAL: Final = re.compile(r"\[.*\]")
# Characters the client leaves as they are in a host name; others are %-escaped.
_HOST_SAFE: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=\"`{}%|\\"
)


def _url_host(url: str) -> str:
    """The host of an ``http(s)://`` URL without whitespace (what the schema
    lets through), as the HTTP client that checks it reads it: "" when it names
    none. Where the client would refuse the URL, :class:`_Refused` says why in
    its words.

    This is httpx's own reading of a URL (its ``URL(url).host``), for the parts
    that can still fail once the scheme is known: control characters, the
    host (an IPv4 or bracketed IPv6 address must be one, an international
    name must encode) and the port (an integer). The monitoring tests hold the
    two to the same answers.
    """
    for i, char in enumerate(url):
        if char.isascii() and not char.isprintable():
            raise _Refused(
                f"Invalid non-printable ASCII character in URL, {char!r} at position {i}."
            )
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    parts = _AUTHORITY.match(authority)
    assert parts is not None  # every part may be empty
    host, port = parts["host"], parts["port"]
    if not host:
        encoded = ""
    elif _IPV4_LIKE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise _Refused(f"Invalid IPv4 address: {host!r}") from None
        encoded = host
    elif _IPV6_LITERAL.fullmatch(host):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise _Refused(f"Invalid IPv6 address: {host!r}") from None
        encoded = host[1:-1]
    elif host.isascii():
        encoded = "".join(c if c in _HOST_SAFE else f"%{ord(c):02X}" for c in host.lower())
    else:
        try:
            encoded = idna.encode(host.lower()).decode("ascii")
        except idna.IDNAError:
            raise _Refused(f"Invalid IDNA hostname: {host!r}") from None
    if port:
        try:
            int(port)
        except ValueError:
            raise _Refused(f"Invalid port: {port!r}") from None
    # Shown decoded, as the client shows it. An A-label that does not decode
    # is refused: the client's url.host raises on it, so no check could run.
    if not encoded.startswith("xn--"):
        return encoded
    try:
        return str(idna.decode(encoded))
    except idna.IDNAError:
        raise _Refused(
            f"Invalid IDNA hostname: {host!r} (an A-label that does not decode)"
        ) from None


def _check_http(spec: HttpSpec, prefix: str) -> None:
    """The rules that the schema cannot state field by field."""
    where = f"{prefix}url"
    try:
        host = _url_host(spec.url)
    except _Refused as exc:
        raise ValidationError(f"{where} is not a valid URL: {exc}", field=where) from None
    if not host:
        raise ValidationError(f"{where} must name a host; got {spec.url!r}", field=where)

    _refuse_headers(spec.headers, FRAMING_HEADERS, "the client", prefix)

    if not spec.expected_status:
        where = f"{prefix}expected_status"
        raise ValidationError(f"{where} must list at least one status code or range", field=where)
    for i, (low, high) in enumerate(spec.status_ranges()):
        where = f"{prefix}expected_status[{i}]"
        if not 100 <= low <= high <= 599:
            raise ValidationError(
                f"{where} must be a code from 100 to 599, or a range of them from low to high;"
                f" got {spec.expected_status[i]!r}",
                field=where,
            )

    if spec.keyword_absent and spec.keyword is None:
        where = f"{prefix}keyword_absent"
        raise ValidationError(f"{where} needs a keyword to look for", field=where)
    if spec.json_expected is not None and spec.json_path is None:
        where = f"{prefix}json_expected"
        raise ValidationError(f"{where} needs a json_path to compare at", field=where)
    if spec.method is HttpMethod.HEAD:
        for name in ("keyword", "json_path"):
            if getattr(spec, name) is not None:
                where = f"{prefix}{name}"
                raise ValidationError(
                    f"{where} needs a response body, which a HEAD request never gets",
                    field=where,
                )


def _check_dns(spec: DnsSpec, prefix: str) -> None:
    if spec.resolver is not None:
        _check_host(spec.resolver, f"{prefix}resolver")
    for i, value in enumerate(spec.expected):
        try:
            dns_value(spec.record_type, value)
        except ValueError as exc:
            where = f"{prefix}expected[{i}]"
            raise ValidationError(
                f"{where} is not a {spec.record_type.value} value ({exc}); got {value!r}",
                field=where,
            ) from None
    if spec.match is Match.ALL and not spec.expected:
        where = f"{prefix}match"
        raise ValidationError(f"{where} needs expected values to match", field=where)


def _refuse_headers(
    headers: dict[str, str], refused: frozenset[str], setter: str, prefix: str
) -> None:
    for name in headers:
        if name.lower() in refused:
            where = f"{prefix}headers.{name}"
            raise ValidationError(
                f"{where}: the {name} header is set by {setter} and cannot be given",
                field=where,
            )


def _check_websocket(spec: WebSocketSpec, prefix: str) -> None:
    where = f"{prefix}url"
    try:
        ws_target(spec.url)
    except ValueError as exc:
        raise ValidationError(f"{where} is not a valid URL: {exc}", field=where) from None
    _refuse_headers(spec.headers, HANDSHAKE_HEADERS, "the WebSocket handshake", prefix)
    if spec.expect is not None and spec.expect_regex is not None:
        where = f"{prefix}expect_regex"
        raise ValidationError(f"{where} and expect cannot both be given", field=where)


def _check_grpc(spec: GrpcSpec, prefix: str) -> None:
    if not spec.tls:
        for name, given in (("verify_tls", not spec.verify_tls), ("server_name", spec.server_name)):
            if given:
                where = f"{prefix}{name}"
                raise ValidationError(f"{where} needs tls: true", field=where)
