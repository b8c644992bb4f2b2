"""Organizations: slugs, creation, renaming and deletion."""

from __future__ import annotations

import re

import pytest
from domain_support import T0, Harness, at
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import commands as c
from server.domain import hosts, rules
from server.domain.model import ALL_OPERATIONAL, Org
from server.domain.schema import parse
from server.domain.transaction import Decision
from server.errors import NotFound, ValidationError


def parse_org(slug: object, name: object = "Demo") -> c.CreateOrg:
    return parse(c.CreateOrg, {"slug": slug, "name": name}, where="org.create")


def create(slug: str) -> Decision:
    ctx = c.Context(now=T0, author="alice", new_id=lambda: "org1")
    return rules.new_org(parse_org(slug), ctx)


HINT = "must be 1-40 lowercase letters, digits or inner hyphens"


class TestSlugs:
    @pytest.mark.parametrize(
        "slug",
        [
            "a",
            "0",
            "demo",
            "acme-corp",
            "a-b-c",
            "a--b",
            "team42",
            "4x4",
            "a" * 40,
            "a" + "-" * 38 + "b",
        ],
    )
    def test_valid(self, slug: str) -> None:
        assert create(slug).state.org.slug == slug

    @pytest.mark.parametrize(
        "slug",
        ["Demo", "DEMO", "-demo", "demo-", "-", "de mo", "de_mo", "de.mo", "démo", "demo!", "a/b"],
    )
    def test_invalid_patterns(self, slug: str) -> None:
        with pytest.raises(ValidationError) as info:
            parse_org(slug)
        assert info.value.field == "slug"
        assert info.value.message == f"slug {HINT}; got {slug!r}"

    def test_too_long(self) -> None:
        with pytest.raises(ValidationError) as info:
            parse_org("a" * 41)
        assert info.value.field == "slug"
        assert info.value.message == "slug must be at most 40 characters (got 41)"

    def test_empty(self) -> None:
        with pytest.raises(ValidationError) as info:
            parse_org("")
        assert (info.value.field, info.value.message) == ("slug", "slug must not be empty")

    def test_surrounding_spaces_are_stripped(self) -> None:
        assert parse_org("  demo ").slug == "demo"

    @pytest.mark.parametrize("slug", sorted(rules.RESERVED_SLUGS))
    def test_reserved(self, slug: str) -> None:
        with pytest.raises(ValidationError) as info:
            create(slug)
        assert info.value.field == "slug"
        assert info.value.message == f"slug {slug!r} is reserved; choose another"

    def test_reserved_set(self) -> None:
        assert {
            "api",
            "admin",
            "ws",
            "static",
            "status",
            "health",
            "ready",
            "new",
            "incidents",
            "join",
        } == rules.RESERVED_SLUGS

    def test_reserved_names_only_match_whole_slugs(self) -> None:
        assert create("api-docs").state.org.slug == "api-docs"
        assert create("my-status").state.org.slug == "my-status"

    def test_uppercase_reserved_name_fails_on_pattern(self) -> None:
        with pytest.raises(ValidationError, match="lowercase"):
            parse_org("API")

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet="ab9-Z_ ", max_size=44))
    def test_accepted_exactly_when_the_spec_says(self, slug: str) -> None:
        stripped = slug.strip()
        ok = (
            1 <= len(stripped) <= 40
            and all(ch in "abcdefghijklmnopqrstuvwxyz0123456789-" for ch in stripped)
            and not stripped.startswith("-")
            and not stripped.endswith("-")
        )
        if not ok:
            with pytest.raises(ValidationError) as info:
                parse_org(slug)
            assert info.value.field == "slug"
            return
        parsed = parse_org(slug)
        assert parsed.slug == stripped
        assert re.fullmatch(c.SLUG_PATTERN, parsed.slug)


class TestCreate:
    def test_new_org(self) -> None:
        decision = create("demo")
        org = decision.state.org
        assert (org.id, org.slug, org.name, org.created_at, org.updated_at) == (
            "org1",
            "demo",
            "Demo",
            T0,
            T0,
        )
        assert decision.result == {
            "id": "org1",
            "slug": "demo",
            "name": "Demo",
            "listed": False,
            "region_labels": {},
            "monitor_texts": {},
            "domains": [],
            "subscriptions": ["email", "webhook"],
            "logo_url": None,
            "accent_color": None,
            "header_links": [],
            "footer_text": "",
            "time_zone": "UTC",
            "created_at": "2026-01-01T12:00:00.000Z",
            "updated_at": "2026-01-01T12:00:00.000Z",
        }
        assert [e.name for e in decision.events] == ["org.created"]
        event = decision.events[0]
        assert (event.version, event.public_seq, event.at, event.author) == (1, None, T0, "alice")
        assert event.data == {"org": decision.result}
        state = decision.state
        assert (state.version, state.public_seq, state.deleted, state.updated_at) == (
            1,
            0,
            False,
            T0,
        )
        assert state.status == ALL_OPERATIONAL
        assert state.services == state.incidents == state.maintenances == state.groups == {}


class TestUpdate:
    def test_rename(self, org: Harness) -> None:
        org.advance(minutes=5)
        decision = org.do("org.update", {"name": "Acme"})
        assert org.names() == ["org.updated"]
        assert decision.result["name"] == "Acme"
        assert org.state.org.name == "Acme"
        assert org.state.org.updated_at == at(minutes=5)
        assert org.state.org.created_at == T0
        assert decision.events[0].public_seq == 1

    @pytest.mark.parametrize("data", [{}, {"name": "Demo"}, {"name": " Demo "}])
    def test_no_change_no_event(self, org: Harness, data: dict[str, str]) -> None:
        before = org.state
        decision = org.do("org.update", data)
        assert decision.events == []
        assert decision.result["name"] == "Demo"
        assert org.state.version == before.version

    def test_domains_are_kept_as_a_host_header_carries_them(self, org: Harness) -> None:
        given_names = ["Status.Example.COM.", "bücher.example", "status.example.com"]
        decision = org.do("org.update", {"domains": given_names})
        assert org.names() == ["org.updated"]
        assert decision.result["domains"] == ["status.example.com", "xn--bcher-kva.example"]
        assert decision.events[0].data["org"]["domains"] == decision.result["domains"]
        assert org.state.org.domains == ("status.example.com", "xn--bcher-kva.example")
        same = org.do("org.update", {"domains": ["status.example.com", "XN--BCHER-KVA.example"]})
        assert same.events == []
        assert org.do("org.update", {"domains": []}).result["domains"] == []

    @given(
        st.from_regex(
            r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,3}\.[a-z]{2,6}",
            fullmatch=True,
        )
    )
    def test_a_host_name_is_its_own_normal_form(self, name: str) -> None:
        if any(label.startswith("xn--") for label in name.split(".")):
            return  # punycode labels must also decode
        assert hosts.host_name(name) == name
        assert hosts.host_name(name.upper() + ".") == name


class TestDelete:
    def test_delete(self, org: Harness) -> None:
        decision = org.decide(c.DeleteOrg())
        assert org.names() == ["org.deleted"]
        assert decision.events[0].data == {"slug": "demo"}
        assert decision.events[0].public_seq is None
        assert decision.result == {"deleted": "demo"}
        assert org.state.deleted is True

    def test_a_deleted_org_takes_no_commands(self, org: Harness) -> None:
        org.decide(c.DeleteOrg())
        with pytest.raises(NotFound) as info:
            org.do("service.create", {"name": "API"})
        assert info.value.code == "not_found"
        assert info.value.message == "organization 'demo' was deleted"
        with pytest.raises(NotFound):
            org.tick()


class TestSubscriptions:
    def test_every_way_by_default(self, org: Harness) -> None:
        assert [k.value for k in org.state.org.subscriptions] == ["email", "webhook"]

    @pytest.mark.parametrize(
        ("given", "kept"),
        [
            (["webhook"], ["webhook"]),
            (["webhook", "email"], ["email", "webhook"]),
            ([], []),
        ],
    )
    def test_a_change_replaces_the_set(
        self, org: Harness, given: list[str], kept: list[str]
    ) -> None:
        decision = org.do("org.update", {"subscriptions": given})
        assert decision.result["subscriptions"] == kept
        changed = kept != ["email", "webhook"]  # the default: nothing to tell
        assert org.names() == (["org.updated"] if changed else [])

    def test_an_unknown_way_is_refused(self, org: Harness) -> None:
        with pytest.raises(ValidationError) as refused:
            org.do("org.update", {"subscriptions": ["sms"]})
        assert refused.value.field == "subscriptions[0]"

    def test_organizations_from_before_offer_every_way(self, org: Harness) -> None:
        data = org.state.org.to_dict()
        del data["subscriptions"]
        assert Org.from_dict(data).subscriptions == org.state.org.subscriptions


class TestNoteChange:
    def test_a_change_kept_elsewhere_is_told_to_the_members_only(self, org: Harness) -> None:
        before = org.state
        decision = org.decide(c.NoteChange("member.role", "u1"))
        assert org.names() == ["change.noted"]
        event = decision.events[0]
        assert event.data == {"action": "member.role", "target": "u1"}
        assert event.public_seq is None
        assert org.state.version == before.version + 1
        assert org.state.org == before.org and org.state.services == before.services
        assert decision.result == {"noted": "member.role"}
