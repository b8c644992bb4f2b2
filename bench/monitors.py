"""Monitoring benchmark: thousands of HTTP monitors checked by the server's own probe.

One server process (``switchboard serve`` on its embedded PostgreSQL, pinned to
one core), one target web server (trio and h11, in this process, on the other
core) answering every check with a small 200. The benchmark makes N HTTP
monitors (1,000 per organization, the most one may have) at a 30 s interval
with ``policy: none``, waits one interval for the first checks to spread out,
then measures for a window:

* checks/s achieved, against the N / 30 s asked for;
* schedule lag p50/p99/max: how late checks start after they are due (the
  server's own figure, ``GET /api/v1/monitoring``);
* missed checks: due while the previous check of the same monitor still ran;
* server CPU (from /proc) over the window;
* storage growth per day: what check_results and check_rollups grew by in the
  window, scaled to a day.

Run: ``python bench/monitors.py --monitors 10000`` (see --help).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import gcstats
import h11
import trio
from fanout import ServerProc, token
from pages import call
from switchboard_client import connect

PER_ORG = 1_000


def api(server: ServerProc, method: str, path: str, body: Any = None) -> Any:
    return call(server, method, path, body, bearer=token("*", "owner"))


# -- the target -------------------------------------------------------------------


class Target:
    """Answers every request with 200 "ok", keep-alive; counts what it served."""

    def __init__(self) -> None:
        self.served = 0
        self.port = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    continue
                elif isinstance(event, h11.EndOfMessage):
                    body = b"ok"
                    headers = [("Content-Length", str(len(body))), ("Content-Type", "text/plain")]
                    await stream.send_all(
                        conn.send(h11.Response(status_code=200, headers=headers))
                        + conn.send(h11.Data(data=body))
                        + conn.send(h11.EndOfMessage())
                    )
                    self.served += 1
                    conn.start_next_cycle()
                else:
                    return
        except (trio.BrokenResourceError, h11.ProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


# -- making the monitors -------------------------------------------------------------


async def make_monitors(server: ServerProc, count: int, url: str) -> None:
    orgs = (count + PER_ORG - 1) // PER_ORG
    for n in range(orgs):
        slug = f"bench-{n}"
        api(server, "POST", "/api/v1/orgs", {"slug": slug, "name": f"Bench {n}"})
        api(server, "POST", f"/api/v1/orgs/{slug}/services", {"name": "Site"})
    ws = f"ws://{server.host}:{server.port}/ws"
    async with connect(ws, token("*", "owner")) as client:
        limiter = trio.CapacityLimiter(200)  # commands in flight (they are pipelined)

        async def one(i: int) -> None:
            async with limiter:
                await client.command(
                    f"bench-{i // PER_ORG}",
                    "monitor.create",
                    name=f"m{i}",
                    service="Site",
                    kind="http",
                    policy="none",
                    spec={"url": f"{url}/{i}", "timeout": 10},
                )

        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one, i)


# -- the run ------------------------------------------------------------------------


async def run(args: argparse.Namespace, server: ServerProc) -> None:
    target = Target()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, target.handle, 0)
        target.port = listeners[0].socket.getsockname()[1]
        url = f"http://127.0.0.1:{target.port}"
        started = time.perf_counter()
        await make_monitors(server, args.monitors, url)
        print(
            f"made {args.monitors:,} monitors in {time.perf_counter() - started:.1f} s", flush=True
        )
        await trio.sleep(args.warmup)
        gc_before = server.runtime()["gc"]
        before = api(server, "GET", "/api/v1/monitoring")
        cpu0, t0, served0 = server.cpu_seconds(), time.perf_counter(), target.served
        await trio.sleep(args.seconds)
        after = api(server, "GET", "/api/v1/monitoring")
        cpu1, t1, served1 = server.cpu_seconds(), time.perf_counter(), target.served
        pauses = gcstats.added(gc_before, server.runtime()["gc"])
        nursery.cancel_scope.cancel()
    elapsed = t1 - t0
    checks = after["checks_started"] - before["checks_started"]
    skipped = after["checks_skipped"] - before["checks_skipped"]
    asked = args.monitors / 30
    lag = after["lag_seconds"]
    grown = sum(after["storage_bytes"].values()) - sum(before["storage_bytes"].values())
    print(f"{args.monitors:,} monitors every 30 s: {asked:,.0f} checks/s asked")
    print(
        f"checks/s achieved   {checks / elapsed:,.1f}  (target served {(served1 - served0) / elapsed:,.1f}/s)"
    )
    print(
        f"schedule lag        p50 {lag['p50'] * 1000:,.1f} ms  p99 {lag['p99'] * 1000:,.1f} ms  max {lag['max'] * 1000:,.1f} ms"
    )
    print(f"missed checks       {skipped:,} of {checks + skipped:,}")
    print(
        f"server CPU          {(cpu1 - cpu0) / elapsed * 100:.0f}% of a core ({(cpu1 - cpu0) / max(checks, 1) * 1e6:,.0f} µs a check)"
    )
    print(f"results waiting     {after['results_waiting']:,} at the end")
    print(f"measured window     {gcstats.line(pauses)}")
    print(
        f"storage growth      {grown / 1024 / 1024 / elapsed * 86400 / 1024:,.2f} GiB a day "
        f"({grown / max(checks, 1):,.0f} bytes a check, raw results and rollups)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=120.0, help="the measured window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProc.start("switchboard", Path(tmp), None, limits=())
        try:
            trio.run(run, args, server)
        finally:
            server.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
