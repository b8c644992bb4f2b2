"""Public subscribers: double opt-in, and the links that confirm and end a subscription.

Signing up creates an unconfirmed subscriber and queues one message, the
confirmation, with the link ``{page}/subscribe/confirm/{token}`` (``page``:
the organization's public page, ``{base_url}/status/{org}``, or the root of
its custom domain when it claims one).
Nothing else is sent to the address until that link is followed, so nobody
can sign someone else up for mail. Every notification then carries a
one-click unsubscribe link ``{page}/unsubscribe/{token}``.

Tokens are 256 bits and the database holds only their SHA-256 hashes. They
name their row, as the directory's secrets do: ``sbc_<id>_<secret>``
(confirm), ``sbu_<id>_<secret>`` (unsubscribe). Since every message must
carry the unsubscribe link again, its secret cannot be random-and-forgotten:
it is HMAC-SHA256 of the subscriber under a key derived from the server's
secret, recomputed for each message and never stored. The confirmation's
secret is derived the same way from a random nonce kept with the queued
message, so the link itself is never stored either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ..auth import Origin
from ..clock import Clock
from ..errors import NotFound, ValidationError
from ..identity.records import digest, row_of
from ..ids import new_id
from ..store import AuditEntry, Duplicate, Store

Statement = tuple[str, tuple[Any, ...]]

CONFIRM_DAYS = 7  # a confirmation link works this long; unconfirmed sign-ups are then forgotten
RESEND_AFTER = timedelta(minutes=5)  # signing up again re-sends the confirmation at most this often
CONFIRM_EVENT = "subscription.confirm"


class SubscriberKind(Enum):
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: str
    org: str
    kind: str
    address: str
    confirmed_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Subscriber:
        return cls(
            row["id"],
            row["org"],
            row["kind"],
            row["address"],
            row["confirmed_at"],
            row["created_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "address": self.address,
            "confirmed": self.confirmed_at is not None,
            "confirmed_at": self.confirmed_at,
            "created_at": self.created_at,
        }


def derive_key(secret: str) -> bytes:
    """The notifications' key, from the server's secret (one secret to keep, not two)."""
    return hmac.new(secret.encode(), b"switchboard notifications", hashlib.sha256).digest()


class Links:
    """The secrets and URLs of subscriptions, derived from the server's key."""

    def __init__(
        self, key: bytes, base_url: str, page_of: Callable[[str], str] | None = None
    ) -> None:
        if len(key) < 32:
            raise ValueError("the notifications key must be at least 32 bytes")
        self._key = key
        self.base_url = base_url.rstrip("/")
        # An organization's public page: on its custom domain when it has one.
        self.page_of = page_of or (lambda org: f"{self.base_url}/status/{org}")

    def _mac(self, *parts: str) -> str:
        mac = hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def confirm_token(self, org: str, subscriber_id: str, nonce: str) -> str:
        return f"sbc_{subscriber_id}_{self._mac('confirm', org, subscriber_id, nonce)}"

    def unsubscribe_token(self, org: str, subscriber_id: str) -> str:
        return f"sbu_{subscriber_id}_{self._mac('unsubscribe', org, subscriber_id)}"

    def webhook_secret(self, org: str, subscriber_id: str) -> str:
        """What a webhook subscriber's messages are signed with (told in the confirmation)."""
        return f"whsec_{self._mac('webhook', org, subscriber_id)}"

    def confirm_url(self, org: str, token: str) -> str:
        return f"{self.page_of(org)}/subscribe/confirm/{token}"

    def unsubscribe_url(self, org: str, subscriber_id: str) -> str:
        return f"{self.page_of(org)}/unsubscribe/{self.unsubscribe_token(org, subscriber_id)}"


# -- SQL ---------------------------------------------------------------------------------

_COLUMNS = (
    "id, org, kind, address, confirm_token_hash, confirm_sent_at, confirmed_at,"
    " unsubscribe_token_hash, created_at"
)


async def _one(store: Store, sql: str, *args: Any) -> dict[str, Any] | None:
    rows = await store.fetch(sql, *args)
    return rows[0] if rows else None


def insert(
    subscriber_id: str,
    org: str,
    kind: str,
    address: str,
    confirm_hash: str,
    unsubscribe_hash: str,
    at: datetime,
) -> Statement:
    return (
        "INSERT INTO subscribers (id, org, kind, address, confirm_token_hash, confirm_sent_at,"
        " unsubscribe_token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
        (subscriber_id, org, kind, address, confirm_hash, at, unsubscribe_hash),
    )


def renew_confirmation(subscriber_id: str, confirm_hash: str, at: datetime) -> Statement:
    """A new confirmation link (the old one stops working), while still unconfirmed."""
    return (
        "UPDATE subscribers SET confirm_token_hash = $2, confirm_sent_at = $3"
        " WHERE id = $1 AND confirmed_at IS NULL",
        (subscriber_id, confirm_hash, at),
    )


def queue_confirmation(
    delivery_id: str, org: str, subscriber_id: str, nonce: str, at: datetime
) -> Statement:
    return (
        "INSERT INTO deliveries (id, org, subscriber_id, event, payload, next_attempt_at,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        (delivery_id, org, subscriber_id, CONFIRM_EVENT, {"nonce": nonce}, at),
    )


def forget_unconfirmed(before: datetime) -> Statement:
    return (
        "DELETE FROM subscribers WHERE confirmed_at IS NULL AND confirm_sent_at < $1",
        (before,),
    )


def new_delivery_id() -> str:
    return secrets.token_hex(10)


# -- sign-ups --------------------------------------------------------------------------


class Subscriptions:
    """Signing up, confirming, unsubscribing, and what the admins see of it."""

    def __init__(
        self,
        store: Store,
        links: Links,
        clock: Clock,
        wake: Callable[[], None],
        noted: Callable[[Sequence[AuditEntry]], None] = lambda entries: None,
    ) -> None:
        self.store = store
        self.links = links
        self.clock = clock
        self._wake = wake
        self._noted = noted  # told the audit rows of an admin's change

    async def subscribe(self, org: str, kind: SubscriberKind, address: str) -> None:
        """Sign ``address`` up (unconfirmed) and queue its confirmation.

        The outcome is the same whether the address was new, waiting for its
        confirmation, or already confirmed, so that the public answer says
        nothing about who is subscribed. A repeated sign-up re-sends the
        confirmation at most every :data:`RESEND_AFTER`.
        """
        now = self.clock.now()
        existing = await _one(
            self.store,
            f"SELECT {_COLUMNS} FROM subscribers WHERE org = $1 AND kind = $2 AND address = $3",
            org,
            kind.value,
            address,
        )
        if existing is not None and (
            existing["confirmed_at"] is not None or now - existing["confirm_sent_at"] < RESEND_AFTER
        ):
            return
        subscriber_id = new_id() if existing is None else existing["id"]
        nonce = secrets.token_urlsafe(16)
        confirm_hash = digest(self.links.confirm_token(org, subscriber_id, nonce))
        if existing is None:
            unsubscribe_hash = digest(self.links.unsubscribe_token(org, subscriber_id))
            row = insert(
                subscriber_id, org, kind.value, address, confirm_hash, unsubscribe_hash, now
            )
        else:
            row = renew_confirmation(subscriber_id, confirm_hash, now)
        queued = queue_confirmation(new_delivery_id(), org, subscriber_id, nonce, now)
        try:
            await self.store.write([row, queued])
        except Duplicate:
            return  # the same address signed up at the same moment; that one goes out
        self._wake()

    async def _named(self, org: str, token: str, prefix: str) -> dict[str, Any] | None:
        subscriber_id = row_of(token, prefix)
        if subscriber_id is None:
            return None
        row = await _one(
            self.store, f"SELECT {_COLUMNS} FROM subscribers WHERE id = $1", subscriber_id
        )
        return row if row is not None and row["org"] == org else None

    async def confirm(self, org: str, token: str) -> Subscriber:
        """Start sending to the subscriber the link names (again: no harm)."""
        row = await self._named(org, token, "sbc")
        expired = row is not None and (
            row["confirmed_at"] is None
            and self.clock.now() - row["confirm_sent_at"] > timedelta(days=CONFIRM_DAYS)
        )
        if (
            row is None
            or expired
            or not hmac.compare_digest(digest(token), row["confirm_token_hash"])
        ):
            raise NotFound(
                "this confirmation link is not valid: it may have expired or been replaced"
                " by a newer one; sign up again",
                field="token",
            )
        if row["confirmed_at"] is None:
            row["confirmed_at"] = now = self.clock.now()
            await self.store.write(
                [
                    (
                        "UPDATE subscribers SET confirmed_at = $2"
                        " WHERE id = $1 AND confirmed_at IS NULL",
                        (row["id"], now),
                    )
                ]
            )
        return Subscriber.from_row(row)

    async def _unsubscribing(self, org: str, token: str) -> dict[str, Any] | None:
        """The subscriber an unsubscribe link names; None if it is gone already.

        NotFound for a link that was never valid. A link made under an earlier
        server secret still works while the subscriber's stored hash matches it.
        """
        invalid = NotFound("this unsubscribe link is not valid", field="token")
        subscriber_id = row_of(token, "sbu")
        if subscriber_id is None:
            raise invalid
        current = hmac.compare_digest(token, self.links.unsubscribe_token(org, subscriber_id))
        row = await self._named(org, token, "sbu")
        if row is None:
            if current:
                return None
            raise invalid
        if not current and not hmac.compare_digest(digest(token), row["unsubscribe_token_hash"]):
            raise invalid
        return row

    async def check_unsubscribe(self, org: str, token: str) -> bool:
        """Whether the link's subscriber is still subscribed (NotFound: not a valid link)."""
        return await self._unsubscribing(org, token) is not None

    async def unsubscribe(self, org: str, token: str) -> bool:
        """Forget the subscriber the link names, and what was queued for it.

        True if it was subscribed, False if it was already gone.
        """
        row = await self._unsubscribing(org, token)
        if row is None:
            return False
        await self.store.write([("DELETE FROM subscribers WHERE id = $1", (row["id"],))])
        return True

    async def remove(self, org: str, subscriber_id: str, origin: Origin) -> None:
        """An admin removes a subscriber (a bouncing address, say)."""
        rows = await self.store.fetch(
            "SELECT kind FROM subscribers WHERE id = $1 AND org = $2", subscriber_id, org
        )
        if not rows:
            raise NotFound(f"there is no subscriber {subscriber_id!r}", field="subscriber")
        audit = origin.entry(
            org, "subscriber.remove", subscriber_id, {"kind": rows[0]["kind"]}, self.clock.now()
        )
        await self.store.write(
            [("DELETE FROM subscribers WHERE id = $1 AND org = $2", (subscriber_id, org))], [audit]
        )
        self._noted([audit])

    async def page(
        self,
        org: str,
        after: str | None,
        limit: int | None,
        *,
        search: str | None = None,
        kind: SubscriberKind | None = None,
    ) -> list[Subscriber]:
        """Newest first, after the subscriber ``after`` (ValidationError if
        unknown); only addresses holding ``search`` (any case), of ``kind``.
        ``limit`` None: all of them."""
        if after is not None and not await self.store.fetch(
            "SELECT 1 FROM subscribers WHERE id = $1 AND org = $2", after, org
        ):
            raise ValidationError(
                f"there is no subscriber {after!r} to continue after", field="after"
            )
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM subscribers WHERE org = $1 AND ($2::text IS NULL OR"
            " (created_at, id) < (SELECT created_at, id FROM subscribers WHERE id = $2))"
            " AND ($4::text IS NULL OR strpos(lower(address), lower($4)) > 0)"
            " AND ($5::text IS NULL OR kind = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            org,
            after,
            limit,
            search or None,
            None if kind is None else kind.value,
        )
        return [Subscriber.from_row(r) for r in rows]

    async def counts(self, org: str) -> dict[str, dict[str, int]]:
        """How many subscribers of each kind, confirmed and not yet."""
        rows = await self.store.fetch(
            "SELECT kind, confirmed_at IS NOT NULL AS confirmed, count(*) AS n"
            " FROM subscribers WHERE org = $1 GROUP BY 1, 2",
            org,
        )
        out = {k.value: {"confirmed": 0, "unconfirmed": 0} for k in SubscriberKind}
        for row in rows:
            out[row["kind"]]["confirmed" if row["confirmed"] else "unconfirmed"] = row["n"]
        return out
