"""A real HTTP receiver on 127.0.0.1 for notification tests: it records every request and answers by path.

/ok 200 · /accepted 202 · /flaky 429 with Retry-After then 200 · /down 500 forever · /slow waits then 200 ·
/bad 400 · /moved 302. A path may carry a secret-looking tail (/ok/T000/B000/XXXX): the first segment decides.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    retry_after: str = "1"
    slow_seconds: float = 2.0
    counts: dict[str, int] = field(default_factory=dict)

    def bodies(self, kind: str) -> list[Any]:
        return [r.body for r in self.requests if r.path.split("/")[1] == kind]


def start() -> tuple[ThreadingHTTPServer, Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            receiver = state["r"]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            receiver.requests.append(Recorded(self.path, dict(self.headers), body))
            kind = self.path.split("/")[1]
            receiver.counts[kind] = receiver.counts.get(kind, 0) + 1
            if kind == "flaky" and receiver.counts[kind] == 1:
                self._answer(429, {"Retry-After": receiver.retry_after})
            elif kind == "down":
                self._answer(500)
            elif kind == "slow":
                time.sleep(receiver.slow_seconds)
                self._answer(200)
            elif kind == "bad":
                self._answer(400)
            elif kind == "moved":
                self._answer(302, {"Location": "http://127.0.0.1:9/elsewhere"})
            elif kind == "accepted":
                self._answer(202)
            else:
                self._answer(200)

        def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state["r"]
