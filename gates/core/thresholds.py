"""Deciding a measured value (and its confidence interval) against a min / max threshold.

Two modes, chosen in the policy:
- ``point``: the point value must clear the threshold; when it does but the interval reaches across, the check
  warns, because the pass could be noise.
- ``bound``: the interval's worse bound must clear the threshold, so a pass is backed by the evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gates.core.result import Check, Status

DECIDE_ON = ("point", "bound")


@dataclass(frozen=True)
class Threshold:
    """A limit on one value: at least ``min``, at most ``max``, decided on the point value or the CI bound."""

    min: float | None = None
    max: float | None = None
    decide_on: str = "point"

    @classmethod
    def from_policy(cls, spec: dict[str, Any], default_decide_on: str = "point") -> Threshold:
        return cls(
            min=spec.get("min"), max=spec.get("max"), decide_on=spec.get("decide_on", default_decide_on)
        )

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_fmt(self.max)}")
        text = " and ".join(parts) or "none"
        return f"{text} ({'CI bound' if self.decide_on == 'bound' else 'point'})"


def decide(
    name: str,
    value: float | None,
    ci: tuple[float, float] | None,
    threshold: Threshold,
    confidence: float = 0.95,
    label: str | None = None,
    details: dict[str, Any] | None = None,
    biased_point: bool = False,
) -> Check:
    """Turn a value into a Check. A missing or NaN value is an error: no evidence is never a pass.

    `biased_point` is for values whose point estimate is biased (a maximum over noisy groups reads high even
    when the groups are equal): deciding on the point, such a value fails only when the whole interval is
    beyond the threshold, and warns when the interval still reaches back within it.
    """
    label = label or name
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Check(
            name=name,
            status=Status.ERROR,
            value=None,
            ci=ci,
            threshold=threshold.describe(),
            why=f"{label} could not be computed",
            details=details or {},
        )
    pct = f"{confidence:.0%}"
    low, high = ci if ci else (value, value)
    problems: list[str] = []
    noisy: list[str] = []
    if threshold.min is not None:
        point_ok, bound_ok = value >= threshold.min, low >= threshold.min
        if not point_ok and biased_point and ci and high >= threshold.min and threshold.decide_on == "point":
            noisy.append(
                f"the {pct} interval reaches up to {_fmt(high)}, within the minimum {_fmt(threshold.min)}"
            )
        elif not point_ok:
            problems.append(f"{label} {_fmt(value)} is below the minimum {_fmt(threshold.min)}")
        elif not bound_ok:
            noisy.append(
                f"the {pct} interval reaches down to {_fmt(low)}, below the minimum {_fmt(threshold.min)}"
            )
    if threshold.max is not None:
        point_ok, bound_ok = value <= threshold.max, high <= threshold.max
        if not point_ok and biased_point and ci and low <= threshold.max and threshold.decide_on == "point":
            noisy.append(
                f"the {pct} interval reaches down to {_fmt(low)}, within the maximum {_fmt(threshold.max)}"
            )
        elif not point_ok:
            problems.append(f"{label} {_fmt(value)} is above the maximum {_fmt(threshold.max)}")
        elif not bound_ok:
            noisy.append(
                f"the {pct} interval reaches up to {_fmt(high)}, above the maximum {_fmt(threshold.max)}"
            )
    if problems:
        status, why = Status.FAIL, "; ".join(problems)
    elif noisy and threshold.decide_on == "bound":
        status, why = Status.FAIL, f"{label} {_fmt(value)} passes on its point value but " + "; ".join(noisy)
    elif noisy:
        verb = (
            "is beyond the threshold on its point value"
            if biased_point and not _clears(value, threshold)
            else "passes"
        )
        status, why = Status.WARN, f"{label} {_fmt(value)} {verb}, but " + "; ".join(noisy)
    else:
        status = Status.PASS
        why = f"{label} {_fmt(value)} meets {threshold.describe()}"
        if ci:
            why += f", {pct} interval [{_fmt(low)}, {_fmt(high)}]"
    return Check(
        name=name,
        status=status,
        value=value,
        ci=ci,
        threshold=threshold.describe(),
        why=why,
        details=details or {},
    )


def _clears(value: float, threshold: Threshold) -> bool:
    return (threshold.min is None or value >= threshold.min) and (
        threshold.max is None or value <= threshold.max
    )


def _fmt(x: float) -> str:
    if isinstance(x, (int,)) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return f"{x:g}"
    return f"{x:.4g}"
