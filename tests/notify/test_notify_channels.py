"""Apprise and PagerDuty channels, on the whole server.

Channels are made over REST; what they are told comes from real changes
(incidents through the API, monitor verdicts through the organization's
actor); Apprise posts with its own ``json://`` and ``form://`` services, and
PagerDuty's events go to a receiver that answers as PagerDuty's Events API v2
does, all on loopback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
import trio
from notify_support import Later, Received, Receiver, Wired, set_verdicts, unchecked_monitor
from support import Api, admin_token, eventually

from server.domain.monitors import Verdict
from server.netguard import NetworkRule
from server.notify import RetryPolicy

ORG = "/api/v1/orgs/demo"
CHANNELS = f"{ORG}/channels"
ROUTING_KEY = "R0utingKey0f32Characters00000000"
assert len(ROUTING_KEY) == 32


@pytest.fixture
async def api(wired: Wired) -> AsyncIterator[Api]:
    async with Api.open(wired.server.base_url, admin_token("demo")) as client:
        yield client


async def delivered(api: Api, n: int, status: str = "sent") -> list[dict[str, Any]]:
    """Wait until ``n`` deliveries have ``status``; all of them, oldest first."""

    async def check() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = (await api.ok("GET", f"{ORG}/deliveries?limit=200"))["data"]
        return rows[::-1] if sum(r["status"] == status for r in rows) >= n else None

    return await eventually(check, f"{n} deliveries {status}")


async def audit_of(api: Api, channel_id: str) -> list[dict[str, Any]]:
    rows = (await api.ok("GET", f"{ORG}/audit?limit=200"))["data"]
    return [r for r in rows if r["target"] == channel_id]


def rule(wired: Wired, text: str) -> None:
    """The server's network rule from now on, for channels made and messages sent."""
    notifier = wired.notifier
    notifier.settings = dataclasses.replace(notifier.settings, network_rule=NetworkRule.parse(text))


# -- Apprise ------------------------------------------------------------------------------


async def test_an_apprise_url_is_a_secret_shown_masked(
    api: Api, wired: Wired, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/apprise?+X-Token=hunter2"
    made = await api.ok(
        "POST", CHANNELS, {"kind": "apprise", "name": "Chat", "config": {"url": url}}, 201
    )
    assert made["kind"] == "apprise" and "secret" not in made
    masked = {"service": "JSON", "masked_url": f"json://127.0.0.1:{receiver.port}/…"}
    assert made["config"] == masked
    one = f"{CHANNELS}/{made['id']}"
    assert (await api.ok("GET", one))["config"] == masked
    (stored,) = await wired.notifier.channels("demo")
    assert stored.config["url"] == url  # what is sent through

    other = f"form://127.0.0.1:{receiver.port}/other?-token=swordfish"
    changed = await api.ok("PATCH", one, {"config": {"url": other}})
    assert changed["config"] == {
        "service": "Form",
        "masked_url": f"form://127.0.0.1:{receiver.port}/…",
    }
    renamed = await api.ok("PATCH", one, {"name": "Chat ops"})  # the URL stays
    assert renamed["config"] == changed["config"]
    (stored,) = await wired.notifier.channels("demo")
    assert stored.config["url"] == other

    entries = await audit_of(api, made["id"])
    assert {e["action"] for e in entries} == {"channel.create", "channel.update"}
    update = next(e for e in entries if e["details"].get("changed") == ["config", "url"])
    assert update["details"]["to"] == {"config": changed["config"]}
    seen = str(await api.ok("GET", f"{ORG}/audit?limit=200")) + str(await api.ok("GET", CHANNELS))
    assert "hunter2" not in seen and "swordfish" not in seen


async def test_an_apprise_url_is_checked_by_apprise(api: Api) -> None:
    for url, said in [
        ("hooks.example/notify", "must be an Apprise URL"),
        ("nosuchservice://x", "names no service Apprise knows"),
        ("tgram://not-a-bot-token", "is not a tgram:// URL Apprise can use"),
        ("json://", "is not a json:// URL Apprise can use"),
        ("https://hooks.example/notify", "is not the URL of a service Apprise knows"),
        ("", "config.url"),
    ]:
        answer = await api.post(CHANNELS, {"kind": "apprise", "name": "x", "config": {"url": url}})
        assert answer.status_code == 422, (url, answer.text)
        error = answer.json()["error"]
        assert error["field"] == "config.url" and said in error["message"], (url, error)
    # Services with their own https:// URLs are known by them.
    made = await api.ok(
        "POST",
        CHANNELS,
        {
            "kind": "apprise",
            "name": "Discord",
            "config": {"url": "https://discord.com/api/webhooks/1234567/abcdefghijk"},
        },
        201,
    )
    assert made["config"] == {"service": "Discord", "masked_url": "discord://…"}
    answer = await api.patch(f"{CHANNELS}/{made['id']}", {"config": {"url": "nope://"}})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "config.url"


async def test_an_incident_reaches_apprise_json_with_its_type(
    api: Api, wired: Wired, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/apprise?+X-Token=hunter2"  # a header
    await api.ok("POST", CHANNELS, {"kind": "apprise", "name": "Chat", "config": {"url": url}}, 201)
    made = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Card payments fail", "services": {"API": "major_outage"}, "body": "Looking."},
        201,
    )
    await api.ok("POST", f"{ORG}/incidents/{made['id']}/resolve", {"body": "Fixed."})
    opened, resolved = await receiver.count(2, "/apprise")
    rows = await delivered(api, 2)
    assert opened.method == "POST" and opened.headers["x-token"] == "hunter2"
    assert opened.headers["content-type"] == "application/json"
    body = opened.json()
    assert body["title"] == "[demo] New incident: Card payments fail"
    assert body["type"] == "failure"  # a critical incident
    link = f"{wired.notifier.base_url}/status/demo/incidents/{made['id']}"
    assert "Status: Investigating · impact: Critical" in body["message"]
    assert "Looking." in body["message"] and f"View the incident: {link}" in body["message"]
    assert resolved.json()["type"] == "success"
    assert resolved.json()["title"] == "[demo] Resolved: Card payments fail"
    assert [r["event"] for r in rows] == ["incident.created", "incident.resolved"]
    assert all(r["attempts"] == 1 and r["last_status_code"] is None for r in rows)


async def test_a_test_message_reaches_apprise_form(api: Api, receiver: Receiver) -> None:
    url = f"form://127.0.0.1:{receiver.port}/form"
    made = await api.ok(
        "POST", CHANNELS, {"kind": "apprise", "name": "Form", "config": {"url": url}}, 201
    )
    tried = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert tried["status"] == "sent" and tried["attempts"] == 1
    (got,) = receiver.to("/form")
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v for k, (v,) in parse_qs(got.body.decode()).items()}
    assert form["title"] == "[demo] Test notification" and form["type"] == "info"
    assert "This is a test notification sent by admin-tester" in form["message"]


async def test_an_apprise_failure_says_why_and_is_retried(api: Api, receiver: Receiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/apprise"
    made = await api.ok(
        "POST", CHANNELS, {"kind": "apprise", "name": "Chat", "config": {"url": url}}, 201
    )
    receiver.script = [503]
    tried = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert tried["status"] == "pending" and tried["attempts"] == 1
    assert tried["last_error"].startswith("JSON did not take the message: ")
    assert "error=503" in tried["last_error"] and tried["last_status_code"] is None
    (row,) = await delivered(api, 1)
    assert row["attempts"] == 2 and row["last_error"] == tried["last_error"]
    assert len(receiver.to("/apprise")) == 2


async def test_apprise_connects_only_where_the_rule_allows(
    api: Api, wired: Wired, receiver: Receiver, nursery: trio.Nursery
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/apprise"
    rule(wired, "public")
    answer = await api.post(CHANNELS, {"kind": "apprise", "name": "x", "config": {"url": url}})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "config.url"
    assert "does not connect to" in answer.json()["error"]["message"]

    # Made while the rule allowed it, sent after it changed: checked before sending.
    rule(wired, "127.0.0.1/32")
    made = await api.ok(
        "POST", CHANNELS, {"kind": "apprise", "name": "Local", "config": {"url": url}}, 201
    )
    rule(wired, "public")
    tried = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert tried["status"] == "failed" and tried["attempts"] == 1
    assert "127.0.0.1 is in a network this server does not connect to" in tried["last_error"]

    # A redirect (which the URL may ask Apprise to follow) is held to the rule
    # on the connection Apprise makes.
    inside = Receiver(host="127.0.0.2")
    await nursery.start(inside.serve)
    rule(wired, "127.0.0.1/32")
    receiver.location = inside.url("/stolen")
    hops = await api.ok(
        "POST",
        CHANNELS,
        {"kind": "apprise", "name": "Hops", "config": {"url": f"{url}?redirect=yes"}},
        201,
    )
    receiver.script = [307]
    tried = await api.ok("POST", f"{CHANNELS}/{hops['id']}/test")
    assert tried["status"] == "failed", tried
    assert tried["last_error"].startswith("127.0.0.2 is in a network this server does not")
    assert len(receiver.to("/apprise")) == 1 and inside.requests == []


# -- PagerDuty ------------------------------------------------------------------------------


def pagerduty_shaped(routing_key: str) -> Callable[[Received], tuple[int, bytes]]:
    """Answers as PagerDuty's Events API v2 does: 202 for an event it takes,
    400 with its reasons for one it does not."""

    def answer(got: Received) -> tuple[int, bytes]:
        errors = []
        try:
            event = got.json()
        except orjson.JSONDecodeError:
            event = {}
            errors.append("the body is not JSON")
        if got.method != "POST" or got.headers.get("content-type") != "application/json":
            errors.append("POST application/json")
        if event.get("routing_key") != routing_key:
            errors.append("Invalid routing key")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        key = event.get("dedup_key")
        if (action != "trigger" and not key) or (key and len(key) > 255):
            errors.append("'dedup_key' is missing or too long")
        if action == "trigger":
            body = event.get("payload") or {}
            if not 0 < len(body.get("summary") or "") <= 1024:
                errors.append("'payload.summary' is missing or too long")
            if not body.get("source"):
                errors.append("'payload.source' is missing")
            if body.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
        if errors:
            said = {"status": "invalid event", "message": "Event object is invalid"}
            return 400, orjson.dumps({**said, "errors": errors})
        said = {"status": "success", "message": "Event processed", "dedup_key": key}
        return 202, orjson.dumps(said)

    return answer


@pytest.fixture
def pagerduty(receiver: Receiver) -> Receiver:
    receiver.answer = pagerduty_shaped(ROUTING_KEY)
    return receiver


async def pagerduty_channel(api: Api, receiver: Receiver, **fields: Any) -> dict[str, Any]:
    config = {"routing_key": ROUTING_KEY, "url": receiver.url("/v2/enqueue")}
    made: dict[str, Any] = await api.ok(
        "POST",
        CHANNELS,
        {"kind": "pagerduty", "name": "Pager", "config": config, **fields},
        201,
    )
    return made


async def test_an_incidents_life_is_one_pagerduty_alert(
    api: Api, wired: Wired, pagerduty: Receiver
) -> None:
    made = await pagerduty_channel(api, pagerduty)
    assert made["config"] == {"url": pagerduty.url("/v2/enqueue")}  # not the routing key
    assert not any(e.startswith("maintenance.") for e in made["events"])
    assert {"incident.created", "monitor.down", "probe.offline"} <= set(made["events"])

    incident = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Card payments fail", "services": {"API": "major_outage"}, "body": "Looking."},
        201,
    )
    one = f"{ORG}/incidents/{incident['id']}"
    await api.ok("PATCH", one, {"status": "identified", "body": "A bad deploy."})
    await api.ok("PATCH", one, {"status": "monitoring", "body": "Rolled back."})
    await api.ok("PATCH", one, {"status": "investigating", "body": "It did not hold."})
    await api.ok("POST", f"{one}/resolve", {"body": "Fixed for good."})
    got = [r.json() for r in await pagerduty.count(5, "/v2/enqueue")]
    rows = await delivered(api, 5)

    key = f"switchboard/demo/incident/{incident['id']}"
    assert [(m["event_action"], m["dedup_key"]) for m in got] == [
        ("trigger", key),
        ("acknowledge", key),
        ("acknowledge", key),
        ("trigger", key),
        ("resolve", key),
    ]
    assert all(m["routing_key"] == ROUTING_KEY for m in got)
    trigger = got[0]
    page = f"{wired.notifier.base_url}/status/demo"
    assert trigger["payload"] == {
        "summary": "[demo] New incident: Card payments fail",
        "source": page,
        "severity": "critical",
        "timestamp": incident["updated_at"],
        "group": "demo",
        "class": "incident",
        "custom_details": {
            "event": "incident.created",
            "text": "Status: Investigating · impact: Critical\n\nLooking.",
            "name": "Card payments fail",
            "status": "investigating",
            "impact": "critical",
        },
    }
    assert trigger["links"] == [
        {"href": f"{page}/incidents/{incident['id']}", "text": "View the incident"}
    ]
    assert trigger["client"] == "Switchboard" and trigger["client_url"] == page
    assert set(got[1]) == set(got[4]) == {"routing_key", "event_action", "dedup_key"}
    assert got[3]["payload"]["summary"] == "[demo] Incident update: Card payments fail"
    assert all(r["status"] == "sent" and r["last_status_code"] == 202 for r in rows)
    assert "R0utingKey" not in str(await api.ok("GET", f"{ORG}/audit?limit=200"))


async def test_an_incident_opened_as_identified_is_triggered_then_acknowledged(
    api: Api, pagerduty: Receiver
) -> None:
    await pagerduty_channel(api, pagerduty, events=["incident.created"])
    made = await api.ok(
        "POST", f"{ORG}/incidents", {"name": "Slow logins", "status": "identified"}, 201
    )
    first, second = [r.json() for r in await pagerduty.count(2)]
    (row,) = await delivered(api, 1)
    key = f"switchboard/demo/incident/{made['id']}"
    assert (first["event_action"], first["dedup_key"]) == ("trigger", key)
    assert first["payload"]["severity"] == "info"  # no impact set, no service affected
    assert (second["event_action"], second["dedup_key"]) == ("acknowledge", key)
    assert row["attempts"] == 1


async def test_a_monitor_down_then_up_triggers_then_resolves(
    api: Api, wired: Wired, pagerduty: Receiver
) -> None:
    await pagerduty_channel(api, pagerduty)
    monitor_id = await unchecked_monitor(api, "http://edge.test/health")
    down = "connection refused"
    await set_verdicts(
        wired.server, monitor_id, Verdict.UP, Verdict.DOWN, Verdict.DEGRADED, Verdict.UP, error=down
    )
    down, degraded, up = [r.json() for r in await pagerduty.count(3)]
    await delivered(api, 3)
    key = f"switchboard/demo/monitor/{monitor_id}"
    assert [(m["event_action"], m["dedup_key"]) for m in (down, degraded, up)] == [
        ("trigger", key),
        ("trigger", key),  # the same alert, now less severe
        ("resolve", key),
    ]
    body = down["payload"]
    assert body["summary"] == "[demo] API is down (Edge)"
    assert body["severity"] == "critical" and degraded["payload"]["severity"] == "warning"
    assert body["source"] == "http://edge.test/health" and body["component"] == "API"
    assert body["class"] == "monitor" and body["group"] == "demo"
    details = body["custom_details"]
    assert details["event"] == "monitor.down" and details["verdict"] == "down"
    assert details["message"] == "connection refused" and details["service"] == "API"
    console = f"{wired.notifier.base_url}/admin/demo/services"
    assert down["links"] == [{"href": console, "text": "Open the console"}]


async def test_a_late_trigger_is_not_sent_after_its_resolve(
    api: Api, wired: Wired, pagerduty: Receiver
) -> None:
    """A trigger retried after the alert's resolve was sent would open an alert
    about a monitor that is up again."""
    notifier = wired.notifier
    clock = notifier.clock = Later()
    retry = RetryPolicy(first=600, cap=600, attempts=4)
    notifier.settings = dataclasses.replace(notifier.settings, retry=retry)
    await pagerduty_channel(api, pagerduty, events=["monitor.down", "monitor.up"])
    monitor_id = await unchecked_monitor(api)
    pagerduty.script = [503]
    await set_verdicts(wired.server, monitor_id, Verdict.UP, Verdict.DOWN, error="refused")

    async def tried() -> dict[str, Any] | None:
        rows = (await api.ok("GET", f"{ORG}/deliveries"))["data"]
        return rows[0] if rows and rows[0]["attempts"] == 1 else None

    down = await eventually(tried, "the trigger tried once")
    assert down["status"] == "pending" and down["last_status_code"] == 503
    await set_verdicts(wired.server, monitor_id, Verdict.UP, error="")
    await delivered(api, 1)  # the resolve
    clock.ahead = timedelta(hours=1)  # the trigger's retry is due
    notifier.wake()
    (failed,) = [r for r in await delivered(api, 1, "failed") if r["status"] == "failed"]
    assert failed["id"] == down["id"] and failed["attempts"] == 2
    assert failed["last_error"] == "not sent: a later delivery of this alert was sent"
    actions = [r.json()["event_action"] for r in pagerduty.requests]
    assert actions == ["trigger", "resolve"]  # the first trigger was refused (503)


async def test_a_pagerduty_test_opens_and_closes_its_own_alert(
    api: Api, wired: Wired, pagerduty: Receiver
) -> None:
    made = await pagerduty_channel(api, pagerduty)
    tried = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert tried["status"] == "sent" and tried["last_status_code"] == 202
    opened, closed = [r.json() for r in pagerduty.requests]
    key = f"switchboard/demo/test/{tried['id']}"
    assert (opened["event_action"], opened["dedup_key"]) == ("trigger", key)
    assert opened["payload"]["severity"] == "info"
    assert opened["payload"]["summary"] == "[demo] Test notification"
    assert (closed["event_action"], closed["dedup_key"]) == ("resolve", key)


async def test_an_event_pagerduty_refuses_fails_at_once(api: Api, pagerduty: Receiver) -> None:
    pagerduty.answer = pagerduty_shaped("another routing key that is not it")
    made = await pagerduty_channel(api, pagerduty)
    tried = await api.ok("POST", f"{CHANNELS}/{made['id']}/test")
    assert tried["status"] == "failed" and tried["attempts"] == 1
    assert tried["last_status_code"] == 400
    assert tried["last_error"] == (
        "HTTP 400 Bad Request (PagerDuty refused the event: is the routing key right?)"
    )


async def test_pagerduty_input_is_checked(api: Api, pagerduty: Receiver) -> None:
    config = {"routing_key": ROUTING_KEY, "url": pagerduty.url()}
    for body, field in [
        ({"config": {**config, "routing_key": "short"}}, "config.routing_key"),
        ({"config": {"url": pagerduty.url()}}, "config.routing_key"),
        ({"config": {**config, "url": "ftp://x.example/"}}, "config.url"),
        ({"config": config, "events": ["incident.created", "maintenance.started"]}, "events[1]"),
    ]:
        answer = await api.post(CHANNELS, {"kind": "pagerduty", "name": "P", **body})
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["field"] == field, answer.json()
    made = await pagerduty_channel(api, pagerduty)
    answer = await api.patch(f"{CHANNELS}/{made['id']}", {"events": ["maintenance.scheduled"]})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "events[0]"
    assert "takes incident, monitor and probe events" in answer.json()["error"]["message"]
    # A new routing key is a secret too: said to have changed, never shown.
    await api.ok("PATCH", f"{CHANNELS}/{made['id']}", {"config": {"routing_key": "N" * 32}})
    entries = await audit_of(api, made["id"])
    changed = next(e for e in entries if e["action"] == "channel.update")
    assert changed["details"] == {"changed": ["routing_key"], "from": {}, "to": {}}
    assert "N" * 32 not in str(entries)
