"""What an uptime check looks at: typed records read from a monitor's JSON ``spec``.

A monitor stores its settings as a JSON object whose shape depends on its kind
(``http``, ``tcp`` or ``tls``). :func:`parse_spec` turns that object into one
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

from ..errors import ValidationError
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
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string", field=where)
    check_chars(value, where)
    size = len(value.encode())
    if size > MAX_BODY_BYTES:
        raise ValidationError(
            f"{where} must be at most {MAX_BODY_BYTES:,} bytes (got {size:,})", field=where
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


Spec: TypeAlias = HttpSpec | TcpSpec | TlsSpec

SPEC_TYPES: Final[dict[str, type[Spec]]] = {"http": HttpSpec, "tcp": TcpSpec, "tls": TlsSpec}


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
    else:
        _check_host(spec.host, f"{prefix}host")
        if isinstance(spec, TlsSpec) and spec.server_name is not None:
            _check_host(spec.server_name, f"{prefix}server_name")
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

    for name in spec.headers:
        if name.lower() in FRAMING_HEADERS:
            where = f"{prefix}headers.{name}"
            raise ValidationError(
                f"{where}: the {name} header is set by the client and cannot be given",
                field=where,
            )

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
