"""Token buckets: one per connection for its messages, one per client address for
the public endpoints, WebSocket connects and logins.

A bucket holds up to ``burst`` tokens and refills at ``rate`` a second; each
request takes one. When it is empty the answer says how long until the next
token, which becomes ``Retry-After`` (REST) or the ``retry_after_ms`` of a
``rate_limited`` error (WebSocket).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence

import trio


class Bucket:
    """One token bucket. ``take`` answers 0.0 when allowed, else the seconds to wait."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> float:
        if self.rate <= 0:
            return 0.0  # the limit is off
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens < cost:
            self.tokens = tokens
            return (cost - tokens) / self.rate if self.rate > 0 else math.inf
        self.tokens = tokens - cost
        return 0.0

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class KeyedBuckets:
    """A bucket per key (a client address, an account), bounded in number.

    Full buckets carry no information, so when there are more than ``max_keys``
    they are dropped; if that is not enough (a flood from very many addresses)
    the oldest are dropped, which can only make the limit more lenient.
    """

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: dict[str, Bucket] = {}

    def take(self, key: str, now: float | None = None, cost: float = 1.0) -> float:
        """0.0 if ``key`` may go ahead, else the seconds until it may."""
        if now is None:
            now = trio.current_time()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._shed(now)
            bucket = self.buckets[key] = Bucket(self.rate, self.burst, now)
        return bucket.take(now, cost)

    def _shed(self, now: float) -> None:
        for key in [k for k, b in self.buckets.items() if b.full(now)]:
            del self.buckets[key]
        excess = len(self.buckets) - self.max_keys // 2
        if excess > 0:
            for key in list(self.buckets)[:excess]:
                del self.buckets[key]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` → networks; a bad entry raises ValueError."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is read from the right, skipping
    the proxies themselves; the first address that is not one is the client.
    Anything a client could have written itself (further left) is ignored.
    """
    if not trusted or not forwarded_for or not _within(peer, trusted):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if not hop:
            continue
        if not _within(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: trust the socket
    return peer


def trusted_peer(peer: str, trusted: Sequence[Network]) -> bool:
    """Whether the peer is one of the trusted proxies (whose forwarded headers
    are believed)."""
    return bool(trusted) and _within(peer, trusted)


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
