"""Typed records from untrusted JSON, with errors that name the field.

A record is a frozen dataclass whose annotations say what each field takes::

    @dataclass(frozen=True)
    class CreateService:
        name: Annotated[str, Text(1, 100)]
        position: Annotated[int, Range(0, 10_000)] | None = None
        status: ServiceStatus = ServiceStatus.OPERATIONAL

:func:`parse` checks a JSON object against it (unknown fields are refused, so a
typo is an error rather than a silent no-op) and :func:`json_schema` renders the
same annotations as JSON Schema for the OpenAPI document: one source of truth.

A field declared with ``metadata={"parse": False}`` is set by the caller,
never read from the input; with ``{"parse": "as_is"}`` it is read as given
(the caller has checked it).

A field whose default is :data:`MISSING` is optional and stays ``MISSING`` when
absent, which is how an update tells "leave it" from "set it to null".
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Final, TypeVar, Union, get_args, get_origin

from ..errors import ValidationError


class _Missing(Enum):
    """Marks an optional field that was not given (an enum, so type checkers
    narrow ``x is not MISSING``)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing.MISSING
Missing = _Missing


@dataclasses.dataclass(frozen=True, slots=True)
class Text:
    """String length bounds (after stripping surrounding whitespace), a pattern,
    and whether the text may hold tabs and line breaks (a body may; a name not)."""

    min: int = 0
    max: int = 10_000
    pattern: str | None = None
    hint: str | None = None  # says what the pattern means, for the error message
    lines: bool = False


# No string anywhere may hold these: NUL and the other C0 controls (but tab,
# newline and carriage return), lone surrogates, and the two non-characters
# XML forbids. They break PostgreSQL's text, feeds' XML and terminals alike.
_FORBIDDEN: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS: Final = re.compile("[\t\n\r]")


def check_chars(value: str, where: str, *, lines: bool = True) -> str:
    """``value``, or ValidationError if it holds a character no text may hold
    (or, unless ``lines``, a tab or line break)."""
    bad = _FORBIDDEN.search(value) or (None if lines else _LINE_BREAKS.search(value))
    if bad is not None:
        char = bad.group()
        what = (
            "a tab or line break"
            if char in "\t\n\r"
            else f"the control character U+{ord(char):04X}"
            if ord(char) < 0x20
            else f"the character U+{ord(char):04X}, which is not text"
        )
        raise ValidationError(f"{where} must not contain {what}", field=where)
    return value


def printable(value: str) -> str:
    """``value`` without the characters no text may hold: what readers of data
    stored before they were refused show (and what XML can carry)."""
    return _FORBIDDEN.sub("", value) if _FORBIDDEN.search(value) else value


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    min: int | None = None
    max: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Items:
    """Bounds on the number of items of a list or entries of an object."""

    max: int
    min: int = 0


Converter = Callable[[Any, str], Any]


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Annotated:
        return _describe(get_args(hint)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(hint) if a is not _Missing)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(str(m.value) for m in hint)
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        datetime: "an RFC 3339 time with a timezone",
        type(None): "null",
    }.get(hint, "a list" if origin is list else "an object")


def _converter(hint: Any) -> Converter:
    if hint is Any:
        return lambda value, where: value  # checked later by whoever reads it
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        record = hint
        return lambda value, where: parse(record, value, where=where, prefix=f"{where}.")
    origin = get_origin(hint)
    if origin is Annotated:
        base, *meta = get_args(hint)
        inner = _converter(base)
        checks = [m for m in meta if isinstance(m, Text | Range | Items)]

        def annotated(value: Any, where: str) -> Any:
            value = inner(value, where)
            for check in checks:
                value = _apply_check(check, value, where)
            return value

        return annotated
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not _Missing]
        allows_none = type(None) in options
        rest = [a for a in options if a is not type(None)]
        (only,) = rest  # one non-null type per field keeps errors unambiguous
        inner = _converter(only)
        description = _describe(hint)

        def optional(value: Any, where: str) -> Any:
            if value is None:
                if allows_none:
                    return None
                raise ValidationError(f"{where} must be {description}, not null", field=where)
            return inner(value, where)

        return optional
    if origin is list:
        (item_hint,) = get_args(hint)
        if item_hint is Any:  # its items are checked by whoever reads it

            def any_list(value: Any, where: str) -> list[Any]:
                if not isinstance(value, list):
                    raise ValidationError(f"{where} must be a list", field=where)
                return value

            return any_list
        item = _converter(item_hint)

        def as_list(value: Any, where: str) -> list[Any]:
            if not isinstance(value, list):
                raise ValidationError(f"{where} must be a list", field=where)
            return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

        return as_list
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        key = _converter(key_hint)
        val = _converter(value_hint)

        def as_dict(value: Any, where: str) -> dict[Any, Any]:
            if not isinstance(value, dict):
                raise ValidationError(f"{where} must be an object", field=where)
            return {key(k, f"{where} key"): val(v, f"{where}.{k}") for k, v in value.items()}

        return as_dict
    if isinstance(hint, type) and issubclass(hint, Enum):
        allowed = ", ".join(str(m.value) for m in hint)
        members = {m.value: m for m in hint}

        def as_enum(value: Any, where: str) -> Enum:
            try:
                return members[value]
            except (KeyError, TypeError):
                raise ValidationError(
                    f"{where} must be one of {allowed}; got {value!r}", field=where
                ) from None

        return as_enum
    if hint is bool:
        return _exact(bool, "true or false")
    if hint is int:

        def as_int(value: Any, where: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"{where} must be an integer", field=where)
            return value

        return as_int
    if hint is float:

        def as_float(value: Any, where: str) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(f"{where} must be a number", field=where)
            if not math.isfinite(value):
                raise ValidationError(f"{where} must be a finite number", field=where)
            return float(value)

        return as_float
    if hint is str:

        def as_str(value: Any, where: str) -> str:
            if type(value) is not str:
                raise ValidationError(f"{where} must be a string", field=where)
            return check_chars(value, where)

        return as_str
    if hint is datetime:

        def as_time(value: Any, where: str) -> datetime:
            if not isinstance(value, str):
                raise ValidationError(f"{where} must be an RFC 3339 time string", field=where)
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValidationError(
                    f"{where} must be an RFC 3339 time like 2026-01-31T09:00:00Z; got {value!r}",
                    field=where,
                ) from None
            if moment.tzinfo is None:
                raise ValidationError(
                    f"{where} must include a timezone (Z or +hh:mm); got {value!r}", field=where
                )
            moment = moment.astimezone(UTC)
            return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

        return as_time
    raise TypeError(f"schema: unsupported annotation {hint!r}")  # our bug, not the peer's


def _exact(kind: type, description: str) -> Converter:
    def check(value: Any, where: str) -> Any:
        if type(value) is not kind:
            raise ValidationError(f"{where} must be {description}", field=where)
        return value

    return check


def _apply_check(check: Text | Range | Items, value: Any, where: str) -> Any:
    if value is None:
        return value
    if isinstance(check, Text):
        value = value.strip()
        if not check.lines:
            check_chars(value, where, lines=False)
        if len(value) < check.min:
            if check.min == 1:
                raise ValidationError(f"{where} must not be empty", field=where)
            raise ValidationError(f"{where} must be at least {check.min} characters", field=where)
        if len(value) > check.max:
            raise ValidationError(
                f"{where} must be at most {check.max} characters (got {len(value)})", field=where
            )
        if check.pattern is not None and re.fullmatch(check.pattern, value) is None:
            raise ValidationError(
                f"{where} {check.hint or 'does not match ' + check.pattern}; got {value!r}",
                field=where,
            )
    elif isinstance(check, Range):
        if check.min is not None and value < check.min:
            raise ValidationError(f"{where} must be at least {check.min}", field=where)
        if check.max is not None and value > check.max:
            raise ValidationError(f"{where} must be at most {check.max}", field=where)
    elif len(value) > check.max:
        raise ValidationError(f"{where} may hold at most {check.max} entries", field=where)
    elif len(value) < check.min:
        exactly = "exactly" if check.min == check.max else "at least"
        raise ValidationError(f"{where} must hold {exactly} {check.min} entries", field=where)
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    convert: Converter
    required: bool


_FIELDS: dict[type, tuple[_Field, ...]] = {}


def _fields(cls: type) -> tuple[_Field, ...]:
    """The converters of a record's fields, built once per record type."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = _build_fields(cls)
    return found


def _build_fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        mode = f.metadata.get("parse")
        if not f.init or mode is False:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if mode == "as_is":  # checked by the caller before parsing
            out.append(_Field(f.name, lambda value, where: value, required))
            continue
        out.append(_Field(f.name, _converter(hints[f.name]), required))
    return tuple(out)


R = TypeVar("R")


def parse(cls: type[R], data: Any, *, where: str, prefix: str = "") -> R:
    """Build a ``cls`` from a JSON value, or raise ValidationError naming the field.

    ``prefix`` is prepended to field names in errors (for nested records).
    """
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must be a JSON object", field=prefix.rstrip(".") or None)
    fields = _fields(cls)
    known = {f.name for f in fields}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ValidationError(
            f"{where} has no field {unknown[0]!r} (it takes {', '.join(sorted(known)) or 'none'})",
            field=f"{prefix}{unknown[0]}",
        )
    values: dict[str, Any] = {}
    for f in fields:
        if f.name in data:
            values[f.name] = f.convert(data[f.name], f"{prefix}{f.name}")
        elif f.required:
            raise ValidationError(f"{where} needs the field {f.name!r}", field=f"{prefix}{f.name}")
    return cls(**values)


def convert(hint: Any, value: Any, *, where: str) -> Any:
    """One value checked against an annotation (a query parameter, say)."""
    return _converter(hint)(value, where)


# ---------------------------------------------------------------------------
# JSON Schema, for the OpenAPI document


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint is Any:
        return {}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return json_schema(hint)
    origin = get_origin(hint)
    if origin is Annotated:
        base, *meta = get_args(hint)
        out = _schema_of(base)
        for m in meta:
            if isinstance(m, Text):
                out.update(minLength=m.min, maxLength=m.max)
                if m.pattern:
                    out["pattern"] = m.pattern
            elif isinstance(m, Range):
                if m.min is not None:
                    out["minimum"] = m.min
                if m.max is not None:
                    out["maximum"] = m.max
            elif isinstance(m, Items):
                array = out.get("type") == "array"
                out["maxItems" if array else "maxProperties"] = m.max
                if m.min:
                    out["minItems" if array else "minProperties"] = m.min
        return out
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not _Missing]
        rest = [a for a in options if a is not type(None)]
        out = _schema_of(rest[0])
        if type(None) in options:
            out["nullable"] = True
        return out
    if origin is list:
        return {"type": "array", "items": _schema_of(get_args(hint)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(get_args(hint)[1])}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"type": "string", "enum": [m.value for m in hint]}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    return {"type": {str: "string", int: "integer", bool: "boolean"}[hint]}


def json_schema(cls: type, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema of a record, for documentation."""
    hints = typing.get_type_hints(cls, include_extras=True)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if f.name in exclude or f.metadata.get("parse") in (False, "as_is"):
            continue
        schema = _schema_of(hints[f.name])
        if f.default is not dataclasses.MISSING and not isinstance(f.default, _Missing):
            default = f.default
            schema["default"] = default.value if isinstance(default, Enum) else default
        props[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def schema_fields(cls: type) -> Mapping[str, Any]:
    """Field name -> annotation, for code that lists a record's fields."""
    return typing.get_type_hints(cls, include_extras=True)


def given(record: Any) -> dict[str, Any]:
    """A parsed record's fields, leaving out those that were not given."""
    return {
        f.name: value
        for f in dataclasses.fields(record)
        if (value := getattr(record, f.name)) is not MISSING
    }
