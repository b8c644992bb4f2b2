"""The identity tables' SQL: users, memberships, sessions, API tokens, invitations.

Statements are ``(sql, args)`` pairs for :meth:`Database.write`, so that a change
and its audit rows commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .database import Database

Statement = tuple[str, tuple[Any, ...]]


async def load_all(store: Database, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Everything the directory keeps in memory: live rows only."""
    return {
        "users": await store.fetch(
            "SELECT id, email, name, password_hash, created_at, operator FROM users"
        ),
        "memberships": await store.fetch("SELECT user_id, org, role, created_at FROM memberships"),
        "sessions": await store.fetch(
            "SELECT id, user_id, refresh_hash, created_at, expires_at, ip FROM sessions"
            " WHERE revoked_at IS NULL AND expires_at > $1",
            now,
        ),
        "tokens": await store.fetch(
            "SELECT id, org, name, role, hash, created_by, created_at, expires_at,"
            " creator_kind, creator_id FROM api_tokens WHERE revoked_at IS NULL",
        ),
        "invitations": await store.fetch(
            "SELECT id, org, role, email, hash, created_by, created_at, expires_at,"
            " creator_kind, creator_id FROM invitations"
            " WHERE revoked_at IS NULL AND accepted_at IS NULL AND expires_at > $1",
            now,
        ),
    }


def insert_user(
    user_id: str, email: str, name: str, password_hash: str, at: datetime, operator: bool = False
) -> Statement:
    return (
        "INSERT INTO users (id, email, name, password_hash, created_at, operator)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        (user_id, email, name, password_hash, at, operator),
    )


def set_operator(user_id: str, operator: bool) -> Statement:
    return ("UPDATE users SET operator = $2 WHERE id = $1", (user_id, operator))


def put_membership(user_id: str, org: str, role: str, at: datetime) -> Statement:
    return (
        "INSERT INTO memberships (user_id, org, role, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (user_id, org) DO UPDATE SET role = EXCLUDED.role",
        (user_id, org, role, at),
    )


def delete_membership(user_id: str, org: str) -> Statement:
    return ("DELETE FROM memberships WHERE user_id = $1 AND org = $2", (user_id, org))


def insert_session(
    session_id: str,
    user_id: str,
    refresh_hash: str,
    at: datetime,
    expires: datetime,
    ip: str | None,
) -> Statement:
    return (
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at, ip)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        (session_id, user_id, refresh_hash, at, expires, ip),
    )


def rotate_session(session_id: str, old_hash: str, new_hash: str, expires: datetime) -> Statement:
    """Only if the refresh token is still the current one (one winner per token)."""
    return (
        "UPDATE sessions SET refresh_hash = $3, expires_at = $4"
        " WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL",
        (session_id, old_hash, new_hash, expires),
    )


def revoke_session(session_id: str, at: datetime) -> Statement:
    return (
        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        (session_id, at),
    )


def insert_token(
    token_id: str,
    org: str,
    name: str,
    role: str,
    token_hash: str,
    created_by: str,
    at: datetime,
    expires: datetime | None,
    maker: tuple[str, str] | None,
) -> Statement:
    kind, maker_id = maker or (None, None)
    return (
        "INSERT INTO api_tokens (id, org, name, role, hash, created_by, created_at, expires_at,"
        " creator_kind, creator_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        (token_id, org, name, role, token_hash, created_by, at, expires, kind, maker_id),
    )


def set_token_role(token_id: str, role: str) -> Statement:
    return (
        "UPDATE api_tokens SET role = $2 WHERE id = $1 AND revoked_at IS NULL",
        (token_id, role),
    )


def revoke_token(token_id: str, at: datetime) -> Statement:
    return (
        "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        (token_id, at),
    )


def insert_invitation(
    invitation_id: str,
    org: str,
    role: str,
    email: str | None,
    link_hash: str,
    created_by: str,
    at: datetime,
    expires: datetime,
    maker: tuple[str, str] | None,
) -> Statement:
    kind, maker_id = maker or (None, None)
    return (
        "INSERT INTO invitations (id, org, role, email, hash, created_by, created_at, expires_at,"
        " creator_kind, creator_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        (invitation_id, org, role, email, link_hash, created_by, at, expires, kind, maker_id),
    )


def set_invitation_role(invitation_id: str, role: str) -> Statement:
    return (
        "UPDATE invitations SET role = $2"
        " WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
        (invitation_id, role),
    )


def accept_invitation(invitation_id: str, user_id: str, at: datetime) -> Statement:
    return (
        "UPDATE invitations SET accepted_at = $3, accepted_by = $2"
        " WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
        (invitation_id, user_id, at),
    )


def revoke_invitation(invitation_id: str, at: datetime) -> Statement:
    return (
        "UPDATE invitations SET revoked_at = $2"
        " WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
        (invitation_id, at),
    )


async def audit_page(
    store: Database, org: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """The newest audit rows of ``org`` with an id below ``before``."""
    return await store.fetch(
        "SELECT id, at, actor_kind, actor_id, actor, action, target, ip, details"
        " FROM audit_log WHERE org = $1 AND ($2::bigint IS NULL OR id < $2)"
        " ORDER BY id DESC LIMIT $3",
        org,
        before,
        limit,
    )
