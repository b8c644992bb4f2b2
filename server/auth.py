"""Tokens and the authorization policy.

A token is a JWT signed with HS256 by the server's secret, with the claims
``org`` (an organization's slug, or ``*`` for the whole server) and ``role``.
What each role may do is decided here and nowhere else: routes and the
WebSocket gateway ask :func:`authorize`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Final

import jwt

ALGORITHM: Final = "HS256"
ALL_ORGS: Final = "*"


class Role(IntEnum):
    """Roles, weakest first: each may do what the ones before it may."""

    VIEWER = 1
    RESPONDER = 2
    ADMIN = 3
    OWNER = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {name!r}; roles are {', '.join(r.name.lower() for r in cls)}"
            ) from None

    def __str__(self) -> str:
        return self.name.lower()


class Action(IntEnum):
    """What can be asked, mapped to the weakest role allowed to ask it."""

    READ = Role.VIEWER  # member views: org topic, REST reads
    CHANGE = Role.RESPONDER  # services, incidents, maintenances
    ADMINISTER = Role.ADMIN  # organization settings, deletion


class AuthError(Exception):
    """The peer's credentials are missing, invalid, or not enough."""

    code = "unauthorized"
    http_status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(AuthError):
    code = "forbidden"
    http_status = 403


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an organization (or all of them) and a role."""

    org: str
    role: Role
    subject: str  # for the log and incident timelines

    def may(self, action: Action, org: str) -> bool:
        return (self.org == ALL_ORGS or self.org == org) and self.role >= action.value


def authorize(principal: Principal | None, action: Action, org: str) -> None:
    """Raise AuthError or Forbidden unless ``principal`` may do ``action`` on ``org``."""
    if principal is None:
        raise AuthError("this needs a token: send 'Authorization: Bearer <token>'")
    if principal.org not in (ALL_ORGS, org):
        # The same answer as for an organization that does not exist would be
        # kinder to privacy, but clients need to tell "wrong token" apart.
        raise Forbidden(f"the token is for organization {principal.org!r}, not {org!r}")
    if principal.role < action.value:
        needed = Role(action.value)
        raise Forbidden(f"this needs the role {needed} or higher; the token has {principal.role}")


def authorize_server(principal: Principal | None) -> None:
    """Creating organizations needs a server-wide admin token (org '*')."""
    if principal is None:
        raise AuthError("this needs a token: send 'Authorization: Bearer <token>'")
    if principal.org != ALL_ORGS or principal.role < Role.ADMIN:
        raise Forbidden("creating organizations needs a server-wide admin token (--org '*')")


class Tokens:
    """Issues and verifies tokens with one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 characters")
        self._secret = secret

    def issue(
        self, org: str, role: Role, *, subject: str | None = None, ttl: timedelta | None = None
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, object] = {
            "org": org,
            "role": str(role),
            "sub": subject or f"{role}@{org}",
            "iat": int(now.timestamp()),
        }
        if ttl is not None:
            claims["exp"] = int((now + ttl).timestamp())
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["org", "role"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token is not valid: {exc}") from None
        org, role = claims.get("org"), claims.get("role")
        if not isinstance(org, str) or not isinstance(role, str):
            raise AuthError("the token's org and role claims must be strings")
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise AuthError(str(exc)) from None
        subject = claims.get("sub")
        return Principal(org, parsed, subject if isinstance(subject, str) else f"{role}@{org}")


def load_secret(data_dir: Path, env_secret: str | None) -> str:
    """The secret from the environment, else from ``<data_dir>/secret`` (created once)."""
    if env_secret:
        return env_secret
    path = data_dir / "secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret
