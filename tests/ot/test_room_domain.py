"""server/domain/room.py: receive(), validate(), replay() and the state's round trip."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ot_support import FEW, doc_and_ops
from switchboard_ot import Op, apply, transform

from server.domain.room import Applied, RoomLimits, RoomMeta, RoomState, receive, replay, validate
from server.domain.text_buffer import TextBuffer
from server.errors import RoomError

META = RoomMeta(
    id="room-1",
    org="demo",
    title="Postmortem notes",
    incident="inc-7",
    created_at=datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
    created_by="alice",
)
LIMITS = RoomLimits()


def room(text: str = "") -> RoomState:
    return RoomState(meta=META, text=TextBuffer(text))


def send(
    state: RoomState,
    rev: int,
    op: list[Any],
    client: str = "c1",
    op_id: int = 1,
    limits: RoomLimits = LIMITS,
) -> Applied:
    return receive(
        state,
        rev=rev,
        op=op,
        client_id=client,
        client_op_id=op_id,
        author=f"author-{client}",
        limits=limits,
    )


def snapshot(state: RoomState) -> tuple[Any, ...]:
    """Everything receive() may change."""
    return (
        state.rev,
        str(state.text),
        len(state.text),
        list(state.window),
        copy.deepcopy(state.last_op),
        state.updated_at,
        state.version,
    )


def refused(state: RoomState, code: str, **kwargs: Any) -> RoomError:
    before = snapshot(state)
    with pytest.raises(RoomError) as info:
        send(state, **kwargs)
    assert info.value.code == code, info.value.message
    assert str(info.value) == info.value.message
    assert snapshot(state) == before  # nothing changed
    return info.value


# ---------------------------------------------------------------------------
# receive: the normal path


def test_receive_applies_and_records_the_operation() -> None:
    state = room("Hello world")
    applied = send(state, 0, [6, -5, "there"], client="c1", op_id=1)
    assert applied == Applied(1, [6, -5, "there"], "c1", 1, "author-c1")
    assert applied.record() == ([6, -5, "there"], "c1", 1, "author-c1")
    assert state.rev == 1
    assert str(state.text) == "Hello there"
    assert len(state.text) == 11
    assert list(state.window) == [applied]
    assert state.last_op == {"c1": 1}


def test_receive_counts_code_points() -> None:
    state = room("a🏳️‍🌈b")  # the flag is four code points
    send(state, 0, [6, "漢😀"], op_id=1)
    send(state, 1, [1, -4, 3], op_id=2)
    assert str(state.text) == "ab漢😀"


def test_a_late_operation_is_transformed_and_the_incoming_one_wins_ties() -> None:
    state = room("ab")
    first = send(state, 0, [1, "X", 1], client="alice")
    late = send(state, 0, [1, "Y", 1], client="bob")
    # The server passes the incoming operation first: its insert goes first.
    assert late.op == transform([1, "Y", 1], first.op)[0] == [1, "Y", 2]
    assert late.rev == 2
    assert str(state.text) == "aYXb"


def test_a_late_operation_is_transformed_against_every_operation_since_its_revision() -> None:
    state = room("0123456789")
    ops: list[Op] = [[2, "a", 8], [5, -3, 3], ["b", 8], [-1, 8]]
    for i, op in enumerate(ops):
        send(state, i, op, client=f"c{i}")
    late: Op = [4, "Z", -4, 3]  # made on revision 1: after the first op
    expected = late
    for earlier in ops[1:]:
        expected = transform(expected, earlier)[0]
    applied = send(state, 1, late, client="late")
    assert applied.op == expected
    doc = apply(apply("0123456789", ops[0]), late)
    for earlier in ops[1:]:  # what the late client does with the ops it then receives
        late, theirs = transform(late, earlier)
        doc = apply(doc, theirs)
    assert str(state.text) == doc


@FEW
@given(doc_and_ops(3))
def test_concurrent_operations_on_one_revision_all_apply(case: tuple[str, list[list[Any]]]) -> None:
    doc, ops = case
    state = room(doc)
    for i, op in enumerate(ops):
        send(state, 0, op, client=f"c{i}")
    assert state.rev == len(ops)
    # Equal to transforming by hand, in arrival order.
    now, applied = doc, list[Op]()
    for op in ops:
        for earlier in applied:
            op = transform(op, earlier)[0]
        applied.append(op)
        now = apply(now, op)
    assert str(state.text) == now
    assert [a.op for a in state.window] == applied


# ---------------------------------------------------------------------------
# receive: resends


def test_a_resend_returns_the_original_record_and_changes_nothing() -> None:
    state = room("abc")
    original = send(state, 0, [3, "d"], client="c1", op_id=1)
    send(state, 1, ["x", 4], client="c2", op_id=1)
    before = snapshot(state)
    # Resent after a reconnect, rebased on a later revision, the op transformed.
    again = send(state, 2, [4, "d", 1], client="c1", op_id=1)
    assert again is original
    assert again.rev == 1 <= state.rev
    assert snapshot(state) == before


def test_a_resend_is_recognized_whatever_it_carries() -> None:
    """Only (client_id, client_op_id) identify it: rev and op are not looked at."""
    state = room("abc")
    original = send(state, 0, [3, "d"], client="c1", op_id=5)
    before = snapshot(state)
    assert send(state, 99, ["nonsense"], client="c1", op_id=5) is original
    assert snapshot(state) == before
    # The same id from another client is another operation.
    other = send(state, 1, [4, "e"], client="c2", op_id=5)
    assert other.rev == 2


def test_an_older_id_still_in_the_window_is_recognized_too() -> None:
    state = room()
    records = [send(state, i, [i, "x"], op_id=i + 1) for i in range(4)]
    assert state.last_op == {"c1": 4}
    assert send(state, 0, ["zz"], op_id=2) is records[1]
    assert state.rev == 4


def test_a_resend_too_old_to_confirm_is_stale() -> None:
    limits = RoomLimits(window=2)
    state = room()
    send(state, 0, ["a"], client="c1", op_id=1, limits=limits)
    send(state, 1, [1, "b"], client="c2", op_id=1, limits=limits)
    send(state, 2, [2, "c"], client="c2", op_id=2, limits=limits)
    error = refused(
        state, "stale_revision", rev=3, op=[3, "a"], client="c1", op_id=1, limits=limits
    )
    assert "resync" in error.message


def test_an_id_never_applied_but_not_above_the_last_is_stale() -> None:
    """Ids must grow: one at or below the last applied, and not in the window, is refused."""
    state = room()
    send(state, 0, ["a"], op_id=5)
    refused(state, "stale_revision", rev=1, op=[1, "b"], op_id=3)


def test_a_fresh_client_reusing_a_client_id_has_its_ops_taken_for_resends() -> None:
    """Documented contract, with a sharp edge: a new OTClient numbers its ops from 1
    again, so under an old client_id its first ops are 'recognized' and dropped."""
    state = room()
    old = send(state, 0, ["old"], client="tab-1", op_id=1)
    before = snapshot(state)
    assert send(state, 1, [3, " new"], client="tab-1", op_id=1) is old
    assert snapshot(state) == before
    assert str(state.text) == "old"


# ---------------------------------------------------------------------------
# receive: refusals


def test_an_operation_from_the_future_is_invalid() -> None:
    state = room("ab")
    send(state, 0, [2, "c"])
    error = refused(state, "invalid_op", rev=2, op=[3, "d"], op_id=2)
    assert "revision 2" in error.message
    refused(state, "invalid_op", rev=-1, op=[3, "d"], op_id=2)


def test_an_operation_older_than_the_window_is_stale() -> None:
    limits = RoomLimits(window=2)
    state = room("")
    for i in range(3):
        send(state, i, [i, "x"], client="busy", op_id=i + 1, limits=limits)
    assert [a.rev for a in state.window] == [2, 3]
    refused(state, "stale_revision", rev=0, op=["y"], client="slow", limits=limits)
    # Two behind is still within the window.
    applied = send(state, 1, ["y", 1], client="slow", limits=limits)
    assert applied.rev == 4
    assert str(state.text) == "yxxx"


def test_an_operation_of_the_wrong_length_is_invalid() -> None:
    state = room("abc")
    refused(state, "invalid_op", rev=0, op=[2, "x"])
    refused(state, "invalid_op", rev=0, op=[4])
    refused(state, "invalid_op", rev=0, op=["x"])
    send(state, 0, [3, "d"], op_id=1)
    # Late, and not fitting the document at its revision either.
    error = refused(state, "invalid_op", rev=0, op=[4, "x"], client="c2")
    assert "revision 0" in error.message


def test_the_document_may_not_grow_past_its_limit() -> None:
    limits = RoomLimits(max_document=10)
    state = room("12345")
    error = refused(state, "document_too_large", rev=0, op=[5, "678901"], limits=limits)
    assert "10" in error.message
    send(state, 0, [5, "67890"], op_id=1, limits=limits)  # exactly the limit
    assert len(state.text) == 10
    refused(state, "document_too_large", rev=1, op=[10, "😀"], op_id=2, limits=limits)
    send(state, 1, [9, "😀", -1], op_id=2, limits=limits)  # replacing keeps the size
    assert str(state.text) == "123456789😀"


def test_a_document_already_over_the_limit_may_still_shrink_or_stay() -> None:
    state = room("x" * 20)
    limits = RoomLimits(max_document=10)  # e.g. the limit was lowered
    send(state, 0, [19, "y", -1], op_id=1, limits=limits)
    send(state, 1, [-1, 19], op_id=2, limits=limits)
    assert len(state.text) == 19
    refused(state, "document_too_large", rev=2, op=[19, "z"], op_id=3, limits=limits)


# ---------------------------------------------------------------------------
# validate


def test_validate_passes_a_good_operation_through_in_normal_form() -> None:
    op = [3, "abc", -2, 1]
    assert validate(op, LIMITS) == op
    assert validate([], LIMITS) == []
    # Written delete-then-insert, or in pieces: kept in the one normal form.
    assert validate([3, -2, "ab", "c", 1], LIMITS) == [3, "abc", -2, 1]


@pytest.mark.parametrize(
    "op",
    [
        pytest.param("abc", id="not-a-list"),
        pytest.param({"op": [1]}, id="dict"),
        pytest.param(None, id="none"),
        pytest.param([1, True], id="bool"),
        pytest.param([0], id="zero"),
        pytest.param([""], id="empty-insert"),
        pytest.param([1.5], id="float"),
        pytest.param([[1]], id="nested"),
    ],
)
def test_validate_refuses_malformed_operations(op: object) -> None:
    with pytest.raises(RoomError) as info:
        validate(op, LIMITS)
    assert info.value.code == "invalid_op"


def test_validate_refuses_too_many_components() -> None:
    limits = RoomLimits(max_components=4)
    assert validate([1, "a", -1, 1], limits)
    with pytest.raises(RoomError) as info:
        validate([1, "a", -1, 1, "b"], limits)
    assert info.value.code == "op_too_large"
    # Too many and malformed too: the size is reported.
    with pytest.raises(RoomError) as info:
        validate([0] * 5, limits)
    assert info.value.code == "op_too_large"


def test_validate_refuses_too_much_inserted_text() -> None:
    limits = RoomLimits(max_insert=5)
    assert validate(["😀" * 3, 4, "ab"], limits)  # exactly 5 code points
    with pytest.raises(RoomError) as info:
        validate(["😀" * 3, 4, "abc"], limits)
    assert info.value.code == "op_too_large"
    assert "5" in info.value.message


# ---------------------------------------------------------------------------
# the window and last_op


def test_the_window_is_bounded_and_holds_the_latest_operations() -> None:
    limits = RoomLimits(window=3)
    state = room()
    for i in range(10):
        send(state, i, [i, "x"] if i else ["x"], client=f"c{i % 2}", op_id=i + 1, limits=limits)
        assert len(state.window) == min(i + 1, 3)
        assert state.window[-1].rev == state.rev
    assert [a.rev for a in state.window] == [8, 9, 10]


def test_a_zero_window_keeps_nothing_and_only_current_ops_apply() -> None:
    limits = RoomLimits(window=0)
    state = room()
    send(state, 0, ["a"], limits=limits)
    assert not state.window
    refused(state, "stale_revision", rev=0, op=["b"], client="c2", limits=limits)
    send(state, 1, [1, "b"], client="c2", limits=limits)
    assert str(state.text) == "ab"


# The limit may be lowered on a live state: the window comes back under it at once.
def test_the_window_comes_back_under_a_lowered_limit() -> None:
    state = room()
    for i in range(5):
        send(state, i, [i, "x"] if i else ["x"], op_id=i + 1)
    assert len(state.window) == 5
    send(state, 5, [5, "y"], op_id=6, limits=RoomLimits(window=2))
    assert len(state.window) <= 2  # is 5


def test_last_op_tracks_each_clients_latest_id() -> None:
    state = room()
    send(state, 0, ["a"], client="c1", op_id=1)
    send(state, 1, [1, "b"], client="c2", op_id=7)
    send(state, 2, [2, "c"], client="c1", op_id=3)  # ids may skip
    assert state.last_op == {"c1": 3, "c2": 7}
    send(state, 0, ["zzz"], client="c1", op_id=1)  # a resend: no change
    refused(state, "stale_revision", rev=3, op=[3, "d"], client="c1", op_id=2)
    assert state.last_op == {"c1": 3, "c2": 7}


# ---------------------------------------------------------------------------
# replay and the round trip


def session(limits: RoomLimits = LIMITS) -> tuple[RoomState, list[Applied]]:
    state = room("start")
    log = [
        send(state, 0, [5, " one"], client="c1", op_id=1, limits=limits),
        send(state, 0, ["漢", 5], client="c2", op_id=1, limits=limits),  # late
        send(state, 2, [-1, 9, "😀"], client="c1", op_id=2, limits=limits),
        send(state, 1, [2, "e\u0301", 7], client="c3", op_id=4, limits=limits),  # late
        send(state, 4, [3, -3, 6], client="c2", op_id=2, limits=limits),
    ]
    return state, log


def test_replay_reproduces_the_state() -> None:
    limits = RoomLimits(window=3)
    live, log = session(limits)
    again = room("start")
    replay(again, 1, [a.record() for a in log], limits)
    assert again.rev == live.rev == 5
    assert str(again.text) == str(live.text)
    assert list(again.window) == list(live.window)
    assert again.last_op == live.last_op == {"c1": 2, "c2": 2, "c3": 4}


def test_replay_skips_what_the_state_already_has_and_refuses_a_gap() -> None:
    live, log = session()
    records = [a.record() for a in log]
    part = room("start")
    replay(part, 1, records[:3], LIMITS)
    assert part.rev == 3
    replay(part, 2, records[1:], LIMITS)  # overlaps revisions 2 and 3
    assert (part.rev, str(part.text)) == (live.rev, str(live.text))
    gap = room("start")
    replay(gap, 1, records[:2], LIMITS)
    with pytest.raises(ValueError, match="revision 4 after 2"):
        replay(gap, 4, records[3:], LIMITS)


def test_replay_keeps_the_highest_op_id() -> None:
    state = room()
    replay(state, 1, [[["a"], "c1", 5, None], [[1, "b"], "c1", 3, None]], LIMITS)
    assert state.last_op == {"c1": 5}


def test_state_round_trips_through_a_dict() -> None:
    live, _ = session()
    live.updated_at = datetime(2024, 5, 6, 8, 0, 0, 250000, tzinfo=UTC)
    live.version = 4
    data = json.loads(json.dumps(live.to_dict()))  # JSON all the way
    assert data == {
        "meta": {
            "id": "room-1",
            "org": "demo",
            "title": "Postmortem notes",
            "incident": "inc-7",
            "created_at": "2024-05-06T07:08:09.123Z",
            "created_by": "alice",
        },
        "text": str(live.text),
        "rev": 5,
        "last_op": {"c1": 2, "c2": 2, "c3": 4},
        "updated_at": "2024-05-06T08:00:00.250Z",
        "version": 4,
    }
    back = RoomState.from_dict(data)
    assert back.meta == live.meta
    assert (back.rev, str(back.text), len(back.text)) == (live.rev, str(live.text), len(live.text))
    assert back.last_op == live.last_op
    assert back.updated_at == live.updated_at
    assert back.version == live.version
    assert back.to_dict() == data
    # The window is not part of a snapshot: until the log after it is replayed, a
    # late operation cannot be transformed and a resend cannot be confirmed.
    assert not back.window
    with pytest.raises(RoomError) as info:
        send(back, 4, [len(back.text), "!"], client="c9")
    assert info.value.code == "stale_revision"
    with pytest.raises(RoomError) as info:
        send(back, 5, [len(back.text), "!"], client="c1", op_id=2)
    assert info.value.code == "stale_revision"
    # An operation on the current revision applies, and the snapshot continues.
    send(back, 5, [len(back.text), "!"], client="c9")
    assert str(back.text) == str(live.text) + "!"


def test_to_dict_is_a_snapshot_that_later_operations_do_not_change() -> None:
    state = room("ab")
    send(state, 0, [2, "c"], op_id=1)
    data = state.to_dict()
    send(state, 1, [3, "d"], op_id=2)
    assert data["rev"] == 1
    assert data["last_op"] == {"c1": 1}  # is {"c1": 2}


def test_a_snapshot_plus_the_log_after_it_equals_the_live_state() -> None:
    live, log = session()
    snap = room("start")
    replay(snap, 1, [a.record() for a in log[:2]], LIMITS)
    restored = RoomState.from_dict(json.loads(json.dumps(snap.to_dict())))
    replay(restored, 1, [a.record() for a in log], LIMITS)
    assert (restored.rev, str(restored.text)) == (live.rev, str(live.text))
    assert restored.last_op == live.last_op
    assert [a.rev for a in restored.window] == [3, 4, 5]


def test_room_meta_round_trip_without_created_by() -> None:
    data = META.to_dict()
    del data["created_by"]
    meta = RoomMeta.from_dict(data)
    assert meta.created_by is None
    assert meta.created_at == META.created_at


@FEW
@given(st.integers(1, 6), st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_window_never_exceeds_its_limit(window: int, lags: list[int]) -> None:
    limits = RoomLimits(window=window)
    state = room("seed")
    for i, lag in enumerate(lags):
        rev = max(0, state.rev - lag)
        base_text = _text_at(state, rev)
        try:
            send(state, rev, [len(base_text), "x"], client=f"c{i}", limits=limits)
        except RoomError as exc:
            assert exc.code == "stale_revision"
            assert state.rev - rev > window
        assert len(state.window) <= window
        assert [a.rev for a in state.window] == list(
            range(state.rev - len(state.window) + 1, state.rev + 1)
        )


def _text_at(state: RoomState, rev: int) -> str:
    """The document at ``rev``: every op appends one "x" to "seed"."""
    return "seed" + "x" * rev
