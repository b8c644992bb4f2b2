"""The public page's look: an accent colour that keeps its contrast, links,
a footer, a time zone and what the public may subscribe with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from domain_support import Harness
from hypothesis import given
from hypothesis import strategies as st

from server.domain import looks
from server.domain.model import Org, SignUp
from server.errors import ValidationError

colours = st.tuples(*[st.integers(0, 255)] * 3).map(looks.hex_of)


class TestContrast:
    def test_the_wcag_figures(self) -> None:
        assert looks.contrast("#000000", "#ffffff") == pytest.approx(21)
        assert looks.contrast("#ffffff", "#ffffff") == pytest.approx(1)
        assert looks.contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
        # switchboard.css's own link colours pass where they are used
        assert looks.passes("#0b57d0", looks.LIGHT_BACKGROUNDS)
        assert looks.passes("#8ab4f8", looks.DARK_BACKGROUNDS)

    @given(colours)
    def test_an_accent_is_taken_exactly_when_it_passes_on_the_light_page(self, colour: str) -> None:
        if looks.passes(colour, looks.LIGHT_BACKGROUNDS):
            assert looks.check_accent(colour.upper()) == colour
        else:
            with pytest.raises(ValidationError) as info:
                looks.check_accent(colour)
            assert info.value.field == "accent_color"

    @given(colours)
    def test_the_darker_shade_offered_passes_and_keeps_the_hue(self, colour: str) -> None:
        shade = looks.darkened(colour)
        assert looks.passes(shade, looks.LIGHT_BACKGROUNDS)
        assert all(s <= c for s, c in zip(looks.rgb(shade), looks.rgb(colour), strict=True))

    @given(colours)
    def test_the_dark_theme_gets_a_tint_that_passes_there(self, colour: str) -> None:
        tint = looks.for_dark(colour)
        assert looks.passes(tint, looks.DARK_BACKGROUNDS)
        assert all(t >= c for t, c in zip(looks.rgb(tint), looks.rgb(colour), strict=True))

    def test_a_refusal_says_why_and_what_would_do(self) -> None:
        with pytest.raises(ValidationError) as info:
            looks.check_accent("#FFCC00")
        assert info.value.message == (
            "accent_color #ffcc00 has a contrast of 1.41:1 on the page's light background"
            " (#f6f7f9); links and buttons need at least 4.5:1 (WCAG AA)."
            " #8a6e00 is a darker shade of it that passes"
        )
        assert looks.check_accent("#8a6e00") == "#8a6e00"


class TestZones:
    @pytest.mark.parametrize(
        ("minutes", "label"),
        [
            (0, "UTC"),
            (60, "UTC+1"),
            (330, "UTC+5:30"),
            (-180, "UTC\u22123"),
            (-570, "UTC\u22129:30"),
        ],
    )
    def test_labels(self, minutes: int, label: str) -> None:
        assert looks.zone_label(timedelta(minutes=minutes)) == label

    def test_local_time_follows_summer_time(self) -> None:
        winter = looks.local(datetime(2026, 1, 10, 12, tzinfo=UTC), "Europe/Paris")
        summer = looks.local(datetime(2026, 7, 10, 12, tzinfo=UTC), "Europe/Paris")
        assert (winter.hour, looks.zone_label(winter.utcoffset())) == (13, "UTC+1")
        assert (summer.hour, looks.zone_label(summer.utcoffset())) == (14, "UTC+2")

    def test_unknown_zones_are_refused(self) -> None:
        assert looks.check_zone("America/New_York") == "America/New_York"
        with pytest.raises(ValidationError) as info:
            looks.check_zone("Mars/Olympus")
        assert info.value.field == "time_zone"


class TestSettings:
    def test_the_look_is_set_shown_and_replayed(self, org: Harness) -> None:
        look = {
            "logo_url": "https://cdn.example.com/logo.svg",
            "accent_color": "#1A5FB4",
            "header_links": [{"label": "Home", "url": "https://example.com"}],
            "footer_text": "Acme Inc.\nSupport: help@example.com",
            "time_zone": "Europe/Paris",
            "subscriptions": ["webhook", "email"],
        }
        decision = org.do("org.update", look)
        assert org.names() == ["org.updated"]
        assert decision.events[0].public_seq is not None  # the public page redraws
        expected = {**look, "accent_color": "#1a5fb4", "subscriptions": ["email", "webhook"]}
        assert {k: decision.result[k] for k in look} == expected
        again = Org.from_dict(decision.result)
        assert again == org.state.org
        # Taken away again: no logo, no accent, no links, nobody may subscribe.
        org.do(
            "org.update",
            {"logo_url": None, "accent_color": None, "header_links": [], "subscriptions": []},
        )
        state = org.state.org
        assert (state.logo_url, state.accent_color, state.header_links) == (None, None, ())
        assert state.subscriptions == ()

    def test_an_organization_from_before_has_the_plain_page(self) -> None:
        at = "2026-01-01T12:00:00.000Z"
        old = {"id": "o1", "slug": "demo", "name": "Demo", "created_at": at, "updated_at": at}
        found = Org.from_dict(old)
        assert (found.accent_color, found.time_zone) == (None, "UTC")
        assert found.subscriptions == (SignUp.EMAIL, SignUp.WEBHOOK)

    @pytest.mark.parametrize(
        ("data", "field", "words"),
        [
            ({"accent_color": "#ffcc00"}, "accent_color", "contrast of 1.41:1"),
            ({"accent_color": "blue"}, "accent_color", "must be a colour as #rrggbb"),
            ({"logo_url": "http://example.com/logo.png"}, "logo_url", "https:// URL or a path"),
            ({"logo_url": "//evil.example/x.png"}, "logo_url", "https:// URL or a path"),
            ({"logo_url": "https://a.example;script-src *"}, "logo_url", "https:// URL"),
            (
                {"header_links": [{"label": "Home", "url": "javascript:alert(1)"}]},
                "header_links[0].url",
                "http(s):// URL or a path",
            ),
            ({"header_links": [{"label": "", "url": "/"}]}, "header_links[0].label", "empty"),
            (
                {"header_links": [{"label": "x", "url": "/"}] * 6},
                "header_links",
                "at most 5",
            ),
            ({"footer_text": "x" * 501}, "footer_text", "at most 500"),
            ({"time_zone": "Mars/Olympus"}, "time_zone", "IANA name"),
            ({"subscriptions": ["sms"]}, "subscriptions[0]", "email, webhook"),
        ],
    )
    def test_what_is_refused(
        self, org: Harness, data: dict[str, object], field: str, words: str
    ) -> None:
        before = org.state
        with pytest.raises(ValidationError) as info:
            org.do("org.update", data)
        assert info.value.field == field
        assert words in info.value.message
        assert org.state is before
