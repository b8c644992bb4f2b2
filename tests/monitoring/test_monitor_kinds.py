"""The newer kinds through the public interface: made over REST, checked by
the server's own probe against servers on loopback, their targets held to
the network rule when made, and a PostgreSQL DSN kept secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
from kind_targets import HealthServer, PgDoor, health_server, open_pg_door, serve_dns, serve_echo
from monitor_support import make
from support import TOKENS, Api, shown, token
from test_check_ping import allowed, ping_range
from test_network_rule import responder

from server.main import Server
from server.monitoring.probe import Probe
from server.monitoring.remote import RemoteProbe
from server.netguard import ANY

ORG = "/api/v1/orgs/demo"


@pytest.fixture
def grpc_server() -> Iterator[HealthServer]:
    with health_server() as running:
        yield running


async def made_and_checked(api: Api, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = {"name": f"A {kind} check", "service": "API", "kind": kind, "spec": spec}
    monitor = await api.ok("POST", f"{ORG}/monitors", body, status=201)
    checked: dict[str, Any] = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    return checked


async def test_each_kind_is_checked_by_the_servers_probe(
    api: Api, nursery: trio.Nursery, grpc_server: HealthServer
) -> None:
    dns = await serve_dns(nursery)
    dns.zone[("db.example.test", "A")] = ["192.0.2.5"]
    echo = await serve_echo(nursery)
    specs = {
        "dns": {
            "name": "db.example.test",
            "resolver": "127.0.0.1",
            "resolver_port": dns.port,
            "expected": ["192.0.2.5"],
        },
        "websocket": {"url": f"ws://127.0.0.1:{echo.port}/echo", "send": "hi", "expect": "hi"},
        "grpc": {"host": "127.0.0.1", "port": grpc_server.port},
    }
    for kind, spec in specs.items():
        checked = await made_and_checked(api, kind, {**spec, "timeout": 5})
        assert checked["outcome"] == "up", (kind, checked)
        assert checked["region"] == "local" and checked["latency_ms"] is not None
    results = await api.ok("GET", f"{ORG}/monitors")
    assert sorted(m["kind"] for m in results["data"]) == ["dns", "grpc", "websocket"]


async def test_ping_through_the_servers_probe(api: Api) -> None:
    with ping_range(allowed()) as set_here:
        checked = await made_and_checked(api, "ping", {"host": "127.0.0.1", "count": 2})
    if set_here:
        assert checked["outcome"] == "up", checked
    else:
        assert checked["outcome"] == "up" or "ping_group_range" in checked["error"]


async def test_a_dsn_goes_to_the_database_and_never_back_to_members(
    server: Server, nursery: trio.Nursery, database_url: str
) -> None:
    door: PgDoor
    door, database = await open_pg_door(nursery, database_url)
    dsn = f"postgresql://postgres:hunter2@127.0.0.1:{door.port}/{database}?sslmode=disable"
    async with Api.open(server.base_url, token("demo", "responder")) as api:
        made = await api.ok(
            "POST",
            f"{ORG}/monitors",
            {"name": "Orders DB", "service": "API", "kind": "postgres", "spec": {"dsn": dsn}},
            status=201,
        )
        url = f"{ORG}/monitors/{made['id']}"
        # An edit that sends back what members see keeps the DSN.
        await api.ok("PATCH", url, {"spec": {**made["spec"], "timeout": 5}})
        checked = await api.ok("POST", f"{url}/check")
        read = await api.ok("GET", url)
    async with Api.open(server.base_url, token("demo", "admin")) as admin:
        audit = await admin.ok("GET", f"{ORG}/audit")
    assert checked["outcome"] == "up", checked
    assert door.connections == 1
    assert read["spec"]["dsn_shown"] == (
        f"postgresql://postgres:***@127.0.0.1:{door.port}/{database}?sslmode=disable"
    )
    assert "dsn" not in read["spec"] and read["spec"]["timeout"] == 5
    for seen in (made, read, audit):
        assert "hunter2" not in str(seen), seen


async def test_a_remote_probe_checks_them_too(
    server: Server, api: Api, nursery: trio.Nursery, database_url: str
) -> None:
    """A probe on another machine gets each monitor whole (the DSN too, which
    it needs) and runs the same checks."""
    dns = await serve_dns(nursery)
    dns.zone[("db.example.test", "A")] = ["192.0.2.5"]
    door, database = await open_pg_door(nursery, database_url)
    dsn = f"postgresql://postgres:pw@127.0.0.1:{door.port}/{database}?sslmode=disable"
    specs = {
        "dns": {"name": "db.example.test", "resolver": "127.0.0.1", "resolver_port": dns.port},
        "postgres": {"dsn": dsn},
    }
    made = [
        await make(api, name=f"Remote {kind}", kind=kind, spec=spec, regions=["eu-west"])
        for kind, spec in specs.items()
    ]
    remote = RemoteProbe(
        server.base_url, TOKENS.issue_probe("eu-west"), "eu-west", probe=Probe(ANY), every=0.2
    )
    await nursery.start(remote.run)
    for monitor in made:
        seen = await shown(
            api,
            f"{ORG}/monitors/{monitor['id']}/results",
            lambda page: bool(page["data"]),
            60,
        )
        (result,) = seen["data"][:1]
        assert result["region"] == "eu-west"
        assert result["outcome"] == "up", (monitor["kind"], result)
    assert dns.asked and door.connections >= 1
    await remote.probe.aclose()


async def test_each_kinds_target_is_held_to_the_rule_when_made(guarded: Server) -> None:
    refused = {
        "dns": ({"name": "example.com", "resolver": "127.0.0.1"}, "spec.resolver"),
        "ping": ({"host": "localhost"}, "spec.host"),
        "websocket": ({"url": "ws://[::1]:8080/live"}, "spec.url"),
        "postgres": ({"dsn": "postgresql://app:pw@127.0.0.1/app"}, "spec.dsn"),
        "grpc": ({"host": "169.254.169.254", "port": 50051}, "spec.host"),
    }
    async with Api.open(guarded.base_url, await responder(guarded)) as api:
        for kind, (spec, field) in refused.items():
            body = {"name": f"Into {kind}", "service": "API", "kind": kind, "spec": spec}
            answer = await api.post(f"{ORG}/monitors", body)
            assert answer.status_code == 422, (kind, answer.text)
            error = answer.json()["error"]
            assert error["field"] == field and "does not connect to" in error["message"], error
            assert "pw" not in error["message"]
        # The system's resolver is the operator's: a DNS check without one is made.
        await api.ok(
            "POST",
            f"{ORG}/monitors",
            {"name": "Name", "service": "API", "kind": "dns", "spec": {"name": "example.com"}},
            status=201,
        )
