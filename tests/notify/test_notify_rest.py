"""The notification routes, on the whole server: channels, deliveries, the public sign-up.

The server runs with the notification blueprint registered and a notifier
started, as it will be wired; mail goes to a real SMTP server, webhooks to a
real HTTP receiver.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from notify_support import Mailbox, Receiver, Wired, error_of, expect_error, html_of, text_of
from support import Api, admin_token, eventually, token

from server.ratelimit import KeyedBuckets

ORG = "/api/v1/orgs/demo"
CHANNELS = f"{ORG}/channels"
INCIDENT = {"incident": {"id": "i1", "name": "API errors", "status": "investigating"}}


# -- channels ----------------------------------------------------------------------------------


async def test_channels_are_made_shown_changed_and_removed(api: Api, receiver: Receiver) -> None:
    made = await api.ok(
        "POST",
        CHANNELS,
        {"kind": "webhook", "name": "Ops hook", "config": {"url": receiver.url()}},
        201,
    )
    assert made["kind"] == "webhook" and made["name"] == "Ops hook" and not made["disabled"]
    assert made["config"] == {"url": receiver.url()}
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40  # shown once
    assert len(made["events"]) == 15  # all of them unless chosen
    one = f"{CHANNELS}/{made['id']}"
    shown = await api.ok("GET", one)
    assert "secret" not in shown and "secret" not in shown["config"]
    assert (await api.ok("GET", CHANNELS))["data"] == [shown]

    changed = await api.ok(
        "PATCH",
        one,
        {
            "name": "Pager",
            "events": ["incident.created"],
            "disabled": True,
            "config": {"url": receiver.url("/v2")},
        },
    )
    assert changed["name"] == "Pager" and changed["events"] == ["incident.created"]
    assert changed["disabled"] and changed["disabled_at"] is not None
    assert changed["config"] == {"url": receiver.url("/v2")}
    audit = await api.ok("GET", f"{ORG}/audit")
    actions = [(e["action"], e["target"]) for e in audit["data"]]
    assert ("channel.create", made["id"]) in actions and ("channel.update", made["id"]) in actions

    response = await api.delete(one)
    assert response.status_code == 204
    await expect_error(api, "GET", one, None, 404, "not_found", "channel")
    await expect_error(api, "DELETE", one, None, 404, "not_found", "channel")


async def test_a_new_url_keeps_the_secret(api: Api, wired: Wired, receiver: Receiver) -> None:
    made = await api.ok(
        "POST",
        CHANNELS,
        {
            "kind": "webhook",
            "name": "Signed",
            "config": {"url": receiver.url(), "secret": "s" * 20},
        },
        201,
    )
    assert "secret" not in made  # it was given, not made up
    await api.ok("PATCH", f"{CHANNELS}/{made['id']}", {"config": {"url": receiver.url("/new")}})
    (channel,) = await wired.notifier.channels("demo")
    assert channel.config == {"url": receiver.url("/new"), "secret": "s" * 20}


async def test_channel_input_is_checked_field_by_field(api: Api, receiver: Receiver) -> None:
    url = receiver.url()
    bad: list[tuple[Any, str, str | None]] = [
        ({"name": "x", "config": {"url": url}}, "invalid_field", "kind"),
        ({"kind": "pager", "name": "x", "config": {}}, "invalid_field", "kind"),
        ({"kind": "webhook", "name": "", "config": {"url": url}}, "invalid_field", "name"),
        ({"kind": "webhook", "name": "x", "config": {}}, "invalid_field", "config.url"),
        (
            {"kind": "webhook", "name": "x", "config": {"url": "ftp://x.example/"}},
            "invalid_field",
            "config.url",
        ),
        (
            {"kind": "webhook", "name": "x", "config": {"url": url, "secret": "short"}},
            "invalid_field",
            "config.secret",
        ),
        (
            {"kind": "webhook", "name": "x", "config": {"url": url, "token": "t"}},
            "invalid_field",
            "config.token",
        ),
        ({"kind": "slack", "name": "x", "config": {"url": 5}}, "invalid_field", "config.url"),
        (
            {"kind": "email", "name": "x", "config": {"to": ["ops@example.com", "nope"]}},
            "invalid_field",
            "config.to[1]",
        ),
        ({"kind": "email", "name": "x", "config": {"to": []}}, "invalid_field", "config.to"),
        (
            {"kind": "email", "name": "x", "config": {"to": "ops@example.com"}},
            "invalid_field",
            "config.to",
        ),
        (
            {"kind": "webhook", "name": "x", "config": {"url": url}, "events": []},
            "invalid_field",
            "events",
        ),
        (
            {
                "kind": "webhook",
                "name": "x",
                "config": {"url": url},
                "events": ["incident.exploded"],
            },
            "invalid_field",
            "events[0]",
        ),
        (
            {"kind": "webhook", "name": "x", "config": {"url": url}, "colour": "red"},
            "invalid_field",
            "colour",
        ),
        ([1, 2], "invalid_field", None),
    ]
    for body, code, field in bad:
        await expect_error(api, "POST", CHANNELS, body, 422, code, field)
    await expect_error(api, "POST", CHANNELS, b"{nope", 400, "invalid_json", None)

    body = {"kind": "slack", "name": "Chat", "config": {"url": url}}
    made = await api.ok("POST", CHANNELS, body, 201)
    message = await expect_error(
        api, "POST", CHANNELS, {**body, "name": "CHAT"}, 409, "conflict", "name"
    )
    assert "Chat" in message or "CHAT" in message
    one = f"{CHANNELS}/{made['id']}"
    await expect_error(api, "PATCH", one, {"kind": "email"}, 422, "invalid_field", "kind")
    await expect_error(
        api, "PATCH", one, {"config": {"url": "nope"}}, 422, "invalid_field", "config.url"
    )
    await expect_error(api, "PATCH", one, {"disabled": "yes"}, 422, "invalid_field", "disabled")
    await expect_error(api, "PATCH", f"{CHANNELS}/nope", {}, 404, "not_found", "channel")


async def test_channels_are_for_admins_of_the_organization(wired: Wired) -> None:
    base = wired.server.base_url
    async with Api.open(base) as nobody, Api.open(base, token("demo", "responder")) as responder:
        response = await nobody.get(CHANNELS)
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
        response = await responder.get(CHANNELS)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    async with Api.open(base, admin_token("other")) as stranger:
        for path in (CHANNELS, f"{ORG}/deliveries", f"{ORG}/subscribers"):
            response = await stranger.get(path)
            assert response.status_code == 403, path
    async with Api.open(base, token("*", "admin")) as operator:
        body = {"kind": "slack", "name": "x", "config": {"url": "https://hooks.example/x"}}
        response = await operator.post("/api/v1/orgs/nowhere/channels", body)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


async def test_an_email_channel_needs_a_mail_server(wired: Wired, api: Api) -> None:
    import dataclasses

    from server.notify import SmtpSettings

    notifier = wired.notifier
    notifier.settings = dataclasses.replace(notifier.settings, smtp=SmtpSettings())
    body = {"kind": "email", "name": "Mail", "config": {"to": ["ops@example.com"]}}
    message = await expect_error(api, "POST", CHANNELS, body, 422, "invalid_field", "kind")
    assert "--smtp-host" in message


async def test_a_test_notification_is_sent_and_its_outcome_shown(
    api: Api, receiver: Receiver
) -> None:
    made = await api.ok(
        "POST", CHANNELS, {"kind": "slack", "name": "Chat", "config": {"url": receiver.url()}}, 201
    )
    delivery = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert delivery["status"] == "sent" and delivery["attempts"] == 1
    assert delivery["event"] == "test" and delivery["channel_id"] == made["id"]
    (got,) = receiver.requests
    assert got.json()["text"] == "*[demo] Test notification*"
    (attachment,) = got.json()["attachments"]
    assert "This is a test notification sent by admin-tester" in attachment["text"]

    receiver.script = [502]
    failed = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert failed["status"] == "pending" and failed["attempts"] == 1  # and retried
    assert failed["last_error"] == "HTTP 502 Bad Gateway" and failed["last_status_code"] == 502
    assert await api.ok("GET", f"{ORG}/deliveries/{failed['id']}") == failed
    await expect_error(api, "POST", f"{CHANNELS}/nope/test", None, 404, "not_found", "channel")


async def test_deliveries_are_paged_newest_first(
    api: Api, wired: Wired, receiver: Receiver
) -> None:
    await api.ok(
        "POST",
        CHANNELS,
        {"kind": "webhook", "name": "Hook", "config": {"url": receiver.url()}},
        201,
    )
    for _ in range(5):
        await wired.notifier.notify("demo", "incident.created", INCIDENT)
    await receiver.count(5)

    async def all_sent() -> bool:
        page = await api.ok("GET", f"{ORG}/deliveries?status=sent")
        return len(page["data"]) == 5

    await eventually(all_sent)
    seen: list[dict[str, Any]] = []
    path: str | None = f"{ORG}/deliveries?limit=2&status=sent"
    while path is not None:
        page = await api.ok("GET", path)
        seen += page["data"]
        path = page["next"]
    assert len(seen) == 5 and len({d["id"] for d in seen}) == 5
    stamps = [d["created_at"] for d in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert (await api.ok("GET", f"{ORG}/deliveries?status=failed"))["data"] == []
    everything = await api.ok("GET", f"{ORG}/deliveries")
    assert [d["id"] for d in everything["data"]] == [d["id"] for d in seen]
    assert everything["next"] is None
    assert set(seen[0]) == {
        "id",
        "channel_id",
        "subscriber_id",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "last_status_code",
        "created_at",
        "sent_at",
    }
    deliveries = f"{ORG}/deliveries"
    await expect_error(
        api, "GET", f"{deliveries}?status=lost", None, 422, "invalid_field", "status"
    )
    await expect_error(api, "GET", f"{deliveries}?limit=0", None, 422, "invalid_field", "limit")
    await expect_error(api, "GET", f"{deliveries}?limit=x", None, 422, "invalid_field", "limit")
    await expect_error(api, "GET", f"{deliveries}?after=nope", None, 422, "invalid_field", "after")
    await expect_error(api, "GET", f"{deliveries}/nope", None, 404, "not_found", "delivery")


# -- subscribers -------------------------------------------------------------------------------


def link_in(text: str, kind: str) -> str:
    found = re.search(rf"https?://\S+/status/demo/{kind}/\S+", text)
    assert found is not None, text
    return found.group(0)


def local(url: str, wired: Wired) -> str:
    """A link of the notifier's (its public URL) as a path on the test server."""
    assert url.startswith(wired.server.base_url), url
    return url[len(wired.server.base_url) :]


async def test_double_opt_in_then_updates_then_one_click_unsubscribe(
    wired: Wired, public: httpx.AsyncClient, api: Api, mailbox: Mailbox
) -> None:
    notifier = wired.notifier
    who = "reader@example.com"
    response = await public.post("/status/demo/subscribe", json={"email": "Reader@Example.com"})
    assert response.status_code == 202
    assert response.json()["status"] == "confirmation_sent"
    (confirmation,) = await mailbox.count(who, 1)
    assert confirmation["Subject"] == "Confirm your subscription to demo's status updates"
    assert confirmation["List-Unsubscribe"] is None
    confirm = link_in(text_of(confirmation), "subscribe/confirm")
    assert confirm in html_of(confirmation)

    # Unconfirmed: nothing but the confirmation.
    assert await notifier.notify("demo", "incident.created", INCIDENT) == 0
    (listed,) = (await api.ok("GET", f"{ORG}/subscribers"))["data"]
    assert listed["address"] == who and listed["kind"] == "email" and not listed["confirmed"]

    confirmed = await public.get(local(confirm, wired))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    again = await public.post(local(confirm, wired))  # a second click does no harm
    assert again.status_code == 200
    (listed,) = (await api.ok("GET", f"{ORG}/subscribers"))["data"]
    assert listed["confirmed"] and listed["confirmed_at"] is not None

    assert await notifier.notify("demo", "incident.created", INCIDENT) == 1
    assert await notifier.notify("demo", "monitor.down", {"monitor": {"name": "x"}}) == 0
    _, update = await mailbox.count(who, 2)
    assert update["Subject"] == "[demo] New incident: API errors"
    unsubscribe = link_in(text_of(update), "unsubscribe")
    assert update["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'href="{unsubscribe}"' in html_of(update)

    # What a mail client does: POST the one-click body, no Accept header.
    async with httpx.AsyncClient(base_url=wired.server.base_url) as mail_client:
        done = await mail_client.post(
            local(unsubscribe, wired),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert done.status_code == 200 and "text/html" in done.headers["content-type"]
    assert "no longer receive" in done.text
    assert (await api.ok("GET", f"{ORG}/subscribers"))["data"] == []
    assert await notifier.notify("demo", "incident.created", INCIDENT) == 0
    twice = await public.post(local(unsubscribe, wired))
    assert twice.status_code == 200 and twice.json()["status"] == "already_unsubscribed"


async def test_on_a_custom_domain_the_messages_link_to_the_page_there(
    wired: Wired, public: httpx.AsyncClient, api: Api, mailbox: Mailbox
) -> None:
    """An organization that claims host names is told of at them: the
    confirmation, the update and its unsubscribe link go to the root of its
    (first) name, reached as the server's own address is, and work there."""
    await api.ok("PATCH", ORG, {"domains": ["www.demo.test", "status.demo.test"]})
    port = httpx.URL(wired.server.base_url).port
    home = f"http://status.demo.test:{port}"
    who = "reader@example.com"
    response = await public.post("/status/demo/subscribe", json={"email": who})
    assert response.status_code == 202
    (confirmation,) = await mailbox.count(who, 1)
    confirm = re.search(r"https?://\S+/subscribe/confirm/\S+", text_of(confirmation))
    assert confirm is not None and confirm.group(0).startswith(f"{home}/subscribe/confirm/sbc_")

    # The server answers the name (a proxy, or DNS, brings its readers here).
    async with httpx.AsyncClient(
        base_url=wired.server.base_url, headers={"Host": f"status.demo.test:{port}"}
    ) as there:
        confirmed = await there.post(
            confirm.group(0).removeprefix(home), headers={"Accept": "application/json"}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed"
        assert await wired.notifier.notify("demo", "incident.created", INCIDENT) == 1
        _, update = await mailbox.count(who, 2)
        assert f"{home}/incidents/i1" in text_of(update)
        unsubscribe = re.search(r"https?://\S+/unsubscribe/\S+", text_of(update))
        assert unsubscribe is not None and unsubscribe.group(0).startswith(f"{home}/unsubscribe/")
        assert update["List-Unsubscribe"] == f"<{unsubscribe.group(0)}>"
        done = await there.post(
            unsubscribe.group(0).removeprefix(home),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "no longer receive" in done.text
    assert (await api.ok("GET", f"{ORG}/subscribers"))["data"] == []

    # Given up: back to the server's own address.
    await api.ok("PATCH", ORG, {"domains": []})
    await public.post("/status/demo/subscribe", json={"email": "later@example.com"})
    (later,) = await mailbox.count("later@example.com", 1)
    assert f"{wired.server.base_url}/status/demo/subscribe/confirm/" in text_of(later)


async def test_the_unsubscribe_link_asks_before_it_acts(
    wired: Wired, public: httpx.AsyncClient, api: Api, mailbox: Mailbox
) -> None:
    await public.post("/status/demo/subscribe", json={"email": "r@example.com"})
    (confirmation,) = await mailbox.count("r@example.com", 1)
    await public.get(local(link_in(text_of(confirmation), "subscribe/confirm"), wired))
    await wired.notifier.notify("demo", "incident.created", INCIDENT)
    _, update = await mailbox.count("r@example.com", 2)
    path = local(link_in(text_of(update), "unsubscribe"), wired)
    async with httpx.AsyncClient(base_url=wired.server.base_url) as browser:
        page = await browser.get(path)  # a link checker, or a person who may change their mind
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert "Unsubscribe" in page.text
        assert len((await api.ok("GET", f"{ORG}/subscribers"))["data"]) == 1
        asked = await public.get(path)
        assert asked.json()["subscribed"] is True
        await browser.post(path)
        assert (await api.ok("GET", f"{ORG}/subscribers"))["data"] == []
        bad = await browser.get(path[:-3] + "xyz")
        assert bad.status_code == 404 and "text/html" in bad.headers["content-type"]
    for method in ("GET", "POST"):
        response = await public.request(method, "/status/demo/unsubscribe/sbu_nope_" + "x" * 43)
        assert response.status_code == 404 and error_of(response)["field"] == "token"
    response = await public.post("/status/demo/subscribe/confirm/garbage")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


async def test_a_webhook_subscriber_confirms_and_gets_signed_updates(
    wired: Wired, public: httpx.AsyncClient, receiver: Receiver
) -> None:
    from server.notify import verify

    response = await public.post("/status/demo/subscribe", json={"webhook": receiver.url("/me")})
    assert response.status_code == 202
    (ping,) = await receiver.count(1, "/me")
    assert ping.headers["x-switchboard-event"] == "subscription.confirm"
    data = ping.json()["data"]
    secret = data["secret"]
    assert verify(
        secret,
        ping.headers["x-switchboard-signature"],
        ping.headers["x-switchboard-timestamp"],
        ping.body,
    )
    assert (await public.post(local(data["confirm_url"], wired))).status_code == 200
    await wired.notifier.notify("demo", "incident.created", INCIDENT)
    _, update = await receiver.count(2, "/me")
    body = update.json()
    assert body["event"] == "incident.created" and body["data"] == INCIDENT
    assert verify(
        secret,
        update.headers["x-switchboard-signature"],
        update.headers["x-switchboard-timestamp"],
        update.body,
    )
    gone = await public.post(local(body["unsubscribe_url"], wired))
    assert gone.json()["status"] == "unsubscribed"


async def test_subscribing_again_says_the_same_and_sends_no_flood(
    wired: Wired, public: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    for _ in range(3):
        response = await public.post("/status/demo/subscribe", json={"email": "r@example.com"})
        assert response.status_code == 202 and response.json()["status"] == "confirmation_sent"
    await mailbox.count("r@example.com", 1)
    rows = await wired.notifier.store.fetch("SELECT event FROM deliveries")
    assert rows == [{"event": "subscription.confirm"}]  # one confirmation, not three


async def test_the_sign_up_form_works_without_javascript(wired: Wired, mailbox: Mailbox) -> None:
    async with httpx.AsyncClient(base_url=wired.server.base_url) as browser:
        status_page = (await browser.get("/status/demo")).text
        assert (
            '<form class="subscribe" method="post" action="/status/demo/subscribe">' in status_page
        )
        page = await browser.post(
            "/status/demo/subscribe", data={"email": "form@example.com", "go": "Subscribe"}
        )
        assert page.status_code == 202 and "text/html" in page.headers["content-type"]
        assert "Check your inbox" in page.text
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
        (confirmation,) = await mailbox.count("form@example.com", 1)
        confirmed = await browser.get(
            local(link_in(text_of(confirmation), "subscribe/confirm"), wired)
        )
        assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
        wrong = await browser.post("/status/demo/subscribe", data={"email": "<script>"})
        assert wrong.status_code == 422 and "text/html" in wrong.headers["content-type"]
        assert "<script>" not in wrong.text and "&lt;script&gt;" in wrong.text
        missing = await browser.post("/status/nowhere/subscribe", data={"email": "a@example.com"})
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


async def test_the_page_offers_the_ways_the_organization_chose(
    api: Api, public: httpx.AsyncClient
) -> None:
    # With a mail server, both ways; the organization may keep to one, or none.
    page = (await public.get("/status/demo")).text
    assert 'name="email"' in page and 'name="webhook"' in page
    await api.ok("PATCH", ORG, {"subscriptions": ["webhook"]})
    page = (await public.get("/status/demo")).text
    assert 'name="email"' not in page and 'name="webhook"' in page
    refused = await public.post("/status/demo/subscribe", json={"email": "no@example.com"})
    assert refused.status_code == 422 and error_of(refused) == {
        "code": "invalid_field",
        "message": "this status page does not offer email updates",
        "field": "email",
    }
    await api.ok("PATCH", ORG, {"subscriptions": []})
    page = (await public.get("/status/demo")).text
    assert 'id="subscribe"' in page and "history.rss" in page and "<form" not in page
    refused = await public.post("/status/demo/subscribe", json={"webhook": "https://x.example/h"})
    assert refused.status_code == 422 and error_of(refused)["field"] == "webhook"
    assert "does not offer webhook updates" in error_of(refused)["message"]
    await api.ok("PATCH", ORG, {"subscriptions": ["email", "webhook"]})
    accepted = await public.post("/status/demo/subscribe", json={"email": "yes@example.com"})
    assert accepted.status_code == 202


async def test_sign_up_input_is_checked(wired: Wired, public: httpx.AsyncClient) -> None:
    bad: list[tuple[Any, int, str, str | None]] = [
        ({}, 422, "invalid_field", "email"),
        ({"email": "not an address"}, 422, "invalid_field", "email"),
        (
            {"email": "a@example.com", "webhook": "https://hooks.example/x"},
            422,
            "invalid_field",
            "webhook",
        ),
        ({"webhook": "javascript:alert(1)"}, 422, "invalid_field", "webhook"),
        ({"phone": "+1555"}, 422, "invalid_field", "phone"),
        ({"email": 5}, 422, "invalid_field", "email"),
    ]
    for body, status, code, field in bad:
        response = await public.post("/status/demo/subscribe", json=body)
        assert response.status_code == status, (body, response.text)
        assert error_of(response)["code"] == code and error_of(response).get("field") == field, body
    response = await public.post(
        "/status/demo/subscribe", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    curl = await public.post(  # what ``curl -d '{...}'`` sends
        "/status/demo/subscribe",
        content=b'{"email": 5}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert curl.status_code == 422 and error_of(curl)["field"] == "email"
    response = await public.post("/status/nowhere/subscribe", json={"email": "a@example.com"})
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert (await wired.notifier.store.fetch("SELECT * FROM subscribers")) == []


async def test_sign_ups_are_rate_limited_per_address(
    wired: Wired, public: httpx.AsyncClient
) -> None:
    wired.notifier.subscribe_buckets = KeyedBuckets(0.001, 2)
    statuses = []
    for n in range(3):
        response = await public.post("/status/demo/subscribe", json={"email": f"r{n}@example.com"})
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]
    assert error_of(response)["code"] == "rate_limited" and int(response.headers["Retry-After"]) > 0
