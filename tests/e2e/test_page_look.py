"""An organization's public page in its own look: logo, accent colour (as a
stylesheet, since the page's Content-Security-Policy allows no inline
style), header links, footer text and time zone."""

from __future__ import annotations

import re

from support import Api

ORG = "/api/v1/orgs/demo"


async def test_the_page_wears_the_look_the_settings_give(api: Api) -> None:
    look = {
        "logo_url": "https://cdn.example.com/acme/logo.svg",
        "accent_color": "#1A5FB4",
        "header_links": [
            {"label": "Home", "url": "https://example.com/"},
            {"label": "Support <24/7>", "url": "/status/demo/history"},
        ],
        "footer_text": "Demo Inc. & friends\nhelp@example.com",
    }
    changed = await api.ok("PATCH", ORG, look)
    assert changed["accent_color"] == "#1a5fb4"
    incident = await api.ok("POST", f"{ORG}/incidents", {"name": "Look test"}, status=201)

    for path in (
        "/status/demo",
        "/status/demo/history",
        f"/status/demo/incidents/{incident['id']}",
    ):
        response = await api.get(path)
        page = response.text
        assert '<img id="org-logo" class="logo" src="https://cdn.example.com/acme/logo.svg"' in page
        assert (
            '<link rel="stylesheet" href="/status/demo/theme.css?v=1a5fb4" id="org-theme">' in page
        )
        assert '<li><a href="https://example.com/">Home</a></li>' in page
        assert "Support &lt;24/7&gt;" in page  # text, never markup
        assert "Demo Inc. &amp; friends\nhelp@example.com</p>" in page
        csp = response.headers["Content-Security-Policy"]
        assert "img-src 'self' https://cdn.example.com data:;" in csp, path
        assert "style-src 'self';" in csp  # still no inline style

    theme = await api.get("/status/demo/theme.css?v=1a5fb4")
    assert theme.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "immutable" in theme.headers["Cache-Control"]
    assert ":root { --accent: #1a5fb4; --link: #1a5fb4; --focus: #1a5fb4; }" in theme.text
    assert ':root[data-theme="dark"] { --accent: #5387c7;' in theme.text
    stale = await api.get("/status/demo/theme.css?v=000000")
    assert stale.headers["Cache-Control"] == "no-cache"

    # Taken away: the plain page, and its plain policy.
    await api.ok(
        "PATCH",
        ORG,
        {"logo_url": None, "accent_color": None, "header_links": [], "footer_text": ""},
    )
    response = await api.get("/status/demo")
    assert 'id="org-logo" class="logo" hidden' in response.text
    assert 'href="/status/demo/theme.css?v=none"' in response.text
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]
    assert "--accent" not in (await api.get("/status/demo/theme.css")).text


async def test_a_logo_from_this_server_needs_no_other_origin(api: Api) -> None:
    await api.ok("PATCH", ORG, {"logo_url": "/static/favicon.svg"})
    response = await api.get("/status/demo")
    assert 'src="/static/favicon.svg"' in response.text
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]


async def test_an_accent_that_would_not_read_is_refused_with_the_reason(api: Api) -> None:
    answer = await api.request("PATCH", ORG, {"accent_color": "#FFCC00"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "accent_color"
    assert error["message"] == (
        "accent_color #ffcc00 has a contrast of 1.41:1 on the page's light background"
        " (#f6f7f9); links and buttons need at least 4.5:1 (WCAG AA)."
        " #8a6e00 is a darker shade of it that passes"
    )
    assert (await api.ok("GET", ORG))["accent_color"] is None


async def test_times_are_shown_in_the_organizations_zone(api: Api) -> None:
    await api.ok("POST", f"{ORG}/incidents", {"name": "Zone test"}, status=201)
    page = (await api.get("/status/demo")).text
    assert re.search(r"<time datetime=\"[^\"]+\">\w{3} \d+, \d\d:\d\d UTC</time>", page)
    await api.ok("PATCH", ORG, {"time_zone": "Asia/Kolkata"})
    page = (await api.get("/status/demo")).text
    assert re.search(r"\d\d:\d\d UTC\+5:30</time>", page)
    assert '"time_zone": "Asia/Kolkata"' in page  # for the script
    summary = (await api.get("/status/demo/api/v2/summary.json")).json()
    assert summary["page"]["time_zone"] == "Asia/Kolkata"
    answer = await api.request("PATCH", ORG, {"time_zone": "Mars/Olympus"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "time_zone"
