"""Shadow traffic for the replica-ratio router: a tee that mirrors a share of prediction requests to a candidate
service and compares its answers with the ones this service gave, on the same requests.

A mesh mirrors for the Gateway API and NGINX routers (gates/deploy/shadow.py renders them); with plain replicas
behind one Service nothing sits in the path but the service itself, so the service tees. The tee must never
change or delay the primary response: the copy is scheduled as a background task only after the response is
built, the candidate gets its own timeout, a cap on copies in flight drops the excess instead of queueing it,
and every outcome (answered, error, timeout, unreachable, dropped) is counted, never raised.

Metrics, in the service's registry (so the same scrape carries them), labelled with this service's
``model_version`` and ``track``, and ``side`` = ``primary`` (this service) or ``candidate``:
``model_shadow_requests_total{side, outcome}``, ``model_shadow_latency_seconds{side}`` (each side's own time
to answer: the candidate's from its ``Server-Timing`` header, else the round trip),
``model_shadow_score{side}`` (scores of the mirrored requests), and ``model_shadow_agreement_total{agree}``
(predicted classes compared item by item).

Environment: ``SHADOW_URL`` (the candidate's base URL; unset: no tee), ``SHADOW_PERCENT`` (share of requests
mirrored, default 100), ``SHADOW_TIMEOUT_MS`` (default 1000).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram

from examples.service.metrics import LATENCY_BUCKETS, SCORE_BUCKETS

MAX_IN_FLIGHT = 128
SERVER_TIMING = re.compile(r"(?im)^server-timing:\s*app;dur=([0-9.]+)")


class Tee:
    """Mirrors requests to ``url`` (fire and forget) and counts how the candidate's answers compare."""

    def __init__(
        self,
        url: str,
        percent: float,
        timeout_s: float,
        registry: CollectorRegistry,
        base: dict[str, str],
        seed: int | None = None,
    ):
        self.url = url.rstrip("/")
        self.percent = percent
        self.timeout_s = timeout_s
        self.base = base
        self._random = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        names = [*base, "side"]
        self.requests = Counter(
            "model_shadow_requests",
            "Mirrored prediction requests by side and outcome.",
            [*names, "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "model_shadow_latency_seconds",
            "Time to answer a mirrored request, per side.",
            names,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.score = Histogram(
            "model_shadow_score",
            "Scores of mirrored requests, per side.",
            names,
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.agreement = Counter(
            "model_shadow_agreement",
            "Mirrored items whose predicted class the candidate agreed with.",
            [*base, "agree"],
            registry=registry,
        )

    def offer(
        self,
        path: str,
        body: bytes,
        request_id: str,
        code: int,
        seconds: float,
        items: Sequence[dict[str, Any]],
    ) -> None:
        """Called once the primary response is built: maybe schedule a copy (never waits for it)."""
        if self._random.random() * 100.0 >= self.percent:
            return
        labels = {**self.base, "side": "primary"}
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self.requests.labels(**{**labels, "side": "candidate"}, outcome="dropped").inc()
            return
        self.requests.labels(**labels, outcome="ok" if code < 400 else "error").inc()
        self.latency.labels(**labels).observe(seconds)
        for item in items:
            self.score.labels(**labels).observe(float(item["score"]))
        task = asyncio.get_running_loop().create_task(self._send(path, body, request_id, list(items)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, path: str, body: bytes, request_id: str, primary: list[dict[str, Any]]) -> None:
        labels = {**self.base, "side": "candidate"}
        started = time.perf_counter()
        try:
            status, timing, answer_bytes = await asyncio.wait_for(
                post(self.url + path, body, {"x-request-id": request_id, "x-shadow": "1"}), self.timeout_s
            )
        except (asyncio.TimeoutError, TimeoutError):
            self.requests.labels(**labels, outcome="timeout").inc()
            return
        except Exception:  # noqa: BLE001 - any failure to reach the candidate is counted, never raised
            self.requests.labels(**labels, outcome="unreachable").inc()
            return
        # the candidate's own time (Server-Timing), as the primary's is its own; else the round trip
        self.latency.labels(**labels).observe(timing if timing is not None else time.perf_counter() - started)
        if status >= 400:
            self.requests.labels(**labels, outcome="error").inc()
            return
        self.requests.labels(**labels, outcome="ok").inc()
        try:
            answer = json.loads(answer_bytes)
            theirs = answer.get("predictions", [answer])
            for item in theirs:
                self.score.labels(**labels).observe(float(item["score"]))
            if primary and len(theirs) == len(primary):
                for mine, other in zip(primary, theirs):
                    agree = int(mine["prediction"]) == int(other["prediction"])
                    self.agreement.labels(**self.base, agree=str(agree).lower()).inc()
        except (ValueError, KeyError, TypeError, AttributeError):
            self.requests.labels(**labels, outcome="unreadable").inc()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float | None, bytes]:
    """One HTTP/1.1 POST on its own connection (closed after the answer): the status, the seconds of its
    ``Server-Timing: app;dur=MS`` header (None without one) and the body. Small on purpose: the image needs no
    HTTP client library for a copy whose answer is only compared."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=True if secure else None)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [
            f"POST {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        raw = await reader.read(-1)
    finally:
        writer.close()
    header, _, payload = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        payload = _unchunk(payload)
    timing = SERVER_TIMING.search(header.decode("latin-1"))
    return status, float(timing.group(1)) / 1000 if timing else None, payload


def _unchunk(data: bytes) -> bytes:
    out, rest = bytearray(), data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)
