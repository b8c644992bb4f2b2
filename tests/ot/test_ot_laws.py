"""The laws of switchboard_ot, checked on random documents and operations.

Documents mix ASCII, astral-plane characters (emoji, a ZWJ flag, Fraktur),
CJK and combining sequences; operations are random valid ones, not always in
normal form (see ot_support.ops_on).
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ot_support import (
    ASCII,
    ASTRAL,
    CJK,
    COMBINING,
    FEW,
    LAWS,
    PIECES,
    doc_and_chain,
    doc_and_op,
    doc_and_ops,
    insert_texts,
    is_normal,
    ops_on,
    texts,
)
from switchboard_ot import (
    Op,
    OTClient,
    OTError,
    Selection,
    apply,
    check,
    compose,
    inserted,
    invert,
    is_noop,
    lengths,
    normalize,
    transform,
    transform_index,
)

from server.domain import text_buffer
from server.domain.text_buffer import CHUNK, TextBuffer

TRACES = Path("/work/shared/traces")


def deleted(op: Op) -> int:
    return sum(-c for c in op if isinstance(c, int) and c < 0)


# ---------------------------------------------------------------------------
# apply, lengths, inserted


def test_apply_docstring_examples() -> None:
    assert apply("Hello world", [6, -5, "there"]) == "Hello there"
    assert apply("Hello world", [5, ",", 6]) == "Hello, world"
    assert apply("", []) == ""
    assert apply("", ["abc"]) == "abc"
    assert apply("abc", [-3]) == ""


def test_positions_count_code_points_not_utf16_units_or_graphemes() -> None:
    flag = "🏳️‍🌈"
    assert len(flag) == 4  # U+1F3F3 U+FE0F U+200D U+1F308
    assert apply("a😀b", [1, -1, 1]) == "ab"  # one code point, two UTF-16 units
    assert apply("a𝔘b", [2, "c", 1]) == "a𝔘cb"
    assert apply(f"a{flag}b", [1, -4, 1]) == "ab"
    # An operation may cut a grapheme cluster: the engine counts code points only.
    assert apply(f"a{flag}b", [2, "x", 4]) == "a\U0001f3f3x\ufe0f\u200d\U0001f308b"
    assert apply("e\u0301", [1, -1]) == "e"
    assert apply("\u1100\u1161\u11a8", [2, -1]) == "\u1100\u1161"
    assert lengths(["😀🏳️‍🌈"]) == (0, 5)
    assert inserted(["漢字", 3, "かな"]) == 4


@LAWS
@given(doc_and_op())
def test_apply_fits_exactly_and_lengths_agree(case: tuple[str, Op]) -> None:
    doc, op = case
    base, target = lengths(op)
    assert base == len(doc)
    out = apply(doc, op)
    assert len(out) == target
    assert inserted(op) == sum(len(c) for c in op if isinstance(c, str))
    assert target == base - deleted(op) + inserted(op)
    assert check(op) is op


@LAWS
@given(doc_and_op(), insert_texts())
def test_apply_rejects_a_wrong_base_length(case: tuple[str, Op], extra: str) -> None:
    doc, op = case
    with pytest.raises(OTError):
        apply(doc + extra, op)
    with pytest.raises(OTError):
        apply(doc, [*op, len(extra)])
    with pytest.raises(OTError):
        apply(doc, [*op, -len(extra)])
    if doc:
        with pytest.raises(OTError):
            apply(doc[:-1], op)


@LAWS
@given(texts())
def test_retain_everything_is_the_identity(doc: str) -> None:
    op = [len(doc)] if doc else []
    assert is_noop(op)
    assert apply(doc, op) == doc
    assert not is_noop(["x"])
    assert not is_noop([-1])


# ---------------------------------------------------------------------------
# normalize and check


def test_normalize_examples() -> None:
    assert normalize([1, 2, "a", "b", -1, -2]) == [3, "ab", -3]
    assert normalize([-1, "x"]) == ["x", -1]  # insert before delete at one place
    assert normalize(["a", -1, "b"]) == ["ab", -1]
    assert normalize([2, -1, "x", -1, "y", 3]) == [2, "xy", -2, 3]
    assert normalize([0, "", 2, ""]) == [2]
    assert normalize([]) == []


@LAWS
@given(doc_and_op())
def test_normalize_is_idempotent_and_keeps_the_effect(case: tuple[str, Op]) -> None:
    doc, op = case
    before = copy.deepcopy(op)
    n = normalize(op)
    assert op == before  # the input is not touched
    assert is_normal(n)
    assert normalize(n) == n
    assert apply(doc, n) == apply(doc, op)
    assert lengths(n) == lengths(op)
    assert inserted(n) == inserted(op)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param([True], id="bool-true"),
        pytest.param([False], id="bool-false"),
        pytest.param([3, True, "x"], id="bool-among-others"),
        pytest.param([0], id="zero"),
        pytest.param([2, 0, -1], id="zero-among-others"),
        pytest.param([""], id="empty-insert"),
        pytest.param([1, "", 1], id="empty-insert-among-others"),
        pytest.param([1.0], id="float-retain"),
        pytest.param([-1.0], id="float-delete"),
        pytest.param([float("nan")], id="nan"),
        pytest.param([None], id="none"),
        pytest.param([[1]], id="nested-list"),
        pytest.param([b"x"], id="bytes"),
        pytest.param([{"i": "x"}], id="dict"),
    ],
)
def test_check_rejects_malformed_components(bad: Op) -> None:
    with pytest.raises(OTError):
        check(bad)


@pytest.mark.parametrize("bad", [(1,), "abc", {"ops": [1]}, None, 5, b"ab"], ids=repr)
def test_check_rejects_non_lists(bad: object) -> None:
    with pytest.raises(OTError, match="list"):
        check(bad)


def test_check_limits_the_number_of_components() -> None:
    ok = [1, -1] * 5
    assert check(ok, max_components=10) is ok
    with pytest.raises(OTError, match="at most 10"):
        check([*ok, "x"], max_components=10)
    assert check([1] * 10_000) is not None  # the default limit
    with pytest.raises(OTError, match="at most"):
        check([1] * 10_001)


def test_check_accepts_the_empty_operation_and_returns_its_argument() -> None:
    op: Op = []
    assert check(op) is op


@LAWS
@given(doc_and_op())
def test_check_accepts_every_valid_operation(case: tuple[str, Op]) -> None:
    _, op = case
    assert check(op) is op
    assert check(normalize(op)) == normalize(op)


# ---------------------------------------------------------------------------
# transform


@LAWS
@given(doc_and_ops(2))
def test_transform_converges_tp1(case: tuple[str, list[Op]]) -> None:
    doc, (a, b) = case
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    a2, b2 = transform(a, b)
    assert (a, b) == (a_before, b_before)  # inputs untouched
    after_a, after_b = apply(doc, a), apply(doc, b)
    assert lengths(a2)[0] == len(after_b)
    assert lengths(b2)[0] == len(after_a)
    assert apply(after_a, b2) == apply(after_b, a2)
    assert is_normal(a2), a2
    assert is_normal(b2), b2
    # Each transformed op keeps its own inserts and never deletes more.
    assert inserted(a2) == inserted(a)
    assert inserted(b2) == inserted(b)
    assert deleted(a2) <= deleted(a)
    assert deleted(b2) <= deleted(b)


@LAWS
@given(doc_and_ops(2))
def test_transform_the_other_way_round_converges_too(case: tuple[str, list[Op]]) -> None:
    doc, (a, b) = case
    b2, a2 = transform(b, a)
    assert apply(apply(doc, a), b2) == apply(apply(doc, b), a2)


@LAWS
@given(
    texts(),
    st.data(),
    insert_texts(ASCII),
    insert_texts(CJK + ASTRAL),
)
def test_transform_tie_break_first_operation_inserts_first(
    doc: str, data: st.DataObject, x: str, y: str
) -> None:
    pos = data.draw(st.integers(0, len(doc)))

    def insert_at(text: str) -> Op:
        return normalize([pos, text, len(doc) - pos])

    a, b = insert_at(x), insert_at(y)
    a2, b2 = transform(a, b)
    assert apply(apply(doc, a), b2) == doc[:pos] + x + y + doc[pos:]
    assert apply(apply(doc, b), a2) == doc[:pos] + x + y + doc[pos:]
    b3, _ = transform(b, a)
    assert apply(apply(doc, a), b3) == doc[:pos] + y + x + doc[pos:]


def test_transform_tie_break_with_replacements_in_normal_form() -> None:
    # Both replace the same character: a's text first, the character gone once.
    a, b = normalize([1, -1, "A", 1]), normalize([1, -1, "B", 1])
    assert a == [1, "A", -1, 1]
    a2, b2 = transform(a, b)
    assert apply(apply("xyz", a), b2) == "xABz"
    assert apply(apply("xyz", b), a2) == "xABz"


# transform reads components in order, so its tie-break ("the first operation's
# inserts go first") is stated for operations in normal form. Every site keeps that
# form: the server's validate() and OTClient.local() normalize what they are given.
def test_the_tie_break_holds_for_what_the_server_and_clients_keep() -> None:
    from server.domain.room import RoomLimits, validate

    a: Op = [-1, "A"]  # replace "c" by "A", written delete-then-insert
    b: Op = ["B", 1]
    kept = validate(a, RoomLimits())
    assert kept == ["A", -1]
    assert apply(apply("c", kept), transform(kept, b)[1]) == "AB"
    client = OTClient(0, "c")
    sent = client.local(a)
    assert sent is not None and sent.op == kept


def test_transform_rejects_operations_on_different_documents() -> None:
    with pytest.raises(OTError):
        transform([1], [2])
    with pytest.raises(OTError):
        transform(["x"], [-1])


@LAWS
@given(doc_and_chain(2), st.data())
def test_transform_against_a_sequence_converges(
    case: tuple[str, list[Op]], data: st.DataObject
) -> None:
    """What OTClient does with outstanding then buffer against one remote op (and
    the server with a late op against several): transform one by one, passing
    the transformed other on."""
    doc, (a1, a2) = case
    b = data.draw(ops_on(doc))
    a1p, b1 = transform(a1, b)
    a2p, b2 = transform(a2, b1)
    mine = apply(apply(apply(doc, a1), a2), b2)
    theirs = apply(apply(apply(doc, b), a1p), a2p)
    assert mine == theirs
    # ... and the buffer composed afterwards has the same effect.
    assert apply(apply(doc, b), compose(a1p, a2p)) == theirs


# ---------------------------------------------------------------------------
# compose


@LAWS
@given(doc_and_chain(2))
def test_compose_has_the_effect_of_both(case: tuple[str, list[Op]]) -> None:
    doc, (a, b) = case
    ab = compose(a, b)
    assert apply(doc, ab) == apply(apply(doc, a), b)
    assert is_normal(ab), ab
    assert lengths(ab) == (lengths(a)[0], lengths(b)[1])


@LAWS
@given(doc_and_chain(3))
def test_compose_is_associative(case: tuple[str, list[Op]]) -> None:
    doc, (a, b, c) = case
    left = compose(compose(a, b), c)
    right = compose(a, compose(b, c))
    assert apply(doc, left) == apply(doc, right) == apply(apply(apply(doc, a), b), c)
    assert left == right  # both in normal form, so even the lists agree


@LAWS
@given(doc_and_op())
def test_compose_with_identity_or_inverse(case: tuple[str, Op]) -> None:
    doc, op = case
    out = apply(doc, op)
    ident_before = [len(doc)] if doc else []
    ident_after = [len(out)] if out else []
    assert compose(ident_before, op) == normalize(op)
    assert compose(op, ident_after) == normalize(op)
    undo = compose(op, invert(op, doc))
    assert apply(doc, undo) == doc


def test_compose_rejects_operations_that_do_not_line_up() -> None:
    with pytest.raises(OTError):
        compose([1, "x"], [2, 1])
    with pytest.raises(OTError):
        compose(["ab"], [1])


# ---------------------------------------------------------------------------
# invert


@LAWS
@given(doc_and_op())
def test_invert_undoes_and_inverts_back(case: tuple[str, Op]) -> None:
    doc, op = case
    out = apply(doc, op)
    inv = invert(op, doc)
    assert apply(out, inv) == doc
    assert is_normal(inv)
    assert lengths(inv) == tuple(reversed(lengths(op)))
    assert inserted(inv) == deleted(op)
    assert invert(inv, out) == normalize(op)


def test_invert_rejects_a_document_it_does_not_fit() -> None:
    with pytest.raises(OTError):
        invert([1, -1], "abc")


# ---------------------------------------------------------------------------
# transform_index and Selection


def test_transform_index_insert_at_the_cursor() -> None:
    op: Op = [2, "😀漢", 3]
    assert transform_index(2, op, own=True) == 4  # own typing pushes the cursor along
    assert transform_index(2, op, own=False) == 2  # someone else's stays after the cursor
    assert transform_index(2, op) == 2  # own defaults to False
    assert transform_index(1, op) == 1
    assert transform_index(3, op) == 5
    assert transform_index(0, ["🏳️‍🌈", 1]) == 0
    assert transform_index(0, ["🏳️‍🌈", 1], own=True) == 4
    assert transform_index(1, [1, "x"]) == 1  # at the end of the document
    assert transform_index(1, [1, "x"], own=True) == 2


def test_transform_index_inside_deleted_text_goes_to_the_deletion_point() -> None:
    op = [2, -3, 1]  # "abcdef" -> "abf"
    assert [transform_index(i, op) for i in range(7)] == [0, 1, 2, 2, 2, 2, 3]
    assert [transform_index(i, op, own=True) for i in range(7)] == [0, 1, 2, 2, 2, 2, 3]


@FEW
@given(st.data())
def test_transform_index_follows_the_characters(data: st.DataObject) -> None:
    # Distinct document characters (CJK ideographs), inserts from other alphabets.
    size = data.draw(st.integers(0, 25))
    doc = "".join(chr(0x4E00 + i) for i in range(size))
    op = data.draw(ops_on(doc, ASCII + ASTRAL + COMBINING))
    out = apply(doc, op)
    kept = set(out) & set(doc)
    previous = 0
    for i in range(len(doc) + 1):
        mine = transform_index(i, op, own=True)
        theirs = transform_index(i, op, own=False)
        assert 0 <= theirs <= mine <= len(out)
        assert theirs >= previous  # positions keep their order
        previous = mine
        # Between the two there is only inserted text.
        assert not set(out[theirs:mine]) & set(doc)
        if i < len(doc) and doc[i] in kept:
            # A kept character: a cursor before it is still right before it.
            assert out[mine] == doc[i]
            assert transform_index(i, normalize(op), own=True) == mine


@LAWS
@given(doc_and_op())
def test_transform_index_deletion_point_in_normal_form(case: tuple[str, Op]) -> None:
    doc, raw = case
    op = normalize(raw)
    out = apply(doc, op)
    at = written = 0
    for c in op:
        if isinstance(c, str):
            written += len(c)
        elif c > 0:
            at += c
            written += c
        else:
            # Anywhere inside the deleted run, or right after it: the deletion point.
            for i in range(at + 1, at - c + 1):
                for own in (False, True):
                    assert transform_index(i, op, own=own) == written
            at -= c
    for i in range(len(doc) + 1):
        for own in (False, True):
            assert 0 <= transform_index(i, op, own=own) <= len(out)


@LAWS
@given(doc_and_op(), st.data())
def test_selection_transforms_both_ends(case: tuple[str, Op], data: st.DataObject) -> None:
    doc, op = case
    anchor = data.draw(st.integers(0, len(doc)))
    head = data.draw(st.integers(0, len(doc)))
    own = data.draw(st.booleans())
    moved = Selection(anchor, head).transform(op, own=own)
    assert moved == Selection(
        transform_index(anchor, op, own=own), transform_index(head, op, own=own)
    )
    if anchor <= head:
        assert moved.anchor <= moved.head
    else:
        assert moved.anchor >= moved.head
    assert Selection(anchor, anchor).transform(op, own=own).anchor == moved.anchor


def test_selection_examples() -> None:
    sel = Selection(1, 4)  # "b😀d" selected in "ab😀de"
    assert sel.transform([1, "X", 4]) == Selection(1, 5)  # theirs at the anchor: stays out
    assert sel.transform([1, "X", 4], own=True) == Selection(2, 5)
    assert sel.transform([4, "Y", 1]) == Selection(1, 4)  # theirs at the head: stays out
    assert sel.transform([4, "Y", 1], own=True) == Selection(1, 5)
    assert sel.transform([-5]) == Selection(0, 0)
    assert Selection(4, 1).transform([2, -2, 1]) == Selection(2, 1)


# ---------------------------------------------------------------------------
# TextBuffer


def buffer_invariants(buf: TextBuffer) -> None:
    """The chunks it keeps: none over twice CHUNK, none empty but a sole one."""
    chunks = buf.chunks
    assert chunks
    assert all(chunks) or chunks == ("",)
    assert max(len(c) for c in chunks) <= 2 * text_buffer.CHUNK
    assert sum(len(c) for c in chunks) == len(buf)


SIZES = [1, 2, 7, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK + 5]


@st.composite
def big_op(draw: st.DrawFn, n: int) -> Op:
    """A valid operation on a document of ``n`` code points, with runs that may be
    several CHUNKs long: deletions across chunk boundaries, huge inserts."""
    if n and draw(st.integers(0, 9)) == 0:
        # delete everything (sometimes replacing it)
        everything: Op = [draw(st.sampled_from(PIECES)) * draw(st.sampled_from(SIZES)), -n]
        return everything[draw(st.integers(0, 1)) :]
    op: Op = []
    at = 0
    inserts = 0
    while at < n:
        kind = draw(st.sampled_from("rrdi" if inserts < 3 else "rd"))
        if kind == "i":
            piece = draw(st.sampled_from(PIECES))
            op.append(piece * draw(st.sampled_from(SIZES) | st.integers(1, 3 * CHUNK)))
            inserts += 1
            continue
        size = draw(st.sampled_from([s for s in SIZES if s <= n - at]) | st.integers(1, n - at))
        op.append(size if kind == "r" else -size)
        at += size
    if draw(st.booleans()):
        op.append(draw(st.sampled_from(PIECES)) * draw(st.sampled_from(SIZES)))
    return op


@st.composite
def big_docs(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([0, 5, CHUNK, 2 * CHUNK + 3, 5 * CHUNK + 11, 9 * CHUNK]))
    # Varied content, so a misplaced splice shows.
    return "".join(PIECES[(i * 7 + i // 13) % len(PIECES)] for i in range(size))[:size]


@FEW
@given(big_docs(), st.data())
def test_text_buffer_matches_apply(doc: str, data: st.DataObject) -> None:
    buf = TextBuffer(doc)
    assert str(buf) == doc
    assert len(buf) == len(doc)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(big_op(len(doc)))
        doc = apply(doc, op)
        buf.apply(op)
        assert len(buf) == len(doc)
        if data.draw(st.booleans()):  # sometimes read in between, sometimes not
            assert str(buf) == doc
        buffer_invariants(buf)
    assert str(buf) == doc


@FEW
@given(st.integers(1, 5), doc_and_chain(8, PIECES))
def test_text_buffer_with_tiny_chunks(chunk: int, case: tuple[str, list[Op]]) -> None:
    """With CHUNK patched down to a few code points, every edit crosses chunk
    boundaries, splits and empties chunks."""
    doc, ops = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text_buffer, "CHUNK", chunk)
        buf = TextBuffer(doc)
        for op in ops:
            doc = apply(doc, op)
            buf.apply(op)
            assert str(buf) == doc
            assert len(buf) == len(doc)
            buffer_invariants(buf)


def test_text_buffer_deletes_across_chunk_boundaries() -> None:
    doc = "".join(chr(0x4E00 + i % 20000) for i in range(4 * CHUNK + 10))
    buf = TextBuffer(doc)
    op: Op = [CHUNK - 3, -(2 * CHUNK + 6), len(doc) - 3 * CHUNK - 3]  # spans three chunks
    buf.apply(op)
    doc = apply(doc, op)
    assert str(buf) == doc
    op = [5, "😀" * 10, -(len(doc) - 10), 5]  # nearly everything, replaced
    buf.apply(op)
    doc = apply(doc, op)
    assert str(buf) == doc
    buffer_invariants(buf)


def test_text_buffer_big_insert_splits_and_delete_all_empties() -> None:
    buf = TextBuffer("ab")
    big = "漢" * (5 * CHUNK + 1)
    buf.apply([1, big, 1])
    assert str(buf) == "a" + big + "b"
    buffer_invariants(buf)
    assert len(buf.chunks) > 2
    buf.apply([-(len(big) + 2)])
    assert str(buf) == ""
    assert len(buf) == 0
    buffer_invariants(buf)
    buf.apply(["again"])
    assert str(buf) == "again"


def test_text_buffer_typing_forwards_backwards_and_jumping() -> None:
    doc = "x" * (3 * CHUNK)
    buf = TextBuffer(doc)
    positions = [*range(0, 6 * CHUNK, 97), *range(6 * CHUNK, 0, -131), 0, 5 * CHUNK, 1, 4 * CHUNK]
    for i, pos in enumerate(positions):
        pos = min(pos, len(doc))
        ch = PIECES[i % len(PIECES)]
        op = [pos, ch, len(doc) - pos] if i % 3 else [pos, -1, len(doc) - pos - 1]
        if i % 3 == 0 and pos == len(doc):
            op = [pos - 1, -1]
        op = normalize(op)
        doc = apply(doc, op)
        buf.apply(op)
        assert len(buf) == len(doc)
        if i % 10 == 0:
            assert str(buf) == doc
    assert str(buf) == doc
    buffer_invariants(buf)


def test_text_buffer_rejects_a_wrong_length_and_stays_as_it_was() -> None:
    buf = TextBuffer("hello")
    with pytest.raises(OTError):
        buf.apply([4, "x"])
    with pytest.raises(OTError):
        buf.apply([6])
    assert str(buf) == "hello"
    assert len(buf) == 5
    buf.apply([5, "!"])
    assert str(buf) == "hello!"


def patch_op(length: int, pos: int, gone: int, text: str) -> Op:
    """A splice ``[pos, numDeleted, inserted]`` as an operation on ``length`` code points."""
    op: Op = []
    if pos:
        op.append(pos)
    if text:
        op.append(text)
    if gone:
        op.append(-gone)
    rest = length - pos - gone
    if rest:
        op.append(rest)
    return op


@pytest.mark.slow
@pytest.mark.parametrize("name", ["automerge-paper", "sveltecomponent"])
def test_real_trace_replays_through_text_buffer(name: str) -> None:
    path = TRACES / f"{name}.json.gz"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    buf = TextBuffer(trace["startContent"])
    length = len(trace["startContent"])
    patches = 0
    for txn in trace["txns"]:
        for pos, gone, text in txn["patches"]:
            op = patch_op(length, pos, gone, text)
            buf.apply(op)
            length += len(text) - gone
            patches += 1
            assert len(buf) == length
    assert patches > 10_000
    assert str(buf) == trace["endContent"]
    buffer_invariants(buf)
