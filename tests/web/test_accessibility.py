"""The public pages pass an automated accessibility check (axe-core) in both
themes and at a phone's width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from accessibility import in_every_look, violations


def test_the_public_pages_pass_axe(web_server: Any, page: Any) -> None:
    web_server.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Checkout slow"})
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    window = {
        "scheduled_for": start.isoformat(),
        "scheduled_until": (start + timedelta(hours=1)).isoformat(),
    }
    maintenance = web_server.ok(
        "POST", "/api/v1/orgs/demo/maintenances", {"name": "Disk swap", **window}
    )
    for where, path in (
        ("status page", "/status/demo"),
        ("history", "/status/demo/history"),
        ("maintenance page", f"/status/demo/maintenances/{maintenance['id']}"),
        ("front page", "/"),
    ):
        in_every_look(page, where, f"{web_server.url}{path}")


def test_the_check_finds_what_is_wrong(web_server: Any, page: Any) -> None:
    page.goto(f"{web_server.url}/status/demo")
    page.evaluate("document.body.append(Object.assign(document.createElement('img'), {src: '/x'}))")
    assert "image-alt" in {v["id"] for v in violations(page)}
