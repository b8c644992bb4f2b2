"""The directory's records, and the secrets that name them.

Each secret is random and long (256 bits), shown once, stored as a SHA-256
hash, and names its row so that a lookup needs no scan:
``sbt_<id>_<secret>`` (API token), ``sbr_<id>_<secret>`` (refresh token of a
login), ``sbi_<id>_<secret>`` (invitation link).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..auth import Role
from ..domain.schema import check_chars
from ..errors import ValidationError


@dataclass(slots=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    created_at: datetime
    operator: bool = False  # runs the server: its operators' doors open to this login

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name}


@dataclass(slots=True)
class Session:
    id: str
    user_id: str
    refresh_hash: str
    created_at: datetime
    expires_at: datetime


Maker = tuple[str, str]  # (kind, id) of the principal that made a token or an invitation


@dataclass(slots=True)
class ApiToken:
    id: str
    org: str
    name: str
    role: Role
    hash: str
    created_by: str | None  # the maker's readable name
    created_at: datetime
    expires_at: datetime | None
    maker: Maker | None = None  # None: made before makers were kept, or by the server

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "name": self.name,
            "role": str(self.role),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass(slots=True)
class Invitation:
    id: str
    org: str
    role: Role
    email: str | None
    hash: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    maker: Maker | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "role": str(self.role),
            "email": self.email,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass(slots=True)
class Failures:
    """Consecutive failed logins to one account."""

    count: int = 0
    wait_until: float = 0.0


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str, row_id: str) -> str:
    return f"{prefix}_{row_id}_{secrets.token_urlsafe(32)}"


def row_of(secret: str, prefix: str) -> str | None:
    """The row id named by a ``prefix_<id>_<secret>`` string, or None if malformed."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or len(parts[2]) < 20:
        return None
    return parts[1]


def normalize_email(email: str) -> str:
    email = check_chars(email.strip().lower(), "email", lines=False)
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 254 or " " in email:
        raise ValidationError(f"{email!r} is not an email address", field="email")
    return email
