"""Monitors in ``GET /metrics``, as Uptime Kuma exports them: their status and
response time after real checks of a target the test runs, a maintenance,
and a certificate's days left as a remote probe saw them."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import trio
import trustme
from metrics_support import Scrape, scrape
from monitor_support import ORG, Probes, make, reporting
from support import Api, eventually, shown
from target import HttpServer, Reply, listen

from server.main import Server


async def monitor_shows(
    base_url: str, metric: str, monitor_id: str, wanted: float, within: float = 15
) -> Scrape:
    """The scrape once ``metric`` of the monitor is ``wanted`` (verdicts come a
    moment after their results; the hang guard is generous)."""

    async def look() -> Scrape | None:
        found = await scrape(base_url)
        values = found.find(metric, monitor_id=monitor_id)
        return found if values == [wanted] else None

    return await eventually(look, f"{metric} of {monitor_id} to be {wanted}", within=within)


async def test_a_monitor_s_status_and_response_time_follow_its_checks(
    server: Server, api: Api, web: HttpServer
) -> None:
    web.routes["/checkout"] = Reply(200, b"ok")
    url = web.url("/checkout").replace("://", "://probe:s3cret@")
    monitor = await make(api, name="Checkout", spec={"url": url}, paused=True)
    assert (await scrape(server.base_url)).find("monitor_status", monitor_id=monitor["id"]) == []
    await api.ok("PATCH", f"{ORG}/monitors/{monitor['id']}", {"paused": False})
    before = await scrape(server.base_url)

    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    up = await monitor_shows(server.base_url, "monitor_status", monitor["id"], 1)
    assert up.labels("monitor_status", monitor_id=monitor["id"]) == {
        "org": "demo",
        "monitor_id": monitor["id"],
        "monitor_name": "Checkout",
        "monitor_type": "http",
        "monitor_url": web.url("/checkout"),  # the password is not shown
        "monitor_hostname": "",
        "monitor_port": "",
    }

    web.routes["/checkout"] = Reply(503, b"no")
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    down = await monitor_shows(server.base_url, "monitor_status", monitor["id"], 0)
    results = await shown(  # written to the database within a second or so
        api, f"{ORG}/monitors/{monitor['id']}/results", lambda body: len(body["data"]) >= 2
    )
    latencies = {r["latency_ms"] for r in results["data"]}
    measured = down.value("monitor_response_time", monitor_id=monitor["id"])
    assert round(measured, 1) in latencies  # the last result's, as stored
    grew = down.value(
        "switchboard_check_results_total", region="local", outcome="down"
    ) - before.value("switchboard_check_results_total", region="local", outcome="down")
    assert grew >= 1
    assert down.value("switchboard_monitors") == before.value("switchboard_monitors")

    now = datetime.now(UTC)
    await api.ok(
        "POST",
        f"{ORG}/maintenances",
        {
            "name": "Checkout upgrade",
            "scheduled_for": (now - timedelta(minutes=1)).isoformat(),
            "scheduled_until": (now + timedelta(hours=1)).isoformat(),
            "services": ["API"],
        },
        status=201,
    )
    await monitor_shows(server.base_url, "monitor_status", monitor["id"], 3)


def leaf_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def test_a_certificate_s_days_left_as_a_remote_probe_saw_them(
    server: Server, api: Api, probes: Probes, nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A TLS monitor checked by a ``switchboard probe`` process that trusts the
    test's authority: the certificate's expiry travels in its report."""
    authority = trustme.CA()
    expires = datetime.now(UTC) + timedelta(days=40)
    leaf = authority.issue_cert("127.0.0.1", not_after=expires)
    trusted = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(trusted))
    tls = HttpServer("https")
    tls.port = await listen(
        nursery, partial(trio.serve_ssl_over_tcp, ssl_context=leaf_context(leaf)), tls.handle
    )
    probes.start(server.base_url, "certs", env={"SSL_CERT_FILE": str(trusted)})
    await reporting(server.base_url, "certs")
    monitor = await make(
        api,
        name="Certificate",
        kind="tls",
        regions=["certs"],
        interval=10,
        spec={"host": "127.0.0.1", "port": tls.port},
    )
    # 40 days less the seconds gone by: 39 whole days left.
    seen = await monitor_shows(
        server.base_url, "monitor_cert_days_remaining", monitor["id"], 39, within=30
    )
    assert seen.value("monitor_cert_is_valid", monitor_id=monitor["id"]) == 1
    labels = seen.labels("monitor_cert_days_remaining", monitor_id=monitor["id"])
    assert labels["monitor_type"] == "tls" and labels["monitor_url"] == ""
    assert labels["monitor_hostname"] == "127.0.0.1" and labels["monitor_port"] == str(tls.port)
    assert seen.value("switchboard_probe_up", region="certs") == 1
    assert seen.value("switchboard_probe_connected", region="certs") == 1
    assert seen.value("switchboard_probe_last_result_age_seconds", region="certs") >= 0
    assert seen.find("switchboard_check_results_total", region="certs", outcome="up")
    async with Api.open(server.base_url) as anon:  # and its public badge says the same
        answer = await anon.get(f"/status/demo/monitors/{monitor['id']}/certificate.svg")
    assert ET.fromstring(answer.content).get("aria-label") == "certificate: 39 days"
