"""PostgreSQL checks against the embedded PostgreSQL, reached over TCP on
loopback (it listens on a Unix socket only, which checks never reach: a
small relay in the test is the door)."""

from __future__ import annotations

import ssl

import pytest
import trio
from kind_targets import PgDoor, open_pg_door, serve_silence

from server.domain.dsn import parse_dsn
from server.domain.specs import PostgresSpec
from server.monitoring.pgcheck import check_postgres, tls_context
from server.netguard import ANY, NetworkRule


@pytest.fixture
async def door(nursery: trio.Nursery, database_url: str) -> tuple[PgDoor, str]:
    return await open_pg_door(nursery, database_url)


async def test_a_database_that_answers_is_up(door: tuple[PgDoor, str]) -> None:
    pg, database = door
    result = await check_postgres(PostgresSpec(dsn=pg.dsn(database), timeout=10), ANY)
    assert result.outcome == "up", result.error
    assert result.error is None and result.latency_ms is not None
    # sslmode=prefer (the default): TLS was asked for, declined, and the
    # check connected again in the clear.
    assert pg.connections == 2
    plain = PostgresSpec(dsn=pg.dsn(database, query="?sslmode=disable"), timeout=10)
    assert (await check_postgres(plain, ANY)).outcome == "up"
    assert pg.connections == 3


async def test_the_servers_refusal_is_said(door: tuple[PgDoor, str]) -> None:
    pg, _ = door
    result = await check_postgres(PostgresSpec(dsn=pg.dsn("no_such_db"), timeout=10), ANY)
    assert result.outcome == "down"
    assert result.error == (
        'the server refused: database "no_such_db" does not exist (SQLSTATE 3D000)'
    )
    nobody = await check_postgres(PostgresSpec(dsn=pg.dsn("postgres", user="nobody")), ANY)
    assert nobody.outcome == "down"
    assert 'role "nobody" does not exist' in str(nobody.error)


async def test_required_tls_that_the_server_lacks_is_down(door: tuple[PgDoor, str]) -> None:
    pg, database = door
    for mode in ("require", "verify-ca", "verify-full"):
        spec = PostgresSpec(dsn=pg.dsn(database, query=f"?sslmode={mode}"), timeout=10)
        result = await check_postgres(spec, ANY)
        assert result.outcome == "down"
        assert result.error == "the server does not offer TLS, which the sslmode requires"


async def test_the_servers_own_environment_is_not_used(
    door: tuple[PgDoor, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq's variables would change where and how the check connects (and
    PGPASSWORD would go to a member's server): none is read."""
    pg, database = door
    for name, value in {
        "PGSSLMODE": "verify-full",
        "PGTARGETSESSIONATTRS": "standby",
        "PGSSLNEGOTIATION": "direct",
        "PGHOST": "/nowhere",
        "PGPORT": "1",
        "PGDATABASE": "no_such_db",
    }.items():
        monkeypatch.setenv(name, value)
    result = await check_postgres(PostgresSpec(dsn=pg.dsn(database), timeout=10), ANY)
    assert result.outcome == "up", result.error


async def test_a_closed_port_is_down(closed_port: int) -> None:
    spec = PostgresSpec(dsn=f"postgresql://postgres@127.0.0.1:{closed_port}/x", timeout=5)
    result = await check_postgres(spec, ANY)
    assert result.outcome == "down" and result.error == "connection refused"


async def test_a_server_that_never_answers_times_out(nursery: trio.Nursery) -> None:
    port = await serve_silence(nursery)
    spec = PostgresSpec(dsn=f"postgresql://postgres@127.0.0.1:{port}/x", timeout=1)
    result = await check_postgres(spec, ANY)
    assert result.outcome == "down" and result.error == "timed out after 1 s"


async def test_a_host_in_a_refused_network_is_not_reached(door: tuple[PgDoor, str]) -> None:
    pg, database = door
    spec = PostgresSpec(dsn=f"postgresql://postgres:pw@localhost:{pg.port}/{database}")
    result = await check_postgres(spec, NetworkRule.parse("public,private"))
    assert result.outcome == "down" and "does not connect to" in str(result.error)
    assert "pw" not in str(result.error)
    assert pg.connections == 0


def test_verify_full_checks_the_dsns_name_while_connecting_to_an_address() -> None:
    """asyncpg is given the checked address as its host, and would verify the
    certificate for it: the context puts the DSN's name back."""
    context = tls_context(parse_dsn("postgresql://u@db.example.test/x?sslmode=verify-full"))
    assert context is not None
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    tls = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="192.0.2.7")
    assert tls.server_hostname == "db.example.test"
    loose = tls_context(parse_dsn("postgresql://u@db.example.test/x?sslmode=require"))
    assert loose is not None and loose.verify_mode is ssl.CERT_NONE
    assert tls_context(parse_dsn("postgresql://u@db.example.test/x?sslmode=disable")) is None
