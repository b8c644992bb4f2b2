"""The directory: users, memberships, logins, API tokens and invitations.

PostgreSQL holds them; the directory keeps the live ones in memory too, so
that checking a token or a role costs a dictionary lookup, not a query. There
is one server process, and every change goes through here: written to the
database first (with its audit row, in one transaction), then applied in
memory, then pushed to the live connections it concerns (a revoked token's
sockets are closed at once).

Passwords are hashed with argon2id; the other secrets are described in
:mod:`server.identity.records`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import trio

from ..auth import SYSTEM, Origin, Principal, Role, Tokens, expiry
from ..clock import Clock
from ..config import Limits
from ..domain.schema import check_chars
from ..errors import (
    AuthError,
    Conflict,
    Forbidden,
    InvitationInvalid,
    NotFound,
    RateLimited,
    ValidationError,
)
from ..ids import new_id
from ..ratelimit import KeyedBuckets
from ..store import AuditEntry, Duplicate, Store
from ..store import identity as sql
from .passwords import check_strength, hash_password, verify_password
from .records import (
    ApiToken,
    Failures,
    Invitation,
    Maker,
    Session,
    User,
    digest,
    new_secret,
    normalize_email,
    row_of,
)

#: Called with a predicate on principals and a reason: close their connections.
Revoker = Callable[[Callable[[Principal], bool], str], None]


@dataclass
class Directory:
    store: Store
    tokens: Tokens
    limits: Limits
    clock: Clock = field(default_factory=Clock)
    revoke: Revoker = lambda match, reason: None
    # Told after each change is written (among several nodes: the others reload).
    changed: Callable[[], None] = lambda: None
    # Told the audit rows of each change written, for the organizations'
    # consoles (server/actors/notes.py); must not block.
    noted: Callable[[Sequence[AuditEntry]], None] = lambda entries: None
    users: dict[str, User] = field(default_factory=dict)
    by_email: dict[str, str] = field(default_factory=dict)
    memberships: dict[str, dict[str, Role]] = field(default_factory=dict)  # user -> org -> role
    sessions: dict[str, Session] = field(default_factory=dict)
    api_tokens: dict[str, ApiToken] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    failures: dict[str, Failures] = field(default_factory=dict)  # by "<email> <address>"
    lock: trio.Lock = field(default_factory=trio.Lock)

    def __post_init__(self) -> None:
        self.login_buckets = KeyedBuckets(self.limits.logins_per_second, self.limits.logins_burst)

    async def load(self) -> None:
        rows = await sql.load_all(self.store, self.clock.now())
        for r in rows["users"]:
            self.users[r["id"]] = User(
                r["id"], r["email"], r["name"], r["password_hash"], r["created_at"], r["operator"]
            )
            self.by_email[r["email"]] = r["id"]
        for r in rows["memberships"]:
            self.memberships.setdefault(r["user_id"], {})[r["org"]] = Role.parse(r["role"])
        for r in rows["sessions"]:
            self.sessions[r["id"]] = Session(
                r["id"], r["user_id"], r["refresh_hash"], r["created_at"], r["expires_at"]
            )
        for r in rows["tokens"]:
            self.api_tokens[r["id"]] = ApiToken(
                r["id"],
                r["org"],
                r["name"],
                Role.parse(r["role"]),
                r["hash"],
                r["created_by"],
                r["created_at"],
                r["expires_at"],
                _maker(r),
            )
        for r in rows["invitations"]:
            self.invitations[r["id"]] = Invitation(
                r["id"],
                r["org"],
                Role.parse(r["role"]),
                r["email"],
                r["hash"],
                r["created_by"],
                r["created_at"],
                r["expires_at"],
                _maker(r),
            )

    async def _write(
        self, statements: Sequence[tuple[str, Sequence[Any]]], audit: Sequence[AuditEntry] = ()
    ) -> list[str]:
        """Write a change (with its audit rows), then say so (``changed``,
        ``noted``: whoever is told reads the directory after the caller's
        own next step, which changes it in memory without a checkpoint)."""
        statuses = await self.store.write(statements, audit)
        self.changed()
        self.noted(audit)
        return statuses

    async def reload(self) -> None:
        """Read everything again, after another node changed something, and
        close the connections whose credentials ended or whose roles changed."""
        fresh = Directory(self.store, self.tokens, self.limits, self.clock)
        await fresh.load()
        moved = {
            user
            for user in set(self.memberships) | set(fresh.memberships)
            if self.memberships.get(user) != fresh.memberships.get(user)
        }
        self.users, self.by_email = fresh.users, fresh.by_email
        self.memberships, self.sessions = fresh.memberships, fresh.sessions
        self.api_tokens, self.invitations = fresh.api_tokens, fresh.invitations
        sessions, tokens = self.sessions, self.api_tokens
        self.revoke(
            lambda p: (
                (p.kind == "user" and (p.session not in sessions or p.id in moved))
                or (p.kind == "token" and p.id not in tokens)
            ),
            "credentials changed",
        )

    # -- principals ---------------------------------------------------------------

    def role_of(self, user_id: str, org: str) -> Role | None:
        orgs = self.memberships.get(user_id)
        return None if orgs is None else orgs.get(org)

    def user_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal of a login's access token (already verified as ours)."""
        user_id, session_id = claims.get("sub"), claims.get("sid")
        session = self.sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None or session.user_id != user_id:
            raise AuthError("this login has ended (logged out or expired); log in again")
        user = self.users[session.user_id]
        return Principal(
            "user",
            user.id,
            user.email,
            session=session.id,
            roles=self.role_of,
            expires_at=expiry(claims),
            server_operator=user.operator,
        )

    def token_principal(self, secret: str) -> Principal:
        token_id = row_of(secret, "sbt")
        token = self.api_tokens.get(token_id) if token_id else None
        if token is None or not hmac.compare_digest(token.hash, digest(secret)):
            raise AuthError("the API token is not valid: unknown or revoked")
        if token.expires_at is not None and token.expires_at <= self.clock.now():
            raise AuthError(f"the API token {token.name!r} has expired")
        return Principal(
            "token",
            token.id,
            f"token:{token.name}",
            token.org,
            token.role,
            expires_at=token.expires_at,
        )

    # -- logins ---------------------------------------------------------------------

    async def login(self, email: str, password: str, ip: str | None) -> dict[str, Any]:
        """Check the password; a new session with its access and refresh tokens.

        Guessing is slowed twice: per client address (a token bucket, which
        caps spraying many accounts), and per account *and* address (after a
        few failures, each next attempt from there waits twice as long). The
        second is per address so that an attacker slows only himself: the
        account's owner, elsewhere, still logs in.
        """
        now = trio.current_time()
        wait = self.login_buckets.take(ip or "?", now)
        if wait:
            raise RateLimited("too many login attempts from this address; wait", wait)
        email = email.strip().lower()
        key = f"{email} {ip or '?'}"
        failures = self.failures.get(key)
        if failures is not None and failures.wait_until > now:
            raise RateLimited(
                "too many failed logins to this account; wait before trying again",
                failures.wait_until - now,
            )
        user_id = self.by_email.get(email)
        user = self.users.get(user_id) if user_id else None
        if not await verify_password(user.password_hash if user else None, password):
            failures = self.failures.setdefault(key, Failures())
            failures.count += 1
            extra = failures.count - self.limits.login_failures_free
            if extra >= 0:
                failures.wait_until = trio.current_time() + min(300.0, 2.0**extra)
            if len(self.failures) > 100_000:
                self.failures.clear()  # memory stays bounded; the IP buckets still hold
            await self.store.write([], self._logins(user, email, ip, "login.fail"))
            raise AuthError("wrong email or password")
        assert user is not None
        self.failures.pop(key, None)
        return await self._new_session(user, ip, self._logins(user, email, ip, "login"))

    def _logins(
        self, user: User | None, email: str, ip: str | None, action: str
    ) -> list[AuditEntry]:
        """The audit rows of a login or a failed one: in the server's log (``*``),
        and in the log of each organization the account belongs to."""
        at = self.clock.now()
        if user is None:
            origin = Origin("anonymous", "", email[:254], ip)
            orgs: list[str] = []
        else:
            origin = Origin("user", user.id, user.email, ip)
            orgs = sorted(self.memberships.get(user.id, {}))
        return [origin.entry(org, action, origin.id or None, None, at) for org in ["*", *orgs]]

    async def _new_session(
        self, user: User, ip: str | None, audit: Sequence[AuditEntry] = ()
    ) -> dict[str, Any]:
        at = self.clock.now()
        session_id = new_id(16)
        refresh = new_secret("sbr", session_id)
        expires = at + timedelta(days=self.limits.session_days)
        await self._write(
            [sql.insert_session(session_id, user.id, digest(refresh), at, expires, ip)], audit
        )
        self.sessions[session_id] = Session(session_id, user.id, digest(refresh), at, expires)
        return self._grant(user, session_id, refresh)

    def _grant(self, user: User, session_id: str, refresh: str) -> dict[str, Any]:
        ttl = timedelta(seconds=self.limits.access_token_seconds)
        return {
            "access_token": self.tokens.issue_access(user.id, session_id, ttl),
            "token_type": "Bearer",
            "expires_in": self.limits.access_token_seconds,
            "refresh_token": refresh,
            "user": user.to_dict(),
        }

    async def refresh(self, refresh: str) -> dict[str, Any]:
        """A new access token and a new refresh token; the old one is spent.

        A refresh token used twice means it leaked (or two tabs raced): the
        session is ended, and both holders must log in again.
        """
        session_id = row_of(refresh, "sbr")
        session = self.sessions.get(session_id) if session_id else None
        if session is None:
            raise AuthError("the refresh token is not valid: unknown, or its login has ended")
        if session.expires_at <= self.clock.now():
            await self._end_session(session, "login expired")
            raise AuthError("this login has expired; log in again")
        old = digest(refresh)
        if not hmac.compare_digest(session.refresh_hash, old):
            await self._end_session(session, "refresh token reused")
            raise AuthError("the refresh token was already used; the login is ended for safety")
        new = new_secret("sbr", session.id)
        expires = self.clock.now() + timedelta(days=self.limits.session_days)
        async with self.lock:
            (status,) = await self._write(
                [sql.rotate_session(session.id, old, digest(new), expires)]
            )
            if status != "UPDATE 1":
                raise AuthError("the refresh token was already used")
            session.refresh_hash, session.expires_at = digest(new), expires
        return self._grant(self.users[session.user_id], session.id, new)

    async def logout(self, who: Principal) -> None:
        if who.kind != "user" or who.session is None:
            raise ValidationError("only a login can log out; revoke API tokens instead")
        session = self.sessions.get(who.session)
        if session is not None:
            await self._end_session(session, "logged out")

    async def _end_session(self, session: Session, reason: str) -> None:
        await self._write([sql.revoke_session(session.id, self.clock.now())])
        self.sessions.pop(session.id, None)
        self.revoke(lambda p: p.session == session.id, reason)

    # -- users and memberships ------------------------------------------------------

    async def create_user(
        self,
        email: str,
        name: str,
        password: str,
        roles: dict[str, Role],
        origin: Origin | None,
        extra: Sequence[sql.Statement] = (),
        user_id: str | None = None,
        extra_audit: Sequence[AuditEntry] = (),
        operator: bool = False,
    ) -> User:
        email = normalize_email(email)
        if problem := check_strength(password, email):
            raise ValidationError(problem, field="password")
        name = check_chars(name.strip(), "name", lines=False) or email.split("@")[0]
        if len(name) > 120:
            raise ValidationError("a name has at most 120 characters", field="name")
        hashed = await hash_password(password)
        at = self.clock.now()
        user = User(user_id or new_id(), email, name, hashed, at, operator)
        statements = [sql.insert_user(user.id, email, name, hashed, at, operator)]
        statements += [sql.put_membership(user.id, org, str(r), at) for org, r in roles.items()]
        statements += extra
        audit = [
            self._audit(org, origin, "member.add", user.id, {"email": email, "role": str(r)}, at)
            for org, r in roles.items()
        ]
        if operator:
            audit.append(self._audit("*", origin, "user.operator", user.id, {"email": email}, at))
        audit += extra_audit
        async with self.lock:
            try:
                await self._write(statements, audit)
            except Duplicate:
                raise Conflict(f"a user with email {email!r} exists", field="email") from None
            self.users[user.id] = user
            self.by_email[email] = user.id
            self.memberships[user.id] = dict(roles)
        return user

    async def set_operator(self, email: str, operator: bool, origin: Origin | None) -> User:
        """Make a user one of the server's operators, or no longer (the server's
        audit log says so). A running server reads it at its next start."""
        user_id = self.by_email.get(normalize_email(email))
        if user_id is None:
            raise NotFound(f"no user with email {email!r}", field="email")
        user = self.users[user_id]
        action = "user.operator" if operator else "user.not_operator"
        entry = self._audit("*", origin, action, user.id, {"email": user.email}, self.clock.now())
        async with self.lock:
            await self._write([sql.set_operator(user.id, operator)], [entry])
            user.operator = operator
        return user

    def members(self, org: str) -> list[dict[str, Any]]:
        out = []
        for user_id, orgs in self.memberships.items():
            if org in orgs:
                out.append({**self.users[user_id].to_dict(), "role": str(orgs[org])})
        return sorted(out, key=lambda m: m["email"])

    def _member(self, org: str, user_id: str) -> Role:
        role = self.role_of(user_id, org)
        if role is None:
            raise NotFound(f"no member {user_id!r} in {org!r}", field="user")
        return role

    def _owners(self, org: str) -> int:
        return sum(1 for orgs in self.memberships.values() if orgs.get(org) is Role.OWNER)

    @staticmethod
    def _guard_owner(acting: Role, *roles: Role) -> None:
        if Role.OWNER in roles and acting < Role.OWNER:
            raise Forbidden("only an owner may make or unmake owners")

    async def set_role(
        self, org: str, user_id: str, role: Role, acting: Role, origin: Origin
    ) -> dict[str, Any]:
        async with self.lock:
            current = self._member(org, user_id)
            self._guard_owner(acting, current, role)
            if current is Role.OWNER and role is not Role.OWNER and self._owners(org) == 1:
                raise Conflict("an organization keeps at least one owner", field="role")
            at = self.clock.now()
            made = self._cap_made(org, ("user", user_id), role) if role < current else Made()
            details = {"from": str(current), "to": str(role)}
            await self._write(
                [sql.put_membership(user_id, org, str(role), at), *made.statements(at)],
                [
                    self._audit(org, origin, "member.role", user_id, details, at),
                    *made.audit(self, org, origin, at),
                ],
            )
            self.memberships[user_id][org] = role
            touched = made.apply(self)
        self.revoke(lambda p: p.kind == "user" and p.id == user_id, f"role in {org} changed")
        self._close_tokens(touched, f"its maker's role in {org} changed")
        return {**self.users[user_id].to_dict(), "role": str(role)}

    async def remove_member(self, org: str, user_id: str, acting: Role, origin: Origin) -> None:
        async with self.lock:
            current = self._member(org, user_id)
            self._guard_owner(acting, current)
            if current is Role.OWNER and self._owners(org) == 1:
                raise Conflict("an organization keeps at least one owner", field="user")
            at = self.clock.now()
            made = self._cap_made(org, ("user", user_id), None)
            details = {"email": self.users[user_id].email, "role": str(current)}
            await self._write(
                [sql.delete_membership(user_id, org), *made.statements(at)],
                [
                    self._audit(org, origin, "member.remove", user_id, details, at),
                    *made.audit(self, org, origin, at),
                ],
            )
            del self.memberships[user_id][org]
            touched = made.apply(self)
        self.revoke(lambda p: p.kind == "user" and p.id == user_id, f"membership of {org} revoked")
        self._close_tokens(touched, f"its maker left {org}")

    # -- invitations ------------------------------------------------------------------

    async def invite(
        self,
        org: str,
        role: Role,
        email: str | None,
        hours: float | None,
        acting: Role,
        origin: Origin,
    ) -> tuple[Invitation, str]:
        self._guard_owner(acting, role)
        email = normalize_email(email) if email else None
        hours = self.limits.invitation_hours if hours is None else hours
        if not 0 < hours <= 24 * 30:
            raise ValidationError("an invitation lasts between 0 and 720 hours", field="hours")
        at = self.clock.now()
        inv_id = new_id()
        link = new_secret("sbi", inv_id)
        expires = self._within_maker(origin, at + timedelta(hours=hours))
        assert expires is not None
        invitation = Invitation(
            inv_id, org, role, email, digest(link), origin.subject, at, expires, _maker_of(origin)
        )
        await self._write(
            [
                sql.insert_invitation(
                    inv_id,
                    org,
                    str(role),
                    email,
                    invitation.hash,
                    origin.subject,
                    at,
                    invitation.expires_at,
                    invitation.maker,
                )
            ],
            [self._audit(org, origin, "invitation.create", inv_id, {"role": str(role)}, at)],
        )
        self.invitations[inv_id] = invitation
        return invitation, link

    def pending_invitations(self, org: str) -> list[Invitation]:
        now = self.clock.now()
        return [i for i in self.invitations.values() if i.org == org and i.expires_at > now]

    async def withdraw_invitation(self, org: str, inv_id: str, origin: Origin) -> None:
        invitation = self.invitations.get(inv_id)
        if invitation is None or invitation.org != org:
            raise NotFound(f"no pending invitation {inv_id!r}", field="invitation")
        at = self.clock.now()
        await self._write(
            [sql.revoke_invitation(inv_id, at)],
            [self._audit(org, origin, "invitation.revoke", inv_id, None, at)],
        )
        self.invitations.pop(inv_id, None)

    def invitation(self, link: str) -> Invitation:
        inv_id = row_of(link, "sbi")
        invitation = self.invitations.get(inv_id) if inv_id else None
        if invitation is None or not hmac.compare_digest(invitation.hash, digest(link)):
            raise InvitationInvalid("this invitation is not valid: unknown, used or withdrawn")
        if invitation.expires_at <= self.clock.now():
            raise InvitationInvalid("this invitation has expired; ask for a new one")
        return invitation

    async def accept(
        self,
        link: str,
        who: Principal | None,
        signup: dict[str, str] | None,
        ip: str | None,
    ) -> dict[str, Any]:
        """Join the invitation's organization as the logged-in user, or as a new one.

        Signing up with an address that has an account already is a login to
        it (its password, with the login's limits and audit rows) that then
        joins: a wrong password gets the login's own answer, never word that
        the account exists.
        """
        invitation = self.invitation(link)
        at = self.clock.now()
        session: dict[str, Any] | None = None
        user: User | None = None
        if who is not None:
            if who.kind != "user":
                raise Forbidden("only a person (a login) can accept an invitation")
            user = self.users[who.id]
        elif signup is None:
            raise AuthError("log in, or give email, name and password to sign up")
        else:
            email = normalize_email(signup.get("email", ""))
            if invitation.email and invitation.email != email:
                raise Forbidden(f"this invitation is for {invitation.email}")
            if email in self.by_email:  # as if it had logged in first
                session = await self.login(email, signup.get("password", ""), ip)
                user = self.users[self.by_email[email]]
        if user is not None:
            if invitation.email and invitation.email != user.email:
                raise Forbidden(f"this invitation is for {invitation.email}")
            if self.role_of(user.id, invitation.org) is not None:
                raise Conflict(f"you are already a member of {invitation.org!r}")
        # Taken out first, so that nobody else can use it while this one commits.
        del self.invitations[invitation.id]
        try:
            if user is not None:
                origin = Origin("user", user.id, user.email, ip)
                async with self.lock:
                    await self._write(
                        [
                            sql.put_membership(user.id, invitation.org, str(invitation.role), at),
                            sql.accept_invitation(invitation.id, user.id, at),
                        ],
                        [self._accepted(invitation, origin, user.id, at)],
                    )
                    self.memberships.setdefault(user.id, {})[invitation.org] = invitation.role
                joined = {"org": invitation.org, "role": str(invitation.role)}
                return {**joined, **session} if session else {**joined, "user": user.to_dict()}
            assert signup is not None
            user_id = new_id()
            email = normalize_email(signup.get("email", ""))
            joining = Origin("user", user_id, email, ip)
            user = await self.create_user(
                email,
                signup.get("name", ""),
                signup.get("password", ""),
                {invitation.org: invitation.role},
                joining,
                extra=[sql.accept_invitation(invitation.id, user_id, at)],
                user_id=user_id,
                extra_audit=[self._accepted(invitation, joining, user_id, at)],
            )
        except BaseException:
            self.invitations[invitation.id] = invitation
            raise
        session = await self._new_session(user, ip)
        return {"org": invitation.org, "role": str(invitation.role), **session}

    def _accepted(
        self, invitation: Invitation, origin: Origin, user_id: str, at: datetime
    ) -> AuditEntry:
        maker = invitation.maker
        return self._audit(
            invitation.org,
            origin,
            "invitation.accept",
            invitation.id,
            {
                "user": user_id,
                "email": origin.subject,
                "role": str(invitation.role),
                "invitation": invitation.id,
                "invited_by": invitation.created_by,
                "invited_by_id": None if maker is None else maker[1],
            },
            at,
        )

    # -- API tokens -------------------------------------------------------------------

    async def create_token(
        self,
        org: str,
        name: str,
        role: Role,
        expires_at: datetime | None,
        acting: Role,
        origin: Origin,
    ) -> tuple[ApiToken, str]:
        if role > acting:
            raise Forbidden(f"a token cannot have more than your role ({acting})")
        name = name.strip()
        if not 1 <= len(name) <= 80:
            raise ValidationError("a token needs a name of 1 to 80 characters", field="name")
        at = self.clock.now()
        if expires_at is not None and expires_at <= at:
            raise ValidationError("expires_at must be in the future", field="expires_at")
        async with self.lock:  # the name check and the insert, together
            return await self._create_token(org, name, role, expires_at, origin, at)

    async def _create_token(
        self,
        org: str,
        name: str,
        role: Role,
        expires_at: datetime | None,
        origin: Origin,
        at: datetime,
    ) -> tuple[ApiToken, str]:
        if any(t.org == org and t.name == name for t in self.api_tokens.values()):
            raise Conflict(f"a token named {name!r} exists in {org!r}", field="name")
        token_id = new_id()
        secret = new_secret("sbt", token_id)
        expires_at = self._within_maker(origin, expires_at)
        token = ApiToken(
            token_id,
            org,
            name,
            role,
            digest(secret),
            origin.subject,
            at,
            expires_at,
            _maker_of(origin),
        )
        await self._write(
            [
                sql.insert_token(
                    token_id,
                    org,
                    name,
                    str(role),
                    token.hash,
                    origin.subject,
                    at,
                    expires_at,
                    token.maker,
                )
            ],
            [
                self._audit(
                    org, origin, "token.create", token_id, {"name": name, "role": str(role)}, at
                )
            ],
        )
        self.api_tokens[token_id] = token
        return token, secret

    def org_tokens(self, org: str) -> list[ApiToken]:
        return sorted(
            (t for t in self.api_tokens.values() if t.org == org), key=lambda t: t.created_at
        )

    async def revoke_token(self, org: str, token_id: str, origin: Origin) -> None:
        token = self.api_tokens.get(token_id)
        if token is None or token.org != org:
            raise NotFound(f"no token {token_id!r} in {org!r}", field="token")
        at = self.clock.now()
        async with self.lock:
            made = self._cap_made(org, ("token", token_id), None)
            await self._write(
                [sql.revoke_token(token_id, at), *made.statements(at)],
                [
                    self._audit(org, origin, "token.revoke", token_id, {"name": token.name}, at),
                    *made.audit(self, org, origin, at),
                ],
            )
            self.api_tokens.pop(token_id, None)
            touched = made.apply(self)
        self.revoke(lambda p: p.kind == "token" and p.id == token_id, "token revoked")
        self._close_tokens(touched, "the token that made it was revoked")

    # -- what members made ------------------------------------------------------------

    def _within_maker(self, origin: Origin, expires: datetime | None) -> datetime | None:
        """A token or invitation made by an API token ends when its maker does, at the latest."""
        maker = self.api_tokens.get(origin.id) if origin.kind == "token" else None
        if maker is None or maker.expires_at is None:
            return expires
        return maker.expires_at if expires is None else min(expires, maker.expires_at)

    def _cap_made(self, org: str, maker: Maker, cap: Role | None) -> Made:
        """What must change so that nothing ``maker`` made in ``org`` (and nothing
        made by what it made) exceeds ``cap``; None revokes it all."""
        made = Made()
        todo: list[tuple[Maker, Role | None]] = [(maker, cap)]
        while todo:
            who, limit = todo.pop()
            for token in self.api_tokens.values():
                if token.org != org or token.maker != who or token.id in made.tokens:
                    continue
                if limit is None:
                    made.tokens[token.id] = None
                    todo.append((("token", token.id), None))
                elif token.role > limit:
                    made.tokens[token.id] = limit
                    todo.append((("token", token.id), limit))
            for inv in self.invitations.values():
                if inv.org == org and inv.maker == who and inv.id not in made.invitations:
                    if limit is None:
                        made.invitations[inv.id] = None
                    elif inv.role > limit:
                        made.invitations[inv.id] = limit
        return made

    def _close_tokens(self, token_ids: set[str], reason: str) -> None:
        if token_ids:
            self.revoke(lambda p: p.kind == "token" and p.id in token_ids, reason)

    # -- audit ------------------------------------------------------------------------

    @staticmethod
    def _audit(
        org: str,
        origin: Origin | None,
        action: str,
        target: str | None,
        details: Any,
        at: datetime,
    ) -> AuditEntry:
        return (origin or SYSTEM).entry(org, action, target, details, at)


def _maker(row: Any) -> Maker | None:
    kind, maker_id = row["creator_kind"], row["creator_id"]
    return None if kind is None or maker_id is None else (kind, maker_id)


def _maker_of(origin: Origin) -> Maker:
    return (origin.kind, origin.id)


@dataclass
class Made:
    """Tokens and invitations to revoke (None) or cap (a role), because their
    maker lost power: planned under the directory's lock, written with the
    change that caused it, then applied."""

    tokens: dict[str, Role | None] = field(default_factory=dict)
    invitations: dict[str, Role | None] = field(default_factory=dict)

    def statements(self, at: datetime) -> list[sql.Statement]:
        out = []
        for token_id, role in self.tokens.items():
            out.append(
                sql.revoke_token(token_id, at)
                if role is None
                else sql.set_token_role(token_id, str(role))
            )
        for inv_id, role in self.invitations.items():
            out.append(
                sql.revoke_invitation(inv_id, at)
                if role is None
                else sql.set_invitation_role(inv_id, str(role))
            )
        return out

    def audit(
        self, directory: Directory, org: str, origin: Origin, at: datetime
    ) -> list[AuditEntry]:
        rows = []
        for token_id, role in self.tokens.items():
            token = directory.api_tokens[token_id]
            if role is None:
                details: dict[str, Any] = {"name": token.name, "reason": "its maker lost access"}
                rows.append(directory._audit(org, origin, "token.revoke", token_id, details, at))
            else:
                details = {"name": token.name, "from": str(token.role), "to": str(role)}
                rows.append(directory._audit(org, origin, "token.role", token_id, details, at))
        for inv_id, role in self.invitations.items():
            inv = directory.invitations[inv_id]
            if role is None:
                details = {"role": str(inv.role), "reason": "its maker lost access"}
                rows.append(directory._audit(org, origin, "invitation.revoke", inv_id, details, at))
            else:
                details = {"from": str(inv.role), "to": str(role)}
                rows.append(directory._audit(org, origin, "invitation.role", inv_id, details, at))
        return rows

    def apply(self, directory: Directory) -> set[str]:
        """Change the directory's memory; the tokens whose sockets must close."""
        for token_id, role in self.tokens.items():
            if role is None:
                directory.api_tokens.pop(token_id, None)
            else:
                directory.api_tokens[token_id].role = role
        for inv_id, role in self.invitations.items():
            if role is None:
                directory.invitations.pop(inv_id, None)
            else:
                directory.invitations[inv_id].role = role
        return set(self.tokens)
