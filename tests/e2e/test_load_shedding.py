"""At the open-files limit the server sheds load instead of falling over: it
serves up to a cap below the limit, keeps a reserve for health checks and
operators, refuses the rest cleanly (HTTP 503, WebSocket 1013), and says so in
its log without flooding it."""

from __future__ import annotations

from pathlib import Path

import trio
from support import RawWs, ServerProcess, eventually, raw_http, token

OPEN_FILES = 256  # the server keeps 64 for itself and 32 in reserve: 160 served
SERVED = 160
IDLE = 175


async def idle_connections(base_url: str, count: int) -> list[trio.SocketStream]:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    return [await trio.open_tcp_stream(host, int(port)) for _ in range(count)]


def held(server: ServerProcess) -> int:
    """Connections to its port the server process has accepted (not those
    still queued in the kernel)."""
    import psutil

    port = int(server.base_url.rsplit(":", 1)[1])
    return sum(
        1
        for c in psutil.Process(server.process.pid).net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def test_at_the_open_files_limit_the_server_sheds_and_stays_up(
    database_url: str, tmp_path: Path
) -> None:
    log = (tmp_path / "server.log").open("wb")
    server = await ServerProcess.start(
        database_url,
        str(tmp_path / "data"),
        "--demo",
        "--limit",
        "handshake_timeout=60",  # the idle ones stay as long as the test needs
        open_files=OPEN_FILES,
        log=log,
    )
    try:
        idle = await idle_connections(server.base_url, IDLE)  # more than it serves
        # Those it serves are accepted: every connection from here on is over the cap.
        await eventually(lambda: held(server) >= SERVED, f"{SERVED} connections accepted")
        health = await raw_http(
            server.base_url, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert health.startswith(b"HTTP/1.1 200"), health[:100]
        operator = token("*", "admin")
        orgs = await raw_http(
            server.base_url,
            b"GET /api/v1/orgs HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Authorization: Bearer " + operator.encode() + b"\r\n\r\n",
        )
        assert orgs.startswith(b"HTTP/1.1 200"), orgs[:100]
        refused = []
        for _ in range(20):
            page = await raw_http(
                server.base_url,
                b"GET /status/demo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            refused.append(page)
        assert all(p.startswith(b"HTTP/1.1 503") for p in refused), refused[0][:200]
        assert b"Retry-After: 1" in refused[0] and b'"code":"unavailable"' in refused[0]
        ws = await RawWs.connect(server.base_url)
        try:
            code, _ = await ws.until_close()
        finally:
            ws.close()
        assert code == 1013
        for stream in idle:
            await stream.aclose()

        async def served() -> bool:
            page = await raw_http(
                server.base_url,
                b"GET /status/demo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            return page.startswith(b"HTTP/1.1 200")

        await eventually(served, "room again, once they are gone")
    finally:
        await server.stop()
        log.close()
    said = (tmp_path / "server.log").read_text()
    assert said.count("refusing") <= 2, said  # 20 refusals, one line (and a count)
    assert "Traceback" not in said
