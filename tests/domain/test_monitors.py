"""Monitors in the organization's rules: settings, and what a verdict does."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from domain_support import T0, Harness, at, replay

from server.domain import commands as c
from server.domain import rules
from server.domain.model import IncidentStatus, ServiceStatus
from server.domain.monitor_rules import heartbeat_digest
from server.domain.monitors import OPENED_KEPT, Verdict
from server.domain.transaction import Decision
from server.errors import Conflict, NotFound, ValidationError

HTTP = {"url": "https://api.example.com/health"}


def monitor(org: Harness, **fields: Any) -> dict[str, Any]:
    data = {"name": "API health", "service": "API", "kind": "http", "spec": HTTP, **fields}
    result: dict[str, Any] = org.do("monitor.create", data).result
    return result


def verdict(
    org: Harness, ref: str, v: Verdict, regions: tuple[str, ...] = (), error: str | None = None
) -> None:
    org.decide(c.SetMonitorState(ref, v, list(regions), error))


@pytest.fixture
def api(org: Harness) -> Harness:
    org.do("service.create", {"name": "API"})
    return org


def test_a_monitor_is_made_with_defaults_and_a_normal_spec(api: Harness) -> None:
    made = monitor(api)
    assert made["interval"] == 30 and made["quorum"] == 1 and made["down_after"] == 2
    assert made["policy"] == "status" and made["down_status"] == "major_outage"
    assert made["verdict"] == "unknown"
    assert made["spec"]["url"] == HTTP["url"] and made["spec"]["method"] == "GET"
    assert api.names() == ["monitor.created"]
    assert "heartbeat_token" not in made


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"spec": {"url": "ftp://x"}}, "spec.url"),
        ({"spec": {}}, "spec.url"),
        ({"interval": 5}, "interval"),
        ({"regions": ["eu", "eu"]}, "regions"),
        ({"regions": ["eu"], "quorum": 2}, "quorum"),
        ({"down_status": "operational"}, "down_status"),
        ({"kind": "icmp"}, "kind"),
        ({"kind": "heartbeat"}, "spec"),
        ({"service": "Nope"}, "service"),
    ],
)
def test_bad_settings_are_refused_with_their_field(
    api: Harness, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises((ValidationError, NotFound)) as info:
        monitor(api, **fields)
    assert info.value.field == field
    assert not api.state.monitors


def test_names_are_unique(api: Harness) -> None:
    monitor(api)
    with pytest.raises(Conflict):
        monitor(api, name="api HEALTH")


def test_a_heartbeat_monitor_gets_its_token_once(api: Harness) -> None:
    made = monitor(api, name="Nightly backup", kind="heartbeat", spec={}, interval=3600)
    token = made["heartbeat_token"]
    assert token.startswith("sbh_") and len(token) > 40
    stored = api.state.monitors[made["id"]]
    assert stored.heartbeat_hash and token not in str(stored.to_dict())
    assert token not in str([e.to_dict() for e in api.log])


def test_a_heartbeat_gets_a_new_token_and_the_old_one_is_forgotten(api: Harness) -> None:
    made = monitor(api, name="Nightly backup", kind="heartbeat", spec={}, interval=3600)
    renewed = api.do("monitor.token", {"monitor": "Nightly backup"}).result
    assert renewed["heartbeat_token"].startswith("sbh_")
    assert renewed["heartbeat_token"] != made["heartbeat_token"]
    stored = api.state.monitors[made["id"]]
    assert stored.heartbeat_hash == heartbeat_digest(renewed["heartbeat_token"])
    assert api.names() == ["monitor.updated"]
    assert renewed["heartbeat_token"] not in str([e.to_dict() for e in api.log])
    monitor(api, name="Site")
    with pytest.raises(ValidationError, match="only heartbeats have a push URL") as refused:
        api.do("monitor.token", {"monitor": "Site"})
    assert refused.value.field == "monitor"


def test_status_policy_holds_the_service_while_it_lasts(api: Harness) -> None:
    made = monitor(api)
    verdict(api, made["id"], Verdict.UP)
    assert api.status("API") is ServiceStatus.OPERATIONAL
    verdict(api, made["id"], Verdict.DOWN, ("local",), "status 503")
    assert api.status("API") is ServiceStatus.MAJOR_OUTAGE
    # The monitor records it, the service follows and says where it is seen.
    assert api.names() == [
        "monitor.updated",
        "service.updated",
        "service.updated",
        "status.changed",
    ]
    assert api.service("API").failing_regions == ("local",)
    # ...to members; the public reads regions' labels only, and "local" has none.
    assert "failing_regions" not in api.service("API").to_dict(public=True)
    m = api.state.monitors[made["id"]]
    assert m.verdict is Verdict.DOWN and m.failing_regions == ("local",) and m.error == "status 503"
    verdict(api, made["id"], Verdict.DEGRADED, ("local",))
    assert api.status("API") is ServiceStatus.DEGRADED_PERFORMANCE
    verdict(api, made["id"], Verdict.UP)
    assert api.status("API") is ServiceStatus.OPERATIONAL
    assert "failing_regions" not in api.service("API").to_dict(public=True)


def test_the_public_reads_the_labels_of_the_regions(api: Harness) -> None:
    made = monitor(api)
    api.do("org.update", {"region_labels": {"eu-west": "Europe (Ireland)"}})
    verdict(api, made["id"], Verdict.DOWN, ("eu-west", "local"), "refused")
    public = api.service("API").to_dict(public=True)
    assert public["failing_regions"] == ["Europe (Ireland)"]
    member = api.service("API").to_dict()
    assert member["failing_regions"] == ["eu-west", "local"]
    api.do("org.update", {"region_labels": {"local": "Frankfurt", "eu-west": "Dublin"}})
    assert api.service("API").to_dict(public=True)["failing_regions"] == ["Dublin", "Frankfurt"]


def test_a_person_cannot_set_the_service_better_than_its_monitor_asks(api: Harness) -> None:
    made = monitor(api)
    verdict(api, made["id"], Verdict.DOWN)
    with pytest.raises(Conflict) as info:
        api.do("service.update", {"service": "API", "status": "partial_outage"})
    assert "the monitor 'API health' requires major_outage" in info.value.message
    verdict(api, made["id"], Verdict.DEGRADED)
    api.do("service.update", {"service": "API", "status": "partial_outage"})  # worse: taken
    verdict(api, made["id"], Verdict.UP)
    assert api.status("API") is ServiceStatus.PARTIAL_OUTAGE  # what the person set stays


def test_a_service_under_maintenance_is_not_touched(api: Harness) -> None:
    made = monitor(api)
    api.do("service.update", {"service": "API", "status": "under_maintenance"})
    verdict(api, made["id"], Verdict.DOWN)
    assert api.status("API") is ServiceStatus.UNDER_MAINTENANCE


def test_incident_policy_opens_updates_and_resolves_an_incident(api: Harness) -> None:
    made = monitor(api, policy="incident", down_status="partial_outage")
    verdict(api, made["id"], Verdict.DOWN, ("eu", "us"), "timed out after 10 s")
    incident_id = api.state.monitors[made["id"]].incident_id
    assert incident_id is not None
    incident = api.state.incidents[incident_id]
    assert incident.name == "API is down" and incident.active
    # What the public reads: the service's name, no monitor, no raw error, no region ids.
    body = incident.updates[0].body
    assert body == "We are investigating: API is not responding."
    assert api.status("API") is ServiceStatus.PARTIAL_OUTAGE
    verdict(api, made["id"], Verdict.DEGRADED, ("eu",))
    assert (
        api.state.incidents[incident_id].services[api.service("API").id]
        is ServiceStatus.DEGRADED_PERFORMANCE
    )
    # Up again: the service shows it at once, the incident waits for it to hold.
    api.advance(minutes=1)
    verdict(api, made["id"], Verdict.UP)
    incident = api.state.incidents[incident_id]
    assert incident.status is IncidentStatus.MONITORING
    assert api.status("API") is ServiceStatus.OPERATIONAL
    assert incident.updates[-1].affected[0].new_status is ServiceStatus.OPERATIONAL
    hold = timedelta(seconds=made["resolve_after"])
    assert hold == timedelta(minutes=5)
    assert api.state.next_due() == api.now + hold
    api.tick(api.now + hold)
    incident = api.state.incidents[incident_id]
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.updates[-1].body == "API has been working normally for 5 minutes."
    assert api.state.monitors[made["id"]].incident_id is None
    assert api.state.next_due() is None


def test_a_failure_while_recovering_reopens_the_same_incident(api: Harness) -> None:
    made = monitor(api, policy="incident")
    verdict(api, made["id"], Verdict.DOWN)
    first = api.state.monitors[made["id"]].incident_id
    api.advance(minutes=1)
    verdict(api, made["id"], Verdict.UP)
    api.advance(minutes=1)
    verdict(api, made["id"], Verdict.DOWN)
    assert api.state.monitors[made["id"]].incident_id == first
    incident = api.state.incidents[first or ""]
    assert incident.status is IncidentStatus.INVESTIGATING
    assert len(api.state.incidents) == 1
    assert api.status("API") is ServiceStatus.MAJOR_OUTAGE


def test_a_monitor_remembers_the_incidents_it_opened(api: Harness) -> None:
    made = monitor(api, policy="incident", resolve_after=0)
    opened = []
    for _ in range(OPENED_KEPT + 2):
        verdict(api, made["id"], Verdict.DOWN)
        opened.append(api.state.monitors[made["id"]].incident_id)
        api.advance(minutes=10)  # slower than flapping
        verdict(api, made["id"], Verdict.UP)  # resolved at once: the next is a new one
        api.advance(minutes=10)
    assert len(set(opened)) == len(opened)
    kept = api.state.monitors[made["id"]].opened_incidents
    assert kept == tuple(opened[-OPENED_KEPT:])
    # A person's incident is not the monitor's; pausing it keeps what it opened.
    api.do("incident.create", {"name": "Slow API", "services": {"API": "partial_outage"}})
    api.do("monitor.update", {"monitor": made["id"], "paused": True})
    assert api.state.monitors[made["id"]].opened_incidents == kept
    assert api.state.monitors[made["id"]].to_dict()["opened_incidents"] == list(kept)


def test_the_words_of_its_incidents_are_the_organizations(api: Harness) -> None:
    api.do(
        "org.update",
        {
            "region_labels": {"eu": "Europe"},
            "monitor_texts": {"down_title": "Trouble with {service}", "down_body": "Seen{where}."},
        },
    )
    made = monitor(api, policy="incident")
    verdict(api, made["id"], Verdict.DOWN, ("eu", "us"))
    incident = api.state.incidents[api.state.monitors[made["id"]].incident_id or ""]
    assert (incident.name, incident.updates[0].body) == ("Trouble with API", "Seen from Europe.")
    for texts, field in [
        ({"down_title": "{monitor} down"}, "monitor_texts.down_title"),
        ({"down_tittle": "x"}, "monitor_texts.down_tittle"),
        ({"down_body": "{service"}, "monitor_texts.down_body"),
        ({"down_body": "{0}"}, "monitor_texts.down_body"),
    ]:
        with pytest.raises(ValidationError) as info:
            api.do("org.update", {"monitor_texts": texts})
        assert info.value.field == field


def test_a_degraded_verdict_is_told_and_says_what_is_wrong(api: Harness) -> None:
    made = monitor(api, policy="incident", kind="tls", spec={"host": "api.example.com"})
    error = "certificate expires in 4 days, on 2026-01-05 10:00 UTC"
    verdict(api, made["id"], Verdict.DEGRADED, ("local",), error)
    event = next(e for e in api.last.events if e.name == "monitor.updated")
    assert event.data["alert"]["kind"] == "degraded"
    incident = api.state.incidents[api.state.monitors[made["id"]].incident_id or ""]
    assert incident.name == "API is degraded"
    assert incident.updates[0].body == "API is degraded: its certificate expires on 2026-01-05."


def test_alerts_carry_what_a_person_needs_to_act(api: Harness) -> None:
    made = monitor(api, spec={"url": "https://api.example.com/health?key=secret"})
    verdict(api, made["id"], Verdict.UP)
    api.advance(minutes=1)
    verdict(api, made["id"], Verdict.DOWN, ("local",), "connection refused")
    down = next(e for e in api.last.events if e.name == "monitor.updated").data["alert"]
    assert down["kind"] == "down" and down["service"] == {
        "id": api.service("API").id,
        "name": "API",
    }
    assert down["target"] == "https://api.example.com/health"  # the query may hold a key
    api.advance(minutes=3)
    verdict(api, made["id"], Verdict.UP)
    up = next(e for e in api.last.events if e.name == "monitor.updated").data["alert"]
    assert up["kind"] == "up" and up["down_for_seconds"] == 180


def test_a_flapping_monitor_is_told_once_and_keeps_one_incident(api: Harness) -> None:
    made = monitor(api, policy="incident", interval=10)
    alerts = []
    for i, v in enumerate([Verdict.DOWN, Verdict.UP] * 5):
        if i:
            api.advance(seconds=20)
        verdict(api, made["id"], v)
        alerts += [e.data["alert"]["kind"] for e in api.last.events if "alert" in e.data]
    monitor_now = api.state.monitors[made["id"]]
    # down, up, down; the fourth change makes it flapping; then nothing.
    assert alerts == ["down", "up", "down", "flapping"]
    assert monitor_now.flapping_since is not None
    assert len(api.state.incidents) == 1
    (incident,) = api.state.incidents.values()
    assert incident.active and "unstable" in incident.updates[-1].body
    assert api.status("API") is ServiceStatus.MAJOR_OUTAGE  # held while it flaps, though up
    # Still for a whole window: stable again, told with a count, the incident resolved.
    quiet = api.state.next_due()
    assert quiet == monitor_now.changes[-1] + monitor_now.flap_window
    api.tick(quiet)
    stable = [e.data["alert"] for e in api.last.events if "alert" in e.data]
    assert [a["kind"] for a in stable] == ["stable"] and stable[0]["changes"] == 10
    assert not api.state.monitors[made["id"]].flapping_since
    assert not api.state.incidents[incident.id].active
    assert api.status("API") is ServiceStatus.OPERATIONAL


def test_a_maintenance_mutes_monitors_and_what_holds_shows_when_it_ends(api: Harness) -> None:
    status_mon = monitor(api)
    api.do("service.create", {"name": "Search"})
    incident_mon = monitor(api, name="Search health", service="Search", policy="incident")
    maintenance = api.schedule(["API", "Search"], start=at(minutes=-1), until=at(hours=1))
    verdict(api, status_mon["id"], Verdict.DOWN)
    verdict(api, incident_mon["id"], Verdict.DOWN)
    # Recorded, but no incident and no alert while the work goes on.
    assert api.state.monitors[incident_mon["id"]].verdict is Verdict.DOWN
    assert not api.state.incidents
    events = [e for e in api.log if e.name == "monitor.updated"]
    assert all("alert" not in e.data and e.data["muted"] for e in events[-2:])
    assert api.statuses() == {"API": "under_maintenance", "Search": "under_maintenance"}
    # Was a bug: completing the maintenance during the outage turned the service green.
    api.do("maintenance.update", {"maintenance": maintenance, "status": "completed"})
    assert api.statuses() == {"API": "major_outage", "Search": "major_outage"}
    told = [e.data["alert"] for e in api.last.events if "alert" in e.data]
    assert [a["kind"] for a in told] == ["down", "down"]
    assert all(a["after_maintenance"] for a in told)
    (incident,) = api.state.incidents.values()
    assert incident.name == "Search is down" and incident.active


def test_none_policy_only_records(api: Harness) -> None:
    made = monitor(api, policy="none")
    verdict(api, made["id"], Verdict.DOWN)
    assert api.status("API") is ServiceStatus.OPERATIONAL
    assert api.state.monitors[made["id"]].verdict is Verdict.DOWN


def test_the_same_verdict_again_changes_nothing(api: Harness) -> None:
    made = monitor(api)
    verdict(api, made["id"], Verdict.DOWN, ("local",))
    verdict(api, made["id"], Verdict.DOWN, ("local",))
    assert api.names() == []


def test_pausing_or_deleting_ends_what_the_monitor_did(api: Harness) -> None:
    made = monitor(api, policy="incident")
    verdict(api, made["id"], Verdict.DOWN)
    api.do("monitor.update", {"monitor": made["id"], "paused": True})
    assert api.status("API") is ServiceStatus.OPERATIONAL
    assert api.state.monitors[made["id"]].verdict is Verdict.UNKNOWN
    verdict(api, made["id"], Verdict.DOWN)  # a paused monitor's verdict is ignored
    assert api.status("API") is ServiceStatus.OPERATIONAL
    api.do("monitor.update", {"monitor": made["id"], "paused": False, "policy": "status"})
    verdict(api, made["id"], Verdict.DOWN)
    api.do("monitor.delete", {"monitor": "API health"})
    assert api.status("API") is ServiceStatus.OPERATIONAL
    assert not api.state.monitors


def test_deleting_a_service_deletes_its_monitors(api: Harness) -> None:
    monitor(api)
    api.do("service.delete", {"service": "API"})
    assert api.names() == ["monitor.deleted", "service.deleted"]
    assert not api.state.monitors


def test_monitors_survive_a_snapshot_and_a_replay(api: Harness) -> None:
    from server.domain.events import apply
    from server.domain.model import OrgState

    made = monitor(api, regions=["eu", "us"], quorum=2)
    verdict(api, made["id"], Verdict.DOWN, ("eu", "us"), "refused")
    again = OrgState.from_dict(api.state.to_dict())
    assert again.monitors == api.state.monitors
    replayed = OrgState(org=api.state.org)
    for event in api.log[1:]:
        apply(replayed, event)
    assert replayed.monitors == api.state.monitors


def test_a_probe_going_offline_is_told_to_the_organizations_it_checks_for(
    api: Harness,
) -> None:
    everywhere = monitor(api, name="Everywhere")
    monitor(api, name="Elsewhere", regions=["us-east"])
    monitor(api, name="Paused", paused=True)
    seen = T0.replace(minute=3)
    api.decide(c.NoteProbe("eu-west", c.ProbeState.OFFLINE, seen))
    assert api.names() == ["probe.offline"]
    event = api.last.events[0]
    assert event.public_seq is None  # members only
    assert event.data == {
        "region": "eu-west",
        "last_seen": "2026-01-01T12:03:00.000Z",
        "monitors": [{"id": everywhere["id"], "name": "Everywhere"}],
    }
    api.decide(c.NoteProbe("eu-west", c.ProbeState.ONLINE, seen))
    assert api.names() == ["probe.online"]
    assert api.last.result == {"told": True}
    # An organization none of whose monitors the region checks hears nothing.
    api.do("monitor.delete", {"monitor": "Everywhere"})
    assert api.decide(c.NoteProbe("eu-west", c.ProbeState.OFFLINE)).events == []
    assert api.last.result == {"told": False}
    assert replay(api.log).version == api.state.version  # the log replays


def test_a_quorum_that_cannot_be_met_is_refused(api: Harness) -> None:
    def create(reporting: frozenset[str] | None, **fields: Any) -> Decision:
        data = {"name": "Q", "service": "API", "kind": "http", "spec": HTTP, **fields}
        ctx = dataclasses.replace(api.ctx(), regions=reporting)
        return rules.decide(api.state, c.parse_command("monitor.create", data), ctx)

    with pytest.raises(ValidationError) as refused:
        create(frozenset({"local"}), quorum=2)
    assert refused.value.field == "quorum"
    assert refused.value.message == (
        "quorum 2 cannot be met: 1 region reports (local); ask for fewer, or run more probes"
    )
    with pytest.raises(ValidationError, match="no region reports; ask for fewer"):
        create(frozenset(), quorum=1)
    assert create(frozenset({"local", "eu-west"}), quorum=2).events
    assert create(None, quorum=5).events  # not known: not checked
    assert create(frozenset({"local"}), regions=["eu", "us"], quorum=2).events  # named
    with pytest.raises(ValidationError, match="its quorum must be 1, not 2") as beat:
        create(None, kind="heartbeat", spec={}, quorum=2)
    assert beat.value.field == "quorum"


def test_an_update_is_checked_against_the_regions_only_when_it_asks_for_them(
    api: Harness,
) -> None:
    made = monitor(api, quorum=2)  # made when two regions reported
    one = dataclasses.replace(api.ctx(), regions=frozenset({"local"}))
    renamed = c.parse_command("monitor.update", {"monitor": made["id"], "name": "Renamed"})
    assert rules.decide(api.state, renamed, one).events  # as it was accepted
    again = c.parse_command("monitor.update", {"monitor": made["id"], "quorum": 3})
    with pytest.raises(ValidationError, match="quorum 3 cannot be met"):
        rules.decide(api.state, again, one)
