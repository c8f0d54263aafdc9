"""Latency gate: percentiles of latency samples (a load test's output) with bootstrap intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.thresholds import Threshold, decide
from gates.readers.table import numeric_column, read_table
from gates.stats.bootstrap import bootstrap, compress, percentile_interval

GATE = "latency"
STATISTICS = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "mean": None}
MIN_SAMPLES_FOR_P99 = 100  # fewer samples than this cannot say much about the slowest 1%


def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    path = ctx.path(section["samples"])
    column = section.get("column", "latency_ms")
    values = numeric_column(read_table(path, [column]), column, path)
    if (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise InputError(f"{path}: column '{column}' row {row + 1}: latency is negative ({values[row]:g})")
    return evaluate(values, section, ctx.bootstrap(section), ctx.decide_on(section))


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
    """Point values of p50 / p95 / p99 / mean and their bootstrap intervals (None when intervals are off)."""
    cells = compress({"latency": samples})
    values = cells.columns["latency"]
    point = {k: float(v[0]) for k, v in latency_statistics(values, cells.counts[None, :]).items()}
    drawn = (
        bootstrap(cells, lambda w: latency_statistics(values, w), boot.resamples, boot.seed)
        if boot.resamples
        else {}
    )
    intervals: dict[str, tuple[float, float] | None] = {}
    for name in point:
        interval = percentile_interval(drawn[name], boot.confidence) if drawn else None
        intervals[name] = (interval.low, interval.high) if interval else None
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
    """One check per statistic that has a limit; a p99 from too few samples warns at best."""
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
        if name == "p99" and samples < MIN_SAMPLES_FOR_P99 and check.status is Status.PASS:
            check.status = Status.WARN
            check.why += f"; only {samples} {noun}, too few to trust a p99"
        checks.append(check)
    return checks


def latency_table(point: dict[str, float], intervals: dict[str, tuple[float, float] | None]) -> str:
    def shown(interval: tuple[float, float] | None) -> str:
        return f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "–"

    rows = [f"| {k} | {point[k]:.2f} | " + shown(intervals[k]) + " |" for k in STATISTICS]
    return "| statistic | value | interval |\n|---|---|---|\n" + "\n".join(rows)


def evaluate(samples: np.ndarray, section: dict[str, Any], boot: Bootstrap, decide_on: str) -> GateResult:
    point, intervals = summarize(samples, boot)
    unit = section.get("unit", "ms")
    limits = {name: section.get(f"max_{name}") for name in STATISTICS}
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
                "method": "percentile bootstrap",
            },
        },
    )
