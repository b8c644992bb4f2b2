"""schema.parse / parse_command / json_schema: typed records from untrusted JSON."""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import commands as c
from server.domain.model import Impact, IncidentStatus, ServiceStatus
from server.domain.schema import MISSING, Items, Missing, Range, Text, json_schema, parse
from server.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    ValidationError,
)

SERVICE_STATUSES = (
    "operational, degraded_performance, partial_outage, major_outage, under_maintenance"
)


def refused(name: str, data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        c.parse_command(name, data)
    assert info.value.code == "invalid_field"
    return info.value


# ---------------------------------------------------------------------------
# test-only records, to reach every branch of the converters


@dataclass(frozen=True)
class Sample:
    code: Annotated[str, Text(3, 5)]
    letters: Annotated[str, Text(1, 10, r"[a-z]+")] = "abc"
    count: Annotated[int, Range(-2, 2)] = 0
    floor_only: Annotated[int, Range(min=10)] = 10
    ceiling_only: Annotated[int, Range(max=10)] = 10
    tags: Annotated[list[str], Items(2)] = dataclasses.field(default_factory=list)
    labels: Annotated[dict[str, int], Items(1)] = dataclasses.field(default_factory=dict)
    maybe: int | None = None
    later: int | Missing = MISSING


class TestErrors:
    @pytest.mark.parametrize(
        ("cls", "code", "http"),
        [
            (ValidationError, "invalid_field", 422),
            (NotFound, "not_found", 404),
            (Conflict, "conflict", 409),
            (InvalidTransition, "invalid_transition", 409),
            (DomainError, "invalid_field", 422),
        ],
    )
    def test_codes_and_http_statuses(self, cls: type[DomainError], code: str, http: int) -> None:
        error = cls("what and why", field="name")
        assert error.code == code
        assert error.http_status == http
        assert str(error) == "what and why"
        assert error.to_dict() == {"code": code, "message": "what and why", "field": "name"}

    def test_to_dict_leaves_out_an_absent_field(self) -> None:
        assert NotFound("gone").to_dict() == {"code": "not_found", "message": "gone"}

    def test_all_are_domain_errors(self) -> None:
        for cls in (ValidationError, NotFound, Conflict, InvalidTransition):
            assert issubclass(cls, DomainError)


class TestStrings:
    def test_surrounding_whitespace_is_stripped(self) -> None:
        assert c.parse_command("service.create", {"name": "  API \n"}).name == "API"

    @pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
    def test_empty_after_stripping_is_refused(self, blank: str) -> None:
        error = refused("service.create", {"name": blank})
        assert error.field == "name"
        assert error.message == "name must not be empty"

    def test_max_length_is_inclusive(self) -> None:
        assert c.parse_command("service.create", {"name": "x" * 100}).name == "x" * 100

    def test_too_long_says_limit_and_length(self) -> None:
        error = refused("service.create", {"name": "x" * 101})
        assert error.field == "name"
        assert error.message == "name must be at most 100 characters (got 101)"

    def test_length_is_measured_after_stripping(self) -> None:
        assert (
            c.parse_command("service.create", {"name": "  " + "x" * 100 + "  "}).name == "x" * 100
        )

    def test_description_and_body_limits(self) -> None:
        assert (
            c.parse_command("service.create", {"name": "a", "description": "d" * 1000}).description
            == "d" * 1000
        )
        error = refused("service.create", {"name": "a", "description": "d" * 1001})
        assert (error.field, error.message) == (
            "description",
            "description must be at most 1000 characters (got 1001)",
        )
        assert (
            c.parse_command("incident.create", {"name": "a", "body": "b" * 10_000}).body
            == "b" * 10_000
        )
        error = refused("incident.create", {"name": "a", "body": "b" * 10_001})
        assert error.field == "body"
        assert "at most 10000 characters" in error.message

    def test_empty_body_is_allowed(self) -> None:
        assert c.parse_command("incident.create", {"name": "a", "body": "  "}).body == ""

    @pytest.mark.parametrize("value", [5, 1.5, True, ["API"], {"x": 1}])
    def test_non_string_is_refused(self, value: object) -> None:
        error = refused("service.create", {"name": value})
        assert (error.field, error.message) == ("name", "name must be a string")

    def test_minimum_above_one_names_the_minimum(self) -> None:
        with pytest.raises(ValidationError) as info:
            parse(Sample, {"code": "ab"}, where="sample")
        assert (info.value.field, info.value.message) == (
            "code",
            "code must be at least 3 characters",
        )

    def test_pattern_without_hint_shows_the_pattern(self) -> None:
        with pytest.raises(ValidationError) as info:
            parse(Sample, {"code": "abc", "letters": "ABC"}, where="sample")
        assert info.value.field == "letters"
        assert info.value.message == "letters does not match [a-z]+; got 'ABC'"

    @settings(max_examples=200, deadline=None)
    @given(
        core=st.text(
            alphabet=string.ascii_letters + string.digits + " -_.", min_size=1, max_size=100
        ).filter(lambda s: s.strip() == s and s != ""),
        left=st.text(alphabet=" \t\n", max_size=5),
        right=st.text(alphabet=" \t\n", max_size=5),
    )
    def test_any_padded_name_parses_to_its_core(self, core: str, left: str, right: str) -> None:
        assert c.parse_command("service.create", {"name": left + core + right}).name == core


class TestIntegers:
    @pytest.mark.parametrize("value", [True, False, 1.0, "1", None, [1]])
    def test_non_integers_and_booleans_are_refused(self, value: object) -> None:
        error = refused("service.update", {"service": "API", "position": value})
        assert error.field == "position"
        assert error.message.startswith("position must be an integer")

    def test_null_on_a_non_nullable_field_says_not_null(self) -> None:
        error = refused("service.update", {"service": "API", "position": None})
        assert error.message == "position must be an integer, not null"

    def test_null_on_a_nullable_field_is_none(self) -> None:
        assert c.parse_command("service.create", {"name": "a", "position": None}).position is None
        assert parse(Sample, {"code": "abc", "maybe": None}, where="s").maybe is None

    @pytest.mark.parametrize("value", [0, 1, 999_999, 1_000_000])
    def test_range_bounds_are_inclusive(self, value: int) -> None:
        assert c.parse_command("service.create", {"name": "a", "position": value}).position == value

    def test_below_range(self) -> None:
        error = refused("service.create", {"name": "a", "position": -1})
        assert (error.field, error.message) == ("position", "position must be at least 0")

    def test_above_range(self) -> None:
        error = refused("service.create", {"name": "a", "position": 1_000_001})
        assert (error.field, error.message) == ("position", "position must be at most 1000000")

    @settings(max_examples=200, deadline=None)
    @given(st.integers(-50, 50))
    def test_range_accepts_exactly_its_interval(self, value: int) -> None:
        if -2 <= value <= 2:
            assert parse(Sample, {"code": "abc", "count": value}, where="s").count == value
            return
        with pytest.raises(ValidationError) as info:
            parse(Sample, {"code": "abc", "count": value}, where="s")
        assert info.value.field == "count"
        bound = "at least -2" if value < -2 else "at most 2"
        assert info.value.message == f"count must be {bound}"

    def test_one_sided_ranges(self) -> None:
        assert parse(Sample, {"code": "abc", "floor_only": 10**9}, where="s").floor_only == 10**9
        assert parse(
            Sample, {"code": "abc", "ceiling_only": -(10**9)}, where="s"
        ).ceiling_only == -(10**9)
        with pytest.raises(ValidationError, match="floor_only must be at least 10"):
            parse(Sample, {"code": "abc", "floor_only": 9}, where="s")
        with pytest.raises(ValidationError, match="ceiling_only must be at most 10"):
            parse(Sample, {"code": "abc", "ceiling_only": 11}, where="s")


class TestBooleans:
    @pytest.mark.parametrize("value", [True, False])
    def test_booleans_accepted(self, value: bool) -> None:
        assert c.parse_command("service.create", {"name": "a", "showcase": value}).showcase is value

    @pytest.mark.parametrize("value", [0, 1, "true", "false", None])
    def test_non_booleans_refused(self, value: object) -> None:
        error = refused("service.create", {"name": "a", "showcase": value})
        assert (error.field, error.message) == ("showcase", "showcase must be true or false")


class TestEnums:
    @pytest.mark.parametrize("status", list(ServiceStatus))
    def test_each_member_parses_to_the_member(self, status: ServiceStatus) -> None:
        parsed = c.parse_command("service.create", {"name": "a", "status": status.value}).status
        assert parsed is status

    @pytest.mark.parametrize(
        "value", ["broken", "Operational", "", 1, None, ["operational"], {"a": 1}]
    )
    def test_unknown_values_list_the_allowed_ones(self, value: object) -> None:
        error = refused("service.create", {"name": "a", "status": value})
        assert error.field == "status"
        assert error.message == f"status must be one of {SERVICE_STATUSES}; got {value!r}"

    def test_incident_status_values_listed(self) -> None:
        error = refused("incident.create", {"name": "a", "status": "open"})
        assert error.message == (
            "status must be one of investigating, identified, monitoring, resolved, postmortem; got 'open'"
        )

    def test_nullable_enum(self) -> None:
        assert c.parse_command("incident.create", {"name": "a", "impact": None}).impact is None
        assert (
            c.parse_command("incident.create", {"name": "a", "impact": "major"}).impact
            is Impact.MAJOR
        )

    def test_non_nullable_enum_on_update_refuses_null(self) -> None:
        error = refused("incident.update", {"incident": "i", "impact": None})
        assert error.field == "impact"
        assert error.message == "impact must be one of none, minor, major, critical, not null"


class TestTimes:
    def test_z_suffix(self) -> None:
        parsed = c.parse_command(
            "incident.create", {"name": "a", "started_at": "2026-01-31T09:00:00Z"}
        )
        assert parsed.started_at == datetime(2026, 1, 31, 9, tzinfo=UTC)
        assert parsed.started_at.tzinfo is UTC

    def test_offsets_are_converted_to_utc(self) -> None:
        parsed = c.parse_command(
            "incident.create", {"name": "a", "started_at": "2026-01-31T10:30:00+01:30"}
        )
        assert parsed.started_at == datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
        assert parsed.started_at.utcoffset() == timedelta(0)
        assert parsed.started_at.tzinfo is UTC

    def test_fractional_seconds_kept(self) -> None:
        parsed = c.parse_command(
            "incident.create", {"name": "a", "started_at": "2026-01-31T09:00:00.250Z"}
        )
        assert parsed.started_at.microsecond == 250_000

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-01-31T09:00:00.123456Z", datetime(2026, 1, 31, 9, 0, 0, 123_000, tzinfo=UTC)),
            ("2026-01-31T09:00:00.999999Z", datetime(2026, 1, 31, 9, 0, 0, 999_000, tzinfo=UTC)),
            ("2026-01-31T09:00:00.000999Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
            (
                "2026-01-31T10:30:59.999999+01:30",
                datetime(2026, 1, 31, 9, 0, 59, 999_000, tzinfo=UTC),
            ),
        ],
    )
    def test_sub_millisecond_digits_are_truncated(self, text: str, expected: datetime) -> None:
        parsed = c.parse_command("incident.create", {"name": "a", "started_at": text}).started_at
        assert parsed == expected
        assert parsed.tzinfo is UTC

    @pytest.mark.parametrize("naive", ["2026-01-31T09:00:00", "2026-01-31"])
    def test_timezone_required(self, naive: str) -> None:
        error = refused("incident.create", {"name": "a", "started_at": naive})
        assert error.field == "started_at"
        assert error.message == f"started_at must include a timezone (Z or +hh:mm); got {naive!r}"

    @pytest.mark.parametrize("garbage", ["yesterday", "2026-13-01T00:00:00Z", "", "12:00"])
    def test_unparseable_times_show_an_example(self, garbage: str) -> None:
        error = refused("incident.create", {"name": "a", "started_at": garbage})
        assert error.field == "started_at"
        assert error.message == (
            f"started_at must be an RFC 3339 time like 2026-01-31T09:00:00Z; got {garbage!r}"
        )

    @pytest.mark.parametrize("value", [1_700_000_000, 1.5, True, ["2026-01-31T09:00:00Z"]])
    def test_non_strings_refused(self, value: object) -> None:
        error = refused("incident.create", {"name": "a", "started_at": value})
        assert (error.field, error.message) == (
            "started_at",
            "started_at must be an RFC 3339 time string",
        )

    def test_required_time_refuses_null(self) -> None:
        data = {"name": "m", "scheduled_for": None, "scheduled_until": "2026-01-31T09:00:00Z"}
        with pytest.raises(ValidationError) as info:
            c.parse_command("maintenance.schedule", data)
        assert info.value.field == "scheduled_for"
        assert info.value.message == "scheduled_for must be an RFC 3339 time string"

    @settings(max_examples=200, deadline=None)
    @given(
        moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
        offset_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    )
    def test_any_offset_is_the_same_instant_in_utc(
        self, moment: datetime, offset_minutes: int
    ) -> None:
        aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
        parsed = c.parse_command(
            "incident.create", {"name": "a", "started_at": aware.isoformat()}
        ).started_at
        # the same instant, cut to the millisecond
        assert parsed == aware - timedelta(microseconds=aware.microsecond % 1000)
        assert parsed.microsecond % 1000 == 0
        assert timedelta(0) <= aware - parsed < timedelta(milliseconds=1)
        assert parsed.tzinfo is UTC


class TestCollections:
    def test_list_items_are_checked_and_stripped(self) -> None:
        data = {
            "name": "m",
            "scheduled_for": "2026-01-31T09:00:00Z",
            "scheduled_until": "2026-01-31T10:00:00Z",
        }
        assert c.parse_command(
            "maintenance.schedule", {**data, "services": [" API ", "db"]}
        ).services == ["API", "db"]

    def test_list_must_be_a_list(self) -> None:
        error = refused("maintenance.update", {"maintenance": "m", "services": "API"})
        assert (error.field, error.message) == ("services", "services must be a list")

    def test_bad_item_is_named_by_index(self) -> None:
        error = refused("maintenance.update", {"maintenance": "m", "services": ["API", 5]})
        assert (error.field, error.message) == ("services[1]", "services[1] must be a string")
        error = refused("maintenance.update", {"maintenance": "m", "services": ["API", " "]})
        assert (error.field, error.message) == ("services[1]", "services[1] must not be empty")

    def test_list_item_limit(self) -> None:
        ok = c.parse_command(
            "maintenance.update", {"maintenance": "m", "services": [f"s{i}" for i in range(200)]}
        )
        assert len(ok.services) == 200
        error = refused(
            "maintenance.update", {"maintenance": "m", "services": [f"s{i}" for i in range(201)]}
        )
        assert (error.field, error.message) == ("services", "services may hold at most 200 entries")

    def test_dict_must_be_an_object(self) -> None:
        error = refused("incident.create", {"name": "a", "services": ["API"]})
        assert (error.field, error.message) == ("services", "services must be an object")

    def test_dict_value_is_named_by_key(self) -> None:
        error = refused("incident.create", {"name": "a", "services": {"API": "down"}})
        assert error.field == "services.API"
        assert error.message == f"services.API must be one of {SERVICE_STATUSES}; got 'down'"

    def test_dict_values_are_converted(self) -> None:
        parsed = c.parse_command(
            "incident.create", {"name": "a", "services": {"API": "major_outage"}}
        )
        assert parsed.services == {"API": ServiceStatus.MAJOR_OUTAGE}
        assert parsed.services["API"] is ServiceStatus.MAJOR_OUTAGE

    def test_dict_entry_limit(self) -> None:
        many = {f"s{i}": "operational" for i in range(200)}
        assert (
            len(c.parse_command("incident.create", {"name": "a", "services": many}).services) == 200
        )
        error = refused(
            "incident.create", {"name": "a", "services": {**many, "one-more": "operational"}}
        )
        assert (error.field, error.message) == ("services", "services may hold at most 200 entries")

    def test_items_on_generic_records(self) -> None:
        with pytest.raises(ValidationError, match="tags may hold at most 2 entries"):
            parse(Sample, {"code": "abc", "tags": ["a", "b", "c"]}, where="s")
        with pytest.raises(ValidationError, match="labels may hold at most 1 entries"):
            parse(Sample, {"code": "abc", "labels": {"a": 1, "b": 2}}, where="s")
        with pytest.raises(ValidationError) as info:
            parse(Sample, {"code": "abc", "labels": {"a": True}}, where="s")
        assert info.value.field == "labels.a"

    def test_default_factories_give_fresh_empties(self) -> None:
        one = c.parse_command("incident.create", {"name": "a"})
        two = c.parse_command("incident.create", {"name": "b"})
        assert one.services == {}
        assert two.services == {}
        assert one.services is not two.services


class TestRecords:
    def test_unknown_field_is_named_and_known_fields_listed(self) -> None:
        error = refused("service.create", {"name": "API", "nmae": "x"})
        assert error.field == "nmae"
        assert error.message == (
            "service.create has no field 'nmae' (it takes description, group, name, "
            "only_show_if_degraded, position, show_response_times, showcase, status)"
        )

    def test_unknown_field_wins_over_missing_required(self) -> None:
        error = refused("service.create", {"title": "API"})
        assert error.field == "title"

    def test_record_without_fields_refuses_everything(self) -> None:
        with pytest.raises(ValidationError) as info:
            parse(c.DeleteOrg, {"x": 1}, where="org.delete")
        assert info.value.message == "org.delete has no field 'x' (it takes none)"
        assert parse(c.DeleteOrg, {}, where="org.delete") == c.DeleteOrg()

    def test_missing_required_field(self) -> None:
        error = refused("service.create", {"description": "x"})
        assert (error.field, error.message) == ("name", "service.create needs the field 'name'")
        error = refused("service.update", {"name": "x"})
        assert (error.field, error.message) == (
            "service",
            "service.update needs the field 'service'",
        )

    @pytest.mark.parametrize("data", [[], "name", 3, True, [{"name": "x"}]])
    def test_non_object_input(self, data: object) -> None:
        error = refused("service.create", data)
        assert error.field is None
        assert error.message == "service.create must be a JSON object"

    def test_null_data_is_an_empty_object(self) -> None:
        assert c.parse_command("org.update", None) == c.UpdateOrg()
        error = refused("service.create", None)
        assert error.field == "name"

    def test_unknown_command(self) -> None:
        error = refused("service.explode", {})
        assert error.field == "name"
        assert error.message.startswith(
            "unknown command 'service.explode'; known: org.update, service.create"
        )
        for name in c.COMMANDS:
            assert name in error.message

    def test_internal_commands_are_not_on_the_wire(self) -> None:
        for internal in ("tick", "org.create", "org.delete"):
            assert refused(internal, {}).field == "name"

    def test_missing_defaults_on_updates(self) -> None:
        parsed = c.parse_command("service.update", {"service": "API"})
        for attr in (
            "name",
            "description",
            "group",
            "position",
            "status",
            "showcase",
            "only_show_if_degraded",
            "show_response_times",
        ):
            assert getattr(parsed, attr) is MISSING
        assert parsed.service == "API"

    def test_null_is_not_missing(self) -> None:
        parsed = c.parse_command(
            "service.update", {"service": "API", "description": None, "group": None}
        )
        assert parsed.description is None
        assert parsed.group is None
        assert parsed.name is MISSING

    def test_missing_is_a_falsy_singleton(self) -> None:
        assert list(Missing) == [MISSING]
        assert Missing("MISSING") is MISSING
        assert not MISSING
        assert repr(MISSING) == "MISSING"

    def test_create_defaults(self) -> None:
        parsed = c.parse_command("service.create", {"name": "API"})
        assert parsed == c.CreateService(name="API")
        assert (parsed.description, parsed.group, parsed.position) == (None, None, None)
        assert parsed.status is ServiceStatus.OPERATIONAL
        assert parsed.showcase is True
        assert parsed.only_show_if_degraded is False
        incident = c.parse_command("incident.create", {"name": "x"})
        assert incident.status is IncidentStatus.INVESTIGATING
        assert (incident.impact, incident.body, incident.services, incident.started_at) == (
            None,
            "",
            {},
            None,
        )
        maintenance = c.parse_command(
            "maintenance.schedule",
            {
                "name": "m",
                "scheduled_for": "2026-01-31T09:00:00Z",
                "scheduled_until": "2026-01-31T10:00:00Z",
            },
        )
        assert (
            maintenance.services,
            maintenance.body,
            maintenance.auto_start,
            maintenance.auto_complete,
        ) == (
            [],
            "",
            True,
            True,
        )

    def test_records_are_frozen(self) -> None:
        parsed = c.parse_command("service.create", {"name": "API"})
        with pytest.raises(dataclasses.FrozenInstanceError):
            parsed.name = "other"  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("org.update", {"name": "New"}),
            ("service.create", {"name": "API"}),
            ("service.update", {"service": "API"}),
            ("service.delete", {"service": "API"}),
            ("incident.create", {"name": "x"}),
            ("incident.update", {"incident": "i"}),
            ("incident.resolve", {"incident": "i"}),
            ("incident.delete", {"incident": "i"}),
            (
                "maintenance.schedule",
                {
                    "name": "m",
                    "scheduled_for": "2026-01-01T00:00:00Z",
                    "scheduled_until": "2026-01-02T00:00:00Z",
                },
            ),
            ("maintenance.update", {"maintenance": "m"}),
            ("maintenance.cancel", {"maintenance": "m"}),
            ("maintenance.delete", {"maintenance": "m"}),
        ],
    )
    def test_every_wire_command_parses_to_its_record(
        self, name: str, data: dict[str, object]
    ) -> None:
        parsed = c.parse_command(name, data)
        assert type(parsed) is c.COMMANDS[name]
        assert c.COMMAND_NAMES[type(parsed)] == name


class TestJsonSchema:
    def test_create_service(self) -> None:
        statuses = [s.value for s in ServiceStatus]
        assert json_schema(c.CreateService) == {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "description": {
                    "type": "string",
                    "minLength": 0,
                    "maxLength": 1000,
                    "nullable": True,
                    "default": None,
                },
                "group": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100,
                    "nullable": True,
                    "default": None,
                },
                "position": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 1_000_000,
                    "nullable": True,
                    "default": None,
                },
                "status": {"type": "string", "enum": statuses, "default": "operational"},
                "showcase": {"type": "boolean", "default": True},
                "only_show_if_degraded": {"type": "boolean", "default": False},
                "show_response_times": {"type": "boolean", "default": False},
            },
            "additionalProperties": False,
            "required": ["name"],
        }

    def test_update_incident_has_no_defaults_for_missing(self) -> None:
        schema = json_schema(c.UpdateIncident)
        assert schema["required"] == ["incident"]
        assert schema["properties"]["services"] == {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": [s.value for s in ServiceStatus]},
            "maxProperties": 200,
        }
        assert schema["properties"]["status"] == {
            "type": "string",
            "enum": [s.value for s in IncidentStatus],
        }
        assert schema["properties"]["body"] == {
            "type": "string",
            "minLength": 0,
            "maxLength": 10_000,
        }
        assert all("default" not in p for p in schema["properties"].values())

    def test_schedule_maintenance(self) -> None:
        schema = json_schema(c.ScheduleMaintenance)
        assert schema["required"] == ["name", "scheduled_for", "scheduled_until"]
        assert schema["properties"]["scheduled_for"] == {"type": "string", "format": "date-time"}
        assert schema["properties"]["services"] == {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "maxItems": 200,
        }
        assert schema["properties"]["auto_start"] == {"type": "boolean", "default": True}

    def test_create_incident_nullable_time(self) -> None:
        props = json_schema(c.CreateIncident)["properties"]
        assert props["started_at"] == {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "default": None,
        }
        assert props["impact"] == {
            "type": "string",
            "enum": ["none", "minor", "major", "critical"],
            "nullable": True,
            "default": None,
        }
        assert props["status"]["default"] == "investigating"

    def test_slug_pattern_and_exclusion(self) -> None:
        schema = json_schema(c.CreateOrg, exclude=frozenset({"name", "listed"}))
        assert schema == {
            "type": "object",
            "properties": {
                "slug": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 40,
                    "pattern": c.SLUG_PATTERN,
                }
            },
            "additionalProperties": False,
            "required": ["slug"],
        }

    def test_empty_record_has_no_required(self) -> None:
        assert json_schema(c.DeleteOrg) == {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        }

    @pytest.mark.parametrize("name", list(c.COMMANDS))
    def test_schema_and_parser_agree_on_fields(self, name: str) -> None:
        cls = c.COMMANDS[name]
        schema = json_schema(cls)
        required = schema.get("required", [])
        # The parser refuses an unknown field by listing exactly the schema's properties.
        with pytest.raises(ValidationError) as info:
            c.parse_command(name, {"zzz": 1})
        assert info.value.message.endswith(f"(it takes {', '.join(sorted(schema['properties']))})")
        # ... and asks for the first required field when given nothing.
        if required:
            with pytest.raises(ValidationError) as info:
                c.parse_command(name, {})
            assert info.value.field == required[0]
        else:
            assert type(c.parse_command(name, {})) is cls
