"""Host names an organization claims for its status page (custom domains).

A claimed name is kept as a ``Host`` header carries it: lower case, ASCII (an
international name in its punycode form, ``xn--...``), without a trailing dot
or a port. It is a name of two labels or more (``status.example.com``,
``status.localhost``); an address, a wildcard, a scheme, a port or a path is
refused. That no two organizations claim one name is the store's to keep (a
claim is written with the events that make it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import idna

from ..errors import ValidationError

MAX_DOMAINS: Final = 10  # host names one organization may claim
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SHAPE: Final = (
    "must be a host name like status.example.com: dot-separated labels of letters,"
    " digits and inner hyphens, without a scheme, port, path or wildcard"
)


def host_name(text: str, where: str = "domains") -> str:
    """``text`` as a claimed host name (see the module docstring); ValidationError
    naming ``where`` if it is not one."""
    name = text.strip().lower().removesuffix(".")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValidationError(
                f"{where}: {text!r} is not a valid international host name ({exc})", field=where
            ) from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValidationError(f"{where}: {text!r} {_SHAPE}", field=where)
    if len(labels) < 2:
        raise ValidationError(
            f"{where}: {text!r} is a single label; a status page's host name has a"
            " domain (status.example.com)",
            field=where,
        )
    if labels[-1].isdigit():
        raise ValidationError(
            f"{where}: {text!r} is an address; claim a host name that points at it", field=where
        )
    if any(label.startswith("xn--") for label in labels):
        try:
            idna.decode(name)
        except idna.IDNAError:
            raise ValidationError(
                f"{where}: {text!r} has a punycode label that does not decode", field=where
            ) from None
    return name


def check_domains(texts: Sequence[str]) -> tuple[str, ...]:
    """The host names given, normalized, each once, in the order given."""
    names: list[str] = []
    for text in texts:
        name = host_name(text)
        if name not in names:
            names.append(name)
    return tuple(names)
