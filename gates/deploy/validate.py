"""Post-deploy validation of a live model endpoint (``mlgate validate-deployment``).

Two halves, as in every gate:

- :func:`collect` (HTTP, with ``requests``): waits (bounded) for ``/health`` and ``/ready`` to answer 200,
  sends every golden input to ``/predict``, sends a burst of ``requests`` prediction requests with
  ``concurrency`` in flight (bounded by count and by ``max_duration_seconds``), and sends malformed requests
  derived from a golden input (not JSON, empty, a missing field, a wrong type, a null, a batch one over the
  limit). Every request has a timeout. It returns an :class:`Observation`: plain data, no verdict.
- :func:`evaluate` (pure): turns an Observation into a GateResult with the checks ``health``, ``ready``,
  ``golden``, ``error_rate``, ``p95``, ``p99`` and ``bad_requests``.

Intervals: the error rate's is the exact (Clopper-Pearson) binomial interval, which stays meaningful with zero
errors (0 of 500 gives an upper bound of 0.0074 at 95 %); p95 and p99 use the percentile bootstrap of the latency
gate (same weighted quantile, same resampling over cells). A p99 from fewer than 100 requests warns at best.

Golden file (JSON Lines): ``{"name": ..., "input": {...}, "expected": {...}, "tolerance": {...}}``. Each key of
``expected`` must be in the answer; numbers match within the absolute ``tolerance`` of that key (default 1e-6),
anything else must be equal.
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

from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.delivery import EndpointChecks, ValidateSettings
from gates.core.thresholds import Threshold, decide

GATE = "validate_deployment"
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
def _expand_headers(headers: dict[str, str]) -> dict[str, str]:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise InputError(f"validate_deployment.headers: environment variable {name} is not set")
        return os.environ[name]

    return {k: re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, v) for k, v in headers.items()}


def _session(url: str, headers: dict[str, str]):
    import requests

    session = requests.Session()
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        session.trust_env = False  # never send loopback traffic through a proxy from the environment
    session.headers.update({"User-Agent": "mlgate-validate-deployment", **headers})
    return session


def _describe_exception(exc: Exception) -> str:
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
    headers = _expand_headers(opts.headers)
    timeout = opts.request_timeout_seconds
    session = _session(base, headers)

    def get(path: str) -> Probe:
        started = clock()
        try:
            response = session.get(base + path, timeout=timeout)
            return Probe(response.status_code, clock() - started, body=response.text[:200])
        except requests.RequestException as exc:
            return Probe(None, clock() - started, error=_describe_exception(exc))

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
                obs.golden.append(GoldenOutcome(row["name"], None, error=_describe_exception(exc)))
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
        own = _session(base, headers)
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
                elapsed, key, ok = None, _describe_exception(exc), False
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
                obs.bad.append(BadOutcome(name, None, error=_describe_exception(exc)))
    return obs


# ----------------------------------------------------------------------------------------- decision
def error_rate_interval(errors: int, total: int, confidence: float) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion."""
    from scipy.stats import beta

    alpha = 1 - confidence
    low = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, total - errors + 1))
    high = 1.0 if errors == total else float(beta.ppf(1 - alpha / 2, errors + 1, total - errors))
    return low, high


def evaluate(
    obs: Observation, section: EndpointChecks | Mapping[str, Any], boot: Bootstrap, decide_on: str
) -> GateResult:
    """The verdict, from observations alone."""
    import numpy as np

    opts = EndpointChecks.part(section, "validate_deployment")
    checks: list[Check] = []
    tables: dict[str, str] = {}
    wait = opts.wait_seconds
    for name, probe, path in (
        ("health", obs.health, opts.paths.health),
        ("ready", obs.ready, opts.paths.ready),
    ):
        if probe.status == 200:
            checks.append(Check(name, Status.PASS, f"GET {path} answered 200", value=200))
        else:
            answer = f"answered {probe.status}" if probe.status else (probe.error or "did not answer")
            checks.append(
                Check(
                    name,
                    Status.FAIL,
                    f"GET {path} {answer} (waited up to {wait:g} s)"
                    + (f": {probe.body[:120]}" if probe.body else ""),
                    value=probe.status,
                )
            )
    summary: dict[str, Any] = {"url": obs.url}
    if obs.ready.status != 200:
        checks.append(Check("predictions", Status.ERROR, "the service is not ready: no prediction was sent"))
        return GateResult(GATE, checks=checks, summary=summary, evidence=_evidence(obs, opts))

    if obs.golden is None:
        checks.append(Check("golden", Status.WARN, "no golden file: the answers' content was not checked"))
    else:
        matched = sum(g.ok for g in obs.golden)
        failed = [g for g in obs.golden if not g.ok]
        summary["golden-matched"] = f"{matched}/{len(obs.golden)}"
        if failed:
            first = failed[0]
            reason = first.error or "; ".join(first.mismatches[:2])
            checks.append(
                Check(
                    "golden",
                    Status.FAIL,
                    f"{len(failed)} of {len(obs.golden)} golden predictions "
                    f"differ; first {first.name}: {reason}",
                    value=matched,
                    details={"mismatches": {g.name: g.error or g.mismatches for g in failed[:20]}},
                )
            )
        else:
            checks.append(
                Check(
                    "golden",
                    Status.PASS,
                    f"all {matched} golden predictions match within tolerance",
                    value=matched,
                )
            )
        tables["Golden predictions"] = _golden_table(obs.golden)

    total = len(obs.ok)
    if total == 0:
        checks.append(Check("error_rate", Status.ERROR, "no burst request was sent"))
    else:
        errors = total - sum(obs.ok)
        rate = errors / total
        ci = error_rate_interval(errors, total, boot.confidence)
        check = decide(
            "error_rate",
            rate,
            ci,
            Threshold(max=opts.max_error_rate, decide_on=decide_on),
            boot.confidence,
            label=f"error rate ({errors} of {total} {obs.burst_target} requests)",
            details={"answers": dict(obs.statuses), "interval": "Clopper-Pearson (exact binomial)"},
        )
        if total < obs.planned:
            check.why += f"; only {total} of {obs.planned} planned requests were sent within the time budget"
            if check.status is Status.PASS:
                check.status = Status.WARN
        checks.append(check)
        summary.update({"requests": total, "error-rate": round(rate, 6)})

    latencies = np.asarray(obs.latency_ms, dtype=np.float64)
    if latencies.size:
        from gates.latency import latency_checks, latency_table, summarize

        point, intervals = summarize(latencies, boot)
        limits: dict[str, float | None] = {"p95": opts.max_p95_ms, "p99": opts.max_p99_ms}
        checks += latency_checks(
            point, intervals, limits, int(latencies.size), boot, decide_on, "ms", noun="answered requests"
        )
        summary.update({f"{name}-ms": round(point[name], 3) for name in ("p50", "p95", "p99")})
        tables["Latency of the burst (ms)"] = latency_table(point, intervals)
    elif total:
        checks.append(Check("p95", Status.ERROR, "no request was answered: latency cannot be measured"))

    if obs.bad is not None:
        refused = [b for b in obs.bad if b.ok]
        wrong = [b for b in obs.bad if not b.ok]
        if wrong:
            first_wrong = wrong[0]
            answer = (
                f"answered {first_wrong.status}" if first_wrong.status else (first_wrong.error or "no answer")
            )
            if first_wrong.status is not None and 400 <= first_wrong.status < 500:
                answer += " without an error message"
            checks.append(
                Check(
                    "bad_requests",
                    Status.FAIL,
                    f"{len(wrong)} of {len(obs.bad)} malformed requests were "
                    f"not refused with a clear 4xx; first, {first_wrong.name}: {answer}",
                    value=len(refused),
                    details={b.name: {"status": b.status, "message": b.message or b.error} for b in obs.bad},
                )
            )
        else:
            checks.append(
                Check(
                    "bad_requests",
                    Status.PASS,
                    f"all {len(obs.bad)} malformed requests were refused "
                    f"with a 4xx and a message (" + ", ".join(sorted({str(b.status) for b in obs.bad})) + ")",
                    value=len(refused),
                    details={b.name: {"status": b.status, "message": b.message} for b in obs.bad},
                )
            )
    evidence = _evidence(obs, opts)
    evidence["tables"] = tables
    evidence["bootstrap"] = {
        "confidence": boot.confidence,
        "resamples": boot.resamples,
        "seed": boot.seed,
        "method": "percentile bootstrap (latency), Clopper-Pearson (error rate)",
    }
    return GateResult(GATE, checks=checks, summary=summary, evidence=evidence)


def _golden_table(golden: list[GoldenOutcome]) -> str:
    rows = ["| name | status | result |", "|---|---|---|"]
    for g in golden[:50]:
        result = "match" if g.ok else (g.error or "; ".join(g.mismatches[:2]))
        rows.append(f"| {g.name} | {g.status or '–'} | {result.replace('|', '/')} |")
    if len(golden) > 50:
        rows.append(f"| … {len(golden) - 50} more | | |")
    return "\n".join(rows)


def _evidence(obs: Observation, opts: EndpointChecks) -> dict[str, Any]:
    return {
        "url": obs.url,
        "settings": opts.model_dump(exclude={"bootstrap", "decide_on", "paths"}),
        "health": {"status": obs.health.status, "error": obs.health.error},
        "ready": {"status": obs.ready.status, "error": obs.ready.error},
        "burst": {
            "planned": obs.planned,
            "sent": len(obs.ok),
            "answers": dict(obs.statuses),
            "target": obs.burst_target,
            "seconds": round(obs.duration_seconds, 3),
        },
    }


def run(
    section: ValidateSettings | Mapping[str, Any],
    ctx: GateContext,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """The gate: read the golden file (through ctx, so the audit trail hashes it), talk to the endpoint, decide."""
    settings = ValidateSettings.of(section)
    if not settings.url:
        raise InputError(f"{ctx.source}: validate_deployment: no url (give --url)")
    golden = load_golden(ctx.path(settings.golden, what="golden file")) if settings.golden else None
    observation = collect(settings, golden, progress=progress)
    return evaluate(observation, settings, ctx.bootstrap(settings), ctx.decide_on(settings))
