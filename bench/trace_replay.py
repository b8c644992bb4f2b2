"""Replay real editing traces through a room, and check the final text.

The traces (``../shared/traces``, from josephg/editing-traces) are every
keystroke of a real person writing a document. Each patch becomes one
operation, sent in order as if typed by one client that never waits for its
acknowledgements (each operation is made on the revision the previous one
will have).

* ``in-process``: operations go straight into the room actor's inbox; the
  actor runs with the embedded PostgreSQL and commits every operation before
  it would be acknowledged, as in production.
* ``websocket``: a server process and one client process; the client pipelines
  ``doc.op`` frames over one WebSocket (up to ``--window`` unacknowledged) and
  counts the acks.

Both check that the room's final text equals the trace's ``endContent`` and
print operations per second and memory. Run:
``python bench/trace_replay.py --mode in-process websocket``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import select
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TRACES = ROOT.parent / "shared" / "traces"

from bench import gcstats  # noqa: E402
from bench.fanout import SECRET, ServerProc, frames, handshake, send_json  # noqa: E402
from server import gcwatch  # noqa: E402
from server.protocol.frames import OP_TEXT, encode_client_frame  # noqa: E402

CLIENT_ID = "trace-replay-client"


def load_trace(name: str) -> tuple[str, str, list[list[Any]]]:
    """(start text, end text, one operation per patch)."""
    with gzip.open(TRACES / f"{name}.json.gz") as f:
        data = json.load(f)
    ops: list[list[Any]] = []
    length = len(data["startContent"])
    for txn in data["txns"]:
        for pos, deleted, text in txn["patches"]:
            op: list[Any] = []
            if pos:
                op.append(pos)
            if text:
                op.append(text)
            if deleted:
                op.append(-deleted)
            if length - pos - deleted:
                op.append(length - pos - deleted)
            length += len(text) - deleted
            ops.append(op)
    return data["startContent"], data["endContent"], ops


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- (a) in-process -------------------------------------------------------------


async def replay_in_process(name: str, database_url: str) -> dict[str, Any]:
    import trio

    from server.actors.registry import Registry
    from server.actors.room import OpRequest
    from server.config import Limits
    from server.domain import commands as c
    from server.store import Store

    start, end, ops = load_trace(name)
    assert not start, "the traces start empty"
    # The trace is the client's data, not the server's: keep its 260,000 lists
    # out of the collector's full scans, and set the collector up as the
    # server does (server/gcwatch.py), measuring its pauses.
    gcwatch.tune()
    gcwatch.freeze("the trace")
    pauses = gcwatch.GcPauses()
    limits = Limits(room_max_document=10_000_000)
    async with Store.open(database_url) as store, trio.open_nursery() as nursery:
        pauses.install()
        nursery.start_soon(gcwatch.settle)
        registry = Registry(store, limits, "http://bench")
        await nursery.start(registry.run)
        await registry.create_org(c.CreateOrg("bench", "Bench"), "bench")
        meta = await registry.create_room("bench", name, "bench")
        room = await registry.room(meta["id"])
        rss_before = rss_mib()
        began = time.perf_counter()
        for n, op in enumerate(ops):
            await room.put(OpRequest(None, None, CLIENT_ID, n + 1, n, op, "bench"))
        final = await room.read()  # served after every operation before it is committed
        elapsed = time.perf_counter() - began
        stats = room.stats
        nursery.cancel_scope.cancel()
    pauses.remove()
    assert final["rev"] == len(ops), (final["rev"], len(ops))
    return {
        "mode": "in-process",
        "trace": name,
        "ops": len(ops),
        "seconds": elapsed,
        "ops_per_s": len(ops) / elapsed,
        "commits": stats.commits,
        "text_ok": final["text"] == end,
        "peak_rss_growth_mib": rss_mib() - rss_before,
        "gc": gcstats.line(pauses.summary() | {"frozen_added": 0}),
    }


# -- (b) over a WebSocket -----------------------------------------------------------


def replay_websocket(name: str, window: int, database_url: str | None) -> dict[str, Any]:
    import httpx

    from server.auth import Role, Tokens

    _start, end, ops = load_trace(name)
    with tempfile.TemporaryDirectory(prefix="sb-trace-") as tmp:
        os.environ["SWITCHBOARD_LIMITS"] = (
            "edits_per_second=10000000,edits_burst=10000000,room_max_document=10000000,"
            "messages_per_second=0"
        )
        server = ServerProc.start("switchboard", Path(tmp), database_url)
        del os.environ["SWITCHBOARD_LIMITS"]
        try:
            base = f"http://{server.host}:{server.port}"
            admin = Tokens(SECRET).issue("demo", Role.ADMIN, subject="bench")
            auth = {"Authorization": f"Bearer {admin}"}
            room = httpx.post(f"{base}/api/v1/rooms", json={"title": name}, headers=auth).json()
            room_id = room["room_id"]
            sock = handshake(server.host, server.port)
            send_json(sock, {"type": "hello", "token": admin})
            send_json(
                sock, {"type": "subscribe", "topic": f"room:{room_id}", "client_id": CLIENT_ID}
            )
            buffer = bytearray()
            seen: list[bytes] = []
            while len(seen) < 3:  # welcome, subscribed, the presence list
                buffer += sock.recv(65536)
                seen += frames(buffer)
            assert b'"subscribed"' in seen[1], seen[1][:200]
            sock.setblocking(False)
            rss_before = server.rss_kib()
            cpu_before = server.cpu_seconds()
            gc_before = server.runtime()["gc"]
            mask = b"\x01\x02\x03\x04"
            sent = acked = 0
            began = time.perf_counter()
            pending = bytearray()
            while acked < len(ops):
                while sent < len(ops) and sent - acked < window:
                    payload = json.dumps(
                        {
                            "type": "doc.op",
                            "id": sent + 1,
                            "room": room_id,
                            "rev": sent,
                            "op": ops[sent],
                            "client_op_id": sent + 1,
                        },
                        separators=(",", ":"),
                    ).encode()
                    pending += encode_client_frame(OP_TEXT, payload, mask)
                    sent += 1
                if pending:
                    try:
                        n = sock.send(pending)
                        del pending[:n]
                    except BlockingIOError:
                        pass
                try:
                    chunk = sock.recv(1 << 16)
                except BlockingIOError:
                    select.select([sock], [sock] if pending else [], [], 1.0)
                    continue
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buffer += chunk
                for payload in frames(buffer):
                    if payload.startswith(b'{"type":"ack"'):
                        acked += 1
                    elif payload.startswith(b'{"type":"error"'):
                        raise RuntimeError(payload[:300])
            elapsed = time.perf_counter() - began
            cpu = server.cpu_seconds() - cpu_before
            rss_after = server.rss_kib()
            pauses = gcstats.line(gcstats.added(gc_before, server.runtime()["gc"]))
            sock.close()
            text = httpx.get(f"{base}/api/v1/rooms/{room_id}/text", headers=auth).json()
        finally:
            server.stop()
    return {
        "mode": "websocket",
        "trace": name,
        "ops": len(ops),
        "seconds": elapsed,
        "ops_per_s": len(ops) / elapsed,
        "server_cpu_share": cpu / elapsed,
        "text_ok": text["text"] == end and text["rev"] == len(ops),
        "server_rss_growth_mib": (rss_after - rss_before) / 1024,
        "window": window,
        "gc": pauses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode",
        nargs="+",
        default=["in-process", "websocket"],
        choices=["in-process", "websocket"],
    )
    parser.add_argument("--trace", nargs="+", default=["automerge-paper", "sveltecomponent"])
    parser.add_argument(
        "--window",
        type=int,
        default=2000,
        help="unacknowledged operations the WebSocket client allows",
    )
    parser.add_argument("--database-url", help="a PostgreSQL instead of an embedded one")
    args = parser.parse_args()
    for name in args.trace:
        for mode in args.mode:
            if mode == "in-process":
                import trio

                with tempfile.TemporaryDirectory(prefix="sb-trace-") as tmp:
                    url = args.database_url
                    if url is None:
                        from server.store import embedded_dsn

                        url = embedded_dsn(Path(tmp))
                    result = trio.run(replay_in_process, name, url)
            else:
                result = replay_websocket(name, args.window, args.database_url)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
