"""Column statistics of the data gate judged with intervals: mean, std and sum (bootstrap), quantiles and
median (exact order-statistic interval), the share of values in a set (Wilson), and the point-only extremes
and distinct counts.

Why intervals: a table is a sample of a process, and a mean that lands just inside its range on 200 rows may
be outside on the next 200. Like the metrics gate, each statistic carries its interval, and the policy's
`decide_on` says whether the point value (a straddling interval warns) or the interval's worse bound must
clear the range. Extremes and distinct counts have no useful interval (a sample maximum is biased and its
bootstrap degenerate), so they are decided on their value, and the report says so.

The bootstrap runs on cells (distinct values with counts, gates.stats.bootstrap), so its cost follows the
number of distinct values; past EXACT_CELLS they are merged into quantile bins that keep each bin's first and
second moments, so the point values stay exact and only the resampling is coarser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gates.core.result import Check
from gates.core.thresholds import Threshold, decide
from gates.data.columns import key, rows_text
from gates.resample import bootstrap
from gates.stats.bootstrap import Cells, compress, percentile_interval
from gates.stats.intervals import quantile_interval, wilson

EXACT_CELLS = 1 << 16
BINS = 4096
BOOTSTRAPPED = ("mean", "std", "sum")
POINT_ONLY = ("smallest", "largest", "distinct", "distinct_share")
STATISTICS = (*BOOTSTRAPPED, "median", *POINT_ONLY)


@dataclass(frozen=True)
class Judging:
    """How statistics are judged in one run: interval confidence, resamples, seed, default decide_on."""

    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0
    decide_on: str = "point"


def has_statistics(spec: dict[str, Any]) -> bool:
    return any(spec.get(k) is not None for k in (*STATISTICS, "quantiles", "in_set"))


def column_statistics(series: pd.Series, spec: dict[str, Any], name: str, judging: Judging) -> list[Check]:
    """One check per statistic the spec bounds, each with its value, interval, method and row count."""
    checks: list[Check] = []
    wanted = [s for s in STATISTICS if spec.get(s) is not None]
    numbers = None
    if any(s in BOOTSTRAPPED or s in ("median", "smallest", "largest") for s in wanted) or spec.get(
        "quantiles"
    ):
        raw = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        numbers = raw[np.isfinite(raw)]
    samples = (
        _bootstrap(numbers, [s for s in wanted if s in BOOTSTRAPPED], judging) if numbers is not None else {}
    )
    for stat in wanted:
        bounds = spec[stat]
        threshold = Threshold.from_policy(bounds, judging.decide_on)
        details: dict[str, Any] = {"rows": len(series)}
        if stat in BOOTSTRAPPED:
            assert numbers is not None
            value = _point(numbers, stat)
            interval = percentile_interval(samples.get(stat, np.zeros(0)), judging.confidence)
            ci = (interval.low, interval.high) if interval else None
            details.update(
                values=int(numbers.size), method=f"percentile bootstrap, {judging.resamples} resamples"
            )
        elif stat == "median":
            assert numbers is not None
            value, ci = _quantile(numbers, 0.5, judging.confidence)
            details.update(
                values=int(numbers.size), method="order-statistic interval (exact, distribution-free)"
            )
        else:
            value, ci = _point_only(series, numbers, stat), None
            details["method"] = "point value (no interval: an extreme or a count of this table)"
        checks.append(
            decide(
                f"column:{name}:{stat}",
                value,
                ci,
                threshold,
                judging.confidence,
                label=f"{name} {stat}",
                details=details,
            )
        )
    for entry in spec.get("quantiles") or []:
        assert numbers is not None
        q = float(entry["q"])
        value, ci = _quantile(numbers, q, judging.confidence)
        checks.append(
            decide(
                f"column:{name}:quantile_{q:g}",
                value,
                ci,
                Threshold.from_policy(entry, judging.decide_on),
                judging.confidence,
                label=f"{name} quantile {q:g}",
                details={
                    "values": int(numbers.size),
                    "method": "order-statistic interval (exact, distribution-free)",
                },
            )
        )
    left_out = int(series.notna().sum()) - numbers.size if numbers is not None else 0
    if left_out:  # text (or infinite) values cannot enter a mean: say so rather than judge the rest silently
        for check in checks:
            if check.name.rsplit(":", 1)[-1] not in ("distinct", "distinct_share"):
                check.why += f"; {rows_text(left_out)} left out (not finite numbers)"
                check.details["left_out"] = left_out
    if spec.get("in_set") is not None:
        checks.append(_in_set(series, spec["in_set"], name, judging))
    return checks


def _point(numbers: np.ndarray, stat: str) -> float | None:
    if stat == "std" and numbers.size < 2 or numbers.size == 0:
        return None
    if stat == "mean":
        return float(numbers.mean())
    if stat == "sum":
        return float(numbers.sum())
    return float(numbers.std(ddof=1))


def _quantile(
    numbers: np.ndarray, q: float, confidence: float
) -> tuple[float | None, tuple[float, float] | None]:
    if numbers.size == 0:
        return None, None
    return float(np.quantile(numbers, q)), quantile_interval(numbers, q, confidence)


def _point_only(series: pd.Series, numbers: np.ndarray | None, stat: str) -> float | None:
    if stat in ("smallest", "largest"):
        if numbers is None or numbers.size == 0:
            return None
        return float(numbers.min() if stat == "smallest" else numbers.max())
    present = series.dropna()
    if present.empty:
        return None
    distinct = len({key(v) for v in pd.unique(present)})
    return float(distinct) if stat == "distinct" else distinct / len(present)


def _in_set(series: pd.Series, spec: dict[str, Any], name: str, judging: Judging) -> Check:
    """Share of the non-missing values that are in the set, with its Wilson interval."""
    wanted = {key(v) for v in spec["values"]}
    present = series.dropna()
    codes, uniques = pd.factorize(present)
    hit = np.array([key(u) in wanted for u in uniques.tolist()], dtype=bool)
    inside = int(hit[codes].sum()) if len(present) else 0
    n = len(present)
    value = inside / n if n else None
    ci = None
    if n:
        low, high = wilson(np.array([inside]), np.array([n]), judging.confidence)
        ci = (float(low[0]), float(high[0]))
    threshold = Threshold(
        min=spec.get("min_share"),
        max=spec.get("max_share"),
        decide_on=spec.get("decide_on", judging.decide_on),
    )
    return decide(
        f"column:{name}:in_set",
        value,
        ci,
        threshold,
        judging.confidence,
        label=f"{name} share in the set",
        details={"values": n, "in_set": inside, "method": "Wilson score interval"},
    )


# ------------------------------------------------------------------------------------------- bootstrap
def value_cells(numbers: np.ndarray) -> Cells:
    """Distinct values with counts; past EXACT_CELLS, quantile bins carrying each bin's mean ("m") and mean
    square ("q"), so the sums every statistic needs stay exact."""
    cells = compress({"m": numbers})
    values, counts = cells.columns["m"], cells.counts
    if cells.size <= EXACT_CELLS:
        return Cells(columns={"m": values, "q": values * values}, counts=counts)
    cumulative = np.cumsum(counts)
    bins = np.minimum((cumulative - counts) * BINS // cumulative[-1], BINS - 1).astype(np.int64)
    size = np.bincount(bins, weights=counts)
    keep = size > 0
    first = np.bincount(bins, weights=counts * values)[keep] / size[keep]
    second = np.bincount(bins, weights=counts * values * values)[keep] / size[keep]
    return Cells(columns={"m": first, "q": second}, counts=size[keep])


def _bootstrap(numbers: np.ndarray, stats: list[str], judging: Judging) -> dict[str, np.ndarray]:
    if not stats or judging.resamples <= 0 or numbers.size < 2:
        return {}
    cells = value_cells(numbers)
    m, q = cells.columns["m"], cells.columns["q"]

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        n = weights.sum(axis=1)
        total = weights @ m
        mean = total / n
        variance = np.maximum(weights @ q / n - mean * mean, 0.0) * n / np.maximum(n - 1, 1)
        return {"mean": mean, "sum": total, "std": np.sqrt(variance)}

    return bootstrap(cells, statistic, judging.resamples, judging.seed)
