"""Tokens from external identity providers (OIDC: Auth0, Clerk, Keycloak...).

A provider is trusted by configuration: its issuer, the audience our tokens
carry, where its public keys are (JWKS), and how its claims map to an
organization and a role. A token is accepted only if it is signed (RS256 or
ES256, as configured) by a key of the issuer's key set, names that issuer and
our audience, and has not expired.

Key sets are cached. A token naming a key id (``kid``) we do not know makes
us fetch the set again (a provider rotating keys), but at most once every
``refresh_seconds``, so that made-up key ids cannot make us hammer it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import trio

from ..auth import Principal, Role, expiry
from ..domain.commands import SLUG_PATTERN
from ..errors import AuthError

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = ALGORITHMS
    org_claim: str = "org"  # the claim naming the organization...
    orgs: dict[str, str] = field(default_factory=dict)  # ...mapped to our slugs (empty: as is)
    role_claim: str = "role"
    roles: dict[str, str] = field(default_factory=dict)  # provider role -> ours; others: none
    default_role: str | None = None  # when the role claim is absent
    subject_claim: str = "email"  # shown as the principal's name (falls back to sub)
    refresh_seconds: float = 30.0  # at most one key set fetch per this long
    max_age_seconds: float = 3600.0  # keys are fetched again after this long

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Provider:
        if not isinstance(raw, dict):
            raise ValueError("each identity provider is a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown identity provider settings: {', '.join(sorted(unknown))}")
        for required in ("issuer", "audience"):
            if not isinstance(raw.get(required), str) or not raw[required]:
                raise ValueError(f"an identity provider needs {required!r}")
        values = dict(raw)
        values.setdefault("jwks_url", raw["issuer"].rstrip("/") + "/.well-known/jwks.json")
        algorithms = tuple(values.get("algorithms", ALGORITHMS))
        if not algorithms or any(a not in ALGORITHMS for a in algorithms):
            raise ValueError(f"algorithms must be among {', '.join(ALGORITHMS)}")
        values["algorithms"] = algorithms
        for role in [*values.get("roles", {}).values(), values.get("default_role")]:
            if role is not None:
                Role.parse(role)
        return cls(**values)


def load_providers(path: Path | None) -> list[Provider]:
    if path is None:
        return []
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read identity providers from {path}: {exc}") from None
    if isinstance(raw, dict):
        raw = [raw]
    return [Provider.from_dict(item) for item in raw]


class KeySet:
    """One provider's signing keys, fetched on demand."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at = -float("inf")
        self.lock = trio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = trio.current_time()
        stale = now - self.fetched_at > self.provider.max_age_seconds
        if stale or (
            kid not in self.keys and now - self.fetched_at > self.provider.refresh_seconds
        ):
            async with self.lock:
                if self.fetched_at < now:  # nobody refreshed while we waited
                    await self._fetch()
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        found = self.keys.get(kid) if kid is not None else None
        if found is None:
            raise AuthError(f"the token's signing key {kid!r} is not in the issuer's key set")
        return found

    async def _fetch(self) -> None:
        self.fetched_at = trio.current_time()
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self.provider.jwks_url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if self.keys:
                return  # keep the keys we have
            raise AuthError(f"the identity provider's keys could not be fetched: {exc}") from None
        keys: dict[str, jwt.PyJWK] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            if item.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(item)
            except jwt.PyJWTError:
                continue  # a key type we do not use
            keys[item.get("kid") or ""] = key
        self.keys = keys


class Oidc:
    """Verifies tokens of the configured providers."""

    def __init__(self, providers: list[Provider]) -> None:
        self.sets = {p.issuer: KeySet(p) for p in providers}

    def __bool__(self) -> bool:
        return bool(self.sets)

    async def verify(self, token: str, header: dict[str, Any]) -> Principal:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is not valid: {exc}") from None
        issuer = unverified.get("iss")
        keyset = self.sets.get(issuer) if isinstance(issuer, str) else None
        if keyset is None:
            raise AuthError(f"tokens from issuer {issuer!r} are not accepted here")
        provider = keyset.provider
        alg = header.get("alg")
        if alg not in provider.algorithms:
            raise AuthError(f"the algorithm {alg!r} is not accepted for {issuer}")
        key = await keyset.key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=provider.audience,
                issuer=provider.issuer,
                leeway=30,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(
                f"the token is not for this server (audience {provider.audience!r})"
            ) from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is not valid: {exc}") from None
        # The leeway forgives a provider's clock for iat and nbf; exp holds as
        # written, so that a socket closes exactly when the token stops working.
        ends = expiry(claims)
        if ends is None or ends <= datetime.now(UTC):
            raise AuthError("the token has expired")
        return _principal(provider, claims)


def _principal(provider: Provider, claims: dict[str, Any]) -> Principal:
    """The principal of a verified token's claims.

    The organization is a slug (mapped through ``orgs`` when the provider has
    that map): never the operators' ``*``, which only tokens this server signed
    may carry. The role is mapped through ``roles`` when the provider has that
    map, and a value outside it grants nothing; without a map, the value must
    be one of our role names.
    """
    org_value = claims.get(provider.org_claim)
    if not isinstance(org_value, str) or not org_value:
        raise AuthError(f"the token has no {provider.org_claim!r} claim naming an organization")
    if provider.orgs:
        org = provider.orgs.get(org_value)
        if org is None:
            raise AuthError(f"the token's organization {org_value!r} is not mapped to one here")
    else:
        org = org_value
    if not SLUG.fullmatch(org):
        log.warning(
            "refused a token of %s: its %s claim %r is not an organization slug",
            provider.issuer,
            provider.org_claim,
            org,
        )
        raise AuthError(f"the token's organization {org!r} is not an organization's slug")
    role_value = claims.get(provider.role_claim, provider.default_role)
    values = role_value if isinstance(role_value, list) else [role_value]
    roles = [r for r in (_role(provider, v) for v in values if isinstance(v, str)) if r is not None]
    if not roles:
        raise AuthError(f"the token's {provider.role_claim!r} claim gives no role here")
    sub = str(claims["sub"])
    shown = claims.get(provider.subject_claim)
    return Principal(
        "oidc",
        f"{provider.issuer}#{sub}",
        shown if isinstance(shown, str) else sub,
        org,
        max(roles),  # some providers send a list of roles: the strongest counts
        expires_at=expiry(claims),
    )


def _role(provider: Provider, value: str) -> Role | None:
    """Our role for one of the provider's role values, or None."""
    if provider.roles:
        mapped = provider.roles.get(value)
        if mapped is None:
            log.warning(
                "a token of %s has the %s %r, which its roles map does not name: no role granted",
                provider.issuer,
                provider.role_claim,
                value,
            )
            return None
        value = mapped
    try:
        return Role.parse(value)
    except ValueError:
        return None
