"""Ping checks against 127.0.0.1, over unprivileged ICMP sockets.

Whether the kernel lets this process open one is the sysctl
``net.ipv4.ping_group_range``. Run as root (as CI is) the tests set it, to
see both answers, and put it back; elsewhere they take the machine as it is
and hold the check to one of its two answers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from server.domain.specs import PingSpec
from server.monitoring.pingcheck import check_ping, refusal
from server.netguard import ANY, NetworkRule

RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


@contextlib.contextmanager
def ping_range(value: str) -> Iterator[bool]:
    """The sysctl set to ``value`` while the block runs (True), or left as it
    is when it cannot be written (False)."""
    try:
        before = RANGE.read_text()
        RANGE.write_text(value)
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        RANGE.write_text(before)


def allowed() -> str:
    gid = os.getgid()
    return f"{gid} {gid}"


async def test_loopback_answers_every_ping() -> None:
    with ping_range(allowed()) as set_here:
        result = await check_ping(PingSpec(host="127.0.0.1", count=3, timeout=5), ANY)
    if set_here or result.outcome == "up":
        assert result.outcome == "up", result.error
        assert result.error is None and result.latency_ms is not None
    else:  # a machine that refuses it, and a test that may not change that
        assert result.outcome == "down" and result.error == refusal()


async def test_where_the_kernel_refuses_the_result_says_how_to_allow_it() -> None:
    with ping_range("1 0") as set_here:
        result = await check_ping(PingSpec(host="127.0.0.1", count=1, timeout=2), ANY)
    if set_here or result.outcome == "down":
        assert result.outcome == "down" and result.latency_ms is None
        assert result.error == refusal()
        assert "net.ipv4.ping_group_range" in result.error
        assert f"group, {os.getgid()}," in result.error
    else:
        assert result.outcome == "up"


async def test_a_host_in_a_refused_network_is_not_pinged() -> None:
    with ping_range(allowed()):
        result = await check_ping(
            PingSpec(host="localhost", timeout=2), NetworkRule.parse("public,private")
        )
    assert result.outcome == "down"
    assert "does not connect to" in str(result.error)


async def test_an_unknown_host_is_down() -> None:
    result = await check_ping(PingSpec(host="no-such-host.invalid", timeout=2), ANY)
    assert result.outcome == "down" and result.error == "could not resolve the host name"
