"""Who is asking, and what they may do.

* :class:`Principal` is whoever a request or connection acts for: a user
  (logged in, roles from their memberships), an API token (one organization,
  one role), a user of an external identity provider (organization and role
  from the token's claims), or an operator token (signed by the server's
  secret with ``switchboard token``).
* :data:`POLICY` is the one table of which role each action needs; every REST
  route and every WebSocket subscription and command asks :func:`authorize`,
  and nothing else decides.
* :class:`Tokens` issues and verifies the JWTs the server signs itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jwt

from .domain.access import POLICY as POLICY
from .domain.access import Action as Action
from .domain.access import Role as Role
from .errors import AuthError, Forbidden
from .store.audit import AuditEntry

ALGORITHM: Final = "HS256"
ALL_ORGS: Final = "*"


RoleLookup = Callable[[str, str], "Role | None"]  # (user id, org) -> role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking.

    ``org`` and ``role`` are fixed for tokens (``org`` may be ``*`` for an
    operator token); a user's roles are looked up live in their memberships
    (``roles``), so that a change applies to the next request.
    """

    kind: str  # "user", "token", "oidc", "operator" or "probe"
    id: str  # user id, token id, issuer#subject, or the operator token's subject
    subject: str  # a readable name for logs, timelines and presence
    org: str | None = None
    role: Role | None = None
    session: str | None = None  # a user's login, for logout
    roles: RoleLookup | None = field(default=None, compare=False, repr=False)
    expires_at: datetime | None = None  # when the credential stops working (sockets close then)
    # A login of one of the server's operators (``switchboard user operator``):
    # the server's own doors open to it; in organizations only its memberships count.
    server_operator: bool = False

    def role_in(self, org: str) -> Role | None:
        if self.roles is not None:
            return self.roles(self.id, org)
        if self.org == org or self.all_orgs:
            return self.role
        return None

    @property
    def all_orgs(self) -> bool:
        """An operator token for every organization. Only tokens this server
        signed (``switchboard token --org '*'``) may mean that; an external
        provider's ``org`` claim is a slug or nothing."""
        return self.kind == "operator" and self.org == ALL_ORGS

    def may(self, action: Action, org: str) -> bool:
        role = self.role_in(org)
        return role is not None and role >= POLICY[action]

    @property
    def server_admin(self) -> bool:
        """An operator token for the whole server: may create organizations."""
        return self.all_orgs and (self.role or 0) >= Role.ADMIN

    @property
    def runs_server(self) -> bool:
        """A server-wide admin token or an operator's login: the server's own
        doors (creating organizations, what the server itself does) open."""
        return self.server_admin or self.server_operator

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "subject": self.subject}


@dataclass(frozen=True, slots=True)
class Origin:
    """Who made a change and from where: what the audit log records."""

    kind: str
    id: str
    subject: str
    ip: str | None

    @classmethod
    def of(cls, who: Principal, ip: str | None) -> Origin:
        return cls(who.kind, who.id, who.subject, ip)

    def entry(
        self, org: str, action: str, target: str | None, details: Any, at: datetime
    ) -> AuditEntry:
        """The audit row of this origin doing ``action`` to ``target`` in ``org``."""
        return AuditEntry(
            org, at, self.kind, self.id, self.subject, action, target, self.ip, details
        )


#: Changes made by the server itself or from its command line.
SYSTEM = Origin("system", "switchboard", "switchboard", None)


NEEDS_TOKEN: Final = "this needs a token: send 'Authorization: Bearer <token>'"


def authorize(principal: Principal | None, action: Action, org: str) -> Role:
    """The principal's role in ``org``; AuthError or Forbidden unless it may ``action``."""
    if principal is None:
        raise AuthError(NEEDS_TOKEN)
    if action is Action.OWN and principal.server_admin:
        return Role.OWNER  # a server's operators may delete any organization
    role = principal.role_in(org)
    if role is None:
        scope = f" (the token is for {principal.org!r})" if principal.org else ""
        raise Forbidden(f"{principal.subject} is not a member of organization {org!r}{scope}")
    needed = POLICY[action]
    if role < needed:
        raise Forbidden(f"this needs the role {needed} or higher; you have {role} in {org!r}")
    return role


def authorize_server(principal: Principal | None) -> None:
    """The server's own doors (creating organizations, its monitoring and audit
    log) need a server-wide operator token (org '*') or an operator's login."""
    if principal is None:
        raise AuthError(NEEDS_TOKEN)
    if not principal.runs_server:
        raise Forbidden(
            "this is for the server's operators: a server-wide admin token (--org '*')"
            " or the login of a user made an operator (switchboard user operator)"
        )


def expiry(claims: dict[str, Any]) -> datetime | None:
    """A verified JWT's ``exp``, as a time."""
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, UTC)
    return None


class Tokens:
    """The JWTs the server signs with its secret (HS256).

    * operator tokens (``switchboard token``): claims ``org`` and ``role``;
    * access tokens of a login: ``typ: access``, ``sub`` (user id) and ``sid``
      (the session), short-lived.
    """

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

    def issue_access(self, user_id: str, session: str, ttl: timedelta) -> str:
        now = datetime.now(UTC)
        claims = {
            "typ": "access",
            "sub": user_id,
            "sid": session,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a token this server signed; AuthError if it did not, or expired."""
        try:
            claims: dict[str, Any] = jwt.decode(token, self._secret, algorithms=[ALGORITHM])
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token is not valid: {exc}") from None
        return claims

    def verify(self, token: str) -> Principal:
        """An operator token's principal."""
        return self.operator(self.decode(token))

    def issue_probe(self, region: str, *, ttl: timedelta | None = None) -> str:
        """A token for ``switchboard probe`` in ``region``: it may take that region's
        assignments and report their results, and nothing else."""
        now = datetime.now(UTC)
        claims: dict[str, object] = {
            "typ": "probe",
            "region": region,
            "sub": f"probe:{region}",
            "iat": int(now.timestamp()),
        }
        if ttl is not None:
            claims["exp"] = int((now + ttl).timestamp())
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    @staticmethod
    def probe(claims: dict[str, Any]) -> Principal:
        """The principal of a probe token's (verified) claims: no organization, no role."""
        region = claims.get("region")
        if not isinstance(region, str) or not region:
            raise AuthError("the probe token's region claim must be a string")
        return Principal("probe", region, f"probe:{region}", expires_at=expiry(claims))

    @staticmethod
    def operator(claims: dict[str, Any]) -> Principal:
        """The principal of an operator token's (verified) claims."""
        org, role = claims.get("org"), claims.get("role")
        if not isinstance(org, str) or not isinstance(role, str):
            raise AuthError("the token's org and role claims must be strings")
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise AuthError(str(exc)) from None
        subject = claims.get("sub")
        name = subject if isinstance(subject, str) else f"{role}@{org}"
        return Principal("operator", name, name, org, parsed, expires_at=expiry(claims))


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
