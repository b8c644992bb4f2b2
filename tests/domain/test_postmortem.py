"""Postmortems: one per incident, required text, a revision replaces it."""

from __future__ import annotations

from typing import Any

import pytest
from domain_support import T0, Harness, at, replay

from server.domain.model import DEFAULT_BODIES, Incident, IncidentStatus, Postmortem
from server.domain.postmortems import POSTMORTEM_REVISED
from server.errors import InvalidTransition, ValidationError

TEXT = "# What happened\n\nA deploy dropped an index.\n\n- queries slowed\n- we rolled back"
REVISED = TEXT + "\n\n## What changes\n\nIndexes are checked before each deploy."


def resolved_incident(org: Harness) -> str:
    incident = org.open_incident()
    org.resolve(incident)
    return incident


# The two ways to write one: PATCH with status postmortem (incident.update)
# and PUT .../postmortem (incident.postmortem).
WRITERS = {
    "update": lambda org, i, **body: org.update_incident(i, status="postmortem", **body),
    "postmortem": lambda org, i, **body: org.do("incident.postmortem", {"incident": i, **body}),
}


@pytest.fixture(params=list(WRITERS))
def write(request: pytest.FixtureRequest) -> Any:
    return WRITERS[request.param]


class TestRequired:
    @pytest.mark.parametrize("body", ["", "   ", "\n\t\n"])
    def test_an_empty_postmortem_is_refused(self, org: Harness, write: Any, body: str) -> None:
        incident = resolved_incident(org)
        before = org.state
        with pytest.raises(ValidationError) as info:
            write(org, incident, body=body)
        assert info.value.code == "invalid_field" and info.value.field == "body"
        assert info.value.message == "a postmortem needs its text: say what happened and why"
        assert org.state is before
        assert org.state.incidents[incident].status is IncidentStatus.RESOLVED

    def test_a_postmortem_without_a_body_is_refused(self, org: Harness) -> None:
        incident = resolved_incident(org)
        before = org.state
        with pytest.raises(ValidationError) as info:
            org.update_incident(incident, status="postmortem")
        assert info.value.field == "body"
        assert org.state is before
        with pytest.raises(ValidationError) as info:
            org.do("incident.postmortem", {"incident": incident})
        assert info.value.field == "body"

    def test_no_boilerplate_is_ever_published_as_a_postmortem(self, org: Harness) -> None:
        incident = resolved_incident(org)
        with pytest.raises(ValidationError):
            org.update_incident(incident, status="postmortem", body="")
        assert org.state.incidents[incident].postmortem is None

    def test_emptying_a_published_postmortem_is_refused(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT)
        before = org.state
        for attempt in (
            lambda: org.update_incident(incident, body="  "),
            lambda: org.update_incident(incident, status="postmortem", body=""),
            lambda: org.do("incident.postmortem", {"incident": incident, "body": "\n"}),
        ):
            with pytest.raises(ValidationError) as info:
                attempt()
            assert info.value.field == "body"
            assert org.state is before

    def test_only_a_resolved_incident_takes_one(self, org: Harness, write: Any) -> None:
        incident = org.open_incident()
        before = org.state
        # (test_incidents.py checks the words of every refused move.)
        with pytest.raises(InvalidTransition, match="postmortem only after it is resolved"):
            write(org, incident, body=TEXT)
        assert org.state is before

    def test_its_services_do_not_change_with_it(self, org: Harness) -> None:
        org.add_service("API")
        incident = resolved_incident(org)
        before = org.state
        with pytest.raises(InvalidTransition) as info:
            org.update_incident(
                incident, status="postmortem", body=TEXT, services={"API": "major_outage"}
            )
        assert info.value.field == "services"
        assert org.state is before


class TestPublished:
    def test_the_first_one_is_published_and_announced(self, org: Harness, write: Any) -> None:
        incident = resolved_incident(org)
        org.advance(hours=1)
        decision = write(org, incident, body=TEXT)
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert after.status is IncidentStatus.POSTMORTEM
        assert after.postmortem == Postmortem(TEXT, at(hours=1), at(hours=1))
        assert after.updated_at == at(hours=1)
        last = after.updates[-1]
        assert (last.status, last.body, last.created_at, last.author) == (
            "postmortem",
            DEFAULT_BODIES["postmortem"],
            at(hours=1),
            "alice",
        )
        assert decision.result == after.to_dict()
        assert decision.result["postmortem"] == {
            "body": TEXT,
            "published_at": "2026-01-01T13:00:00.000Z",
            "updated_at": "2026-01-01T13:00:00.000Z",
        }

    def test_its_text_is_not_copied_into_the_timeline(self, org: Harness, write: Any) -> None:
        incident = resolved_incident(org)
        write(org, incident, body=TEXT)
        write(org, incident, body=REVISED)
        bodies = [u.body for u in org.state.incidents[incident].updates]
        assert not any("deploy dropped an index" in b for b in bodies)

    def test_a_revision_replaces_it(self, org: Harness, write: Any) -> None:
        incident = resolved_incident(org)
        write(org, incident, body=TEXT)
        org.advance(days=2)
        decision = write(org, incident, body=REVISED)
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert after.postmortem == Postmortem(REVISED, T0, at(days=2))
        assert [(u.status, u.body) for u in after.updates] == [
            ("investigating", DEFAULT_BODIES["investigating"]),
            ("resolved", DEFAULT_BODIES["resolved"]),
            ("postmortem", DEFAULT_BODIES["postmortem"]),
            ("postmortem", POSTMORTEM_REVISED),
        ]
        assert POSTMORTEM_REVISED == "The postmortem has been revised."
        assert after.updates[-1].created_at == at(days=2)
        assert decision.result["postmortem"]["body"] == REVISED

    def test_a_body_alone_revises_it(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT)
        org.advance(minutes=5)
        org.update_incident(incident, body=REVISED)
        after = org.state.incidents[incident]
        assert after.postmortem == Postmortem(REVISED, T0, at(minutes=5))
        assert after.updates[-1].body == POSTMORTEM_REVISED

    def test_the_same_text_again_changes_nothing(self, org: Harness, write: Any) -> None:
        incident = resolved_incident(org)
        write(org, incident, body=TEXT)
        before = org.state
        org.advance(minutes=5)
        decision = write(org, incident, body=TEXT)
        assert decision.events == []
        assert org.state.incidents[incident] == before.incidents[incident]
        assert decision.result == before.incidents[incident].to_dict()

    def test_restating_the_status_without_words_changes_nothing(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT)
        before = org.state.incidents[incident]
        org.advance(minutes=5)
        org.update_incident(incident, status="postmortem")
        assert org.names() == []
        assert org.state.incidents[incident] == before

    def test_a_rename_beside_it_is_kept(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT, name="Slow queries")
        after = org.state.incidents[incident]
        assert (after.name, after.postmortem is not None) == ("Slow queries", True)
        org.update_incident(incident, name="Slower queries")  # no body: only a rename
        after = org.state.incidents[incident]
        assert after.name == "Slower queries" and after.postmortem is not None
        assert len(after.updates) == 3

    def test_its_source_is_kept_as_written(self, org: Harness) -> None:
        incident = resolved_incident(org)
        text = "<script>alert(1)</script>\n\n  [x](javascript:alert(1))"
        org.do("incident.postmortem", {"incident": incident, "body": f"  {text}\n"})
        postmortem = org.state.incidents[incident].postmortem
        # As written but for the whitespace around it (as any text); rendering makes it safe.
        assert postmortem is not None and postmortem.body == text

    def test_it_is_public(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT)
        public = org.state.incidents[incident].to_dict(public=True)
        assert public["postmortem"]["body"] == TEXT


class TestStored:
    def test_it_survives_replay_and_snapshots(self, org: Harness) -> None:
        incident = resolved_incident(org)
        org.update_incident(incident, status="postmortem", body=TEXT)
        org.advance(minutes=1)
        org.do("incident.postmortem", {"incident": incident, "body": REVISED})
        kept = org.state.incidents[incident]
        assert replay(org.log).incidents[incident] == kept
        assert Incident.from_dict(kept.to_dict()) == kept

    def test_incidents_stored_before_postmortems_had_their_own_place_load(
        self, org: Harness
    ) -> None:
        incident = resolved_incident(org)
        old = org.state.incidents[incident].to_dict()
        del old["postmortem"]
        loaded = Incident.from_dict(old)
        assert loaded.postmortem is None
        assert loaded.to_dict()["postmortem"] is None

    def test_an_incident_without_one_says_null(self, org: Harness) -> None:
        incident = resolved_incident(org)
        assert org.state.incidents[incident].to_dict()["postmortem"] is None
