"""The ICMP ping check: echo requests over an unprivileged ICMP socket.

icmplib sends and receives (its blocking API, on a worker thread, so trio's
loop never waits on it); the address it pings was resolved and held to the
network rule first. The thread is given timings that end within the spec's
``timeout``, and trio stops waiting for it at that bound whatever happens (a
thread cannot be cancelled: an abandoned one ends by itself moments later).

Unprivileged ICMP sockets exist only where the kernel allows them to the
server's group (Linux: ``net.ipv4.ping_group_range``). Where it does not, the
check says so in its result instead of pinging: the spec is valid, the
prober's machine is not set up for it.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Final

import icmplib
import trio

from ..domain.specs import PingSpec
from ..netguard import NetworkRule, Refused, resolve
from .checks import CheckResult, describe_error, down, timed, timed_out

SPACING: Final = 0.2  # seconds between echo requests, at most
THREADS: Final = trio.CapacityLimiter(64)  # pings in flight at once, per process


def refusal() -> str:
    """Why this machine cannot ping, in words an operator can act on."""
    gid = os.getgid()
    return (
        "this prober cannot send pings: the kernel refuses it unprivileged ICMP sockets"
        f" (add its group, {gid}, to the sysctl net.ipv4.ping_group_range,"
        f' e.g. "{gid} {gid}")'
    )


def _plan(spec: PingSpec) -> tuple[float, float]:
    """The spacing between requests and each reply's wait, so that all of
    them end within the timeout (with a tenth of it to spare)."""
    budget = spec.timeout * 0.9
    spacing = min(SPACING, budget / (2 * spec.count))
    wait = (budget - (spec.count - 1) * spacing) / spec.count
    return spacing, wait


async def check_ping(spec: PingSpec, rule: NetworkRule) -> CheckResult:
    """Up when every request is answered (degraded when some are lost, or the
    average round trip is slower than ``degraded_ms``); latency is the average
    round trip."""
    spacing, wait = _plan(spec)
    try:
        with trio.fail_after(spec.timeout):
            address = (await resolve(rule, spec.host, 0))[0]
            host = await trio.to_thread.run_sync(
                partial(
                    icmplib.ping,
                    str(address),
                    count=spec.count,
                    interval=spacing,
                    timeout=wait,
                    privileged=False,
                ),
                abandon_on_cancel=True,
                limiter=THREADS,
            )
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except icmplib.SocketPermissionError:
        return down(refusal())
    except icmplib.ICMPLibError as exc:
        return down(f"ping failed: {_words(exc)}")
    except (OSError, Refused) as exc:
        return down(describe_error(exc))
    sent, received = host.packets_sent, host.packets_received
    if received == 0:
        return down(f"no reply to {sent} ping{'s' if sent != 1 else ''}")
    latency = round(host.avg_rtt, 1)
    if received < sent:
        lost = sent - received
        return CheckResult(
            "degraded", latency, f"lost {lost} of {sent} pings ({lost * 100 // sent}%)"
        )
    return timed(latency, spec.degraded_ms)


def _words(exc: icmplib.ICMPLibError) -> str:
    text = str(exc).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__
