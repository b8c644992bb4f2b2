"""The idempotency table's SQL: receipts of requests sent with a key.

An organization's command writes its receipt in the same statement as its
events (see :meth:`Store.append`); other writes reserve a receipt before they
run and fill it in with their answer (:func:`reserve`, :func:`complete`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .database import Connection, Database


@dataclass(frozen=True, slots=True)
class Receipt:
    """A keyed request: who sent it, its key, and the hash of what it asked."""

    scope: str  # '<kind>:<id>' of the caller's credential
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Kept:
    """A receipt found: its request's hash and first answer (status None: that
    answer is not known, the request is still running or its outcome was lost)."""

    fingerprint: str
    status: int | None
    answer: Any
    created_at: datetime


async def find(
    store: Database, keys: list[tuple[str, str]], since: datetime
) -> dict[tuple[str, str], Kept]:
    """The receipts of ``(scope, key)`` pairs made after ``since``."""
    if not keys:
        return {}
    rows = await store.fetch(
        "SELECT scope, key, fingerprint, status, answer, created_at FROM idempotency"
        " WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        " AND created_at > $3",
        [scope for scope, _ in keys],
        [key for _, key in keys],
        since,
    )
    return {
        (r["scope"], r["key"]): Kept(r["fingerprint"], r["status"], r["answer"], r["created_at"])
        for r in rows
    }


async def reserve(store: Database, receipt: Receipt, at: datetime, since: datetime) -> Kept | None:
    """Take the key for a request about to run; None if it was free, else what
    holds it (an expired receipt is taken over)."""

    async def work(conn: Connection) -> Kept | None:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND created_at <= $3",
                receipt.scope,
                receipt.key,
                since,
            )
            taken = await conn.fetchval(
                "INSERT INTO idempotency (scope, key, fingerprint, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
                receipt.scope,
                receipt.key,
                receipt.fingerprint,
                at,
            )
            if taken:
                return None
            row = await conn.fetchrow(
                "SELECT fingerprint, status, answer, created_at FROM idempotency"
                " WHERE scope = $1 AND key = $2",
                receipt.scope,
                receipt.key,
            )
            return Kept(row["fingerprint"], row["status"], row["answer"], row["created_at"])

    return await store.run(work, write=True)


async def complete(store: Database, receipt: Receipt, status: int, answer: Any) -> None:
    """Fill in a reserved receipt with its request's answer."""
    await store.write(
        [
            (
                "UPDATE idempotency SET status = $3, answer = $4 WHERE scope = $1 AND key = $2",
                (receipt.scope, receipt.key, status, answer),
            )
        ]
    )


async def release(store: Database, receipt: Receipt) -> None:
    """Free a reserved key whose request did nothing (it may be sent again)."""
    await store.write(
        [
            (
                "DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND status IS NULL",
                (receipt.scope, receipt.key),
            )
        ]
    )


async def prune(store: Database, before: datetime) -> None:
    """Forget receipts older than the window."""
    await store.write([("DELETE FROM idempotency WHERE created_at < $1", (before,))])


def fingerprint(*parts: Any) -> str:
    """A hash of what a request asked (JSON of ``parts``, keys sorted)."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def scope_of(kind: str, principal_id: str) -> str:
    """Keys are the caller's own: two callers may use the same key."""
    return f"{kind}:{principal_id}"
