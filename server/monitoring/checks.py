"""The checks themselves: one request, connection or handshake, and its verdict.

Every check returns a :class:`CheckResult` and none raises for the target's
faults: a refused connection, a timeout or a bad certificate is an answer
("down", with words a person can act on), not an error of the prober. Time
limits are enforced with trio's cancellation over the whole check, so a server
that trickles bytes cannot hold a probe past ``timeout``.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Final, Literal, TypeAlias

import httpx
import orjson
import trio

from server import __version__

from ..domain.specs import HttpSpec, TcpSpec, TlsSpec, json_text
from ..netguard import GuardedTransport, NetworkRule, Refused, connect

Outcome: TypeAlias = Literal["up", "degraded", "down"]

USER_AGENT: Final = f"Switchboard-Monitor/{__version__}"
MAX_BODY: Final = 1024 * 1024  # bytes of a response body read; the rest is never fetched
MAX_REDIRECTS: Final = 10


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: Outcome
    latency_ms: float | None  # None when no answer came
    error: str | None  # why it is not "up", in a few words
    status_code: int | None = None  # HTTP: the final response's status
    expires_at: datetime | None = None  # TLS: the certificate's notAfter


def down(
    error: str,
    latency_ms: float | None = None,
    *,
    status_code: int | None = None,
    expires_at: datetime | None = None,
) -> CheckResult:
    return CheckResult("down", latency_ms, error, status_code, expires_at)


def timed(
    latency_ms: float, degraded_ms: int | None, status_code: int | None = None
) -> CheckResult:
    """Up, or degraded when slower than the threshold."""
    if degraded_ms is not None and latency_ms > degraded_ms:
        error = f"slow: {latency_ms:,.0f} ms > {degraded_ms:,} ms"
        return CheckResult("degraded", latency_ms, error, status_code)
    return CheckResult("up", latency_ms, None, status_code)


def ms_since(start: float) -> float:
    return round((trio.current_time() - start) * 1000, 1)


def timed_out(seconds: float) -> CheckResult:
    return down(f"timed out after {seconds:g} s")


# ---------------------------------------------------------------------------
# HTTP


def make_client(
    rule: NetworkRule,
    *,
    verify: bool | ssl.SSLContext = True,
    max_connections: int = 1_000,
    max_keepalive_connections: int = 100,
) -> httpx.AsyncClient:
    """An HTTP client for probes, shared by all the monitors of one prober.

    It connects only where ``rule`` allows (redirects included). Cookies are
    never kept, so one check cannot change what the next one sees. Proxies
    from the environment are ignored: a proxy would stand between the probe
    and the target, and its latency and outages would be reported as the
    target's.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(rule, verify=verify, limits=limits),
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        max_redirects=MAX_REDIRECTS,
    )


class HttpClients:
    """A prober's HTTP clients: httpx fixes certificate checking per client, and
    a spec may turn it off (``verify_tls``), so there are two, made on first use.

    ``ssl_context`` replaces the system's trust store for the verifying client
    (a private CA, or a test's). Both connect only where ``rule`` allows.
    """

    def __init__(
        self,
        rule: NetworkRule,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 1_000,
        max_keepalive_connections: int = 100,
    ) -> None:
        self.rule = rule
        self._verify: bool | ssl.SSLContext = ssl_context or True
        self._max_connections = max_connections
        self._max_keepalive_connections = max_keepalive_connections
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def get(self, verify: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify)
        if client is None:
            client = self._clients[verify] = make_client(
                self.rule,
                verify=self._verify if verify else False,
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_keepalive_connections,
            )
        return client

    def for_spec(self, spec: HttpSpec) -> httpx.AsyncClient:
        return self.get(spec.verify_tls)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    async def __aenter__(self) -> HttpClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def check_http(spec: HttpSpec, client: httpx.AsyncClient) -> CheckResult:
    """Make the request and judge the answer against ``spec``.

    ``client`` must verify certificates as ``spec.verify_tls`` says (see
    :meth:`HttpClients.for_spec`). Redirects are followed here rather than by
    httpx, which would read each redirect's whole body however large.
    """
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            fetched = await _fetch(spec, client)
    except (trio.TooSlowError, httpx.TimeoutException):
        return timed_out(spec.timeout)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return down(describe_error(exc))
    if fetched is None:
        return down(f"more than {MAX_REDIRECTS} redirects")
    latency = ms_since(start)
    status, text, body, truncated = fetched
    problem = _http_problem(spec, status, text, body, truncated)
    if problem is not None:
        return down(problem, latency, status_code=status)
    return timed(latency, spec.degraded_ms, status)


async def _fetch(spec: HttpSpec, client: httpx.AsyncClient) -> tuple[int, str, bytes, bool] | None:
    """The final status, the body as text and bytes, and whether it was cut
    at :data:`MAX_BODY`; None after too many redirects."""
    request = client.build_request(
        spec.method.value,
        spec.url,
        headers=spec.headers,
        content=spec.body,
        timeout=spec.timeout,
    )
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if spec.follow_redirects and response.next_request is not None:
                request = response.next_request
                continue
            body, truncated = await _read_capped(response)
            try:
                text = body.decode(response.encoding or "utf-8", errors="replace")
            except LookupError:
                text = body.decode("utf-8", errors="replace")
            return response.status_code, text, body, truncated
        finally:
            await response.aclose()
    return None


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """At most :data:`MAX_BODY` bytes of the (decoded) body, and whether there was more."""
    body = bytearray()
    chunks = response.aiter_bytes()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY:
            await _abandon(chunks)
            return bytes(body[:MAX_BODY]), True
    return bytes(body), False


async def _abandon(chunks: AsyncIterator[bytes]) -> None:
    """Stop reading a body midway.

    httpx reads through a chain of async generators; leaving the loop would
    close only the outermost and leave the rest to the garbage collector
    (which trio warns about). A cancelled read unwinds them all, as a timeout
    does, and httpcore drops the connection on the way out.
    """
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            async for _ in chunks:  # what is already buffered, then the cancelled read
                pass
        except httpx.HTTPError:
            pass  # the part that counts has been read


def _http_problem(
    spec: HttpSpec, status: int, text: str, body: bytes, truncated: bool
) -> str | None:
    """Why the answer does not pass, or None when it does."""
    if not any(low <= status <= high for low, high in spec.status_ranges()):
        return f"status {status}, expected {', '.join(spec.expected_status)}"
    if spec.keyword is not None:
        found = spec.keyword in text
        if spec.keyword_absent and found:
            return f"keyword {quoted(spec.keyword)} found"
        if not spec.keyword_absent and not found:
            where = " in the first 1 MiB" if truncated else ""
            return f"keyword {quoted(spec.keyword)} not found{where}"
    if spec.json_path is not None:
        return _json_problem(spec.json_path, spec.json_expected, body, truncated)
    return None


def _json_problem(path: str, expected: str | None, body: bytes, truncated: bool) -> str | None:
    if truncated:
        return "body over 1 MiB, too large to read as JSON"
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "body is not valid JSON"
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return f"JSON path {path} not found"
    if expected is not None and json_text(value) != expected:
        # What the target said is not repeated: the words reach people who
        # may not see the target itself (and it may be an internal service).
        return f"JSON path {path} does not hold {quoted(expected)} (it holds {_kind(value)})"
    return None


def _kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "true, false or null"
    if isinstance(value, int | float):
        return "another number"
    if isinstance(value, str):
        return "another string"
    return "a list" if isinstance(value, list) else "an object"


def quoted(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


# ---------------------------------------------------------------------------
# TCP and TLS


async def check_tcp(spec: TcpSpec, rule: NetworkRule) -> CheckResult:
    """Up when the port accepts a connection; latency is the time to connect."""
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            stream = await connect(rule, spec.host, spec.port)
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except (OSError, Refused) as exc:
        return down(describe_error(exc))
    latency = ms_since(start)
    await trio.aclose_forcefully(stream)
    return timed(latency, spec.degraded_ms)


@functools.cache
def default_context() -> ssl.SSLContext:
    """The system's trust store, loaded once: loading it costs more than a handshake."""
    return ssl.create_default_context()


async def check_tls(
    spec: TlsSpec, rule: NetworkRule, ssl_context: ssl.SSLContext | None = None
) -> CheckResult:
    """Handshake and judge the certificate: untrusted, mismatched or expired is
    down; valid for fewer than ``days_before_expiry`` days is degraded.

    ``ssl_context`` must verify certificates (the default does); latency is the
    time to connect and complete the handshake.
    """
    context = ssl_context or default_context()
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            tcp = await connect(rule, spec.host, spec.port)
            stream = trio.SSLStream(tcp, context, server_hostname=spec.server_name or spec.host)
            try:
                await stream.do_handshake()
                cert = stream.getpeercert()
            finally:
                await trio.aclose_forcefully(stream)
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except (OSError, trio.BrokenResourceError, Refused) as exc:
        return down(describe_error(exc))
    latency = ms_since(start)

    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return down("the certificate could not be read", latency)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    left = expires - datetime.now(UTC)
    when = f"{expires:%Y-%m-%d %H:%M} UTC"
    if left <= timedelta(0):
        return down(f"certificate expired on {when}", latency, expires_at=expires)
    if left < timedelta(days=spec.days_before_expiry):
        error = f"certificate expires in {_span(left)}, on {when}"
        return CheckResult("degraded", latency, error, expires_at=expires)
    return CheckResult("up", latency, None, expires_at=expires)


def _span(left: timedelta) -> str:
    if left.days >= 1:
        return f"{left.days} day{'s' if left.days > 1 else ''}"
    hours = int(left.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours > 1 else ''}" if hours else "less than an hour"


# ---------------------------------------------------------------------------
# Errors in words


def describe_error(exc: BaseException) -> str:
    """A short, plain account of why a connection or request failed.

    The useful fact is usually a cause a few levels down (httpx wraps
    httpcore, which wraps trio, which wraps the OS or OpenSSL, and trio
    gathers one error per address tried), so the whole chain is searched,
    most telling kind of error first.
    """
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, Refused):
            return e.message
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected: {_sentence(e.verify_message or str(e))}"
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed: {_sentence(e.reason or str(e))}"
    for kind, words in _OS_ERRORS:
        if any(isinstance(e, kind) for e in chain):
            return words
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return _sentence(e.strerror)
    return _sentence(str(exc)) or type(exc).__name__


_OS_ERRORS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "could not resolve the host name"),
    (ConnectionResetError, "connection reset by peer"),
    (TimeoutError, "connection timed out"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        # Contexts too, even suppressed ones: httpcore re-raises its errors
        # "from None", which hides the OS error behind them.
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)


def _sentence(text: str) -> str:
    """'Server disconnected.' -> 'server disconnected' (a part of a sentence)."""
    text = text.strip().rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text
