"""What ``mlgate validate-deployment`` sends to a live model endpoint and what comes back, as plain data.

:func:`collect` (HTTP, with ``requests``) waits (bounded) for ``/health`` and ``/ready``, sends the golden inputs
(:func:`load_golden`, matched by :func:`compare`), a bounded burst of prediction requests, and the malformed
requests of :func:`bad_requests`; every request has a timeout. It returns an :class:`Observation` and decides
nothing: the verdict is :func:`gates.deploy.validate.evaluate`'s.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gates.core.errors import InputError
from gates.core.settings.delivery import ValidateSettings

DEFAULT_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------- data
@dataclass
class Probe:
    status: int | None
    seconds: float
    error: str | None = None
    body: str = ""


@dataclass
class GoldenOutcome:
    name: str
    status: int | None
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.mismatches and self.error is None


@dataclass
class BadOutcome:
    name: str
    status: int | None
    message: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Refused with a 4xx and a readable message: the service validated its input."""
        return self.status is not None and 400 <= self.status < 500 and bool(self.message)


@dataclass
class Observation:
    url: str
    health: Probe
    ready: Probe
    golden: list[GoldenOutcome] | None = None
    ok: list[bool] = field(default_factory=list)  # one per burst request: answered 2xx
    latency_ms: list[float] = field(default_factory=list)  # of the answered requests
    statuses: dict[str, int] = field(default_factory=dict)  # burst answers by status ("timeout", "refused")
    planned: int = 0
    burst_target: str = "predict"
    duration_seconds: float = 0.0
    bad: list[BadOutcome] | None = None


# ----------------------------------------------------------------------------------------- golden file
def load_golden(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:  # a JSONDecodeError, or an integer too long to convert
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]
            raise InputError(f"{path}: line {number}: not JSON ({reason})") from None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("input"), (dict, list))
            or not isinstance(row.get("expected"), dict)
        ):
            raise InputError(
                f"{path}: line {number}: expected an object with 'input' (an object) and 'expected' "
                "(an object)"
            )
        tolerance = row.get("tolerance", {})
        if not isinstance(tolerance, dict) or not all(
            isinstance(v, (int, float)) and v >= 0 for v in tolerance.values()
        ):
            raise InputError(f"{path}: line {number}: 'tolerance' must map keys to non-negative numbers")
        rows.append(
            {
                "name": str(row.get("name") or f"line {number}"),
                "input": row["input"],
                "expected": row["expected"],
                "tolerance": tolerance,
            }
        )
    if not rows:
        raise InputError(f"{path}: no golden rows")
    return rows


def compare(expected: dict[str, Any], actual: Any, tolerance: dict[str, float]) -> list[str]:
    """Differences between an expected answer and the actual one (empty when they match)."""
    if not isinstance(actual, dict):
        return [f"the answer is not a JSON object: {str(actual)[:80]}"]
    problems = []
    for key, want in expected.items():
        if key not in actual:
            problems.append(f"{key}: missing from the answer")
            continue
        got = actual[key]
        numeric = isinstance(want, (int, float)) and not isinstance(want, bool)
        if numeric and isinstance(got, (int, float)) and not isinstance(got, bool):
            allowed = float(tolerance.get(key, DEFAULT_TOLERANCE))
            if not math.isfinite(float(got)) or abs(float(got) - float(want)) > allowed:
                problems.append(f"{key}: expected {want} ± {allowed:g}, got {got}")
        elif got != want:
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    return problems


def bad_requests(example: dict[str, Any] | None, max_batch: int) -> list[tuple[str, str, bytes]]:
    """(name, endpoint key, body) of requests a validating service must refuse with a 4xx."""
    cases: list[tuple[str, str, bytes]] = [
        ("not JSON", "predict", b"{this is not json"),
        ("empty object", "predict", b"{}"),
        ("a list instead of an object", "predict", b"[1, 2, 3]"),
    ]
    if example:
        keys = list(example)
        first = keys[0]
        cases.append(
            (
                f"missing field {first!r}",
                "predict",
                json.dumps({k: v for k, v in example.items() if k != first}).encode(),
            )
        )
        numeric = next(
            (k for k in keys if isinstance(example[k], (int, float)) and not isinstance(example[k], bool)),
            None,
        )
        if numeric:
            cases.append(
                (
                    f"field {numeric!r} as text",
                    "predict",
                    json.dumps({**example, numeric: "not a number"}).encode(),
                )
            )
        cases.append(
            (f"field {keys[-1]!r} null", "predict", json.dumps({**example, keys[-1]: None}).encode())
        )
        cases.append(
            (
                f"batch of {max_batch + 1} records (limit {max_batch})",
                "batch",
                json.dumps({"records": [example] * (max_batch + 1)}).encode(),
            )
        )
    return cases


# ----------------------------------------------------------------------------------------- HTTP
def expand_headers(headers: dict[str, str]) -> dict[str, str]:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise InputError(f"validate_deployment.headers: environment variable {name} is not set")
        return os.environ[name]

    return {k: re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, v) for k, v in headers.items()}


def http_session(url: str, headers: dict[str, str]):
    import requests

    session = requests.Session()
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        session.trust_env = False  # never send loopback traffic through a proxy from the environment
    session.headers.update({"User-Agent": "mlgate-validate-deployment", **headers})
    return session


def describe_exception(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or reset"
    return type(exc).__name__


def collect(
    section: ValidateSettings | Mapping[str, Any],
    golden: list[dict[str, Any]] | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> Observation:
    """Talk to the endpoint (every loop bounded by a count and a time budget)."""
    import requests

    say = progress or (lambda _m: None)
    opts = ValidateSettings.of(section)
    if not opts.url:
        raise InputError("validate_deployment: no url (give --url)")
    base = opts.url.rstrip("/")
    paths = opts.paths.model_dump()
    headers = expand_headers(opts.headers)
    timeout = opts.request_timeout_seconds
    session = http_session(base, headers)

    def get(path: str) -> Probe:
        started = clock()
        try:
            response = session.get(base + path, timeout=timeout)
            return Probe(response.status_code, clock() - started, body=response.text[:200])
        except requests.RequestException as exc:
            return Probe(None, clock() - started, error=describe_exception(exc))

    # 1. health and readiness, waiting up to wait_seconds for both
    deadline = clock() + opts.wait_seconds
    started = clock()
    health = ready = Probe(None, 0.0, error="not tried")
    for _ in range(int(opts.wait_seconds) + 2):
        health = get(paths["health"])
        ready = (
            get(paths["ready"])
            if health.status == 200
            else Probe(None, 0.0, error="health did not answer 200")
        )
        if health.status == 200 and ready.status == 200 or clock() >= deadline:
            break
        sleep(min(1.0, max(0.0, deadline - clock())))
    health.seconds = ready.seconds = clock() - started
    say(f"{base}: health {health.status or health.error}, ready {ready.status or ready.error}")
    obs = Observation(url=base, health=health, ready=ready)
    if ready.status != 200:
        return obs  # nothing else means anything while the service is not ready

    # 2. golden predictions
    if golden:
        obs.golden = []
        for row in golden:
            path = paths["batch"] if isinstance(row["input"], list) else paths["predict"]
            try:
                response = session.post(base + path, json=row["input"], timeout=timeout)
                try:
                    body = response.json()
                except ValueError:
                    body = response.text[:200]
                problems = (
                    compare(row["expected"], body, row["tolerance"])
                    if response.status_code == 200
                    else [f"answered {response.status_code}: {str(body)[:120]}"]
                )
                obs.golden.append(GoldenOutcome(row["name"], response.status_code, problems))
            except requests.RequestException as exc:
                obs.golden.append(GoldenOutcome(row["name"], None, error=describe_exception(exc)))
        say(f"golden: {sum(g.ok for g in obs.golden)} of {len(obs.golden)} match")

    # 3. the burst
    planned = opts.requests
    payloads = [row["input"] for row in golden or [] if isinstance(row["input"], dict)]
    obs.planned = planned
    obs.burst_target = "predict" if payloads else "health"
    lock = threading.Lock()
    counter = iter(range(planned))
    burst_deadline = clock() + opts.max_duration_seconds

    def worker() -> None:
        own = http_session(base, headers)
        while clock() < burst_deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            begin = time.perf_counter()
            try:
                if payloads:
                    response = own.post(
                        base + paths["predict"], json=payloads[index % len(payloads)], timeout=timeout
                    )
                else:
                    response = own.get(base + paths["health"], timeout=timeout)
                elapsed = (time.perf_counter() - begin) * 1000
                key, ok = str(response.status_code), 200 <= response.status_code < 300
            except requests.RequestException as exc:
                elapsed, key, ok = None, describe_exception(exc), False
            with lock:
                obs.ok.append(ok)
                obs.statuses[key] = obs.statuses.get(key, 0) + 1
                if ok and elapsed is not None:
                    obs.latency_ms.append(elapsed)

    burst_start = clock()
    concurrency = max(1, min(opts.concurrency, planned))
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mlgate-burst") as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    obs.duration_seconds = clock() - burst_start
    say(f"burst: {len(obs.ok)} requests in {obs.duration_seconds:.1f} s, answers {obs.statuses}")

    # 4. malformed requests
    if opts.bad_requests:
        obs.bad = []
        for name, endpoint, body in bad_requests(payloads[0] if payloads else None, opts.max_batch):
            try:
                response = session.post(
                    base + paths[endpoint],
                    data=body,
                    timeout=timeout,
                    headers={"Content-Type": "application/json"},
                )
                try:
                    answer = response.json()
                    message = (
                        str(answer.get("detail") or answer.get("error") or answer.get("message") or "")
                        if isinstance(answer, dict)
                        else str(answer)
                    )
                except ValueError:
                    message = response.text.strip()
                obs.bad.append(BadOutcome(name, response.status_code, message[:200]))
            except requests.RequestException as exc:
                obs.bad.append(BadOutcome(name, None, error=describe_exception(exc)))
    return obs
