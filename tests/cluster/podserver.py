#!/usr/bin/env python3
"""Tiny HTTP server used as a "container image" by FakeNode in tests.

Listens on $POD_IP:$PORT (defaults 127.0.0.1:8080).
  GET /health -> 200 "ok" (503 with --fail-health)
  GET /ready  -> 200 "ready" (503 with --fail-ready)
  GET /       -> 200 JSON {"version", "pod", "namespace", "ip", "pid"}
SIGTERM exits cleanly.
"""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default=os.environ.get("VERSION", "v0"))
    ap.add_argument("--fail-ready", action="store_true", help="answer 503 on /ready")
    ap.add_argument("--fail-health", action="store_true", help="answer 503 on /health")
    ap.add_argument("--host", default=os.environ.get("POD_IP", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = ap.parse_args(argv)

    info = {
        "version": args.version,
        "pod": os.environ.get("POD_NAME", ""),
        "namespace": os.environ.get("POD_NAMESPACE", ""),
        "ip": args.host,
        "pid": os.getpid(),
    }

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/health":
                if args.fail_health:
                    self._send(503, b"unhealthy\n")
                else:
                    self._send(200, b"ok\n")
            elif path == "/ready":
                if args.fail_ready:
                    self._send(503, b"not ready\n")
                else:
                    self._send(200, b"ready\n")
            elif path == "/":
                self._send(200, json.dumps(info).encode(), "application/json")
            else:
                self._send(404, b"not found\n")

        def log_message(self, fmt, *a):  # keep the pod log short: no access log
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"podserver {args.version} listening on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
