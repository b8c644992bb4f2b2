"""From results to a verdict: damping per region, a quorum of live regions."""

from __future__ import annotations

from datetime import UTC, datetime

from server.domain.model import ServiceStatus
from server.domain.monitors import Monitor, MonitorKind, MonitorPolicy, Verdict
from server.monitoring.verdict import Judgement, Tracker, stale_after

STALE = 45.0  # seconds a result counts, in these tests


def feed(tracker: Tracker, region: str, *outcomes: str, at: float = 0.0) -> None:
    for outcome in outcomes:
        error = None if outcome == "up" else f"{outcome} in {region}"
        tracker.record(region, outcome, error, at)


def judge(
    tracker: Tracker, now: float = 0.0, **kw: object
) -> tuple[Verdict, list[str], str | None]:
    j: Judgement = tracker.judge(now, STALE, **kw)  # type: ignore[arg-type]
    return j.verdict, j.failing, j.error


def test_nothing_is_known_until_a_region_settles() -> None:
    t = Tracker(down_after=2, up_after=2, quorum=1)
    assert judge(t) == (Verdict.UNKNOWN, [], None)
    feed(t, "eu", "up")
    assert judge(t)[0] is Verdict.UNKNOWN
    feed(t, "eu", "up")
    assert judge(t) == (Verdict.UP, [], None)


def test_one_failure_is_no_outage_and_a_run_is() -> None:
    t = Tracker(down_after=3, up_after=2, quorum=1)
    feed(t, "eu", "up", "up", "down", "down", "up")
    assert judge(t)[0] is Verdict.UP  # two failures, then an answer: damped
    feed(t, "eu", "down", "down", "down")
    assert judge(t) == (Verdict.DOWN, ["eu"], "down in eu")
    feed(t, "eu", "up")
    assert judge(t)[0] is Verdict.DOWN  # one answer is not a recovery
    feed(t, "eu", "up")
    assert judge(t)[0] is Verdict.UP


def test_slow_answers_make_it_degraded_and_failures_among_them_count_too() -> None:
    t = Tracker(down_after=2, up_after=1, quorum=1)
    feed(t, "eu", "degraded", "down")
    assert judge(t)[0] is Verdict.DEGRADED  # bad twice, down only once
    feed(t, "eu", "down")
    assert judge(t)[0] is Verdict.DOWN


def test_a_quorum_of_regions_must_agree() -> None:
    t = Tracker(down_after=1, up_after=1, quorum=2)
    feed(t, "eu", "down")
    feed(t, "us", "up")
    feed(t, "ap", "up")
    assert judge(t) == (Verdict.UP, ["eu"], "down in eu")  # one bad path: no outage
    feed(t, "ap", "degraded")
    assert judge(t) == (Verdict.DEGRADED, ["ap", "eu"], "down in eu")
    feed(t, "ap", "down")
    assert judge(t)[0] is Verdict.DOWN
    feed(t, "eu", "up")
    assert judge(t) == (Verdict.UP, ["ap"], "down in ap")


def test_fewer_settled_regions_than_the_quorum_decide_nothing() -> None:
    """After a restart the trackers are empty: the first region to settle must
    not decide a quorum-2 monitor alone, whichever way it sees it."""
    t = Tracker(down_after=1, up_after=1, quorum=2)
    feed(t, "eu", "down")
    assert judge(t) == (Verdict.UNKNOWN, ["eu"], "down in eu")  # the verdict there is stays
    feed(t, "us", "up")
    assert judge(t)[0] is Verdict.UP
    t = Tracker(down_after=1, up_after=1, quorum=2)
    feed(t, "eu", "up")
    assert judge(t)[0] is Verdict.UNKNOWN


def test_a_silent_region_goes_stale_and_leaves_the_quorum() -> None:
    """A dead probe's last word (down) does not count for ever."""
    t = Tracker(down_after=1, up_after=1, quorum=2)
    feed(t, "eu", "down", at=0.0)  # its probe dies after this
    feed(t, "us", "down", at=0.0)
    feed(t, "ap", "up", at=0.0)
    assert judge(t, 1.0)[0] is Verdict.DOWN
    feed(t, "us", "down", at=40.0)
    feed(t, "ap", "up", at=40.0)
    assert t.wake == STALE  # the moment eu's results stop counting
    j = t.judge(50.0, STALE)
    assert (j.verdict, j.failing, j.live, j.stale) == (Verdict.UP, ["us"], ["ap", "us"], ["eu"])
    feed(t, "eu", "down", at=60.0)  # back: it counts again
    assert judge(t, 60.0)[0] is Verdict.DOWN


def test_an_offline_probe_s_region_counts_no_more_whatever_its_last_result() -> None:
    t = Tracker(down_after=1, up_after=1, quorum=1)
    feed(t, "eu", "down")
    assert judge(t, offline={"eu"}) == (Verdict.UNKNOWN, [], None)


def test_regions_failing_before_are_named_until_they_settle_or_time_passes() -> None:
    t = Tracker(down_after=1, up_after=1, quorum=2, born=0.0)
    before = ["eu", "us"]
    assert judge(t, 1.0, failing_before=before) == (Verdict.UNKNOWN, ["eu", "us"], None)
    feed(t, "eu", "up", at=2.0)
    assert judge(t, 2.0, failing_before=before)[1] == ["us"]  # eu settled: it says otherwise
    assert judge(t, STALE + 1, failing_before=before)[1] == []  # us never came back


def test_a_region_is_stale_after_three_intervals_and_some_slack() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    common = {
        "id": "m",
        "name": "m",
        "service_id": "s",
        "regions": (),
        "quorum": 1,
        "down_after": 1,
        "up_after": 1,
        "policy": MonitorPolicy.STATUS,
        "down_status": ServiceStatus.MAJOR_OUTAGE,
        "grace": 0,
        "paused": False,
        "created_at": now,
        "updated_at": now,
    }
    http = Monitor(kind=MonitorKind.HTTP, spec={"url": "http://a.test/"}, interval=30, **common)  # type: ignore[arg-type]
    assert stale_after(http) == 3 * 30 + 15
    slow = Monitor(kind=MonitorKind.TCP, spec={"timeout": 50}, interval=10, **common)  # type: ignore[arg-type]
    assert stale_after(slow) == 3 * 50 + 15  # a check may take longer than its interval
    beat = Monitor(kind=MonitorKind.HEARTBEAT, spec={}, interval=60, **common)  # type: ignore[arg-type]
    assert stale_after(beat) == float("inf")  # the server's own judgement of the silence
