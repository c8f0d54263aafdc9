"""The Flagger-like threshold judge: each metric's canary value (or the bound of its interval, on request-level
evidence) against absolute limits and, optionally, against the stable track (``max_increase``).
See :mod:`gates.deploy.judges` for the decision rules the judges share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gates.deploy.evidence import (
    Counts,
    Histogram,
    histogram_quantile,
    ks_bounds,
    quantile_bounds,
    rate_bounds,
)
from gates.deploy.verdicts import (
    JudgeVerdict,
    MetricVerdict,
    Observation,
    fmt_value,
    missing_verdict,
    no_data_verdict,
    settle,
    two_sided,
)


def _bounds(
    obs: Observation, side: str, confidence: float
) -> tuple[float | None, float, float, dict[str, Any]]:
    """(value, lower, upper, details) of one side: bounds from the evidence, or the point for series metrics."""
    spec, sample = obs.metric, obs.sample(side)
    level = two_sided(confidence)
    if spec.kind == "ratio" and isinstance(sample, Counts):
        lo, hi = rate_bounds(sample, level)
        return sample.value, lo, hi, {"events": round(sample.events, 2), "trials": round(sample.trials, 2)}
    if spec.kind == "quantile" and isinstance(sample, Histogram):
        lo, hi = quantile_bounds(spec.quantile, sample, level)
        return histogram_quantile(spec.quantile, sample), lo, hi, {"requests": round(sample.total, 2)}
    value = obs.value(side)
    return value, value if value is not None else math.nan, value if value is not None else math.nan, {}


def threshold_judge(
    observations: Sequence[Observation], no_data: str = "fail", confidence: float = 0.98, final: bool = False
) -> JudgeVerdict | None:
    """Absolute limits on the canary's value; None when no metric has a threshold."""
    verdicts: list[MetricVerdict] = []
    for obs in observations:
        spec = obs.metric
        if not spec.has_threshold:
            continue
        pair = spec.scope == "pair"
        sides = (
            ["canary", "stable"]
            if (pair and spec.kind == "distribution") or spec.max_increase is not None
            else ["canary"]
        )
        missing = missing_verdict(obs, sides, no_data)
        if missing is not None:
            verdicts.append(missing)
            continue
        details: dict[str, Any] = {"min": spec.min, "max": spec.max, "kind": spec.kind}
        value: float | None
        if spec.kind == "distribution":
            canary_hist, stable_hist = obs.canary_sample, obs.stable_sample
            assert isinstance(canary_hist, Histogram) and isinstance(stable_hist, Histogram)
            ks = ks_bounds(canary_hist, stable_hist, confidence)
            value, lo, hi = ks.distance, ks.lower, ks.upper
            details.update(
                canary_requests=round(canary_hist.total, 2),
                stable_requests=round(stable_hist.total, 2),
            )
        else:
            value, lo, hi, extra = _bounds(obs, "canary", confidence)
            details.update(extra)
        if value is None or not math.isfinite(value):
            verdicts.append(
                no_data_verdict(spec, no_data, f"{spec.name}: {obs.missing.get('canary', 'no canary value')}")
            )
            continue
        upper_limit, lower_limit = spec.max, spec.min
        if spec.max_increase is not None:
            stable = obs.value("stable")
            if stable is None or not math.isfinite(stable):
                verdicts.append(
                    no_data_verdict(
                        spec,
                        no_data,
                        f"{spec.name}: {obs.missing.get('stable', 'no stable value')}"
                        f" (needed for max_increase)",
                    )
                )
                continue
            details.update(stable=stable, max_increase=spec.max_increase)
            limit = stable + spec.max_increase
            upper_limit = limit if upper_limit is None else min(upper_limit, limit)
        counted = spec.kind != "series"
        if counted:
            details.update(lower=lo, upper=hi, confidence=confidence)
        interval = f" ({confidence:.0%} interval {fmt_value(lo)} to {fmt_value(hi)})" if counted else ""
        beyond, unsure = [], []
        if upper_limit is not None:
            if lo > upper_limit:
                beyond.append(f"{fmt_value(value)}{interval} above the maximum {fmt_value(upper_limit)}")
            elif hi > upper_limit:
                unsure.append(
                    f"{fmt_value(value)}{interval} reaches above the maximum {fmt_value(upper_limit)}"
                )
        if lower_limit is not None:
            if hi < lower_limit:
                beyond.append(f"{fmt_value(value)}{interval} below the minimum {fmt_value(lower_limit)}")
            elif lo < lower_limit:
                unsure.append(
                    f"{fmt_value(value)}{interval} reaches below the minimum {fmt_value(lower_limit)}"
                )
        if beyond:
            verdicts.append(
                MetricVerdict(spec.name, "fail", False, f"{spec.name} " + "; ".join(beyond), value, details)
            )
        elif unsure:
            verdicts.append(
                MetricVerdict(
                    spec.name,
                    "inconclusive",
                    None,
                    f"{spec.name} " + "; ".join(unsure) + ": not enough requests to tell",
                    value,
                    details,
                )
            )
        else:
            verdicts.append(
                MetricVerdict(
                    spec.name,
                    "pass",
                    True,
                    f"{spec.name} {fmt_value(value)}{interval} within limits",
                    value,
                    details,
                )
            )
    if not verdicts:
        return None
    return settle("threshold", verdicts, final)
