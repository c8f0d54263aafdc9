"""The example service's shadow tee on the real service (processes on loopback): the primary answers exactly as
without a tee, and no slower, whether the candidate answers, is down, or hangs; a live candidate's answers are
compared on the same requests (agreement, scores, latency, outcomes in the primary's /metrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("skops")
from prometheus_client.parser import text_string_to_metric_families

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = [
    json.loads(x) for x in (ROOT / "examples/service/golden.jsonl").read_text().splitlines() if x.strip()
]
RUN = f"import sys, runpy; sys.path.insert(0, {str(ROOT)!r}); runpy.run_module('examples.service', run_name='__main__')"


class Service:
    """The example service as a process on 127.0.0.1, ready when /ready says so (bounded wait)."""

    def __init__(self, **env: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUN],
            env={**os.environ, "PORT": str(self.port), "BIND_ADDRESS": "127.0.0.1", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "service exited")
            time.sleep(0.2)
        self.close()
        raise TimeoutError("example service not ready in 60 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def predict(self, body: dict) -> tuple[dict, float]:
        request = urllib.request.Request(
            f"{self.url}/predict", json.dumps(body).encode(), {"content-type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as r:
            answer = json.loads(r.read())
        return answer, time.perf_counter() - started

    def metrics(self) -> dict[tuple[str, tuple], float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def total(metrics: dict, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lbl), v in metrics.items() if n == name and want <= set(lbl))


class Hanging:
    """A candidate that accepts the connection and never answers (until closed)."""

    def __init__(self):
        release = self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                release.wait(30)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def answers(service: Service, n: int = 40) -> tuple[list[dict], list[float]]:
    out, seconds = [], []
    for i in range(n):
        row = GOLDEN[i % len(GOLDEN)]
        body, took = service.predict({**row["input"]} if "input" in row else row)
        out.append({k: body[k] for k in ("score", "prediction", "model_version")})
        seconds.append(took)
    return out, seconds


@pytest.fixture(scope="module")
def plain():
    s = Service()
    yield s
    s.close()


def test_a_live_candidate_is_compared_on_the_same_requests_and_changes_nothing(plain):
    expected, _ = answers(plain)
    candidate = Service(TRACK="canary", MODEL_VERSION="candidate")
    primary = Service(SHADOW_URL=candidate.url, SHADOW_PERCENT="100", SHADOW_TIMEOUT_MS="2000")
    try:
        got, _ = answers(primary)
        assert got == expected
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = primary.metrics()
            if total(m, "model_shadow_agreement_total") >= 40:
                break
            time.sleep(0.2)
        assert total(m, "model_shadow_agreement_total", agree="true") == 40  # the same model agrees
        assert total(m, "model_shadow_requests_total", side="candidate", outcome="ok") == 40
        assert total(m, "model_shadow_requests_total", side="primary", outcome="ok") == 40
        assert total(m, "model_shadow_latency_seconds_count", side="candidate") == 40
        assert total(m, "model_shadow_score_count", side="candidate") == 40
        # the candidate saw the copies (its own request counter), and did not mirror them again
        assert total(candidate.metrics(), "model_requests_total") == 40
    finally:
        primary.close()
        candidate.close()


@pytest.mark.parametrize("fault", ["down", "hanging"])
def test_a_down_or_hanging_candidate_neither_changes_nor_delays_the_primary(plain, fault):
    expected, base_seconds = answers(plain)
    hanging = Hanging() if fault == "hanging" else None
    url = hanging.url if hanging else f"http://127.0.0.1:{free_port()}"  # nothing listens there
    primary = Service(SHADOW_URL=url, SHADOW_TIMEOUT_MS="3000")
    try:
        got, seconds = answers(primary)
        assert got == expected
        # a hanging candidate holds each copy for 3 s: the primary must still answer in its usual time
        assert sorted(seconds)[len(seconds) // 2] < sorted(base_seconds)[len(base_seconds) // 2] + 0.05
        assert max(seconds) < 1.0
        outcome = "timeout" if hanging else "unreachable"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            counted = total(
                primary.metrics(), "model_shadow_requests_total", side="candidate", outcome=outcome
            )
            if counted >= 40:
                break
            time.sleep(0.3)
        assert counted == 40
    finally:
        primary.close()
        if hanging:
            hanging.close()
