"""Channels, the fan-out of events to them, and the worker that delivers.

:meth:`Notifier.notify` turns one event of an organization into one
``deliveries`` row per matching channel and confirmed subscriber, in one
transaction: once it returns, the messages will go out even if the process
dies right after. :meth:`Notifier.run` is the worker: it claims due rows
(``FOR UPDATE SKIP LOCKED``, so several servers can share one database), sends
them with bounded concurrency, and records the outcome. A failure is retried
after 10 s, 20 s, 40 s... (capped at an hour, with jitter) until the attempts
run out; then the row is ``failed`` with the last error kept for the admins.

A claimed row's ``next_attempt_at`` is pushed a lease ahead (and the lease is
``leased_until``), so a worker that dies mid-send leaves it to be retried
once the lease is over; a worker that is stopped hands its unfinished rows
back at once.

Each receiver (a channel, a subscriber) hears its messages in the order they
were made, whichever worker sends them: a row is claimed only when no earlier
pending row to the same receiver is due or leased, so one message at a time
goes to each receiver, across every server sharing the database. A message
waiting for a retry does not hold back the ones after it (a receiver that is
down would hold them all for hours): those may overtake it.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import trio

from ..auth import Origin
from ..clock import Clock
from ..domain.model import iso
from ..domain.schema import MISSING, given, parse
from ..errors import Conflict, NotFound, ValidationError
from ..ids import new_id
from ..netguard import GuardedTransport, Refused, resolve
from ..ratelimit import KeyedBuckets
from ..store import AuditEntry, Duplicate, Store, StoreError
from . import pagerduty, senders, via_apprise
from .records import (
    CONFIGS,
    DERIVED,
    PAGERDUTY_EVENTS,
    SECRETS,
    SUBSCRIBER_EVENTS,
    TEST_EVENT,
    ChangeChannel,
    Channel,
    ChannelKind,
    NewChannel,
    NotificationEvent,
    NotifySettings,
    shown_config,
)
from .senders import SendError
from .subscribers import (
    CONFIRM_DAYS,
    CONFIRM_EVENT,
    Links,
    Subscriptions,
    forget_unconfirmed,
    new_delivery_id,
)

log = logging.getLogger(__name__)

Statement = tuple[str, tuple[Any, ...]]


# -- SQL ---------------------------------------------------------------------------------

_CHANNEL = "SELECT id, org, kind, name, config, events, created_at, disabled_at FROM channels"

# One row per channel that selected the event and, for what the status page
# shows, per confirmed subscriber: one statement, so all or none are queued.
_FAN_OUT = """
INSERT INTO deliveries (id, org, channel_id, subscriber_id, event, payload, next_attempt_at,
                        created_at)
SELECT substr(replace(gen_random_uuid()::text, '-', ''), 1, 20), $1, t.channel_id,
       t.subscriber_id, $2, $3::json, $4, $4
FROM (
    SELECT id AS channel_id, NULL::text AS subscriber_id FROM channels
    WHERE org = $1 AND disabled_at IS NULL AND $2 = ANY (events)
    UNION ALL
    SELECT NULL, id FROM subscribers
    WHERE org = $1 AND confirmed_at IS NOT NULL AND $5
) AS t
"""

# Take up to $2 due rows nobody else holds, each the first of its receiver's
# that is due or being sent, and lease them until $3.
_CLAIM = """
WITH due AS (
    SELECT d.id FROM deliveries AS d
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
      AND NOT EXISTS (
          SELECT 1 FROM deliveries AS e
          WHERE e.status = 'pending'
            AND coalesce(e.channel_id, e.subscriber_id) = coalesce(d.channel_id, d.subscriber_id)
            AND e.seq < d.seq
            AND (e.next_attempt_at <= $1 OR e.leased_until > $1)
      )
    ORDER BY d.next_attempt_at, d.seq
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE deliveries AS d SET next_attempt_at = $3, leased_until = $3
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.seq, d.org, d.channel_id, d.subscriber_id, d.event, d.payload,
              d.attempts, d.created_at
)
SELECT claimed.*, c.kind AS channel_kind, c.config AS channel_config,
       c.disabled_at AS channel_disabled_at, s.kind AS subscriber_kind,
       s.address AS subscriber_address, s.confirmed_at AS subscriber_confirmed_at
FROM claimed
LEFT JOIN channels AS c ON c.id = claimed.channel_id
LEFT JOIN subscribers AS s ON s.id = claimed.subscriber_id
ORDER BY claimed.seq
"""

_DELIVERY = (
    "SELECT id, channel_id, subscriber_id, event, status, attempts, next_attempt_at,"
    " last_error, last_status_code, created_at, sent_at FROM deliveries"
)

DELIVERY_STATUSES = ("pending", "sent", "failed")
ATTEMPT_OUTCOMES = ("sent", "retried", "failed")  # failed: for good (no attempt left, or refused)


class Notifier:
    """Channels and deliveries of every organization, and the worker that sends."""

    def __init__(
        self,
        store: Store,
        *,
        base_url: str,
        key: bytes,
        settings: NotifySettings | None = None,
        clock: Clock | None = None,
        page_of: Callable[[str], str] | None = None,
    ) -> None:
        """``page_of``: an organization's public page, which messages link to
        (``{base_url}/status/{org}`` unless given: the server's own address)."""
        self.store = store
        self.settings = settings or NotifySettings()
        self.clock = clock or Clock()
        self.links = Links(key, base_url, page_of)
        # Told the audit rows of each change written (server/actors/notes.py).
        self.noted: Callable[[Sequence[AuditEntry]], None] = lambda entries: None
        self.subscriptions = Subscriptions(
            store, self.links, self.clock, self.wake, lambda entries: self.noted(entries)
        )
        self.subscribe_buckets = KeyedBuckets(
            self.settings.subscribes_per_minute / 60, self.settings.subscribes_burst
        )
        self._client: httpx.AsyncClient | None = None  # channels
        self._threads = trio.CapacityLimiter(self.settings.concurrency)  # Apprise's sends
        self._strangers: httpx.AsyncClient | None = None  # subscribers' webhooks
        self._wakeup = trio.Event()
        self._in_flight: set[str] = set()
        self._destinations: dict[str, deque[dict[str, Any]]] = {}  # by receiver
        self._settled: dict[str, trio.Event] = {}
        self._last_cleanup = -float("inf")
        # This worker's attempts since the start, by what came of them.
        self.attempts: dict[str, int] = dict.fromkeys(ATTEMPT_OUTCOMES, 0)

    @property
    def base_url(self) -> str:
        return self.links.base_url

    def wake(self) -> None:
        """New rows are due now: look at once instead of at the next poll."""
        self._wakeup.set()

    # -- fan-out ---------------------------------------------------------------------------

    async def notify(self, org: str, event_name: str, payload: Mapping[str, Any]) -> int:
        """Queue ``event_name`` for every channel and subscriber of ``org`` that wants it.

        Durable when it returns (one transaction); answers how many messages
        were queued. ``payload`` is what receivers get as ``data``: give the
        public view of the entity (see :func:`notification_for`).
        """
        (status,) = await self.store.write([self.fan_out(org, event_name, payload)])
        count = int(status.rsplit(" ", 1)[-1])
        if count:
            self.wake()
        return count

    def fan_out(
        self, org: str, event_name: str, payload: Mapping[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement :meth:`notify` runs, for a caller's own transaction."""
        event = NotificationEvent(event_name)  # ValueError: a caller's bug
        now = self.clock.now()
        return (_FAN_OUT, (org, event.value, dict(payload), now, event in SUBSCRIBER_EVENTS))

    # -- channels --------------------------------------------------------------------------

    async def channels(self, org: str) -> list[Channel]:
        rows = await self.store.fetch(f"{_CHANNEL} WHERE org = $1 ORDER BY created_at, id", org)
        return [Channel.from_row(r) for r in rows]

    async def channel(self, org: str, channel_id: str) -> Channel:
        rows = await self.store.fetch(f"{_CHANNEL} WHERE id = $1 AND org = $2", channel_id, org)
        if not rows:
            raise NotFound(f"there is no channel {channel_id!r}", field="channel")
        return Channel.from_row(rows[0])

    def _check_config(self, kind: ChannelKind, config: Mapping[str, Any]) -> dict[str, Any]:
        record: Any = parse(CONFIGS[kind], dict(config), where="config", prefix="config.")
        checked = {k: v for k, v in given(record).items() if v is not None}
        if kind is ChannelKind.EMAIL:
            if not self.settings.smtp.enabled:
                raise ValidationError(
                    "email channels need a mail server: start the server with --smtp-host",
                    field="kind",
                )
            addresses = list(dict.fromkeys(a.lower() for a in checked["to"]))
            if not addresses:
                raise ValidationError("config.to needs at least one address", field="config.to")
            checked["to"] = addresses
        return checked

    async def _check_target(self, kind: ChannelKind, config: dict[str, Any]) -> dict[str, Any]:
        """A checked config, with what is derived from it: its URL must be one
        Apprise can use (an Apprise channel's) and somewhere the network rule
        lets us connect to (a name that does not resolve yet is let be: sending
        will say so)."""
        url = config.get("url")
        if not isinstance(url, str):
            return config
        if kind is ChannelKind.APPRISE:
            try:
                parsed = await via_apprise.check(url)
            except ValueError as exc:
                raise ValidationError(f"config.url {exc}", field="config.url") from None
            for host, port in parsed.hosts:
                await self._check_host(host, port)
            return {**config, "service": parsed.service, "masked_url": parsed.masked}
        parts = urlsplit(url)
        await self._check_host(
            parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        )
        return config

    async def _check_host(self, host: str, port: int) -> None:
        try:
            await resolve(self.settings.network_rule, host, port)
        except Refused as exc:
            raise ValidationError(f"config.url: {exc.message}", field="config.url") from None
        except OSError:
            pass

    @staticmethod
    def _check_events(kind: ChannelKind, events: Sequence[NotificationEvent] | None) -> list[str]:
        allowed = (
            PAGERDUTY_EVENTS if kind is ChannelKind.PAGERDUTY else frozenset(NotificationEvent)
        )
        if events is None:
            return [e.value for e in NotificationEvent if e in allowed]
        if not events:
            raise ValidationError(
                "events needs at least one event (or leave it out for all of them)",
                field="events",
            )
        for n, event in enumerate(events):
            if event not in allowed:
                raise ValidationError(
                    f"events[{n}]: a {kind.value} channel does not take {event.value}"
                    " (it takes incident, monitor and probe events)",
                    field=f"events[{n}]",
                )
        return list(dict.fromkeys(e.value for e in events))

    async def create_channel(
        self, org: str, spec: NewChannel, origin: Origin
    ) -> tuple[Channel, str | None]:
        """The new channel, and its signing secret if one was made up (shown once)."""
        config = self._check_config(spec.kind, spec.config)
        if spec.kind is ChannelKind.PAGERDUTY:
            config.setdefault("url", pagerduty.DEFAULT_URL)
        config = await self._check_target(spec.kind, config)
        events = self._check_events(spec.kind, spec.events)
        made_up = None
        if spec.kind is ChannelKind.WEBHOOK and "secret" not in config:
            made_up = config["secret"] = f"whsec_{secrets.token_urlsafe(32)}"
        now = self.clock.now()
        channel = Channel(new_id(), org, spec.kind, spec.name, config, tuple(events), now, None)
        audit = origin.entry(
            org, "channel.create", channel.id, {"kind": spec.kind.value, "name": spec.name}, now
        )
        try:
            await self.store.write(
                [
                    (
                        "INSERT INTO channels (id, org, kind, name, config, events, created_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        (channel.id, org, spec.kind.value, spec.name, config, events, now),
                    )
                ],
                [audit],
            )
        except Duplicate:
            raise Conflict(
                f"there is a channel named {spec.name!r} already", field="name"
            ) from None
        self.noted([audit])
        return channel, made_up

    async def change_channel(
        self, org: str, channel_id: str, change: ChangeChannel, origin: Origin
    ) -> Channel:
        old = await self.channel(org, channel_id)
        new = old
        if change.name is not MISSING:
            new = replace(new, name=change.name)
        if change.config is not MISSING:
            # Merged, so that a new URL keeps the secret; a null changes nothing.
            derived = DERIVED.get(old.kind, frozenset())
            kept = {k: v for k, v in old.config.items() if k not in derived}
            merged = {**kept, **{k: v for k, v in change.config.items() if v is not None}}
            checked = self._check_config(old.kind, merged)
            new = replace(new, config=await self._check_target(old.kind, checked))
        if change.events is not MISSING:
            new = replace(new, events=tuple(self._check_events(old.kind, change.events)))
        if change.disabled is not MISSING and change.disabled != (old.disabled_at is not None):
            new = replace(new, disabled_at=self.clock.now() if change.disabled else None)
        if new == old:
            return old
        audit = origin.entry(
            org, "channel.update", channel_id, _change_details(old, new), self.clock.now()
        )
        try:
            await self.store.write(
                [
                    (
                        "UPDATE channels SET name = $3, config = $4, events = $5, disabled_at = $6"
                        " WHERE id = $1 AND org = $2",
                        (
                            channel_id,
                            org,
                            new.name,
                            dict(new.config),
                            list(new.events),
                            new.disabled_at,
                        ),
                    )
                ],
                [audit],
            )
        except Duplicate:
            raise Conflict(f"there is a channel named {new.name!r} already", field="name") from None
        self.noted([audit])
        return new

    async def delete_channel(self, org: str, channel_id: str, origin: Origin) -> None:
        """The channel and its deliveries, pending ones included."""
        channel = await self.channel(org, channel_id)
        audit = origin.entry(
            org, "channel.delete", channel_id, {"name": channel.name}, self.clock.now()
        )
        await self.store.write(
            [("DELETE FROM channels WHERE id = $1 AND org = $2", (channel_id, org))], [audit]
        )
        self.noted([audit])

    async def test_channel(self, org: str, channel_id: str, subject: str) -> str:
        """Queue a test message to the channel (disabled or not); its delivery's id."""
        await self.channel(org, channel_id)
        delivery_id = new_delivery_id()
        self._settled[delivery_id] = trio.Event()  # before a worker can see the row
        now = self.clock.now()
        message = f"This is a test notification sent by {subject} from Switchboard."
        await self.store.write(
            [
                (
                    "INSERT INTO deliveries (id, org, channel_id, event, payload, next_attempt_at,"
                    " created_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    (delivery_id, org, channel_id, TEST_EVENT, {"message": message}, now),
                )
            ]
        )
        self.wake()
        return delivery_id

    async def queue(self) -> dict[str, int]:
        """Deliveries waiting, in every organization: ``pending`` and, of those,
        ``due`` now (a worker that keeps up has few of these)."""
        rows = await self.store.fetch(
            "SELECT count(*) AS pending, count(*) FILTER (WHERE next_attempt_at <= $1) AS due"
            " FROM deliveries WHERE status = 'pending'",
            self.clock.now(),
        )
        return {"pending": int(rows[0]["pending"]), "due": int(rows[0]["due"])}

    # -- deliveries, as the admins see them ------------------------------------------------------

    async def delivery(self, org: str, delivery_id: str) -> dict[str, Any]:
        rows = await self.store.fetch(f"{_DELIVERY} WHERE id = $1 AND org = $2", delivery_id, org)
        if not rows:
            raise NotFound(f"there is no delivery {delivery_id!r}", field="delivery")
        return rows[0]

    async def deliveries(
        self,
        org: str,
        *,
        status: str | None = None,
        channel: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Newest first, of one ``channel`` or all; ``after`` continues past
        that delivery (ValidationError if unknown)."""
        if after is not None and not await self.store.fetch(
            "SELECT 1 FROM deliveries WHERE id = $1 AND org = $2", after, org
        ):
            raise ValidationError(
                f"there is no delivery {after!r} to continue after", field="after"
            )
        return await self.store.fetch(
            f"{_DELIVERY} WHERE org = $1 AND ($2::text IS NULL OR status = $2)"
            " AND ($3::text IS NULL OR"
            "      (created_at, id) < (SELECT created_at, id FROM deliveries WHERE id = $3))"
            " AND ($5::text IS NULL OR channel_id = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $4",
            org,
            status,
            after,
            limit,
            channel,
        )

    async def retry(self, org: str, delivery_id: str) -> None:
        """Try a delivery again now: one waiting for its next attempt, or one
        given up on (it gets one more attempt). Sent ones are done, and one
        being sent now (here or by another server) is let be (Conflict)."""
        found = await self.delivery(org, delivery_id)
        if found["status"] == "sent":
            raise Conflict("this delivery was sent already", field="delivery")
        if delivery_id in self._in_flight:
            raise Conflict("this delivery is being sent right now", field="delivery")
        self._settled.setdefault(delivery_id, trio.Event())  # before a worker can see it
        try:
            changed = await self.store.fetch(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = $3"
                " WHERE id = $1 AND org = $2 AND status <> 'sent'"
                " AND (leased_until IS NULL OR leased_until <= $3) RETURNING id",
                delivery_id,
                org,
                self.clock.now(),
            )
            if not changed:
                raise Conflict("this delivery is being sent right now", field="delivery")
        except BaseException:
            self._settled.pop(delivery_id, None)
            raise
        self.wake()

    async def wait_attempted(self, org: str, delivery_id: str, within: float) -> dict[str, Any]:
        """The delivery once this process has tried it once more (or as it is after ``within`` seconds)."""
        settled = self._settled.setdefault(delivery_id, trio.Event())
        try:
            with trio.move_on_after(within):
                await settled.wait()
        finally:
            self._settled.pop(delivery_id, None)
        return await self.delivery(org, delivery_id)

    # -- the worker ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver due rows until cancelled; unfinished ones are handed back on the way out."""
        timeout = httpx.Timeout(self.settings.http_timeout)
        rules = (self.settings.network_rule, self.settings.subscriber_rule)
        clients = [
            httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
                transport=GuardedTransport(rule),
            )
            for rule in rules
        ]
        async with clients[0] as client, clients[1] as strangers:
            self._client, self._strangers = client, strangers
            try:
                async with trio.open_nursery() as nursery:
                    task_status.started()
                    await self._loop(nursery)
            finally:
                self._client = self._strangers = None
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await self._hand_back()

    async def _loop(self, nursery: trio.Nursery) -> None:
        settings = self.settings
        while True:
            self._wakeup = trio.Event()  # before looking: a wake() from now on is not lost
            wait = settings.poll_seconds
            free = settings.concurrency - len(self._in_flight)
            try:
                await self._cleanup()
                if free > 0:
                    now = self.clock.now()
                    lease = now + timedelta(seconds=settings.lease_seconds)
                    # One statement, so the read path will do: if its answer is
                    # lost, the rows it leased are tried again after the lease.
                    rows = await self.store.fetch(_CLAIM, now, free, lease)
                    for row in rows:
                        self._in_flight.add(row["id"])
                        self._queue(nursery, row)
                    if len(rows) < free:
                        wait = await self._until_next_due(wait)
            except StoreError as exc:
                log.warning("notifications: cannot read due deliveries: %s", exc)
            except Exception:  # a bug of ours; the server goes on, and so do we at the next poll
                log.exception("notifications: the worker's loop failed")
            with trio.move_on_after(wait):
                await self._wakeup.wait()

    async def _until_next_due(self, longest: float) -> float:
        """Seconds until a row falls due (at most ``longest``). Rows due now and
        not claimed wait behind an earlier one to their receiver: when that
        one is done here, the worker is woken; elsewhere, the next poll sees it."""
        rows = await self.store.fetch(
            "SELECT min(next_attempt_at) AS due FROM deliveries"
            " WHERE status = 'pending' AND next_attempt_at > $1",
            self.clock.now(),
        )
        due: datetime | None = rows[0]["due"]
        if due is None:
            return longest
        return max(0.0, min(longest, (due - self.clock.now()).total_seconds()))

    async def _cleanup(self) -> None:
        """Hourly: forget stale sign-ups and old deliveries."""
        if trio.current_time() - self._last_cleanup < 3600:
            return
        self._last_cleanup = trio.current_time()
        now = self.clock.now()
        await self.store.write(
            [
                forget_unconfirmed(now - timedelta(days=CONFIRM_DAYS)),
                (
                    "DELETE FROM deliveries WHERE status <> 'pending' AND created_at < $1",
                    (now - timedelta(days=self.settings.keep_days),),
                ),
            ]
        )

    async def _hand_back(self) -> None:
        if not self._in_flight:
            return
        try:
            await self.store.write(
                [
                    (
                        "UPDATE deliveries SET next_attempt_at = $2, leased_until = NULL"
                        " WHERE id = ANY ($1::text[]) AND status = 'pending'",
                        (sorted(self._in_flight), self.clock.now()),
                    )
                ]
            )
        except StoreError as exc:
            log.warning("notifications: unfinished deliveries wait for their lease: %s", exc)
        self._in_flight.clear()

    def _queue(self, nursery: trio.Nursery, row: dict[str, Any]) -> None:
        """One message at a time per receiver, in the order they were claimed:
        a channel hears "down" before "up"."""
        destination = row["channel_id"] or row["subscriber_id"]
        queue = self._destinations.get(destination)
        if queue is None:
            queue = self._destinations[destination] = deque()
            nursery.start_soon(self._drain, destination, queue)
        queue.append(row)

    async def _drain(self, destination: str, queue: deque[dict[str, Any]]) -> None:
        try:
            while queue:
                await self._deliver(queue.popleft())
        finally:
            self._destinations.pop(destination, None)

    async def _deliver(self, row: dict[str, Any]) -> None:
        attempt = row["attempts"] + 1
        status_code: int | None = None
        error: SendError | None = None
        try:
            with trio.fail_after(self.settings.lease_seconds / 2):
                status_code = await self._send(row)
        except SendError as exc:
            error = exc
        except trio.TooSlowError:
            error = SendError("the send took too long")
        except Exception as exc:  # a bug of ours: keep the worker, keep the row retrying
            log.exception("notifications: delivery %s failed unexpectedly", row["id"])
            error = SendError(f"internal error: {type(exc).__name__}")
        came_to, statement = self._outcome(row["id"], attempt, status_code, error)
        try:
            await self.store.write([statement])
        except Exception as exc:
            log.warning("notifications: outcome of %s not recorded: %s", row["id"], exc)
            return  # still leased: tried again when the lease is over
        self.attempts[came_to] += 1
        self._in_flight.discard(row["id"])
        if (settled := self._settled.pop(row["id"], None)) is not None:
            settled.set()
        self.wake()  # a worker is free

    def _outcome(
        self, delivery_id: str, attempt: int, status_code: int | None, error: SendError | None
    ) -> tuple[str, Statement]:
        """What came of an attempt (one of ATTEMPT_OUTCOMES), and the statement recording it."""
        now = self.clock.now()
        if error is None:
            return "sent", (
                "UPDATE deliveries SET status = 'sent', attempts = $2, sent_at = $3,"
                " last_status_code = $4, next_attempt_at = NULL, leased_until = NULL"
                " WHERE id = $1",
                (delivery_id, attempt, now, status_code),
            )
        log.info("notifications: delivery %s attempt %d: %s", delivery_id, attempt, error.message)
        code = error.status_code
        retry = self.settings.retry
        if error.permanent or attempt >= retry.attempts:
            return "failed", (
                "UPDATE deliveries SET status = 'failed', attempts = $2, last_error = $3,"
                " last_status_code = $4, next_attempt_at = NULL, leased_until = NULL"
                " WHERE id = $1",
                (delivery_id, attempt, error.message, code),
            )
        delay = retry.delay(attempt)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, retry.cap))
        return "retried", (
            "UPDATE deliveries SET attempts = $2, last_error = $3, last_status_code = $4,"
            " next_attempt_at = $5, leased_until = NULL WHERE id = $1",
            (delivery_id, attempt, error.message, code, now + timedelta(seconds=delay)),
        )

    # -- one message -------------------------------------------------------------------------

    def _envelope(self, row: Mapping[str, Any], data: Any, **extra: Any) -> bytes:
        """A webhook's body: the same bytes on every attempt of a delivery."""
        return orjson.dumps(
            {
                "id": row["id"],
                "event": row["event"],
                "org": row["org"],
                "created_at": iso(row["created_at"]),
                "data": data,
                **extra,
            }
        )

    async def _send(self, row: Mapping[str, Any]) -> int | None:
        """The receiver's status code (None from Apprise, which does not say one)."""
        if row["channel_id"] is not None:
            return await self._to_channel(row)
        return await self._to_subscriber(row)

    async def _to_channel(self, row: Mapping[str, Any]) -> int | None:
        kind, config = row["channel_kind"], row["channel_config"]
        event, payload = row["event"], row["payload"]
        if kind is None:
            raise SendError("the channel was deleted", permanent=True)
        if row["channel_disabled_at"] is not None and event != TEST_EVENT:
            raise SendError("the channel is disabled", permanent=True)
        assert self._client is not None
        if kind == ChannelKind.WEBHOOK.value:
            body = self._envelope(row, payload)
            headers = senders.webhook_headers(row["id"], event, body, config.get("secret"))
            return await senders.post(self._client, config["url"], body, headers)
        rendered = senders.render(
            row["org"], event, payload, self.base_url, self.links.page_of(row["org"])
        )
        if kind == ChannelKind.SLACK.value:
            colour = senders.COLOURS[senders.tone(event, payload)]
            body = orjson.dumps(senders.slack_message(rendered, colour))
            return await senders.post(self._client, config["url"], body, _JSON_HEADERS)
        if kind == ChannelKind.PAGERDUTY.value:
            return await self._to_pagerduty(row, rendered)
        if kind == ChannelKind.APPRISE.value:
            text = senders.plain_text(rendered, None)
            mood = senders.tone(event, payload)
            rule = self.settings.network_rule
            await via_apprise.send(config["url"], rendered.subject, text, mood, rule, self._threads)
            return None
        smtp = self.settings.smtp
        message = senders.build_email(
            smtp, config["to"], rendered, delivery_id=row["id"], event=row["event"]
        )
        return await senders.send_email(smtp, message)

    async def _to_pagerduty(self, row: Mapping[str, Any], rendered: senders.Rendered) -> int | None:
        """The delivery's events, in order; none if a later delivery of the same
        alert has been sent: being retried, it would put PagerDuty back to an
        older state (open an alert about something over, resolve one that is
        open again)."""
        config, event, payload = row["channel_config"], row["event"], row["payload"]
        about = pagerduty.subject(event, payload, row["id"])
        if about is not None and await self._overtaken(row, about):
            raise SendError("not sent: a later delivery of this alert was sent", permanent=True)
        messages = pagerduty.messages(
            org=row["org"],
            event=event,
            payload=payload,
            rendered=rendered,
            routing_key=config["routing_key"],
            delivery_id=row["id"],
            page=self.links.page_of(row["org"]),
        )
        if not messages:
            raise SendError(f"PagerDuty channels do not take {event}", permanent=True)
        assert self._client is not None
        status = None
        for message in messages:
            try:
                status = await senders.post(
                    self._client, config["url"], orjson.dumps(message), _JSON_HEADERS
                )
            except SendError as exc:
                if exc.status_code != 400:
                    raise
                raise SendError(  # the event itself: sending it again cannot help
                    f"{exc.message} (PagerDuty refused the event: is the routing key right?)",
                    status_code=400,
                    permanent=True,
                ) from None
        return status

    async def _overtaken(self, row: Mapping[str, Any], about: pagerduty.Subject) -> bool:
        rows = await self.store.fetch(
            "SELECT 1 FROM deliveries"
            " WHERE channel_id = $1 AND seq > $2 AND status = 'sent'"
            " AND event LIKE $3 AND payload #>> $4::text[] = $5 LIMIT 1",
            row["channel_id"],
            row["seq"],
            about.events,
            about.path,
            about.id,
        )
        return bool(rows)

    async def _to_subscriber(self, row: Mapping[str, Any]) -> int:
        kind, address = row["subscriber_kind"], row["subscriber_address"]
        org, subscriber_id, event = row["org"], row["subscriber_id"], row["event"]
        if kind is None:
            raise SendError("the subscriber has unsubscribed", permanent=True)
        links = self.links
        payload: Mapping[str, Any] = row["payload"]
        unsubscribe: str | None = None
        if event == CONFIRM_EVENT:
            token = links.confirm_token(org, subscriber_id, payload["nonce"])
            payload = {"confirm_url": links.confirm_url(org, token)}
        elif row["subscriber_confirmed_at"] is None:
            raise SendError("the subscriber has not confirmed", permanent=True)
        else:
            unsubscribe = links.unsubscribe_url(org, subscriber_id)
        if kind == "webhook":
            assert self._strangers is not None
            secret = links.webhook_secret(org, subscriber_id)
            if event == CONFIRM_EVENT:
                body = self._envelope(row, {**payload, "secret": secret})
            else:
                body = self._envelope(row, payload, unsubscribe_url=unsubscribe)
            headers = senders.webhook_headers(row["id"], event, body, secret)
            return await senders.post(self._strangers, address, body, headers)
        rendered = senders.render(org, event, payload, self.base_url, self.links.page_of(org))
        smtp = self.settings.smtp
        message = senders.build_email(
            smtp, [address], rendered, delivery_id=row["id"], event=event, unsubscribe=unsubscribe
        )
        return await senders.send_email(smtp, message)


_JSON_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json",
    "User-Agent": senders.USER_AGENT,
}


def _change_details(old: Channel, new: Channel) -> dict[str, Any]:
    """What the audit log says of a channel's change: each field from and to
    (a secret only as changed, by name, never its value)."""

    def shown(channel: Channel) -> dict[str, Any]:
        return {
            "name": channel.name,
            "config": shown_config(channel.kind, channel.config),
            "events": list(channel.events),
            "disabled": channel.disabled_at is not None,
        }

    before, after = shown(old), shown(new)
    changed = [k for k in before if before[k] != after[k]]
    out: dict[str, Any] = {
        "from": {k: before[k] for k in changed},
        "to": {k: after[k] for k in changed},
    }
    for name in sorted(SECRETS.get(old.kind, frozenset())):
        if old.config.get(name) != new.config.get(name):
            changed.append(name)
    out["changed"] = sorted(changed)
    return out
