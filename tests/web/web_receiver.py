"""A webhook receiver on loopback for the browser tests: a small HTTP server
on its own thread that keeps every request and answers from a script
(statuses to give, in order, then 200)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_GUARD = 30.0  # seconds to wait for a request that should come: not a measurement


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = 0
    script: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def take(self, request: Request) -> int:
        with self.changed:
            self.requests.append(request)
            self.changed.notify_all()
            return self.script.pop(0) if self.script else 200

    def wait(self, n: int, path: str | None = None) -> list[Request]:
        """The requests (to ``path``) once there are ``n`` of them."""

        def found() -> list[Request]:
            return [r for r in self.requests if path is None or r.path == path]

        with self.changed:
            if not self.changed.wait_for(lambda: len(found()) >= n, HANG_GUARD):
                raise AssertionError(f"{n} request(s) to {path or 'the receiver'} never came")
            return found()


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1, for as long as the block runs."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.take(Request(self.path, headers, body))
            answer = b"ok" if status < 300 else b"not now"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the tests say what matters

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
