"""From results to a verdict: damping per region, quorum across regions."""

from __future__ import annotations

from server.domain.monitors import Verdict
from server.monitoring.verdict import Tracker


def feed(tracker: Tracker, region: str, *outcomes: str) -> None:
    for outcome in outcomes:
        tracker.record(region, outcome, None if outcome == "up" else f"{outcome} in {region}")


def test_nothing_is_known_until_a_region_settles() -> None:
    t = Tracker(down_after=2, up_after=2, quorum=1)
    assert t.verdict() == (Verdict.UNKNOWN, [], None)
    feed(t, "eu", "up")
    assert t.verdict()[0] is Verdict.UNKNOWN
    feed(t, "eu", "up")
    assert t.verdict() == (Verdict.UP, [], None)


def test_one_failure_is_no_outage_and_a_run_is() -> None:
    t = Tracker(down_after=3, up_after=2, quorum=1)
    feed(t, "eu", "up", "up", "down", "down", "up")
    assert t.verdict()[0] is Verdict.UP  # two failures, then an answer: damped
    feed(t, "eu", "down", "down", "down")
    assert t.verdict() == (Verdict.DOWN, ["eu"], "down in eu")
    feed(t, "eu", "up")
    assert t.verdict()[0] is Verdict.DOWN  # one answer is not a recovery
    feed(t, "eu", "up")
    assert t.verdict()[0] is Verdict.UP


def test_slow_answers_make_it_degraded_and_failures_among_them_count_too() -> None:
    t = Tracker(down_after=2, up_after=1, quorum=1)
    feed(t, "eu", "degraded", "down")
    assert t.verdict()[0] is Verdict.DEGRADED  # bad twice, down only once
    feed(t, "eu", "down")
    assert t.verdict()[0] is Verdict.DOWN


def test_a_quorum_of_regions_must_agree() -> None:
    t = Tracker(down_after=1, up_after=1, quorum=2)
    feed(t, "eu", "down")
    feed(t, "us", "up")
    feed(t, "ap", "up")
    assert t.verdict() == (Verdict.UP, ["eu"], "down in eu")  # one bad path: no outage
    feed(t, "ap", "degraded")
    assert t.verdict() == (Verdict.DEGRADED, ["ap", "eu"], "down in eu")
    feed(t, "ap", "down")
    assert t.verdict()[0] is Verdict.DOWN
    feed(t, "eu", "up")
    assert t.verdict() == (Verdict.UP, ["ap"], "down in ap")
