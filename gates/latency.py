"""Latency gate: percentiles of latency samples (a load test's output) with distribution-free intervals.

Percentiles get exact order-statistic (binomial) intervals, not bootstrap ones: a resampled p99 can never
exceed the sample maximum, so the bootstrap's upper bound is too low exactly where a latency limit bites
(88.7% coverage for p99 at n=200). The order-statistic interval also says when n is too small for a bound
at all (p99 needs 368 samples for the upper end of a 95% interval), and the gate says so instead of
trusting a fixed 100. The mean keeps the percentile bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.latency import LatencyLimits, LatencySettings
from gates.core.thresholds import Threshold, decide
from gates.readers.table import numeric_column, read_table
from gates.resample import bootstrap
from gates.stats.bootstrap import compress, percentile_interval
from gates.stats.intervals import quantile_interval, quantile_min_samples

GATE = "latency"
STATISTICS = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "mean": None}


def run(section: LatencySettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = LatencySettings.of(section)
    path = ctx.path(settings.samples)
    column = settings.column
    values = numeric_column(read_table(path, [column]), column, path)
    if (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise InputError(f"{path}: column '{column}' row {row + 1}: latency is negative ({values[row]:g})")
    return evaluate(values, settings, ctx.bootstrap(settings), ctx.decide_on(settings))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Quantiles of weighted samples (b resamples at once), the inverted-CDF definition."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[:, order], axis=1)
    targets = cumulative[:, -1:] * q / 100
    index = np.minimum((cumulative < targets).sum(axis=1), values.size - 1)
    return values[order][index]


def latency_statistics(values: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: weighted_quantile(values, weights, q) for name, q in STATISTICS.items() if q is not None}
    out["mean"] = (weights @ values) / weights.sum(axis=1)
    return out


def summarize(
    samples: np.ndarray, boot: Bootstrap
) -> tuple[dict[str, float], dict[str, tuple[float, float] | None]]:
    """Point values of p50 / p95 / p99 / mean and their intervals (None when intervals are off, or when the
    sample is too small for an order-statistic interval on either side)."""
    cells = compress({"latency": samples})
    values = cells.columns["latency"]
    point = {k: float(v[0]) for k, v in latency_statistics(values, cells.counts[None, :]).items()}
    intervals: dict[str, tuple[float, float] | None] = {name: None for name in point}
    if not boot.resamples:
        return point, intervals
    for name, q in STATISTICS.items():
        if q is not None:
            low, high = quantile_interval(samples, q / 100, boot.confidence)
            intervals[name] = (low, high) if np.isfinite(low) and np.isfinite(high) else None
    drawn = bootstrap(cells, lambda w: {"mean": (w @ values) / w.sum(axis=1)}, boot.resamples, boot.seed)
    interval = percentile_interval(drawn["mean"], boot.confidence)
    intervals["mean"] = (interval.low, interval.high) if interval else None
    return point, intervals


def latency_checks(
    point: dict[str, float],
    intervals: dict[str, tuple[float, float] | None],
    limits: dict[str, float | None],
    samples: int,
    boot: Bootstrap,
    decide_on: str,
    unit: str,
    noun: str = "samples",
) -> list[Check]:
    """One check per statistic that has a limit. A percentile from fewer samples than its interval needs
    (quantile_min_samples) warns at best, and is an error when the bound decides: there is no bound."""
    checks = []
    for name, limit in limits.items():
        if limit is None:
            continue
        check = decide(
            name,
            point[name],
            intervals[name],
            Threshold(max=float(limit), decide_on=decide_on),
            boot.confidence,
            label=f"{name} latency ({unit})",
        )
        q = STATISTICS[name]
        needed = quantile_min_samples(q / 100, boot.confidence) if q is not None else 0
        if samples < needed and check.status is not Status.FAIL:
            check.status = Status.ERROR if decide_on == "bound" else Status.WARN
            check.why += (
                f"; only {samples} {noun}, too few to trust a {name}: its {boot.confidence:.0%} interval "
                f"has an upper bound from {needed} {noun} on"
            )
            check.details["min_samples"] = needed
        checks.append(check)
    return checks


def latency_table(point: dict[str, float], intervals: dict[str, tuple[float, float] | None]) -> str:
    def shown(interval: tuple[float, float] | None) -> str:
        return f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "–"

    rows = [f"| {k} | {point[k]:.2f} | " + shown(intervals[k]) + " |" for k in STATISTICS]
    return "| statistic | value | interval |\n|---|---|---|\n" + "\n".join(rows)


def evaluate(
    samples: np.ndarray, section: LatencyLimits | Mapping[str, Any], boot: Bootstrap, decide_on: str
) -> GateResult:
    given = LatencyLimits.part(section, "latency")
    point, intervals = summarize(samples, boot)
    unit = given.unit
    limits = {name: getattr(given, f"max_{name}") for name in STATISTICS}
    checks = latency_checks(point, intervals, limits, int(samples.size), boot, decide_on, unit)
    if not checks:
        checks.append(
            Check("thresholds", Status.ERROR, "no latency limits (max_p50/p95/p99/mean) configured")
        )
    summary = {k: round(v, 3) for k, v in point.items()}
    return GateResult(
        gate=GATE,
        checks=checks,
        summary=summary,
        evidence={
            "samples": int(samples.size),
            "unit": unit,
            "tables": {f"Latency ({unit})": latency_table(point, intervals)},
            "bootstrap": {
                "confidence": boot.confidence,
                "resamples": boot.resamples,
                "seed": boot.seed,
                "method": "percentiles: exact order-statistic (binomial) intervals; mean: percentile bootstrap",
            },
        },
    )
