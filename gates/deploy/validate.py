"""Post-deploy validation of a live model endpoint (``mlgate validate-deployment``).

Two halves, as in every gate:

- :func:`collect` (HTTP, with ``requests``; in :mod:`gates.deploy.endpoint_traffic`): waits (bounded) for
  ``/health`` and ``/ready`` to answer 200, sends every golden input to ``/predict``, sends a burst of
  ``requests`` prediction requests with ``concurrency`` in flight (bounded by count and by
  ``max_duration_seconds``), and sends malformed requests derived from a golden input (not JSON, empty, a
  missing field, a wrong type, a null, a batch one over the limit). Every request has a timeout. It returns an
  :class:`Observation`: plain data, no verdict.
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

from collections.abc import Callable, Mapping
from typing import Any

from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.delivery import EndpointChecks, ValidateSettings
from gates.core.thresholds import Threshold, decide
from gates.deploy.endpoint_traffic import (
    BadOutcome,
    GoldenOutcome,
    Observation,
    Probe,
    bad_requests,
    collect,
    compare,
    load_golden,
)

__all__ = [
    "GATE",
    "BadOutcome",
    "GoldenOutcome",
    "Observation",
    "Probe",
    "bad_requests",
    "collect",
    "compare",
    "error_rate_interval",
    "evaluate",
    "load_golden",
    "run",
]

GATE = "validate_deployment"


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
