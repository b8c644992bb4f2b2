"""Operational transform for plain text, sans-IO: the one module the server
and the bundled client both run (and that ``web/static/ot.js`` ports).

It imports nothing but the standard library, so the server's pure floors may
use it; it knows nothing of either side's errors: :class:`OTError` says what
is wrong with an operation, and the server turns it into a room's error code.

An operation is a list of components walking the whole document from start to
end:

* a positive ``int`` *retains* that many characters (keeps them, moves on);
* a ``str`` *inserts* that text here;
* a negative ``int`` *deletes* that many characters here.

Positions and lengths count Unicode code points (Python ``str`` indices; a
JavaScript client counts with ``Array.from(text)``, not ``text.length``). An
operation must cover the document exactly: the retained plus deleted
characters (its *base length*) equal the document's length. Example, on
``"Hello world"`` (11 characters)::

    [6, -5, "there"]      ->  "Hello there"
    [5, ",", 6]           ->  "Hello, world"

Normal form: no empty components, neighbours of one kind merged, and an insert
always before a delete at the same place, so that equal effects are equal
lists. The algorithms follow ot.js (Tim Baumann). In :func:`transform`, the
first operation's inserts go first when both insert at the same place: the
server always passes the incoming client operation first, and clients do the
same with their own pending operation, so every site breaks ties alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

Component: TypeAlias = int | str
Op: TypeAlias = list[Component]


class OTError(ValueError):
    """An operation is malformed or does not fit the document it is applied to."""


class TooManyComponents(OTError):
    """An operation with more components than the receiver takes."""


# ---------------------------------------------------------------------------
# building and checking


class _Builder:
    """Appends components in normal form (the ot.js TextOperation methods)."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: Op = []

    def retain(self, n: int) -> None:
        if n <= 0:
            return
        ops = self.ops
        last = ops[-1] if ops else None
        if isinstance(last, int) and last > 0:
            ops[-1] = last + n
        else:
            ops.append(n)

    def insert(self, text: str) -> None:
        if not text:
            return
        ops = self.ops
        last = ops[-1] if ops else None
        if isinstance(last, str):
            ops[-1] = last + text
        elif isinstance(last, int) and last < 0:
            # Insert before a delete at the same place (normal form).
            before = ops[-2] if len(ops) >= 2 else None
            if isinstance(before, str):
                ops[-2] = before + text
            else:
                ops.insert(len(ops) - 1, text)
        else:
            ops.append(text)

    def delete(self, n: int) -> None:
        if n <= 0:
            return
        ops = self.ops
        last = ops[-1] if ops else None
        if isinstance(last, int) and last < 0:
            ops[-1] = last - n
        else:
            ops.append(-n)


def normalize(op: Sequence[Component]) -> Op:
    """The same operation in normal form."""
    out = _Builder()
    for c in op:
        if isinstance(c, str):
            out.insert(c)
        elif c > 0:
            out.retain(c)
        else:
            out.delete(-c)
    return out.ops


def check(op: object, *, max_components: int = 10_000) -> Op:
    """``op`` as an operation, or OTError saying what is wrong with it."""
    if not isinstance(op, list):
        raise OTError("an operation is a list of components")
    if len(op) > max_components:
        raise TooManyComponents(f"an operation has at most {max_components} components")
    for i, c in enumerate(op):
        if type(c) is int:  # not isinstance: True is not a retain
            if c == 0:
                raise OTError(f"component {i} is 0: retain with n > 0, delete with -n < 0")
        elif type(c) is str:
            if not c:
                raise OTError(f"component {i} inserts nothing")
        else:
            raise OTError(f"component {i} must be an integer (retain/delete) or a string (insert)")
    return op


def lengths(op: Sequence[Component]) -> tuple[int, int]:
    """(base length, target length): the document's length before and after."""
    base = target = 0
    for c in op:
        if isinstance(c, str):
            target += len(c)
        elif c > 0:
            base += c
            target += c
        else:
            base -= c
    return base, target


def inserted(op: Sequence[Component]) -> int:
    """How many characters an operation inserts."""
    return sum(len(c) for c in op if isinstance(c, str))


def is_noop(op: Sequence[Component]) -> bool:
    return all(isinstance(c, int) and c > 0 for c in op)


# ---------------------------------------------------------------------------
# the algorithms


def apply(doc: str, op: Sequence[Component]) -> str:
    """The document after the operation; OTError if it does not fit."""
    base, _ = lengths(op)
    if base != len(doc):
        raise OTError(f"the operation covers {base} characters but the document has {len(doc)}")
    parts: list[str] = []
    at = 0
    for c in op:
        if isinstance(c, str):
            parts.append(c)
        elif c > 0:
            parts.append(doc[at : at + c])
            at += c
        else:
            at -= c
    return "".join(parts)


def _rest(c: Component, n: int, more: Iterator[Component]) -> Component | None:
    """What is left of component ``c`` after ``n`` characters of it, or the next one."""
    if isinstance(c, str):
        return c[n:] if n < len(c) else next(more, None)
    if c > 0:
        return c - n if n < c else next(more, None)
    return c + n if n < -c else next(more, None)


def _size(c: Component) -> int:
    return len(c) if isinstance(c, str) else abs(c)


def compose(a: Sequence[Component], b: Sequence[Component]) -> Op:
    """One operation with the effect of ``a`` then ``b``."""
    if lengths(a)[1] != lengths(b)[0]:
        raise OTError("cannot compose: the first operation's result is not the second's base")
    out = _Builder()
    ia, ib = iter(a), iter(b)
    x, y = next(ia, None), next(ib, None)
    while x is not None or y is not None:
        if isinstance(x, int) and x < 0:  # a deletes: b never saw it
            out.delete(-x)
            x = next(ia, None)
            continue
        if isinstance(y, str):  # b inserts: a never saw it
            out.insert(y)
            y = next(ib, None)
            continue
        if x is None or y is None:
            raise OTError("cannot compose: the operations do not line up")  # lengths checked
        n = min(_size(x), _size(y))
        if isinstance(x, str):
            if y > 0:  # inserted, then kept
                out.insert(x[:n])
            # inserted, then deleted: nothing
        elif y > 0:  # kept, kept
            out.retain(n)
        else:  # kept, then deleted
            out.delete(n)
        x, y = _rest(x, n, ia), _rest(y, n, ib)
    return out.ops


def transform(a: Sequence[Component], b: Sequence[Component]) -> tuple[Op, Op]:
    """For concurrent ``a`` and ``b`` on one document: ``(a', b')`` such that
    ``apply(apply(d, a), b') == apply(apply(d, b), a')``. Ties go to ``a``."""
    if lengths(a)[0] != lengths(b)[0]:
        raise OTError("cannot transform: the operations are not on the same document")
    a2, b2 = _Builder(), _Builder()
    ia, ib = iter(a), iter(b)
    x, y = next(ia, None), next(ib, None)
    while x is not None or y is not None:
        if isinstance(x, str):
            a2.insert(x)
            b2.retain(len(x))
            x = next(ia, None)
            continue
        if isinstance(y, str):
            a2.retain(len(y))
            b2.insert(y)
            y = next(ib, None)
            continue
        if x is None or y is None:
            raise OTError("cannot transform: the operations do not line up")
        n = min(abs(x), abs(y))
        if x > 0 and y > 0:
            a2.retain(n)
            b2.retain(n)
        elif x < 0 < y:  # a deletes what b keeps
            a2.delete(n)
        elif y < 0 < x:  # b deletes what a keeps
            b2.delete(n)
        # both delete it: nothing is left to do on either side
        x, y = _rest(x, n, ia), _rest(y, n, ib)
    return a2.ops, b2.ops


def invert(op: Sequence[Component], doc: str) -> Op:
    """The operation that undoes ``op`` applied to ``doc``."""
    if lengths(op)[0] != len(doc):
        raise OTError("cannot invert: the operation does not fit the document")
    out = _Builder()
    at = 0
    for c in op:
        if isinstance(c, str):
            out.delete(len(c))
        elif c > 0:
            out.retain(c)
            at += c
        else:
            out.insert(doc[at : at - c])
            at -= c
    return out.ops


def transform_index(index: int, op: Sequence[Component], *, own: bool = False) -> int:
    """Where a position (a cursor) is after ``op``.

    Text inserted exactly at the position pushes it along when the operation is
    the position's owner's own typing (``own``); someone else's insert there
    leaves it before the new text.
    """
    new = index
    left = index
    for c in op:
        if isinstance(c, str):
            if left == 0 and not own:
                break
            new += len(c)
        elif c > 0:
            left -= c
        else:
            new -= min(left, -c)
            left += c
        if left < 0:
            break
    return new


@dataclass(frozen=True, slots=True)
class Selection:
    """A cursor (``anchor == head``) or a selected range, in code points."""

    anchor: int
    head: int

    def transform(self, op: Sequence[Component], *, own: bool = False) -> Selection:
        return Selection(
            transform_index(self.anchor, op, own=own), transform_index(self.head, op, own=own)
        )


# ---------------------------------------------------------------------------
# the client's side


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An operation to send: its base revision and the client's id for it."""

    rev: int
    op: Op
    client_op_id: int


class OTClient:
    """The client state machine (ot.js ``Client``), sans-IO.

    * synchronized: nothing unacknowledged;
    * awaiting confirm: one operation sent, not yet acknowledged;
    * awaiting with buffer: one sent, and later local edits composed into one
      buffered operation, sent when the first is acknowledged.

    Feed it local edits (:meth:`local`), the server's operations
    (:meth:`remote`) and acknowledgements (:meth:`ack`); send what it returns.
    After a reconnect, :meth:`resend` gives the unacknowledged operation again
    with the same ``client_op_id``, which the server acknowledges without
    applying it twice if it already had it.

    One ``OTClient`` is one editing session: its operation ids start at 1, so
    a new session needs a new ``client_id`` (reusing one would have the server
    take the new operations for resends of old ones). A session that must
    start again from the room's text keeps its ids going: :meth:`restart`.
    """

    def __init__(
        self,
        rev: int,
        text: str = "",
        next_id: int = 1,
        *,
        fits: Callable[[Op], bool] | None = None,
    ) -> None:
        self.rev = rev  # the server revision this client has seen
        self.text = text
        self.outstanding: Outgoing | None = None
        self.buffer: Op | None = None
        # With ``fits`` (what the server takes in one operation), local edits
        # are composed only while the result fits; the rest wait here, in order,
        # each sent in turn after the buffer.
        self.queued: list[Op] = []
        self._fits = fits
        self._next_id = next_id

    def restart(self, rev: int, text: str) -> OTClient:
        """The same session from a fresh snapshot: unacknowledged edits are
        dropped, and operation ids go on from where they were."""
        return OTClient(rev, text, self._next_id, fits=self._fits)

    @property
    def unacknowledged(self) -> int:
        """Operations not yet acknowledged: in flight, buffered and queued."""
        return (self.outstanding is not None) + (self.buffer is not None) + len(self.queued)

    @property
    def state(self) -> str:
        if self.outstanding is None:
            return "synchronized"
        return "awaiting_confirm" if self.buffer is None else "awaiting_with_buffer"

    def _send(self, op: Op) -> Outgoing:
        out = Outgoing(self.rev, op, self._next_id)
        self._next_id += 1
        self.outstanding = out
        return out

    def local(self, op: Op) -> Outgoing | None:
        """A local edit, already applied by the caller's editor: what to send now, if anything."""
        op = normalize(op)  # the form the server keeps; transforms read it in order
        self.text = apply(self.text, op)
        if self.outstanding is None:
            return self._send(op)
        if self.buffer is None:
            self.buffer = op
            return None
        last = self.queued[-1] if self.queued else self.buffer
        merged = compose(last, op)
        if self._fits is not None and not self._fits(merged):
            self.queued.append(op)  # composed, it would be more than one operation may be
        elif self.queued:
            self.queued[-1] = merged
        else:
            self.buffer = merged
        return None

    def remote(self, op: Op) -> Op:
        """Someone else's operation from the server: what to apply locally."""
        if self.outstanding is not None:
            mine, op = transform(self.outstanding.op, op)
            self.outstanding = Outgoing(self.outstanding.rev, mine, self.outstanding.client_op_id)
            if self.buffer is not None:
                self.buffer, op = transform(self.buffer, op)
            for i, queued in enumerate(self.queued):
                self.queued[i], op = transform(queued, op)
        self.rev += 1
        self.text = apply(self.text, op)
        return op

    def ack(self, rev: int | None = None) -> Outgoing | None:
        """The server applied our outstanding operation: what to send next, if anything.

        ``rev`` is the revision the acknowledgement names: one this client has
        already seen (a resent operation confirmed again) is ignored.
        """
        if rev is not None and rev <= self.rev:
            return None
        if self.outstanding is None:
            raise OTError("an acknowledgement with nothing outstanding")
        self.rev += 1
        self.outstanding = None
        if self.buffer is not None:
            buffer, self.buffer = self.buffer, (self.queued.pop(0) if self.queued else None)
            return self._send(buffer)
        return None

    def resend(self) -> Outgoing | None:
        """After a reconnect: the unacknowledged operation, based on the revision we know."""
        if self.outstanding is None:
            return None
        self.outstanding = Outgoing(self.rev, self.outstanding.op, self.outstanding.client_op_id)
        return self.outstanding
