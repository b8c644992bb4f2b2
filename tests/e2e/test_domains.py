"""Custom domains and one tenant: an organization's public documents at the root
of the host names it claims (and, with --default-org, of every other one),
linking to the host the reader came through; the server's own paths unchanged."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from support import Api, ServerProcess, admin_token, token

from server.config import Config, Limits
from server.domain.statuspage import DOCUMENTS
from server.main import Server

HOST = "status.demo.test"
ATOM = "{http://www.w3.org/2005/Atom}"


def on(host: str) -> dict[str, str]:
    """The headers of a request for ``host`` (what a browser sends once DNS
    points the name at the server)."""
    return {"Host": host}


async def claim(api: Api, org: str, domains: list[str], status: int = 200) -> Any:
    return await api.ok("PATCH", f"/api/v1/orgs/{org}", {"domains": domains}, status=status)


async def make_org(server: Server, slug: str) -> None:
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": slug, "name": slug.title()}, status=201)


async def incident_and_maintenance(api: Api) -> tuple[str, str]:
    incident = await api.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Slow logins", "services": {"Website": "degraded_performance"}},
        status=201,
    )
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    maintenance = await api.ok(
        "POST",
        "/api/v1/orgs/demo/maintenances",
        {
            "name": "Disk swap",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "services": ["Database"],
        },
        status=201,
    )
    return incident["id"], maintenance["id"]


# -- claiming ----------------------------------------------------------------------


async def test_an_admin_claims_host_names_as_hosts_carry_them(api: Api) -> None:
    org = await claim(api, "demo", ["Status.Demo.TEST.", "bücher.example", "status.demo.test"])
    assert org["domains"] == [HOST, "xn--bcher-kva.example"]
    assert (await api.ok("GET", "/api/v1/orgs/demo"))["domains"] == org["domains"]
    async with Api.open(api.client.base_url.__str__(), token("demo", "responder")) as responder:
        refused = await responder.patch("/api/v1/orgs/demo", {"domains": ["other.demo.test"]})
        assert refused.status_code == 403
    assert (await claim(api, "demo", []))["domains"] == []


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("localhost", "single label"),
        ("203.0.113.9", "is an address"),
        ("*.demo.test", "must be a host name"),
        ("https://status.demo.test", "must be a host name"),
        ("status.demo.test:8443", "must be a host name"),
        ("status.demo.test/page", "must be a host name"),
        ("status..demo.test", "must be a host name"),
        ("-status.demo.test", "must be a host name"),
        ("xn--zz.demo.test", "does not decode"),
        ("", "domains"),
    ],
)
async def test_what_is_not_a_host_name_is_refused(api: Api, name: str, says: str) -> None:
    response = await api.patch("/api/v1/orgs/demo", {"domains": [name]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_field" and error["field"].startswith("domains")
    assert says in error["message"]


async def test_an_organization_claims_ten_names_at_most(api: Api) -> None:
    many = [f"s{n}.demo.test" for n in range(11)]
    response = await api.patch("/api/v1/orgs/demo", {"domains": many})
    assert response.status_code == 422 and response.json()["error"]["field"] == "domains"
    assert (await claim(api, "demo", many[:10]))["domains"] == many[:10]


async def test_a_name_belongs_to_one_organization(server: Server, api: Api) -> None:
    await make_org(server, "acme")
    async with Api.open(server.base_url, admin_token("acme")) as acme:
        await claim(acme, "acme", ["status.acme.test"])
        taken = await api.patch("/api/v1/orgs/demo", {"domains": ["STATUS.acme.test"]})
        assert taken.status_code == 409
        assert taken.json()["error"] == {
            "code": "conflict",
            "message": "status.acme.test is claimed by another organization",
            "field": "domains",
        }
        # Claiming it again, with another name beside it, is acme's own business.
        await claim(acme, "acme", ["status.acme.test", "www.status.acme.test"])
        await claim(acme, "acme", ["www.status.acme.test"])  # lets one go...
    assert (await claim(api, "demo", ["status.acme.test"]))["domains"] == ["status.acme.test"]
    async with Api.open(server.base_url) as reader:
        page = await reader.get("/api/v2/status.json", headers=on("status.acme.test"))
        assert page.json()["page"]["name"] == "Demo Inc."  # ...which then serves demo


async def test_of_two_organizations_claiming_one_name_at_once_one_gets_it(
    server: Server, api: Api
) -> None:
    await make_org(server, "acme")
    answers: dict[str, list[int]] = {"demo": [], "acme": []}
    async with Api.open(server.base_url, admin_token("acme")) as acme:
        for round_ in range(5):
            name = [f"race{round_}.example.test"]

            async def ask(org: str, client: Api, name: list[str] = name) -> None:
                response = await client.patch(f"/api/v1/orgs/{org}", {"domains": name})
                answers[org].append(response.status_code)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask, "demo", api)
                nursery.start_soon(ask, "acme", acme)
            got = sorted([answers["demo"][-1], answers["acme"][-1]])
            assert got == [200, 409], answers
            winner = "demo" if answers["demo"][-1] == 200 else "acme"
            async with Api.open(server.base_url) as reader:
                status = await reader.get("/api/v2/status.json", headers=on(name[0]))
            assert status.json()["page"]["name"] == ("Demo Inc." if winner == "demo" else "Acme")


async def test_the_server_s_own_name_is_not_claimed(config: Config, nursery: trio.Nursery) -> None:
    public = dataclasses.replace(config, public_url="https://switchboard.example.test")
    server: Server = await nursery.start(Server(public).run)
    try:
        async with Api.open(f"http://127.0.0.1:{server.port}", admin_token()) as api:
            refused = await api.patch(
                "/api/v1/orgs/demo", {"domains": ["switchboard.example.test"]}
            )
            assert refused.status_code == 409
            assert "this server's own address" in refused.json()["error"]["message"]
    finally:
        await server.stop()


async def test_claims_outlive_a_restart_and_go_with_their_organization(
    config: Config, nursery: trio.Nursery
) -> None:
    first: Server = await nursery.start(Server(config).run)
    await make_org(first, "acme")
    async with Api.open(first.base_url, admin_token("acme")) as acme:
        await claim(acme, "acme", ["status.acme.test"])
    await first.stop()
    second: Server = await nursery.start(Server(config).run)
    try:
        async with Api.open(second.base_url) as reader:
            served = await reader.get("/api/v2/status.json", headers=on("status.acme.test"))
            assert served.status_code == 200 and served.json()["page"]["name"] == "Acme"
        async with Api.open(second.base_url, token("acme", "owner")) as owner:
            assert (await owner.delete("/api/v1/orgs/acme")).status_code == 200
        async with Api.open(second.base_url, admin_token()) as api:
            await claim(api, "demo", ["status.acme.test"])  # free again
    finally:
        await second.stop()


# -- serving -----------------------------------------------------------------------


async def test_every_public_document_is_at_the_root_of_a_claimed_host(
    server: Server, api: Api
) -> None:
    incident, maintenance = await incident_and_maintenance(api)
    await claim(api, "demo", [HOST])
    pages = {
        "/": "text/html",
        "/history": "text/html",
        f"/incidents/{incident}": "text/html",
        f"/maintenances/{maintenance}": "text/html",
        "/history.rss": "application/rss+xml",
        "/history.atom": "application/atom+xml",
        "/badge.svg": "image/svg+xml",
        "/services/API/badge.svg": "image/svg+xml",
        **{f"/api/v2/{name}": "application/json" for name in DOCUMENTS},
    }
    async with Api.open(server.base_url) as reader:
        for path, kind in pages.items():
            at_root = await reader.get(path, headers=on(HOST))
            assert at_root.status_code == 200, (path, at_root.text)
            assert at_root.headers["Content-Type"].startswith(kind), path
            usual = await reader.get("/status/demo" + ("" if path == "/" else path))
            if kind == "application/json":
                here = f"http://127.0.0.1:{server.port}/status/demo"
                assert at_root.text == usual.text.replace(here, f"http://{HOST}"), path
            elif kind == "image/svg+xml":
                assert at_root.text == usual.text, path
        missing = await reader.get("/incidents/nothing-here", headers=on(HOST))
        assert missing.status_code == 404
        assert "no incident &#39;nothing-here&#39;" in missing.text


async def test_the_server_s_own_paths_stay_what_they_are_on_a_claimed_host(
    server: Server, api: Api
) -> None:
    await claim(api, "demo", [HOST])
    async with Api.open(server.base_url, admin_token()) as member:
        org = await member.get("/api/v1/orgs/demo", headers=on(HOST))
        assert org.status_code == 200 and org.json()["slug"] == "demo"
        assert (await member.get("/health", headers=on(HOST))).json() == {"status": "ok"}
        console = await member.get("/admin", headers=on(HOST))
        assert console.status_code == 200 and "text/html" in console.headers["Content-Type"]
        assert (await member.get("/static/status.js", headers=on(HOST))).status_code == 200
        assert (await member.get("/ws", headers=on(HOST))).status_code == 426
        usual = await member.get("/status/demo/api/v2/status.json", headers=on(HOST))
        assert usual.json()["page"]["url"] == f"http://{HOST}/status/demo"
        # A name nobody claimed is the server's own front page.
        front = await member.get("/", headers=on("elsewhere.test"))
        assert front.status_code == 200 and "Switchboard" in front.text
        none = await member.get("/api/v2/summary.json", headers=on("elsewhere.test"))
        assert none.status_code == 404


async def test_links_use_the_host_and_scheme_the_reader_came_through(
    server: Server, api: Api
) -> None:
    incident, maintenance = await incident_and_maintenance(api)
    await claim(api, "demo", [HOST])
    root = f"http://{HOST}:8443"
    async with Api.open(server.base_url) as reader:
        summary = (await reader.get("/api/v2/summary.json", headers=on(f"{HOST}:8443"))).json()
        assert summary["page"]["url"] == root
        (shown,) = summary["incidents"]
        assert shown["shortlink"] == f"{root}/incidents/{incident}"
        (upcoming,) = summary["scheduled_maintenances"]
        assert upcoming["shortlink"] == f"{root}/maintenances/{maintenance}"
        # The same document through the server's own name links there.
        usual = (await reader.get("/status/demo/api/v2/summary.json")).json()
        assert usual["page"]["url"] == f"{server.base_url}/status/demo"
        assert usual["incidents"][0]["shortlink"] == (
            f"{server.base_url}/status/demo/incidents/{incident}"
        )
        rss = ET.fromstring((await reader.get("/history.rss", headers=on(HOST))).text)
        assert rss.findtext("channel/link") == f"http://{HOST}"
        links = {item.findtext("title"): item.findtext("link") for item in rss.iter("item")}
        assert links == {
            "Slow logins": f"http://{HOST}/incidents/{incident}",
            "Disk swap": f"http://{HOST}/maintenances/{maintenance}",
        }
        atom = ET.fromstring((await reader.get("/history.atom", headers=on(HOST))).text)
        assert atom.find(f"{ATOM}link[@rel='self']").get("href") == f"http://{HOST}/history.atom"  # type: ignore[union-attr]
        page = (await reader.get("/", headers=on(HOST))).text
        for link in ("/history", f"/incidents/{incident}", f"/maintenances/{maintenance}"):
            assert f'href="{link}"' in page, link
        assert '"root":""' in page.replace(" ", "")  # what status.js links with
        assert 'action="/subscribe"' in page or "subscribe" not in page
        assert "/status/demo" not in page
        usual_page = (await reader.get("/status/demo")).text
        assert f'href="/status/demo/incidents/{incident}"' in usual_page


async def test_an_untrusted_peer_does_not_choose_the_links(server: Server, api: Api) -> None:
    forged = {"X-Forwarded-Host": "evil.test", "X-Forwarded-Proto": "https"}
    async with Api.open(server.base_url) as reader:
        status = (await reader.get("/status/demo/api/v2/status.json", headers=forged)).json()
    assert status["page"]["url"] == f"{server.base_url}/status/demo"


@pytest.fixture
async def behind_proxy(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The server behind a trusted proxy on loopback."""
    proxied = dataclasses.replace(config, trusted_proxies=("127.0.0.1",))
    running: Server = await nursery.start(Server(proxied).run)
    yield running
    await running.stop()


async def test_behind_a_trusted_proxy_the_forwarded_host_and_scheme_count(
    behind_proxy: Server,
) -> None:
    async with Api.open(behind_proxy.base_url, admin_token()) as api:
        await claim(api, "demo", [HOST])
    # The proxy talks to the server by its own name, and says which one the reader used.
    forwarded = {"Host": "backend:8080", "X-Forwarded-Host": HOST, "X-Forwarded-Proto": "https"}
    async with Api.open(behind_proxy.base_url) as reader:
        summary = await reader.get("/api/v2/summary.json", headers=forwarded)
        assert summary.status_code == 200 and summary.json()["page"]["url"] == f"https://{HOST}"
        rss = ET.fromstring((await reader.get("/history.rss", headers=forwarded)).text)
        assert rss.findtext("channel/link") == f"https://{HOST}"
        # A proxy that appends: the value it wrote (the last) is the one believed.
        appended = {**forwarded, "X-Forwarded-Proto": "http, https"}
        status = (await reader.get("/api/v2/status.json", headers=appended)).json()
        assert status["page"]["url"] == f"https://{HOST}"


# -- one tenant ----------------------------------------------------------------------


@pytest.fixture
async def single(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The server with --default-org demo."""
    running: Server = await nursery.start(
        Server(dataclasses.replace(config, default_org="demo")).run
    )
    yield running
    await running.stop()


async def test_the_default_organization_is_at_the_root_of_every_other_name(
    single: Server,
) -> None:
    await make_org(single, "acme")
    async with Api.open(single.base_url, admin_token("acme")) as acme:
        await claim(acme, "acme", ["status.acme.test"])
    async with Api.open(single.base_url, admin_token()) as api:
        incident, maintenance = await incident_and_maintenance(api)
        paths = [
            "/",
            "/history",
            f"/incidents/{incident}",
            f"/maintenances/{maintenance}",
            "/history.rss",
            "/history.atom",
            "/badge.svg",
            "/services/API/badge.svg",
            *(f"/api/v2/{name}" for name in DOCUMENTS),
        ]
        for path in paths:
            response = await api.get(path)
            assert response.status_code == 200, (path, response.text)
        summary = (await api.get("/api/v2/summary.json")).json()
        assert summary["page"]["name"] == "Demo Inc." and summary["page"]["url"] == single.base_url
        assert summary["incidents"][0]["shortlink"] == f"{single.base_url}/incidents/{incident}"
        page = (await api.get("/")).text
        assert "<title>Demo Inc. status</title>" in page and 'href="/history"' in page
        # Any name at all; a claimed one serves its own organization.
        elsewhere = await api.get("/api/v2/status.json", headers=on("anything.example"))
        assert elsewhere.json()["page"]["url"] == "http://anything.example"
        acme = await api.get("/api/v2/status.json", headers=on("status.acme.test"))
        assert acme.json()["page"]["name"] == "Acme"
        # The server's own paths, and every organization's usual ones, stay.
        assert (await api.get("/api/v1/orgs/demo")).json()["slug"] == "demo"
        assert (await api.get("/admin")).status_code == 200
        acme_usual = await api.get("/status/acme/api/v2/status.json")
        assert acme_usual.json()["page"]["url"] == f"{single.base_url}/status/acme"


async def test_serve_takes_the_default_organization_from_a_flag_or_the_environment(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = await ServerProcess.start(
        database_url, str(tmp_path), "--demo", "--default-org", "demo"
    )
    try:
        async with Api.open(process.base_url) as reader:
            page = await reader.get("/")
            assert page.status_code == 200 and "<title>Demo Inc. status</title>" in page.text
    finally:
        assert await process.stop() == 0
    monkeypatch.setenv("SWITCHBOARD_DEFAULT_ORG", "acme")
    assert Config.from_env().default_org == "acme"
    assert Config.from_env(default_org="demo").default_org == "demo"  # the flag wins


# -- cross-origin reads ----------------------------------------------------------------

ORIGIN = {"Origin": "https://widgets.example"}


async def test_public_answers_allow_any_origin_and_show_their_etag(
    server: Server, api: Api
) -> None:
    await claim(api, "demo", [HOST])
    async with Api.open(server.base_url) as reader:
        answers = {
            "document": await reader.get("/status/demo/api/v2/summary.json", headers=ORIGIN),
            "at the root": await reader.get("/api/v2/summary.json", headers={**ORIGIN, **on(HOST)}),
            "page": await reader.get("/status/demo", headers=ORIGIN),
            "feed": await reader.get("/status/demo/history.atom", headers=ORIGIN),
            "badge": await reader.get("/status/demo/badge.svg", headers=ORIGIN),
            "no such document": await reader.get(
                "/status/demo/api/v2/nothing.json", headers=ORIGIN
            ),
            "no such page": await reader.get("/status/nobody/api/v2/summary.json", headers=ORIGIN),
            "no such path": await reader.get("/status/demo/no/such/path", headers=ORIGIN),
            "not at the root": await reader.get("/nothing.json", headers={**ORIGIN, **on(HOST)}),
        }
        etag = answers["document"].headers["ETag"]
        answers["not modified"] = await reader.get(
            "/status/demo/api/v2/summary.json", headers={**ORIGIN, "If-None-Match": etag}
        )
    for what, response in answers.items():
        assert response.headers.get("Access-Control-Allow-Origin") == "*", what
        exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Retry-After"} <= exposed, what
    assert answers["not modified"].status_code == 304
    assert {r.status_code for k, r in answers.items() if k.startswith(("no ", "not at"))} == {404}


async def test_preflights_are_answered_for_reading(server: Server, api: Api) -> None:
    await claim(api, "demo", [HOST])
    ask = {
        **ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match, x-requested-with",
    }
    async with Api.open(server.base_url) as reader:
        for path, headers in [
            ("/status/demo/api/v2/summary.json", ask),
            ("/api/v2/summary.json", {**ask, **on(HOST)}),
            ("/status/demo/api/v2/nothing.json", ask),
        ]:
            answer = await reader.request("OPTIONS", path, headers=headers)
            assert answer.status_code == 204, path
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert answer.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
            assert answer.headers["Access-Control-Allow-Headers"] == (
                "if-none-match, x-requested-with"
            )
            assert int(answer.headers["Access-Control-Max-Age"]) > 0
        # Writing is not offered to other origins.
        post = await reader.request(
            "OPTIONS",
            "/status/demo/subscribe",
            headers={**ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert "POST" not in post.headers["Access-Control-Allow-Methods"]
        # The API of members is no public document.
        members = await reader.request("OPTIONS", "/api/v1/orgs/demo", headers=ask)
        assert "Access-Control-Allow-Origin" not in members.headers


@pytest.mark.parametrize("limits", [Limits(public_per_second=0.01, public_burst=2)])
async def test_a_rate_limited_reader_is_told_so_across_origins(server: Server) -> None:
    async with Api.open(server.base_url) as reader:
        answers = [
            await reader.get("/status/demo/api/v2/status.json", headers=ORIGIN) for _ in range(3)
        ]
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]
    assert int(limited.headers["Retry-After"]) >= 1
