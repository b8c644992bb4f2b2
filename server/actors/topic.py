"""A topic: its subscribers, its seq, and the recent frames kept for resuming.

The owning actor publishes a frame once, already encoded and framed; the
topic hands the same bytes to every subscriber's non-blocking ``send_frame``.
A subscriber that cannot keep up closes itself; the loop never waits.

This is the seam for running several nodes: a broker would carry
``(topic, seq, frame)`` triples between ``publish`` and remote subscribers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol


class Subscriber(Protocol):
    def send_frame(self, frame: bytes) -> None: ...


Frame = bytes | Callable[[], bytes]  # the bytes, or how to make them when needed


def _bytes(frame: Frame) -> bytes:
    return frame if isinstance(frame, bytes) else frame()


class Flow:
    """What the topics of one kind published since the process started: events,
    and the writes (deliveries) and bytes handed to their subscribers. Counted
    once per publish, not per subscriber: the fan-out loop stays as it was."""

    __slots__ = ("bytes", "deliveries", "events")

    def __init__(self) -> None:
        self.events = 0
        self.deliveries = 0
        self.bytes = 0


#: By topic kind (``status``, ``org``, ``room``, ``probe``), for the whole process.
FLOWS: dict[str, Flow] = {}


def flow_of(kind: str) -> Flow:
    found = FLOWS.get(kind)
    if found is None:
        found = FLOWS[kind] = Flow()
    return found


class Topic:
    __slots__ = ("flow", "name", "ring", "seq", "subscribers")

    def __init__(self, name: str, *, ring_size: int, seq: int = 0) -> None:
        self.name = name
        self.flow = flow_of(name.partition(":")[0])
        self.seq = seq
        self.subscribers: dict[Subscriber, None] = {}  # insertion-ordered set
        self.ring: deque[tuple[int, Frame]] = deque(maxlen=ring_size)

    def publish(self, items: list[tuple[int, bytes]]) -> None:
        """Deliver consecutive events' frames: one write per subscriber for all of them.

        Each ``(seq, frame)`` must follow the topic's last seq. The frames of one
        commit are joined once, so a subscriber costs one send however many
        events the commit made.
        """
        if not items:
            return
        for seq, frame in items:
            if seq != self.seq + 1:
                raise ValueError(f"{self.name}: seq {seq} after {self.seq}")  # our bug
            self.seq = seq
            self.ring.append((seq, frame))
        data = items[0][1] if len(items) == 1 else b"".join(frame for _, frame in items)
        subscribers = self.subscribers
        flow = self.flow
        flow.events += len(items)
        flow.deliveries += len(subscribers)
        flow.bytes += len(subscribers) * len(data)
        # A subscriber never leaves during this loop: closing only marks it,
        # and it is removed by its own task afterwards.
        for subscriber in subscribers:
            subscriber.send_frame(data)

    def publish_with_acks(
        self,
        items: Sequence[tuple[int, Frame, Subscriber | None, bytes | None]],
        *,
        keep: bool = True,
    ) -> None:
        """Like :meth:`publish`, but each item's author gets its ack in its place.

        ``(seq, frame, author, ack)``: subscribers who wrote none of the items
        share one buffer; an author gets the same sequence with ``ack``
        instead of ``frame`` for its own items, so it learns the order in
        which its changes were applied among the others'. A frame may be a
        function making it: it is called only if someone needs the bytes
        (the ring keeps it for later otherwise). ``keep=False``: the owner
        replays from its own history, so the ring keeps nothing.
        """
        if not items:
            return
        for seq, frame, _, _ in items:
            if seq != self.seq + 1:
                raise ValueError(f"{self.name}: seq {seq} after {self.seq}")  # our bug
            self.seq = seq
            if keep:
                self.ring.append((seq, frame))
        authors = {author for _, _, author, _ in items if author is not None}
        made: list[bytes] | None = None
        shared: bytes | None = None
        own = others = 0  # bytes written to authors; how many others got ``shared``
        for subscriber in self.subscribers:
            if subscriber in authors and all(a is subscriber for _, _, a, _ in items):
                # Only its own items: acks alone, no event frame needed.
                acks = b"".join(ack or b"" for _, _, _, ack in items)
                own += len(acks)
                subscriber.send_frame(acks)
                continue
            if made is None:
                made = [_bytes(frame) for _, frame, _, _ in items]
            if subscriber in authors:
                mixed = b"".join(
                    ack if author is subscriber and ack is not None else frame
                    for frame, (_, _, author, ack) in zip(made, items, strict=True)
                )
                own += len(mixed)
                subscriber.send_frame(mixed)
            else:
                if shared is None:
                    shared = b"".join(made)
                others += 1
                subscriber.send_frame(shared)
        flow = self.flow
        flow.events += len(items)
        flow.deliveries += len(self.subscribers)
        flow.bytes += own + (others * len(shared) if shared is not None else 0)

    def remember(self, seq: int, frame: bytes) -> None:
        """Put an already-delivered frame back in the ring (when an actor restarts)."""
        if not self.ring or seq > self.ring[-1][0]:
            self.ring.append((seq, frame))
            self.seq = max(self.seq, seq)

    def since(self, seq: int) -> list[bytes] | None:
        """The frames after ``seq``, or None when they are no longer all kept."""
        if seq == self.seq:
            return []
        if seq > self.seq or not self.ring or self.ring[0][0] > seq + 1:
            return None
        return [_bytes(frame) for s, frame in self.ring if s > seq]

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber] = None

    def discard(self, subscriber: Subscriber) -> None:
        self.subscribers.pop(subscriber, None)
