"""A real Prometheus (Debian's binary) for tests: 127.0.0.1, a random port, scrape and evaluation every 1 s.

    with PrometheusServer(targets=[("127.0.0.1:8000", {"track": "stable"})]) as prom:
        prom.url          # http://127.0.0.1:PORT
        prom.set_targets([...])   # file-based discovery: picked up within about a second

Start-up waits for /-/ready with a bound; stop() sends SIGTERM, then SIGKILL after a bounded grace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tests.ports import free_port

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

PROMETHEUS = os.environ.get("MLGATE_PROMETHEUS_BIN", "/usr/bin/prometheus")


def available() -> bool:
    return os.access(PROMETHEUS, os.X_OK) or shutil.which("prometheus") is not None


class PrometheusServer:
    def __init__(
        self,
        targets: list[tuple[str, dict[str, str]]] | None = None,
        scrape_interval: str = "1s",
        ready_timeout: float = 20.0,
    ):
        self.dir = Path(tempfile.mkdtemp(prefix="mlgate-prom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.set_targets(targets or [])

    def set_targets(self, targets: list[tuple[str, dict[str, str]]]) -> None:
        groups = [{"targets": [address], "labels": labels} for address, labels in targets]
        tmp = self.dir / "targets.json.tmp"
        tmp.write_text(json.dumps(groups))
        os.replace(tmp, self.dir / "targets.json")  # atomic: Prometheus never reads half a file

    def start(self) -> Self:
        config = self.dir / "prometheus.yml"
        config.write_text(
            f"global: {{scrape_interval: {self.scrape_interval}, evaluation_interval: {self.scrape_interval}, "
            f"scrape_timeout: {self.scrape_interval}}}\n"
            "scrape_configs:\n"
            "  - job_name: model\n"
            "    file_sd_configs: [{files: ['"
            + str(self.dir / "targets.json")
            + "'], refresh_interval: 1s}]\n"
        )
        binary = PROMETHEUS if os.access(PROMETHEUS, os.X_OK) else shutil.which("prometheus")
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        with open(self.dir / "prometheus.log", "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    *prefix,
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {self.ready_timeout:g} s: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        path = self.dir / "prometheus.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def stop(self, grace: float = 5.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_for(self, query: str, timeout: float = 30.0) -> float:
        """Poll an instant query until it returns a finite value (bounded); return it."""
        import math

        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
                result = data.get("data", {}).get("result") or []
                if result:
                    value = float(result[0]["value"][1])
                    if math.isfinite(value):
                        return value
            except (OSError, ValueError, KeyError, requests.RequestException):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"no value for {query!r} after {timeout:g} s")


class LoadGenerator:
    """Bounded load: POSTs to every target address in turn (splitting traffic by endpoints), at most
    ``rate`` requests per second, until stopped or ``max_seconds`` passed. Runs in a thread.

    The body of each request is ``body_fn(k)`` with ``k`` drawn at random (seeded per worker), not tied to the
    address: with a fixed cycle a worker that always lands on the same address would send it only every other
    input, and canary and stable would see different inputs (a score shift that is the harness's, not the
    model's)."""

    def __init__(
        self,
        addresses_fn,
        path: str = "/predict",
        body_fn=None,
        rate: float = 40.0,
        max_seconds: float = 240.0,
        timeout: float = 2.0,
        workers: int = 4,
    ):
        import threading

        self.addresses_fn, self.path, self.body_fn = addresses_fn, path, body_fn
        self.rate, self.max_seconds, self.timeout = rate, max_seconds, timeout
        self.sent = 0
        self.errors = 0
        self._stop = threading.Event()
        self.workers = max(1, workers)
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(self.workers)
        ]

    def _loop(self, worker: int = 0) -> None:
        import random

        import requests

        session = requests.Session()
        pick = random.Random(worker)
        end = time.monotonic() + self.max_seconds
        i = worker
        while not self._stop.is_set() and time.monotonic() < end:
            addresses = list(self.addresses_fn() or [])
            if not addresses:
                self._stop.wait(0.2)
                continue
            address = addresses[i % len(addresses)]
            assert address.startswith("127."), address
            i += self.workers
            try:
                body = self.body_fn(pick.randrange(1 << 30)) if self.body_fn else {}
                response = session.post(f"http://{address}{self.path}", json=body, timeout=self.timeout)
                self.sent += 1
                self.errors += response.status_code >= 500
            except requests.RequestException:
                self.errors += 1
            self._stop.wait(self.workers / self.rate)

    def start(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def wait_ready(address: str, timeout: float = 60.0, path: str = "/ready") -> None:
    """Poll http://ADDRESS/ready until 200 (bounded)."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://{address}{path}", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{address}{path} not ready after {timeout:g} s")
