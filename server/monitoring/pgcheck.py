"""The PostgreSQL check: connect, ``SELECT 1``, and its verdict.

asyncpg runs on asyncio, which trio-asyncio bridges into trio; this module is
the monitoring's only bridge to it (the store's is ``store.database``): each
check opens a trio-asyncio loop for its own length and runs its whole
conversation there as one coroutine, bounded by the spec's ``timeout``.

The DSN is read by :func:`~server.domain.dsn.parse_dsn`, and asyncpg is given
its parts one by one (never the text): every connection setting is stated,
so nothing is filled in from the server's environment or files (no
``PGPASSWORD``, ``~/.pgpass``, ``PGSSLROOTCERT`` or client certificate of the
server's own reaches a member's database). The host is resolved and held to
the network rule, and asyncpg connects to the address that was checked; for
``verify-full`` the certificate is verified against the DSN's host name all
the same (see :class:`_NamedContext`).

``sslmode`` as libpq reads it: ``disable``; ``allow`` and ``prefer`` (the
default): TLS when the server offers it, unverified; ``require``: TLS,
unverified; ``verify-ca``: TLS with a trusted certificate; ``verify-full``:
and for the host's name. Trust is the system's store (or the probe's).
"""

from __future__ import annotations

import ssl
from typing import Any, Final

import asyncpg
import trio
import trio_asyncio

from ..domain.dsn import Dsn, SslMode, parse_dsn
from ..domain.specs import PostgresSpec
from ..netguard import NetworkRule, Refused, resolve
from .checks import USER_AGENT, CheckResult, describe_error, down, ms_since, timed, timed_out

APPLICATION: Final = USER_AGENT.split("/")[0]


class _NamedContext(ssl.SSLContext):
    """A context that verifies the certificate for ``name`` (and sends it as
    SNI) while asyncpg connects to an address: asyncpg passes the address it
    was given as the server's name, and would check the certificate against
    that."""

    name: str

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.name, session)


def tls_context(dsn: Dsn, trust: ssl.SSLContext | None = None) -> ssl.SSLContext | None:
    """The context ``dsn.sslmode`` asks for (None: no TLS), trusting what
    ``trust`` trusts (the system's store when None)."""
    if dsn.sslmode is SslMode.DISABLE:
        return None
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.name = dsn.host
    if dsn.sslmode in (SslMode.VERIFY_CA, SslMode.VERIFY_FULL):
        if trust is None:
            context.load_default_certs()
        else:
            certs = trust.get_ca_certs(binary_form=True)
            if certs:
                context.load_verify_locations(cadata=b"".join(certs))
        context.check_hostname = dsn.sslmode is SslMode.VERIFY_FULL
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def check_postgres(
    spec: PostgresSpec, rule: NetworkRule, ssl_context: ssl.SSLContext | None = None
) -> CheckResult:
    """Up when the server accepts the connection and answers ``SELECT 1``;
    latency is the time to connect and get the answer."""
    dsn = parse_dsn(spec.dsn)
    context = tls_context(dsn, ssl_context)
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            addresses = await resolve(rule, dsn.host, dsn.port)
            async with trio_asyncio.open_loop() as loop:
                problem = await loop.run_aio_coroutine(
                    _select_one(str(addresses[0]), dsn, context, spec.timeout)
                )
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except BaseExceptionGroup as group:  # trio-asyncio's nursery wraps what ends it
        leaves = _leaves(group)
        if not all(isinstance(e, Exception) for e in leaves):
            raise  # a cancellation from outside, say: not the target's fault
        return down(_words(leaves[0]))
    except (OSError, Refused, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return down(_words(exc))
    latency = ms_since(start)
    if problem is not None:
        return down(problem, latency)
    return timed(latency, spec.degraded_ms)


async def _select_one(
    address: str, dsn: Dsn, context: ssl.SSLContext | None, seconds: float
) -> str | None:
    """Connect and ask; None when the answer is 1, else why not (asyncio side)."""
    settings = {"application_name": dsn.application_name or APPLICATION}
    connect: dict[str, Any] = {
        "host": address,
        "port": dsn.port,
        "user": dsn.user,
        "password": dsn.password or "",
        "database": dsn.database,
        "timeout": seconds,
        "statement_cache_size": 0,
        "server_settings": settings,
        "direct_tls": False,
        "target_session_attrs": "any",
        "krbsrvname": "postgres",
        "gsslib": "gssapi",
    }
    try:
        conn = await asyncpg.connect(**connect, ssl=context or False)
    except ConnectionError as exc:
        # prefer/allow: a server without TLS is asked again in the clear.
        if dsn.sslmode not in (SslMode.PREFER, SslMode.ALLOW) or not _no_tls(exc):
            raise
        conn = await asyncpg.connect(**connect, ssl=False)
    try:
        value = await conn.fetchval("SELECT 1", timeout=seconds)
    finally:
        conn.terminate()
    return None if value == 1 else "SELECT 1 did not answer 1"


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _no_tls(exc: BaseException) -> bool:
    """Whether asyncpg's error is the server declining TLS."""
    return type(exc) is ConnectionError and "rejected SSL upgrade" in str(exc)


def _words(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None)
        message = getattr(exc, "message", None) or str(exc)
        return f"the server refused: {message}" + (f" (SQLSTATE {state})" if state else "")
    if _no_tls(exc):
        return "the server does not offer TLS, which the sslmode requires"
    return describe_error(exc)
