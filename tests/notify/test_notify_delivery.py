"""Delivering notifications: signed webhooks, Slack, email, retries, rules, restarts.

Against the real embedded PostgreSQL, a real SMTP server (aiosmtpd) and a real
HTTP receiver (trio + h11).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import trio
from notify_support import BASE_URL, KEY, Later, Mailbox, Receiver, html_of, text_of, worker
from support import eventually

from server.auth import SYSTEM
from server.domain import commands as c
from server.domain import rules
from server.domain.events import Event
from server.domain.model import Impact, IncidentStatus
from server.errors import NotFound
from server.notify import (
    ChangeChannel,
    ChannelKind,
    NewChannel,
    NotificationEvent,
    Notifier,
    NotifySettings,
    RetryPolicy,
    SmtpSettings,
    SubscriberKind,
    notification_for,
    senders,
    verify,
)
from server.notify.records import SUBSCRIBER_EVENTS
from server.notify.senders import render
from server.store import Store

SECRET = "a-webhook-secret-of-ours"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

MakeNotifier = Callable[..., Notifier]


def quick(mailbox: Mailbox) -> NotifySettings:
    smtp = SmtpSettings(host="127.0.0.1", port=mailbox.port, starttls=False)
    return NotifySettings(smtp=smtp, retry=RetryPolicy(first=0.1), poll_seconds=0.5)


def incident_events(
    name: str = "API errors", impact: Impact | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The notifications of a real incident's life: created, updated, resolved."""
    ids = (f"id{n}" for n in itertools.count(1))
    ctx = c.Context(now=T0, author="alice", new_id=lambda: next(ids))
    state = rules.new_org(c.CreateOrg("demo", "Demo"), ctx).state
    out = []
    for minutes, cmd in enumerate(
        [
            c.CreateIncident(
                name=name, body="We are looking into elevated error rates.", impact=impact
            ),
            c.UpdateIncident(incident="id2", status=IncidentStatus.IDENTIFIED, body="Found it."),
            c.UpdateIncident(incident="id2", name=f"{name} (renamed)"),  # no timeline entry
            c.ResolveIncident(incident="id2", body="All good."),
        ]
    ):
        later = c.Context(now=T0.replace(minute=minutes), author="alice", new_id=ctx.new_id)
        decision = rules.decide(state, cmd, later)
        state = decision.state
        out += [n for e in decision.events if (n := notification_for(e)) is not None]
    return out


async def channel(
    notifier: Notifier,
    kind: ChannelKind,
    config: dict[str, Any],
    events: list[NotificationEvent] | None = None,
    name: str | None = None,
) -> str:
    spec = NewChannel(kind, name or f"{kind.value} {config}", config, events)
    made, _ = await notifier.create_channel("demo", spec, SYSTEM)
    return made.id


async def settled(store: Store, status: str = "sent", n: int = 1) -> list[dict[str, Any]]:
    """Wait until ``n`` deliveries have ``status``; all of them, oldest first."""

    async def check() -> list[dict[str, Any]] | None:
        rows = await store.fetch("SELECT * FROM deliveries ORDER BY created_at, id")
        return rows if sum(r["status"] == status for r in rows) >= n else None

    return await eventually(check, f"{n} deliveries {status}")


def test_a_real_incident_makes_created_updated_resolved() -> None:
    names = [name for name, _ in incident_events()]
    assert names == ["incident.created", "incident.updated", "incident.resolved"]
    payload = incident_events()[0][1]
    assert payload["incident"]["name"] == "API errors"
    assert "author" not in payload["incident"]["updates"][0]  # the public view


async def test_a_webhook_is_signed_and_carries_the_event(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    (name, payload), *_ = incident_events()
    async with worker(nursery, notifier):
        assert await notifier.notify("demo", name, payload) == 1
        (got,) = await receiver.count(1)
        (row,) = await settled(store)
    headers = got.headers
    assert got.method == "POST" and headers["content-type"] == "application/json"
    assert headers["x-switchboard-event"] == "incident.created"
    assert headers["x-switchboard-delivery"] == row["id"]
    assert headers["x-switchboard-signature"].startswith("sha256=")
    assert verify(
        SECRET, headers["x-switchboard-signature"], headers["x-switchboard-timestamp"], got.body
    )
    assert not verify(
        "another secret",
        headers["x-switchboard-signature"],
        headers["x-switchboard-timestamp"],
        got.body,
    )
    assert not verify(
        SECRET,
        headers["x-switchboard-signature"],
        headers["x-switchboard-timestamp"],
        got.body + b" ",
    )
    body = got.json()
    assert body["id"] == row["id"] and body["event"] == "incident.created" and body["org"] == "demo"
    assert body["data"] == payload
    assert row["attempts"] == 1 and row["last_status_code"] == 200 and row["sent_at"] is not None
    assert row["last_error"] is None and row["next_attempt_at"] is None


async def test_a_webhook_signature_goes_stale(
    make_notifier: MakeNotifier, receiver: Receiver, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        (got,) = await receiver.count(1)
    stamp, signature = (
        got.headers["x-switchboard-timestamp"],
        got.headers["x-switchboard-signature"],
    )
    assert verify(SECRET, signature, stamp, got.body, now=int(stamp) + 299)
    assert not verify(SECRET, signature, stamp, got.body, now=int(stamp) + 301)  # a replay


async def test_slack_gets_blocks_in_the_colour_of_the_news(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.SLACK, {"url": receiver.url("/slack")})
    created, _, resolved = incident_events("Login <fails> & more", impact=Impact.MAJOR)
    async with worker(nursery, notifier):
        for name, payload in (created, resolved):
            await notifier.notify("demo", name, payload)
        first, second = await receiver.count(2, "/slack")
        await settled(store, n=2)
    new, done = first.json(), second.json()
    # The headline as the message's text; the rest in one attachment coloured
    # as the status page colours a major incident, then a resolved one.
    assert set(new) == {"text", "attachments"}
    assert new["text"] == "*[demo] New incident: Login &lt;fails&gt; &amp; more*"
    (attachment,) = new["attachments"]
    assert attachment["color"] == "#b3410e"
    assert attachment["fallback"].startswith("[demo] New incident: Login <fails> & more")
    link = "<https://status.example/status/demo/incidents/id2|View the incident>"
    assert attachment["blocks"] == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Status: Investigating · impact: Major"},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "We are looking into elevated error rates."},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": link}]},
    ]
    # What Mattermost, Rocket.Chat and Discord's Slack endpoint show instead of blocks.
    assert attachment["mrkdwn_in"] == ["text"]
    assert attachment["text"] == "\n".join(
        ["Status: Investigating · impact: Major", "We are looking into elevated error rates.", link]
    )
    assert done["text"] == "*[demo] Resolved: Login &lt;fails&gt; &amp; more (renamed)*"
    assert done["attachments"][0]["color"] == "#137333"
    assert "All good." in done["attachments"][0]["text"]


def test_a_long_update_is_clipped_to_what_a_block_holds() -> None:
    rendered = senders.Rendered("Subject", ("x" * 5000, "  "), "https://status.example/")
    blocks = senders.slack_message(rendered, "#4f5761")["attachments"][0]["blocks"]
    assert [b["type"] for b in blocks] == ["section", "context"]  # a blank paragraph: no block
    assert len(blocks[0]["text"]["text"]) == senders.SLACK_SECTION
    assert blocks[0]["text"]["text"].endswith("…")


async def test_an_email_channel_gets_text_and_html(
    make_notifier: MakeNotifier, mailbox: Mailbox, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    to = ["oncall@example.com", "Boss@Example.com"]
    await channel(notifier, ChannelKind.EMAIL, {"to": to})
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        (message,) = await mailbox.count("oncall@example.com", 1)
        (row,) = await settled(store)
    assert mailbox.to("boss@example.com") == [message]  # one message, both recipients
    assert message["Subject"] == "[demo] New incident: API errors"
    assert message["From"] == "Demo status <status@example.com>"
    assert message["X-Switchboard-Delivery"] == row["id"]
    assert message["List-Unsubscribe"] is None  # the admins' own channel
    assert "We are looking into elevated error rates." in text_of(message)
    assert 'href="https://status.example/status/demo/incidents/id2"' in html_of(message)
    assert row["last_status_code"] == 250


async def test_a_failing_receiver_is_retried_with_backoff(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    receiver.script = [500, 503]
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        first, second, third = await receiver.count(3)
        (row,) = await settled(store)
    assert row["status"] == "sent" and row["attempts"] == 3
    assert row["last_status_code"] == 200
    assert (
        row["last_error"] == "HTTP 503 Service Unavailable"
    )  # the last failure is kept for the admins
    # 0.1 s, then 0.2 s, each within 10 % jitter
    assert second.at - first.at >= 0.09 and third.at - second.at >= 0.18
    assert first.body == second.body == third.body  # the same delivery, byte for byte
    assert {r.headers["x-switchboard-delivery"] for r in (first, second, third)} == {row["id"]}


async def test_after_the_last_attempt_the_delivery_has_failed(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    receiver.script = [500] * 10
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        (row,) = await settled(store, "failed")
    assert row["attempts"] == 4 and len(receiver.requests) == 4
    assert row["last_error"] == "HTTP 500 Internal Server Error" and row["last_status_code"] == 500
    assert row["next_attempt_at"] is None and row["sent_at"] is None


async def test_gone_is_not_retried(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/gone"), "secret": SECRET})
    receiver.script = [410]
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        (row,) = await settled(store, "failed")
    assert row["attempts"] == 1 and row["last_status_code"] == 410
    assert row["last_error"] == "HTTP 410 Gone"


async def test_an_unreachable_receiver_is_retried(
    make_notifier: MakeNotifier, store: Store, nursery: trio.Nursery
) -> None:
    with trio.socket.socket() as probe:  # a port nobody listens on
        await probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    notifier = make_notifier(retry=RetryPolicy(first=0.05, attempts=2))
    url = f"http://127.0.0.1:{closed}/x"
    await channel(notifier, ChannelKind.WEBHOOK, {"url": url, "secret": SECRET})
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        (row,) = await settled(store, "failed")
    assert row["attempts"] == 2 and row["last_status_code"] is None
    assert row["last_error"].startswith("could not reach 127.0.0.1")


async def test_a_channel_gets_only_the_events_it_chose(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    E = NotificationEvent
    await channel(
        notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/created")}, [E.INCIDENT_CREATED]
    )
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/all")})
    await channel(
        notifier,
        ChannelKind.WEBHOOK,
        {"url": receiver.url("/maintenance")},
        [E.MAINTENANCE_SCHEDULED, E.MAINTENANCE_COMPLETED],
    )
    off = await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/off")})
    await notifier.change_channel("demo", off, ChangeChannel(disabled=True), SYSTEM)
    created, _, resolved = incident_events()
    async with worker(nursery, notifier):
        assert await notifier.notify("demo", *created) == 2
        assert await notifier.notify("demo", *resolved) == 1
        assert (
            await notifier.notify("demo", "maintenance.scheduled", {"maintenance": {"name": "DB"}})
            == 2
        )
        assert await notifier.notify("demo", "monitor.down", {"monitor": {"name": "API"}}) == 1
        assert await notifier.notify("other", *created) == 0  # another organization's event
        await settled(store, n=6)

    def events(path: str) -> list[str]:
        return [r.headers["x-switchboard-event"] for r in receiver.to(path)]

    assert events("/created") == ["incident.created"]
    assert sorted(events("/all")) == sorted(
        ["incident.created", "incident.resolved", "maintenance.scheduled", "monitor.down"]
    )
    assert events("/maintenance") == ["maintenance.scheduled"]
    assert events("/off") == []
    with pytest.raises(ValueError, match="not a valid NotificationEvent"):
        await notifier.notify("demo", "incident.exploded", {})


async def test_deliveries_survive_a_restart(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    first = make_notifier()
    await channel(first, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    # Queued while no worker runs at all (a server that dies right after notify).
    await first.notify("demo", *incident_events()[0])
    receiver.script = [500]
    async with worker(nursery, first):
        await receiver.count(1)

        async def retry_scheduled() -> list[dict[str, Any]] | None:
            rows = await store.fetch("SELECT * FROM deliveries WHERE attempts = 1")
            return rows or None

        (row,) = await eventually(retry_scheduled)
    assert row["status"] == "pending" and row["last_status_code"] == 500
    await first.notify("demo", *incident_events()[0])  # and one more while stopped
    assert len(receiver.requests) == 1

    second = make_notifier()
    async with worker(nursery, second):
        rows = await settled(store, n=2)
    assert sorted(r["attempts"] for r in rows) == [1, 2]
    assert len(receiver.requests) == 3


async def test_a_stopped_worker_hands_back_what_it_was_sending(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier(lease_seconds=3600)
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    receiver.gate = trio.Event()  # the receiver takes its time
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        await receiver.count(1)
        (leased,) = await store.fetch("SELECT next_attempt_at FROM deliveries")
        assert (leased["next_attempt_at"] - datetime.now(UTC)).total_seconds() > 3000
    (row,) = await store.fetch("SELECT * FROM deliveries")
    assert row["status"] == "pending" and row["attempts"] == 0
    assert row["next_attempt_at"] <= datetime.now(UTC)  # not an hour away: handed back
    receiver.gate.set()
    async with worker(nursery, make_notifier()):
        (row,) = await settled(store)
    assert row["attempts"] == 1


async def test_a_wakeup_sends_at_once_rather_than_at_the_next_poll(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    """A notification queued after the worker has looked wakes it. Its next
    poll is an hour away, and the one send it has is held by the receiver (so
    no finished send wakes it either): only the wake-up can bring the second."""
    notifier = make_notifier(poll_seconds=3600, http_timeout=3600, lease_seconds=7200)
    created, updated = incident_events()[:2]
    first = [NotificationEvent.INCIDENT_CREATED]
    then = [NotificationEvent.INCIDENT_UPDATED]
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/first")}, first)
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url("/then")}, then)
    await notifier.notify("demo", *created)  # due before the worker starts
    receiver.gate = trio.Event()
    async with worker(nursery, notifier):
        await receiver.count(1, "/first")  # the worker has looked, and is sending that one
        await notifier.notify("demo", *updated)
        await receiver.count(1, "/then")
        receiver.gate.set()
        await settled(store, n=2)


async def test_a_receiver_hears_one_message_at_a_time_whichever_worker_sends(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    """Two workers on one database (two servers): while one sends a channel's
    first message, the other leaves the next one alone; it goes after, in
    order. Neither polls again on its own (an hour): what they do, they do
    on their first look and on wake-ups."""
    hourly = {"poll_seconds": 3600, "http_timeout": 3600, "lease_seconds": 7200}
    a, b = make_notifier(**hourly), make_notifier(**hourly)
    created, updated, _ = incident_events()
    await channel(a, ChannelKind.WEBHOOK, {"url": receiver.url("/ops")})
    receiver.gate = trio.Event()  # the receiver takes its time
    async with worker(nursery, a):
        await a.notify("demo", *created)
        await receiver.count(1, "/ops")  # a is sending it, and waits for the answer
        await a.notify("demo", *updated)  # (a, woken, leaves it: its first is not done)
        await channel(b, ChannelKind.WEBHOOK, {"url": receiver.url("/other")})
        await b.notify("demo", *updated)  # one for /ops, and one for /other
        async with worker(nursery, b):
            # b has looked once: it took /other's, and left /ops's second alone.
            await receiver.count(1, "/other")
            rows = await store.fetch(
                "SELECT d.event, d.leased_until, c.config->>'url' AS url FROM deliveries AS d"
                " JOIN channels AS c ON c.id = d.channel_id ORDER BY d.seq"
            )
            waiting = [r for r in rows if r["url"].endswith("/ops")][1:]
            assert [(r["event"], r["leased_until"]) for r in waiting] == [
                ("incident.updated", None),
                ("incident.updated", None),
            ]
            assert len(receiver.to("/ops")) == 1
            receiver.gate.set()  # the first is answered: then the next ones, in order
            await settled(store, n=4)
    events = [r.json()["event"] for r in receiver.to("/ops")]
    assert events == ["incident.created", "incident.updated", "incident.updated"]


async def test_concurrency_is_bounded(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier(concurrency=3)
    for n in range(5):
        await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(f"/{n}")})
    receiver.gate = trio.Event()
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        await receiver.count(3)
        # Three are leased (claimed, in flight); the other two were left due.
        rows = await store.fetch("SELECT next_attempt_at FROM deliveries")
        now = datetime.now(UTC)
        assert sorted(r["next_attempt_at"] > now for r in rows) == [False, False, True, True, True]
        assert len(receiver.requests) == 3
        receiver.gate.set()
        await settled(store, n=5)
    assert len(receiver.requests) == 5


def test_the_monitor_verdicts_make_down_and_up() -> None:
    def event(verdict: str, before: str | None) -> Event:
        monitor = {
            "id": "m1",
            "name": "API",
            "service_id": "s1",
            "kind": "http",
            "verdict": verdict,
            "verdict_since": "t1",
            "failing_regions": ["eu"],
            "error": "HTTP 502",
            "spec": {"url": "https://internal"},
        }
        data: dict[str, object] = {"monitor": monitor}
        if before is not None:
            data["previous_verdict"] = before
        return Event(3, None, "monitor.updated", data, T0, None)

    down = notification_for(event("down", "up"))
    assert down is not None and down[0] == "monitor.down"
    assert down[1]["message"] == "HTTP 502" and "spec" not in down[1]["monitor"]
    up = notification_for(event("up", "down"))
    assert up is not None and up[0] == "monitor.up"
    assert notification_for(event("up", "unknown")) is None  # a new monitor's first verdict
    assert notification_for(event("down", None)) is None  # another change than the verdict


def test_what_the_rules_decide_to_tell_of_monitors_and_maintenances() -> None:
    """The rules say which alert a verdict makes (degraded and flapping too,
    nothing while muted); the payload carries what a person needs to act."""
    from server.domain.monitors import Verdict

    ids = (f"id{n}" for n in itertools.count(1))
    now = [T0]

    def ctx() -> c.Context:
        return c.Context(now=now[0], author="monitor", new_id=lambda: next(ids))

    state = rules.new_org(c.CreateOrg("demo", "Demo"), ctx()).state
    told: list[tuple[str, dict[str, Any]]] = []

    def do(cmd: Any, minutes: float = 1) -> Any:
        nonlocal state
        now[0] += timedelta(minutes=minutes)
        decision = rules.decide(state, cmd, ctx())
        state = decision.state
        told.extend(n for e in decision.events if (n := notification_for(e)) is not None)
        return decision.result

    service = do(c.CreateService(name="Payments"))["id"]
    spec = {"url": "https://pay.example.com/health?token=k"}
    made = do(
        c.parse_command(
            "monitor.create", {"name": "Pay", "service": service, "kind": "http", "spec": spec}
        )
    )
    do(c.SetMonitorState(made["id"], Verdict.DEGRADED, ["eu"], "slow: 2,300 ms > 1,000 ms"))
    do(c.SetMonitorState(made["id"], Verdict.UP, [], None), minutes=3)
    kinds = [k for k, _ in told]
    assert kinds == ["monitor.degraded", "monitor.up"]
    degraded, up = told[0][1], told[1][1]
    assert degraded["service"] == {"id": service, "name": "Payments"}
    assert degraded["target"] == "https://pay.example.com/health"
    assert degraded["message"] == "slow: 2,300 ms > 1,000 ms"
    assert up["down_for_seconds"] == 180 and "message" not in up
    told.clear()
    start = now[0] + timedelta(hours=1)
    do(
        c.ScheduleMaintenance(
            name="Upgrade",
            scheduled_for=start,
            scheduled_until=start + timedelta(hours=1),
            services=[service],
        )
    )
    (scheduled,) = told
    assert scheduled[0] == "maintenance.scheduled"
    assert scheduled[1]["services"] == [{"id": service, "name": "Payments"}]


def test_a_probe_going_offline_and_back_is_told_to_members_only() -> None:
    data = {"region": "eu-west", "last_seen": "t0", "monitors": [{"id": "m1", "name": "API"}]}
    offline = notification_for(Event(4, None, "probe.offline", data, T0, "monitor"))
    assert offline == ("probe.offline", data)
    online = notification_for(Event(5, None, "probe.online", data, T0, "monitor"))
    assert online is not None and online[0] == "probe.online"
    assert not {"probe.offline", "probe.online"} & SUBSCRIBER_EVENTS
    words = render("demo", "probe.offline", data, "https://status.example")
    assert words.subject == "[demo] Probe offline: eu-west"
    assert "It checks API." in words.paragraphs
    many = {**data, "monitors": [{"id": f"m{n}", "name": f"M{n}"} for n in range(25)]}
    said = render("demo", "probe.online", many, "https://status.example").paragraphs[-1]
    assert said.startswith("It checks M0, M1,") and said.endswith("M19 and 5 more.")


async def test_payload_json_survives_as_given(
    make_notifier: MakeNotifier, receiver: Receiver, nursery: trio.Nursery
) -> None:
    notifier = make_notifier()
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    payload = {"monitor": {"name": "Ünïcødé ✓", "n": 1.5, "list": [1, None, True]}}
    async with worker(nursery, notifier):
        await notifier.notify("demo", "monitor.up", payload)
        (got,) = await receiver.count(1)
    assert orjson.loads(got.body)["data"] == payload


async def test_a_retry_after_is_honoured(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier(retry=RetryPolicy(first=0.05, attempts=3))
    await channel(notifier, ChannelKind.WEBHOOK, {"url": receiver.url(), "secret": SECRET})
    receiver.script = [(429, "1")]
    async with worker(nursery, notifier):
        await notifier.notify("demo", *incident_events()[0])
        first, second = await receiver.count(2)
        await settled(store)
    assert second.at - first.at >= 0.95  # not the policy's 0.05 s


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(jitter=0)
    assert [policy.delay(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 640, 1280]
    assert policy.delay(12) == 3600
    jittery = RetryPolicy()
    assert all(9 <= jittery.delay(1) <= 11 for _ in range(200))


async def test_a_strangers_webhook_may_not_point_into_our_network(
    make_notifier: MakeNotifier, receiver: Receiver, store: Store, nursery: trio.Nursery
) -> None:
    notifier = make_notifier(allow_private_webhooks=False)
    await notifier.subscriptions.subscribe("demo", SubscriberKind.WEBHOOK, receiver.url())
    async with worker(nursery, notifier):
        (row,) = await settled(store, "failed")
    assert row["event"] == "subscription.confirm" and row["attempts"] == 1
    assert row["last_error"] == (
        "127.0.0.1 is in a network this server does not connect to"
        " (subscribers' webhooks reach public addresses only; see --allow-private-webhooks)"
    )
    assert receiver.requests == []


async def test_a_confirmation_link_expires_and_the_sign_up_is_forgotten(
    store: Store, mailbox: Mailbox, nursery: trio.Nursery
) -> None:
    clock = Later()
    notifier = Notifier(store, base_url=BASE_URL, key=KEY, clock=clock, settings=quick(mailbox))
    await notifier.subscriptions.subscribe("demo", SubscriberKind.EMAIL, "late@example.com")
    async with worker(nursery, notifier):
        (message,) = await mailbox.count("late@example.com", 1)
    link = text_of(message).split("/subscribe/confirm/")[1].split()[0]
    clock.ahead = timedelta(days=8)
    with pytest.raises(NotFound, match="not valid"):
        await notifier.subscriptions.confirm("demo", link)
    with pytest.raises(NotFound):
        await notifier.subscriptions.confirm("other", link)  # another organization's page
    restarted = Notifier(store, base_url=BASE_URL, key=KEY, clock=clock, settings=quick(mailbox))
    async with worker(nursery, restarted):  # its hourly clean-up runs as it starts

        async def forgotten() -> bool:
            return not await store.fetch("SELECT 1 FROM subscribers")

        await eventually(forgotten)
