"""What the console's notification pages ask of the server: a channel's own
deliveries, trying one again now, and the subscribers (searched, counted,
exported as CSV), and which kinds of sign-up the public page offers."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import httpx
import pytest
from notify_support import Mailbox, Receiver, Wired, error_of, expect_error, text_of
from support import Api, eventually

from server.notify import NotifySettings, RetryPolicy

ORG = "/api/v1/orgs/demo"
CHANNELS = f"{ORG}/channels"
INCIDENT = {"incident": {"id": "i1", "name": "API errors", "status": "investigating"}}


@pytest.fixture
def settings(settings: NotifySettings) -> NotifySettings:
    """A failed attempt waits an hour: long enough that only "retry now" tries again."""
    return dataclasses.replace(settings, retry=RetryPolicy(first=3600, cap=3600, attempts=3))


async def hook(api: Api, receiver: Receiver, name: str) -> str:
    made = await api.ok(
        "POST", CHANNELS, {"kind": "webhook", "name": name, "config": {"url": receiver.url()}}, 201
    )
    channel: str = made["id"]
    return channel


async def test_a_channels_own_deliveries(api: Api, wired: Wired, receiver: Receiver) -> None:
    first = await hook(api, receiver, "First")
    second = await hook(api, receiver, "Second")
    await wired.notifier.notify("demo", "incident.created", INCIDENT)
    await api.ok("POST", f"{CHANNELS}/{second}/test")
    await receiver.count(3)
    mine = (await api.ok("GET", f"{ORG}/deliveries?channel={second}"))["data"]
    assert [d["event"] for d in mine] == ["test", "incident.created"]
    assert {d["channel_id"] for d in mine} == {second}
    page = await api.ok("GET", f"{ORG}/deliveries?channel={first}&limit=1")
    assert [d["channel_id"] for d in page["data"]] == [first] and page["next"] is None
    await expect_error(
        api, "GET", f"{ORG}/deliveries?channel=nope", None, 404, "not_found", "channel"
    )


async def test_retry_now_tries_a_waiting_or_failed_delivery_again(
    api: Api, receiver: Receiver
) -> None:
    channel = await hook(api, receiver, "Flaky")
    receiver.script = [503]
    waiting = await api.ok("POST", f"{CHANNELS}/{channel}/test")
    assert (waiting["status"], waiting["attempts"]) == ("pending", 1)
    assert waiting["last_error"] == "HTTP 503 Service Unavailable"
    assert waiting["next_attempt_at"] > waiting["created_at"]  # an hour away

    retried = await api.ok("POST", f"{ORG}/deliveries/{waiting['id']}/retry")
    assert (retried["status"], retried["attempts"]) == ("sent", 2)
    assert retried["last_error"] == "HTTP 503 Service Unavailable"  # kept: it needed a retry
    assert len(receiver.requests) == 2
    await expect_error(
        api, "POST", f"{ORG}/deliveries/{waiting['id']}/retry", None, 409, "conflict", "delivery"
    )

    receiver.script = [410]  # gone: given up at once
    given_up = await api.ok("POST", f"{CHANNELS}/{channel}/test")
    assert (given_up["status"], given_up["attempts"]) == ("failed", 1)
    receiver.script = [500]
    again = await api.ok("POST", f"{ORG}/deliveries/{given_up['id']}/retry")
    assert (again["status"], again["attempts"]) == ("pending", 2)  # one more try, due in an hour
    assert again["last_error"] == "HTTP 500 Internal Server Error"
    last = await api.ok("POST", f"{ORG}/deliveries/{given_up['id']}/retry")
    assert (last["status"], last["attempts"], last["last_status_code"]) == ("sent", 3, 200)
    await expect_error(
        api, "POST", f"{ORG}/deliveries/nope/retry", None, 404, "not_found", "delivery"
    )


async def sign_up(public: httpx.AsyncClient, mailbox: Mailbox, address: str) -> None:
    """``address`` subscribes and follows its confirmation link."""
    response = await public.post("/status/demo/subscribe", json={"email": address})
    assert response.status_code == 202, response.text
    (confirmation,) = await mailbox.count(address.lower(), 1)
    link = re.search(r"https?://\S+(/status/demo/subscribe/confirm/\S+)", text_of(confirmation))
    assert link is not None
    assert (await public.post(link.group(1))).status_code == 200


async def test_subscribers_are_searched_counted_and_exported(
    api: Api, public: httpx.AsyncClient, mailbox: Mailbox, receiver: Receiver
) -> None:
    await sign_up(public, mailbox, "ann@example.com")
    await sign_up(public, mailbox, "=1+2@example.org")
    response = await public.post("/status/demo/subscribe", json={"email": "bob@example.com"})
    assert response.status_code == 202  # not confirmed yet
    hooked = await public.post("/status/demo/subscribe", json={"webhook": receiver.url("/sub")})
    assert hooked.status_code == 202

    counts = await api.ok("GET", f"{ORG}/subscribers/counts")
    assert counts == {
        "email": {"confirmed": 2, "unconfirmed": 1},
        "webhook": {"confirmed": 0, "unconfirmed": 1},
    }
    found = (await api.ok("GET", f"{ORG}/subscribers?q=EXAMPLE.com"))["data"]
    assert [s["address"] for s in found] == ["bob@example.com", "ann@example.com"]
    webhooks = (await api.ok("GET", f"{ORG}/subscribers?kind=webhook"))["data"]
    assert [s["address"] for s in webhooks] == [receiver.url("/sub")]
    assert (await api.ok("GET", f"{ORG}/subscribers?q=nobody"))["data"] == []
    await expect_error(
        api, "GET", f"{ORG}/subscribers?kind=sms", None, 422, "invalid_field", "kind"
    )

    export = await api.get(f"{ORG}/subscribers.csv")
    assert export.status_code == 200
    assert export.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert export.headers["Content-Disposition"] == 'attachment; filename="demo-subscribers.csv"'
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["address"] for r in rows] == [
        receiver.url("/sub"),
        "bob@example.com",
        "'=1+2@example.org",  # never a formula in a spreadsheet
        "ann@example.com",
    ]
    assert list(rows[0]) == ["id", "kind", "address", "confirmed", "confirmed_at", "created_at"]
    assert [r["confirmed"] for r in rows] == ["false", "false", "true", "true"]
    assert rows[3]["confirmed_at"].endswith("Z") and rows[1]["confirmed_at"] == ""
    only = await api.get(f"{ORG}/subscribers.csv?kind=email&q=ann")
    assert len(list(csv.DictReader(io.StringIO(only.text)))) == 1

    # Removed from the console: gone from all of it.
    ann = next(s for s in found if s["address"] == "ann@example.com")
    assert (await api.request("DELETE", f"{ORG}/subscribers/{ann['id']}")).status_code == 204
    counts = await api.ok("GET", f"{ORG}/subscribers/counts")
    assert counts["email"] == {"confirmed": 1, "unconfirmed": 1}


async def test_the_page_offers_only_the_kinds_its_settings_allow(
    api: Api, wired: Wired, public: httpx.AsyncClient, receiver: Receiver
) -> None:
    async def form_shown() -> bool:  # the email form (the feeds are always offered)
        page = (await public.get("/status/demo", headers={"Accept": "text/html"})).text
        return 'id="subscribe-email"' in page

    assert await form_shown()
    await api.ok("PATCH", ORG, {"subscriptions": ["webhook"]})
    assert not await form_shown()
    response = await public.post("/status/demo/subscribe", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "invalid_field",
        "message": "this status page does not offer email updates",
        "field": "email",
    }
    ok = await public.post("/status/demo/subscribe", json={"webhook": receiver.url("/w")})
    assert ok.status_code == 202
    await api.ok("PATCH", ORG, {"subscriptions": []})
    response = await public.post("/status/demo/subscribe", json={"webhook": receiver.url("/x")})
    assert response.status_code == 422 and error_of(response)["field"] == "webhook"

    async def one_row() -> bool:
        rows = await wired.notifier.store.fetch("SELECT address FROM subscribers")
        return rows == [{"address": receiver.url("/w")}]

    await eventually(one_row)
