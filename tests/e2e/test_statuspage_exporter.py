"""A Statuspage client from PyPI against the compatible API at the root of a
custom domain: ``statuspage-prometheus-exporter``, run once as its users run
it from cron, writes the metrics it read.

The exporter runs in its own process; the custom domain resolves to loopback
there the way a hosts file would make it (a name looked up as 127.0.0.1),
and every request it makes carries that name.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import trio
from support import Api

from server.main import Server

HOST = "status.exporter.test"

# The exporter's own entry point, with HOST looked up as loopback.
RUN = f"""
import socket
looked_up = socket.getaddrinfo
def getaddrinfo(host, *rest, **kw):
    return looked_up("127.0.0.1" if host == {HOST!r} else host, *rest, **kw)
socket.getaddrinfo = getaddrinfo
from statuspage_prometheus_exporter.status_monitoring import main
main()
"""


async def export_once(
    folder: Path, summary_url: str
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One run of the exporter against ``summary_url``: its metrics by name,
    each sample's labels and value."""
    place = trio.Path(folder)
    await place.mkdir(exist_ok=True)
    await (place / "services.json").write_text(
        json.dumps({"demo": {"url": summary_url, "name": "Demo"}})
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | {
        "RUN_MODE": "once",
        "METRICS_TEXTFILE_PATH": str(folder / "statuspage.prom"),
    }
    done = await trio.run_process(
        [sys.executable, "-c", RUN],
        cwd=folder,
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    said = done.stderr.decode(errors="replace")
    assert done.returncode == 0, said
    assert " - ERROR - " not in said, said
    metrics: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in (await (place / "statuspage.prom").read_text()).splitlines():
        found = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if line.startswith("#") or found is None:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        metrics.setdefault(found[1], []).append((labels, float(found[3])))
    return metrics


async def test_the_prometheus_exporter_reads_the_root_of_a_custom_domain(
    server: Server, api: Api, tmp_path: Path
) -> None:
    await api.ok("PATCH", "/api/v1/orgs/demo", {"domains": [HOST]})
    root = f"http://{HOST}:{server.port}"
    calm = await export_once(tmp_path / "calm", f"{root}/api/v2/summary.json")
    assert calm["statuspage_service_status"] == [({"service_name": "Demo"}, 1.0)]
    components = {labels["component_name"]: v for labels, v in calm["statuspage_component_status"]}
    assert components["API"] == 1.0 and components["Website"] == 1.0
    assert calm["statuspage_probe_check"] == [({"service_name": "Demo"}, 1.0)]

    incident = await api.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Slow API", "services": {"API": "partial_outage"}},
        status=201,
    )
    stormy = await export_once(tmp_path / "stormy", f"{root}/api/v2/summary.json")
    assert stormy["statuspage_service_status"] == [({"service_name": "Demo"}, 0.0)]
    components = {
        labels["component_name"]: v for labels, v in stormy["statuspage_component_status"]
    }
    assert components["API"] == 0.0 and components["Website"] == 1.0
    ((labels, active),) = stormy["statuspage_incident_info"]
    assert active == 1.0
    assert labels["incident_id"] == incident["id"] and labels["incident_name"] == "Slow API"
    # The incident's link is on the domain the exporter read, at its root.
    assert labels["shortlink"] == f"{root}/incidents/{incident['id']}"
