"""Checks and channels connect only where the server's network rule allows.

The attacks of the review, through the public interface: a responder aiming a
monitor at the server's loopback services or a cloud's metadata address (by
every spelling), a redirect into loopback, a port scan with TCP monitors, a
webhook channel into the server's network; and what the answers may repeat.

The tests' servers listen on 127.0.0.1 (refused by the default rule) and on
127.0.0.2, which a rule of ``127.0.0.2/32`` lets through: an "allowed" target
on this machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from monitor_support import serving
from support import Api, open_ws, token
from target import HttpServer, Reply, serve_http

from server.config import Config
from server.domain.specs import HttpSpec
from server.main import Server
from server.monitoring.checks import check_http, make_client
from server.netguard import NetworkRule, Refused, resolve

ORG = "/api/v1/orgs/demo"


@pytest.fixture
async def only_two(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The server allowed to reach 127.0.0.2 and nothing else."""
    async with serving(config, nursery, "127.0.0.2/32") as running:
        yield running


@pytest.fixture
async def secret(nursery: trio.Nursery) -> HttpServer:
    """An internal service on loopback, with something worth stealing."""
    served = await serve_http(nursery)
    served.routes["/secret.json"] = Reply(200, b'{"token": "s3cr3t-value"}')
    return served


async def responder(server: Server) -> str:
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        made = await owner.ok(
            "POST", f"{ORG}/tokens", {"name": "resp", "role": "responder"}, status=201
        )
    return str(made["token"])


def http_monitor(url: str, **spec: Any) -> dict[str, Any]:
    return {"name": f"M {url}", "service": "API", "kind": "http", "spec": {"url": url, **spec}}


async def test_a_monitor_cannot_aim_at_loopback_or_metadata_by_any_spelling(
    guarded: Server, secret: HttpServer
) -> None:
    port = secret.port
    async with Api.open(guarded.base_url, await responder(guarded)) as api:
        for url in (
            f"http://127.0.0.1:{port}/secret.json",
            f"http://localhost:{port}/secret.json",
            f"http://[::1]:{port}/",
            f"http://2130706433:{port}/",
            f"http://0x7f000001:{port}/",
            f"http://[::ffff:127.0.0.1]:{port}/",
            f"http://0.0.0.0:{port}/",
            "http://169.254.169.254/latest/meta-data/",
        ):
            answer = await api.post(f"{ORG}/monitors", http_monitor(url, json_path="token"))
            assert answer.status_code == 422, (url, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_field" and error["field"] == "spec.url", error
            assert "does not connect to" in error["message"]
        for kind in ("tcp", "tls"):
            scan = {"name": f"Scan {kind}", "service": "API", "kind": kind}
            scan["spec"] = {"host": "127.0.0.1", "port": 5432}
            answer = await api.post(f"{ORG}/monitors", scan)
            assert answer.status_code == 422 and answer.json()["error"]["field"] == "spec.host"
        assert (await api.ok("GET", f"{ORG}/monitors"))["data"] == []
    async with open_ws(guarded.base_url) as ws:
        await ws.hello(await responder_again(guarded))
        reply = await ws.command(
            "demo", "monitor.create", http_monitor(f"http://127.0.0.1:{port}/secret.json")
        )
        assert reply["type"] == "error" and reply["field"] == "spec.url", reply
    assert secret.seen == []


async def responder_again(server: Server) -> str:
    return token("demo", "responder")


async def test_private_networks_are_allowed_by_default() -> None:
    rule = NetworkRule.parse("public,private")
    for allowed in ("10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "fd00::1", "8.8.8.8"):
        assert (await resolve(rule, allowed, 80))[0].compressed == allowed
    for refused in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1"):
        with pytest.raises(Refused):
            await resolve(rule, refused, 80)
    assert NetworkRule.parse("any").allows(resolve_one("127.0.0.1"))
    assert not NetworkRule.parse("any").allows(resolve_one("0.0.0.0"))  # never
    picky = NetworkRule.parse("!10.9.0.0/16,private")
    assert not picky.allows(resolve_one("10.9.1.1")) and picky.allows(resolve_one("10.8.1.1"))
    with pytest.raises(ValueError, match="neither a network"):
        NetworkRule.parse("public,intranet")


def resolve_one(text: str) -> Any:
    import ipaddress

    return ipaddress.ip_address(text)


async def test_a_redirect_into_loopback_is_refused_at_the_hop(
    only_two: Server, secret: HttpServer, nursery: trio.Nursery
) -> None:
    allowed = await serve_http(nursery, host="127.0.0.2")
    target = f"http://127.0.0.1:{secret.port}/secret.json"
    allowed.routes["/hop"] = Reply(302, b"", headers=[("Location", target)])
    async with Api.open(only_two.base_url, await responder(only_two)) as api:
        monitor = await api.ok(
            "POST", f"{ORG}/monitors", http_monitor(allowed.url("/hop")), status=201
        )
        checked = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    assert checked["outcome"] == "down"
    assert "127.0.0.1 is in a network this server does not connect to" in checked["error"]
    assert [s.path for s in allowed.seen] == ["/hop"] and secret.seen == []


async def test_a_name_that_moves_into_a_refused_network_is_refused_when_checked(
    secret: HttpServer,
) -> None:
    """The check resolves again each time and connects to what it checked: a
    name that now points at loopback (here ``localhost``) gets a clear error."""
    rule = NetworkRule.parse("public,private")
    spec = HttpSpec(url=f"http://localhost:{secret.port}/secret.json")
    async with make_client(rule) as client:
        result = await check_http(spec, client)
    assert result.outcome == "down"
    assert result.error is not None and "localhost (127.0.0.1" in result.error
    assert "does not connect to" in result.error
    assert secret.seen == []


async def test_what_a_check_read_is_not_repeated_in_its_error(
    server: Server, secret: HttpServer
) -> None:
    """Even where checks may go, the error says what was expected, not what was read."""
    url = secret.url("/secret.json")
    async with Api.open(server.base_url, await responder(server)) as api:
        monitor = await api.ok(
            "POST",
            f"{ORG}/monitors",
            http_monitor(url, json_path="token", json_expected="guess"),
            status=201,
        )
        checked = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
        keyword = await api.ok(
            "POST",
            f"{ORG}/monitors",
            {**http_monitor(url, keyword="absent"), "name": "By keyword"},
            status=201,
        )
        missed = await api.ok("POST", f"{ORG}/monitors/{keyword['id']}/check")
    assert checked["outcome"] == "down" and "s3cr3t" not in checked["error"]
    assert checked["error"] == "JSON path token does not hold 'guess' (it holds another string)"
    assert "s3cr3t" not in missed["error"]


async def test_channels_follow_the_same_rule(guarded: Server, secret: HttpServer) -> None:
    async with Api.open(guarded.base_url, token("demo", "admin")) as admin:
        for kind in ("webhook", "slack"):
            answer = await admin.post(
                f"{ORG}/channels",
                {"kind": kind, "name": kind, "config": {"url": secret.url("/secret.json")}},
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["field"] == "config.url"
    assert secret.seen == []


async def test_a_channels_failure_never_echoes_the_receivers_body(
    only_two: Server, nursery: trio.Nursery
) -> None:
    internal = await serve_http(nursery, host="127.0.0.2")
    internal.routes["/500"] = Reply(500, b"db_password=hunter2")
    async with Api.open(only_two.base_url, token("demo", "admin")) as admin:
        channel = await admin.ok(
            "POST",
            f"{ORG}/channels",
            {"kind": "webhook", "name": "hook", "config": {"url": internal.url("/500")}},
            status=201,
        )
        # Point it elsewhere afterwards: a change is held to the rule too.
        moved = await admin.patch(
            f"{ORG}/channels/{channel['id']}", {"config": {"url": "http://127.0.0.1:9/x"}}
        )
        assert moved.status_code == 422 and moved.json()["error"]["field"] == "config.url"
        tried = await admin.ok("POST", f"{ORG}/channels/{channel['id']}/test")
    assert tried["last_error"] == "HTTP 500 Internal Server Error"
    assert tried["last_status_code"] == 500
    assert "hunter2" not in str(tried)


async def test_a_monitors_credentials_are_write_only(server: Server, secret: HttpServer) -> None:
    """Headers and body go to the target, never back to members: not over REST,
    not in the org: snapshot or its events, not in the audit log; an update
    that does not restate them keeps them."""
    secret.routes["/ok"] = Reply(200, b"fine")
    spec = {
        "url": secret.url("/ok"),
        "method": "POST",
        "headers": {"Authorization": "Bearer top-secret", "X-Plain": "visible-name-only"},
        "body": '{"password": "hunter2"}',
    }
    async with open_ws(server.base_url) as watcher:
        await watcher.hello(token("demo", "viewer"))
        await watcher.subscribe("org:demo")
        async with Api.open(server.base_url, token("demo", "responder")) as api:
            made = await api.ok(
                "POST",
                f"{ORG}/monitors",
                {"name": "Private", "service": "API", "kind": "http", "spec": spec},
                status=201,
            )
            created = await watcher.event("monitor.created")
            # An edit of something else, restating neither headers nor body.
            shown = made["spec"]
            changed = await api.ok(
                "PATCH",
                f"{ORG}/monitors/{made['id']}",
                {"spec": {**shown, "url": secret.url("/ok?v=2")}},
            )
            updated = await watcher.event("monitor.updated")
            await api.ok("POST", f"{ORG}/monitors/{made['id']}/check")
        async with Api.open(server.base_url, token("demo", "viewer")) as viewer:
            read = await viewer.ok("GET", f"{ORG}/monitors/{made['id']}")
            listed = await viewer.ok("GET", f"{ORG}/monitors")
        async with open_ws(server.base_url) as late:
            await late.hello(token("demo", "viewer"))
            snapshot = (await late.subscribe("org:demo"))["snapshot"]
    async with Api.open(server.base_url, token("demo", "admin")) as admin:
        audit = await admin.ok("GET", f"{ORG}/audit")
    for seen in (made, changed, read, listed, created, updated, snapshot, audit):
        text = str(seen)
        assert "top-secret" not in text and "hunter2" not in text, seen
    assert read["spec"]["headers"] == {"Authorization": None, "X-Plain": None}
    assert read["spec"]["body_set"] is True and "body" not in read["spec"]
    assert read["spec"]["url"].endswith("/ok?v=2")
    # The target still got them, after the edit.
    (request,) = [s for s in secret.seen if s.path == "/ok?v=2"]
    assert request.headers["authorization"] == "Bearer top-secret"
    assert request.body == b'{"password": "hunter2"}'


async def test_an_update_may_change_or_drop_a_monitors_secrets(
    server: Server, secret: HttpServer
) -> None:
    secret.routes["/ok"] = Reply(200, b"fine")
    spec = {"url": secret.url("/ok"), "method": "POST", "headers": {"A": "1", "B": "2"}}
    async with Api.open(server.base_url, token("demo", "responder")) as api:
        made = await api.ok(
            "POST",
            f"{ORG}/monitors",
            {"name": "Edit", "service": "API", "kind": "http", "spec": {**spec, "body": "x"}},
            status=201,
        )
        url = f"{ORG}/monitors/{made['id']}"
        await api.ok(
            "PATCH", url, {"spec": {**spec, "headers": {"A": None, "C": "3"}, "body": None}}
        )
        await api.ok("POST", f"{url}/check")
    (request,) = secret.seen
    assert request.headers["a"] == "1" and request.headers["c"] == "3"
    assert "b" not in request.headers and request.body == b""
