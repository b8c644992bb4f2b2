"""Public documents on the listener's fast road and through the framework
answer alike: status, every header but Date (in any order) and body, byte for
byte; plain and gzip, GET and HEAD, 200 and 304 and 429; under /status/{org},
at the root of a custom domain and under --default-org; and the static
files the pages load.

Each request goes three times over one keep-alive connection: through Quart
(the listener's fast road turned off), then on the fast road twice (the first
made by the app in the listener's process, the second from what was kept).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import h11
import pytest
import trio
import trio.testing
from metrics_support import scrape
from support import TIMEOUT, Api, admin_token
from test_domains import incident_and_maintenance

from server.config import Config, Limits
from server.domain.statuspage import DOCUMENTS
from server.main import Server
from server.rest.web import ASSETS

HOST = "status.fast.test"
GZIP = (("Accept-Encoding", "gzip, deflate, br"),)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@pytest.fixture
def limits() -> Limits:
    """Every document, three times over: more than the default burst."""
    return Limits(public_burst=10_000)


class Client:
    """One keep-alive HTTP/1.1 connection, read with h11 (HEAD answers have no body)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, server: Server) -> Client:
        host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
        return cls(await trio.open_tcp_stream(host, int(port)))

    async def ask(
        self, target: str, headers: Sequence[tuple[str, str]] = (), *, method: str = "GET"
    ) -> Answer:
        names = {name.lower() for name, _ in headers}
        fields = [*headers] if "host" in names else [("Host", "t"), *headers]
        data = self.conn.send(h11.Request(method=method, target=target, headers=fields))
        data += self.conn.send(h11.EndOfMessage())  # type: ignore[operator]
        await self.stream.send_all(data)
        status, found, body = 0, [], b""
        with trio.fail_after(TIMEOUT):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status, found = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise AssertionError(f"unexpected {event!r}")
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return status, found, body


def same(answer: Answer) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What must be the same on both roads: all but the Date, in any order."""
    status, headers, body = answer
    return status, sorted((n, v) for n, v in headers if n != b"date"), body


def header(answer: Answer, name: bytes) -> bytes | None:
    return next((v for n, v in answer[1] if n == name), None)


Request = tuple[str, tuple[tuple[str, str], ...], str]


async def both_roads(
    server: Server, requests: Sequence[Request], *, kept: bool = True
) -> list[Answer]:
    """Each request through Quart, then twice on the fast road; the answers
    (checked to be the same, and the last pass served from what was kept;
    unless ``kept`` is False: then each request has a connection of its own)."""
    listener, fast = server.listener, server.listener and server.listener.fast
    assert listener is not None and fast is not None
    passes: list[list[Answer]] = []
    for road in ("framework", "fast", "fast"):
        listener.fast_reads = road == "fast"
        answered = fast.answered
        if kept:  # all over one connection
            client = await Client.open(server)
            async with client.stream:
                passes.append([await client.ask(t, h, method=m) for t, h, m in requests])
        else:  # a connection each (one handed to the framework stays there)
            passes.append([])
            for t, h, m in requests:
                client = await Client.open(server)
                async with client.stream:
                    passes[-1].append(await client.ask(t, h, method=m))
        if len(passes) == 3 and kept:
            assert fast.answered - answered == len(requests), "not all from what was kept"
    framework, made, kept = passes
    for request, a, b, c in zip(requests, framework, made, kept, strict=True):
        assert same(a) == same(b) == same(c), request
        assert header(c, b"date") is not None
    return framework


async def make_org_busy(api: Api) -> dict[str, str]:
    """An incident going on, one resolved, a maintenance, a monitor (paused,
    so that nothing changes while the roads are compared); their ids."""
    going, maintenance = await incident_and_maintenance(api)
    past = await api.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Queue backlog", "body": "Looking.", "services": {"API": "partial_outage"}},
        status=201,
    )
    await api.ok("POST", f"/api/v1/orgs/demo/incidents/{past['id']}/resolve", {"body": "Done."})
    monitor = await api.ok(
        "POST",
        "/api/v1/orgs/demo/monitors",
        {
            "service": "API",
            "kind": "http",
            "name": "API health",
            "spec": {"url": "http://127.0.0.1:9/health"},
            "paused": True,
        },
        status=201,
    )
    services = await api.ok("GET", "/api/v1/orgs/demo/services")
    return {
        "incident": going,
        "resolved": past["id"],
        "maintenance": maintenance,
        "monitor": monitor["id"],
        "service": services["data"][0]["id"],
    }


def documents(ids: dict[str, str]) -> list[str]:
    """Every public document of the demo, relative to its page."""
    return [
        "",
        "/history",
        "/history?page=1",
        f"/incidents/{ids['incident']}",
        f"/incidents/{ids['resolved']}",
        f"/maintenances/{ids['maintenance']}",
        "/history.rss",
        "/history.atom",
        "/badge.svg",
        "/badge.svg?label=our%20status",
        "/services/API/badge.svg",
        f"/services/{ids['service']}/badge.svg",
        f"/monitors/{ids['monitor']}/uptime.svg",
        f"/monitors/{ids['monitor']}/uptime.svg?window=7d",
        f"/monitors/{ids['monitor']}/response-time.svg",
        f"/monitors/{ids['monitor']}/certificate.svg",
        *(f"/api/v2/{name}" for name in DOCUMENTS),
    ]


def variants(targets: Sequence[str], host: tuple[tuple[str, str], ...] = ()) -> list[Request]:
    return [
        (target, host + encoding, method)
        for target in targets
        for encoding in ((), GZIP)
        for method in ("GET", "HEAD")
    ]


async def compare_everything(
    server: Server, targets: Sequence[str], host: tuple[Any, ...]
) -> list[Answer]:
    """Every variant of ``targets``, and again with each one's ETag, compared
    on both roads; the first answers."""
    answers = await both_roads(server, variants(targets, host))
    assert all(status == 200 for status, _, _ in answers), [a[0] for a in answers]
    # Asked again with the ETag each gave: 304s, the same on both roads.
    conditional = [
        (target, (*headers, ("If-None-Match", etag.decode())), method)
        for (target, headers, method), answer in zip(variants(targets, host), answers, strict=True)
        if (etag := header(answer, b"etag")) is not None
    ]
    assert len(conditional) > len(targets)  # the documents with an ETag
    again = await both_roads(server, conditional)
    assert all(status == 304 for status, _, _ in again), [a[0] for a in again]
    return answers


async def test_every_public_document_is_the_same_on_both_roads(server: Server, api: Api) -> None:
    ids = await make_org_busy(api)
    await compare_everything(server, [f"/status/demo{d}" for d in documents(ids)], ())
    # What the road did is in the metrics.
    found = await scrape(server.base_url)
    answered = found.value("switchboard_fast_reads_total", outcome="answered")
    assert answered >= 2 * len(documents(ids)) and found.value(
        "switchboard_fast_reads_total", outcome="made"
    ) >= len(documents(ids))


async def test_and_at_the_root_of_a_custom_domain(server: Server, api: Api) -> None:
    ids = await make_org_busy(api)
    await api.ok("PATCH", "/api/v1/orgs/demo", {"domains": [HOST]})
    targets = [d or "/" for d in documents(ids)]
    await compare_everything(server, targets, (("Host", HOST),))
    # /status/... on that host keeps its meaning, links and all.
    await compare_everything(
        server, ["/status/demo", "/status/demo/history.rss"], (("Host", HOST),)
    )


async def test_and_the_static_files_the_pages_load(server: Server) -> None:
    """What a new reader's browser fetches with the page: each file, as the
    pages link to it (cached for a year) and plainly (revalidated)."""
    targets = [url for name in ASSETS.files for url in (ASSETS.url(name), f"/static/{name}")]
    assert len(targets) > 20
    buckets = server.listener.fast.buckets if server.listener and server.listener.fast else None
    assert buckets is not None
    await compare_everything(server, targets, ())
    # Not rate limited, on either road: not one token taken from the buckets.
    assert not buckets.buckets


async def test_links_shared_with_tracking_parameters_get_the_kept_document(
    server: Server, api: Api
) -> None:
    """A crowd from a shared link brings campaign tags and a click id each:
    the document is the one without them, answered from what was kept."""
    ids = await make_org_busy(api)
    plain = [
        "/status/demo",
        "/status/demo/history?page=1",
        f"/status/demo/incidents/{ids['incident']}",
        "/status/demo/api/v2/summary.json",
        "/status/demo/badge.svg?label=ours",
        ASSETS.url("status.js"),
    ]
    await both_roads(server, variants(plain))
    fast = server.listener.fast if server.listener else None
    assert fast is not None
    made = fast.made
    tagged = [
        f"{target}{'&' if '?' in target else '?'}{tags}"
        for target in plain
        for tags in (
            "utm_source=mastodon&utm_medium=social",
            "fbclid=IwAR3xYz_0-abc",
            "gclid=Cj0KCQ.x~y&utm_campaign=outage_2026",
        )
    ]
    answers = await both_roads(server, variants(tagged))
    assert all(status == 200 for status, _, _ in answers)
    assert fast.made == made  # every one on the fast road was the kept document's


@pytest.fixture
async def other_server(
    config: Config, nursery: trio.Nursery, request: Any
) -> AsyncIterator[Server]:
    """The server with other settings (``request.param``: Config's fields)."""
    running: Server = await nursery.start(Server(dataclasses.replace(config, **request.param)).run)
    yield running
    await running.stop()


@pytest.mark.parametrize("other_server", [{"default_org": "demo"}], indirect=True)
async def test_and_under_a_default_org(other_server: Server) -> None:
    server = other_server
    async with Api.open(server.base_url, admin_token("demo")) as api:
        ids = await make_org_busy(api)
    targets = [d or "/" for d in documents(ids)]
    await compare_everything(server, targets, (("Host", "anything.test"),))


@pytest.mark.parametrize("other_server", [{"trusted_proxies": ("127.0.0.0/8",)}], indirect=True)
async def test_and_behind_a_trusted_proxy(other_server: Server) -> None:
    """The host and scheme a trusted proxy says the reader used make the links."""
    server = other_server
    async with Api.open(server.base_url, admin_token("demo")) as api:
        ids = await make_org_busy(api)
        await api.ok("PATCH", "/api/v1/orgs/demo", {"domains": [HOST]})
    proxied = (
        ("Host", "10.0.0.5:8080"),
        ("X-Forwarded-Host", HOST),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-For", "203.0.113.7"),
    )
    targets = [d or "/" for d in documents(ids)]
    answers = await compare_everything(server, targets, proxied)
    linked = [body for _, _, body in answers if f"https://{HOST}/".encode() in body]
    assert len(linked) >= 5  # the feeds and the Statuspage documents at least


@pytest.mark.parametrize("limits", [Limits(public_per_second=0.1, public_burst=3)])
async def test_over_the_rate_limit_both_roads_say_429_alike(
    server: Server, clock: trio.testing.MockClock
) -> None:
    listener = server.listener
    assert listener is not None and listener.fast is not None
    asked = "/status/demo/api/v2/status.json"
    client = await Client.open(server)
    async with client.stream:
        for _ in range(3):  # the burst: made once, then from what was kept
            assert (await client.ask(asked))[0] == 200
        clock.rate = 0  # time stands still: every 429 says the same Retry-After
        try:
            fast = [await client.ask(asked) for _ in range(2)]  # the app's, then kept
            listener.fast_reads = False
            async with (framework_client := await Client.open(server)).stream:
                framework = await framework_client.ask(asked)
        finally:
            clock.rate = 1
    assert framework[0] == 429 and int(header(framework, b"retry-after") or 0) >= 1
    assert same(fast[0]) == same(fast[1]) == same(framework)


async def test_what_the_fast_road_does_not_keep_the_framework_answers(
    server: Server, api: Api
) -> None:
    """Errors, unknown organizations and query parameters no route reads: the
    framework's answers, whichever road the request came by."""
    listener = server.listener
    assert listener is not None and listener.fast is not None
    targets = [
        "/status/demo?source=mail",
        # Tracking parameters with values only the app may judge.
        "/status/demo?utm_source=a%20b",
        "/status/demo?fbclid=%01",
        "/status/demo/api/v2/summary.json?callback=x",
        "/status/demo/api/v2/nothing.json",
        "/status/demo/incidents/nothing",
        "/status/demo/history?page=none",
        "/status/nobody",
        "/status/nobody/badge.svg",
        "/status/demo/services/nothing/badge.svg",
        "/status/demo/history/",
        "/status/demo/%62adge.svg",
        # What the page's script reads: dated by the clock too, the framework's.
        "/status/demo/days.json",
        "/status/demo/response-times.json",
        "/status/demo/theme.css",
        # A static file under a hash it does not have, or none at all.
        "/static/status.js?v=0123456789abcdef",
        "/static/status.js?v=1&utm_source=x",
        "/static/nothing.js",
    ]
    handed, made = listener.fast.handed, listener.fast.made
    answers = await both_roads(server, variants(targets), kept=False)
    assert [a[0] for a in answers[::4]] == [
        *(200, 200, 422, 200, 404, 404, 422, 404, 404, 404, 404, 200),
        *(200, 200, 200),
        *(200, 200, 404),
    ]
    assert listener.fast.handed > handed and listener.fast.made > made


async def test_a_reader_that_falls_behind_gets_every_answer_in_order(server: Server) -> None:
    """Answers that do not fit the socket at once are written as the reader
    takes them (by the connection's task, under the write-stall bound)."""
    client = await Client.open(server)
    async with client.stream:
        for _ in range(3):  # made (twice: the first drew its bars), then kept
            first = await client.ask("/status/demo")  # and the connection waits with the loop
        asked = h11.Request(method="GET", target="/status/demo", headers=[("Host", "t")])
        with trio.fail_after(TIMEOUT):
            await client.stream.send_all(b"GET /status/demo HTTP/1.1\r\nHost: t\r\n\r\n" * 200)
            await trio.sleep(0.2)  # (not a measurement: the server gets ahead of the reader)
            bodies: list[bytes] = []
            while len(bodies) < 200:  # megabytes of answers, read now
                client.conn.send(asked)
                client.conn.send(h11.EndOfMessage())
                body = b""
                while not isinstance(event := client.conn.next_event(), h11.EndOfMessage):
                    if event is h11.NEED_DATA:
                        client.conn.receive_data(await client.stream.receive_some(65536))
                    elif isinstance(event, h11.Data):
                        body += event.data
                bodies.append(body)
                client.conn.start_next_cycle()
    assert set(bodies) == {first[2]} and len(first[2]) > 10_000


async def test_waiting_connections_end_when_the_server_stops(server: Server) -> None:
    listener = server.listener
    assert listener is not None and listener.fast is not None
    client = await Client.open(server)
    async with client.stream:
        for _ in range(2):  # the second from the loop the connection waits with
            assert (await client.ask("/status/demo/badge.svg"))[0] == 200
        assert len(listener.fast.parked) == 1
        with trio.fail_after(TIMEOUT):
            await server.stop()
            assert await client.stream.receive_some(100) == b""


async def test_figured_documents_are_stamped_with_the_figures_they_show(
    server: Server, api: Api
) -> None:
    """What the road watches for the status page and a monitor's badge is
    what their routes keep their figures under: else an answer would stand
    past its figures' time, or a figure the page came to show would be missed."""
    from server.fastreads import route

    listener = server.listener
    assert listener is not None and listener.fast is not None
    kept = listener.fast.drawings
    monitor = (await make_org_busy(api))["monitor"]
    badges = ("uptime.svg?window=7d", "uptime.svg", "response-time.svg", "certificate.svg")
    for target in ["/status/demo", *(f"/status/demo/monitors/{monitor}/{b}" for b in badges)]:
        client = await Client.open(server)
        async with client.stream:
            assert (await client.ask(target))[0] == 200
        found = route(target.encode(), None)
        assert found is not None
        watched = {key for _, key in found.extra}
        if target == "/status/demo":  # every figure of the page's, and only those
            assert {k for k in kept.figures if k[1] == "org:demo"} == watched
        else:
            assert watched & set(kept.badge_figures), target
