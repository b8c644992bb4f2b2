"""Shared strategies and helpers for the OT tests (no tests here).

Texts are built from *pieces* rather than single characters so that
multi-code-point sequences (a ZWJ flag, an emoji with a skin-tone modifier,
``e`` + combining acute, decomposed Hangul) appear whole as well as split:
operations count code points, so any of them may be cut in the middle, and
the algorithms must not care.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from switchboard_ot import Component, Op, apply

ASCII: tuple[str, ...] = tuple("abcxyz \n")
ASTRAL: tuple[str, ...] = (
    "😀",  # U+1F600, one code point outside the BMP
    "🏳️‍🌈",  # U+1F3F3 U+FE0F U+200D U+1F308: four code points, one glyph
    "𝔘",  # U+1D518 MATHEMATICAL FRAKTUR CAPITAL U
    "👍🏽",  # U+1F44D U+1F3FD: emoji + skin tone modifier
)
CJK: tuple[str, ...] = ("漢", "字", "か", "な", "カ")
COMBINING: tuple[str, ...] = (
    "e\u0301",  # e + COMBINING ACUTE ACCENT
    "\u0301",  # a lone combining mark
    "\u1100\u1161\u11a8",  # Hangul jamo: choseong kiyeok, jungseong a, jongseong kiyeok
    "\u1112\u1161",  # jamo for 하, decomposed
)
PIECES: tuple[str, ...] = ASCII + ASTRAL + CJK + COMBINING
UNICODE: tuple[str, ...] = ASTRAL + CJK + COMBINING + ("a", " ")

# Hypothesis profile for this directory: no example database on disk, no deadline
# (a TextBuffer example may edit documents several CHUNKs long).
LAWS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(LAWS, max_examples=60)


def texts(
    pieces: Sequence[str] = PIECES, *, min_pieces: int = 0, max_pieces: int = 12
) -> st.SearchStrategy[str]:
    """Text made of whole pieces (its code-point length varies per piece)."""
    return st.lists(st.sampled_from(pieces), min_size=min_pieces, max_size=max_pieces).map("".join)


def insert_texts(pieces: Sequence[str] = PIECES) -> st.SearchStrategy[str]:
    return texts(pieces, min_pieces=1, max_pieces=4)


@st.composite
def ops_on(draw: st.DrawFn, doc: str, pieces: Sequence[str] = PIECES, max_inserts: int = 6) -> Op:
    """A random valid operation on ``doc``: retains, inserts and deletes in any order
    (not necessarily in normal form: neighbours of a kind, an insert after a
    delete), covering exactly ``len(doc)`` code points."""
    n = len(doc)
    op: Op = []
    at = 0
    inserts = 0
    while at < n:
        kind = draw(st.sampled_from("rrdi" if inserts < max_inserts else "rd"))
        if kind == "i":
            op.append(draw(insert_texts(pieces)))
            inserts += 1
            continue
        size = draw(st.integers(1, n - at))
        op.append(size if kind == "r" else -size)
        at += size
    if inserts < max_inserts and draw(st.booleans()):
        op.append(draw(insert_texts(pieces)))
    return op


@st.composite
def doc_and_op(draw: st.DrawFn, pieces: Sequence[str] = PIECES) -> tuple[str, Op]:
    doc = draw(texts(pieces))
    return doc, draw(ops_on(doc, pieces))


@st.composite
def doc_and_ops(
    draw: st.DrawFn, count: int, pieces: Sequence[str] = PIECES
) -> tuple[str, list[Op]]:
    """A document and ``count`` independent (concurrent) operations on it."""
    doc = draw(texts(pieces))
    return doc, [draw(ops_on(doc, pieces)) for _ in range(count)]


@st.composite
def doc_and_chain(
    draw: st.DrawFn, count: int, pieces: Sequence[str] = PIECES
) -> tuple[str, list[Op]]:
    """A document and ``count`` operations each made on the previous one's result."""
    doc = draw(texts(pieces))
    ops: list[Op] = []
    now = doc
    for _ in range(count):
        op = draw(ops_on(now, pieces))
        ops.append(op)
        now = apply(now, op)
    return doc, ops


def is_normal(op: Sequence[Component]) -> bool:
    """No empty components, no two neighbours of one kind, no insert right after a delete."""

    def kind(c: Component) -> str:
        if isinstance(c, str):
            return "i"
        return "r" if c > 0 else "d"

    for i, c in enumerate(op):
        if type(c) is str:
            if not c:
                return False
        elif type(c) is int:
            if c == 0:
                return False
        else:
            return False
        if i and kind(op[i - 1]) == kind(c):
            return False
        if i and kind(op[i - 1]) == "d" and kind(c) == "i":
            return False
    return True


def random_text(rng: random.Random, pieces: Sequence[str], max_pieces: int = 4) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, max_pieces)))


def random_op(
    rng: random.Random,
    doc: str,
    pieces: Sequence[str] = PIECES,
    *,
    max_len: int = 80,
    max_run: int = 8,
) -> Op:
    """A random valid operation on ``doc`` for the simulations (seeded, not hypothesis).

    Mostly the small edits people make (type at one place, delete a range,
    replace a selection), sometimes a scattered multi-component edit; leans to
    deleting once the document passes ``max_len`` code points.
    """
    n = len(doc)
    shape = rng.random()
    if shape < 0.75 or n == 0:
        pos = rng.randint(0, n)
        grow = n < max_len
        gone = 0
        if n > pos and (rng.random() < (0.35 if grow else 0.8)):
            gone = rng.randint(1, min(max_run, n - pos))
        text = random_text(rng, pieces) if (gone == 0 or rng.random() < 0.3) else ""
        if not grow and gone == 0 and n > pos:
            gone = 1
        op: Op = []
        if pos:
            op.append(pos)
        if text:
            op.append(text)
        if gone:
            op.append(-gone)
        if n - pos - gone:
            op.append(n - pos - gone)
        return op
    # scattered: walk the document
    op = []
    at = 0
    while at < n:
        size = rng.randint(1, min(max_run, n - at))
        r = rng.random()
        if r < 0.55:
            op.append(size)
        elif r < 0.8:
            op.append(-size)
        else:
            op.append(random_text(rng, pieces, 2))
            continue
        at += size
    if rng.random() < 0.3:
        op.append(random_text(rng, pieces, 2))
    return op
