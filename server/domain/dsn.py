"""A PostgreSQL monitor's connection URL, read without a database driver.

A ``postgres`` monitor holds a DSN (``postgresql://user:password@host:5432/db``)
that members type in. It is a secret, since it carries a password, and it
names where the server connects, so it is read here once, strictly, and the
check connects with the parts read (never with the text itself, which the
driver would fill in from the server's own environment: ``PGPASSWORD``,
``~/.pgpass``, client certificates...).

Only a URL naming one TCP host is accepted, with the query parameters
``sslmode`` and ``application_name``; parameters that name files on the
server (``sslrootcert``, ``passfile``...), a Unix socket, or several hosts are
refused. Errors never repeat the DSN, whose password they would show.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import parse_qsl, quote, unquote

DEFAULT_PORT: Final = 5432
MAX_DSN: Final = 2_000
PARAMETERS: Final = ("sslmode", "application_name")

# A DNS name of letters, digits, hyphens and underscores, or an IPv4 address.
_NAME: Final = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_URL: Final = re.compile(
    r"(?P<scheme>postgres(?:ql)?)://"
    r"(?:(?P<userinfo>[^@/?#]*)@)?"
    r"(?P<host>\[[^\]/?#]*\]|[^:/?#]*)(?::(?P<port>[^/?#]*))?"
    r"(?:/(?P<database>[^?#]*))?"
    r"(?:\?(?P<query>[^#]*))?",
    re.IGNORECASE,
)


class SslMode(StrEnum):
    """libpq's ``sslmode`` values, as this server's check applies them."""

    DISABLE = "disable"
    ALLOW = "allow"  # as prefer: TLS when the server offers it
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


class DsnError(ValueError):
    """Why a DSN is refused, in words that never repeat it."""


@dataclass(frozen=True, slots=True)
class Dsn:
    host: str  # a name or an address (IPv6 without brackets)
    port: int
    user: str
    password: str | None
    database: str
    sslmode: SslMode
    application_name: str | None

    def shown(self) -> str:
        """The URL as members may see it: the password replaced by ``***``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = quote(self.user, safe="")
        if self.password is not None:
            user += ":***"
        query = f"?sslmode={self.sslmode.value}"
        if self.application_name is not None:
            query += f"&application_name={quote(self.application_name, safe='')}"
        return f"postgresql://{user}@{host}:{self.port}/{quote(self.database, safe='')}{query}"


def parse_dsn(text: str) -> Dsn:
    """The parts of a ``postgresql://`` URL, or :class:`DsnError` saying what is wrong."""
    if len(text) > MAX_DSN:
        raise DsnError(f"must be at most {MAX_DSN:,} characters")
    if "=" in text and "://" not in text:
        raise DsnError("must be a postgresql:// URL (the key=value form is not accepted)")
    if any(c.isspace() or (c.isascii() and not c.isprintable()) for c in text):
        raise DsnError("must not contain spaces or control characters")
    found = _URL.fullmatch(text)
    if found is None:
        raise DsnError("must be a URL like postgresql://user:password@host:5432/database")
    userinfo = found["userinfo"]
    if not userinfo:
        raise DsnError("must name a user (postgresql://user@host/database)")
    user, colon, password = userinfo.partition(":")
    user = unquote(user)
    if not user:
        raise DsnError("must name a user (postgresql://user@host/database)")
    host = unquote(found["host"])
    if "," in host:
        raise DsnError("must name one host (several are not accepted)")
    if not host:
        raise DsnError("must name a host (a Unix socket is not reachable from here)")
    if host.startswith("/"):
        raise DsnError("must name a TCP host (a Unix socket is not reachable from here)")
    host = _host(host)
    port = DEFAULT_PORT
    if found["port"]:
        if not found["port"].isascii() or not found["port"].isdigit():
            raise DsnError("has a port that is not a number")
        port = int(found["port"])
        if not 1 <= port <= 65_535:
            raise DsnError("has a port outside 1-65535")
    database = unquote(found["database"] or "") or user
    if "/" in database:
        raise DsnError("must name one database after the host (postgresql://.../database)")
    params: dict[str, str] = {}
    try:
        pairs = parse_qsl(found["query"] or "", keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise DsnError("has a query string that cannot be read") from None
    for key, value in pairs:
        if key not in PARAMETERS:
            shown = key if re.fullmatch(r"[A-Za-z_]{1,40}", key) else "that"
            raise DsnError(
                f"has the parameter {shown}, which is not accepted here"
                f" (only {' and '.join(PARAMETERS)}: others name files on the server,"
                " hosts or sockets)"
            )
        params[key] = value
    try:
        sslmode = SslMode(params.get("sslmode", SslMode.PREFER.value))
    except ValueError:
        raise DsnError(
            f"has an sslmode that is not one of {', '.join(m.value for m in SslMode)}"
        ) from None
    app = params.get("application_name")
    if app is not None and (len(app) > 63 or not app.isprintable()):
        raise DsnError("has an application_name that is not printable or over 63 characters")
    if "\x00" in user + unquote(password) + database:
        raise DsnError("must not contain NUL characters")
    return Dsn(
        host=host,
        port=port,
        user=user,
        password=unquote(password) if colon else None,
        database=database,
        sslmode=sslmode,
        application_name=app,
    )


def _host(host: str) -> str:
    if host.startswith("["):
        try:
            return ipaddress.IPv6Address(host[1:-1]).compressed
        except ValueError:
            raise DsnError("has a bracketed host that is not an IPv6 address") from None
    if len(host) > 253 or not _NAME.fullmatch(host):
        raise DsnError("has a host that is neither a host name nor an IP address")
    return host


def shown_dsn(text: str) -> str:
    """What members see of a stored DSN: its password never."""
    try:
        return parse_dsn(text).shown()
    except DsnError:
        return "***"
