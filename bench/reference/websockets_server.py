"""Reference server for bench/fanout.py: Python ``websockets`` (asyncio) with ``broadcast()``.

Speaks just the subset of Switchboard's protocol the benchmark uses (hello,
subscribe to one topic, a service.update command answered by an ack and
broadcast as an event). Keeps nothing on disk: it does less work than
Switchboard, which commits every change to PostgreSQL before publishing.
"""

from __future__ import annotations

import asyncio
import json
import sys

import websockets


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


subscribers: set[websockets.ServerConnection] = set()
seq = 0


async def handle(ws: websockets.ServerConnection) -> None:
    global seq
    try:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "hello":
                await ws.send(dumps({"type": "welcome", "protocol": 1}))
            elif kind == "subscribe":
                subscribers.add(ws)
                await ws.send(
                    dumps(
                        {
                            "type": "subscribed",
                            "id": message.get("id"),
                            "topic": message["topic"],
                            "seq": seq,
                            "resumed": False,
                            "snapshot": {},
                        }
                    )
                )
            elif kind == "command":
                seq += 1
                event = dumps(
                    {
                        "type": "event",
                        "topic": "status:demo",
                        "seq": seq,
                        "name": "service.updated",
                        "data": {
                            "service": {
                                "id": "api",
                                "name": "API",
                                "description": message["data"]["description"],
                                "status": "operational",
                            }
                        },
                    }
                )
                websockets.broadcast(subscribers, event)
                await ws.send(dumps({"type": "ack", "id": message["id"]}))
    finally:
        subscribers.discard(ws)


async def main() -> None:
    async with websockets.serve(handle, "127.0.0.1", 0, max_queue=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"reference: listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
