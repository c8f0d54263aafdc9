"""The sequential canary judge: anytime-valid bounds on counted metrics, so an analysis can run every 10-30 s
without its looks adding up to false rollbacks (the threshold and compare judges test a fixed horizon at every
look, and each look is a fresh chance of a false alarm).

For every ``ratio`` and ``quantile`` metric (see :func:`covers`) it tracks two confidence sequences
(:mod:`gates.stats.sequential`), each valid over all looks of the canary at once:

- the **comparison**: the ratio of the canary's rate to the stable one's, from the cumulative counts since the
  canary started (Prometheus' increase() over the growing lookback), split into increments between looks so each
  increment has its own traffic share rho. The rate is the error rate for a ``ratio`` metric, and for a
  ``quantile`` metric the share of requests slower than a fixed histogram bound (the bucket bound just below the
  pooled canary + stable quantile at the first look: chosen from the pooled histogram, so under no regression it
  says nothing about which track a slow request came from);
- the canary's **own rate**, for the absolute limits (``max`` / ``min``; for a quantile, the share of requests
  above the smallest bucket bound at or above ``max``) and for ``min_effect`` (a canary whose rate is surely below
  ``min_effect`` cannot have regressed by more).

A metric **fails** as soon as a regression is certain: the ratio's lower bound is above 1 + tolerance (the bad
direction's side for ``decrease``), or a limit is surely crossed. It **passes** when a regression is excluded:
the ratio's upper bound is below 1 + margin (or the canary's rate is surely below ``min_effect``) and the limits
surely hold. Otherwise it is inconclusive, which before the last step lets the canary go on (marginal) and at
the last step measures again. alpha is split evenly over every sequence of the canary, so the chance of any false
verdict over the whole canary, however many looks, is at most alpha.

Each metric's verdict records its look (cumulative counts and the bounds at that look: ``details.look``); the
next analysis continues from all the looks recorded before it (``previous``). Without them (a re-run after an interruption) the cumulative counts count as
one increment: exact for that look, and the guarantee holds from there on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.deploy.evidence import Counts, Histogram
from gates.deploy.judges import JudgeVerdict, MetricVerdict, Observation, _fmt, _missing, _settle
from gates.deploy.queries import MetricSpec
from gates.stats.sequential import Increment, RatioBounds, rate_bounds, ratio_bounds


@dataclass(frozen=True)
class SequentialSettings:
    alpha: float = 0.01  # chance of any false verdict over the whole canary, split over its sequences
    tolerance: float = 0.1  # a regression: the canary's rate above (1 + tolerance) x stable's (metric's wins)
    margin: float = 1.0  # a pass excludes a ratio of 1 + margin or more (metric's wins)
    scale: float = 1.0  # standard deviation of the mixture over log ratios
    no_data: str = "fail"
    final: bool = False


def covers(spec: MetricSpec) -> bool:
    """Whether the sequential judge decides this metric (the others go to the threshold / compare judges):
    per-track counts or histograms, with limits it can bound anytime-valid."""
    if spec.scope != "track" or spec.max_increase is not None:
        return False
    return spec.kind == "ratio" or (spec.kind == "quantile" and spec.min is None)


def _bounds_rate(spec: MetricSpec) -> bool:
    return spec.has_threshold or (
        spec.kind == "ratio" and spec.compare and spec.direction == "increase" and spec.min_effect > 0
    )


def sequences(specs: Sequence[MetricSpec]) -> int:
    """How many sequences the judge keeps for these metrics (alpha is split over them; fixed by the policy)."""
    # a compared quantile has a second one: the canary's quantile against margin x the pooled quantile's bucket
    per_metric = (
        int(s.compare) * (2 if s.kind == "quantile" else 1) + int(_bounds_rate(s)) for s in specs if covers(s)
    )
    return sum(per_metric)


@dataclass(frozen=True)
class Look:
    """One look's cumulative counts of the tested events (errors, or requests slower than ``bound``)."""

    canary_events: float
    canary_trials: float
    stable_events: float
    stable_trials: float
    bound: float | None = None  # quantile metrics: the latency bound the events are counted above

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Look:
        bound = d.get("bound")
        return cls(
            float(d["canary_events"]),
            float(d["canary_trials"]),
            float(d["stable_events"]),
            float(d["stable_trials"]),
            float(bound) if bound is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "canary_events": round(self.canary_events, 3),
            "canary_trials": round(self.canary_trials, 3),
            "stable_events": round(self.stable_events, 3),
            "stable_trials": round(self.stable_trials, 3),
        }
        return {**out, "bound": self.bound} if self.bound is not None else out


def above(hist: Histogram, bound: float) -> float:
    """Requests slower than ``bound`` (a bucket bound of ``hist``)."""
    return hist.total - hist.cumulative[hist.bounds.index(bound)]


def slow_bound(q: float, canary: Histogram, stable: Histogram) -> float:
    """The bucket bound at the pooled q-quantile, from below: the last finite bound with at most q of all requests
    at or below it, so at least 1 - q of them count as slow (the first bound if none). Bounds above the quantile
    leave few slow requests with coarse buckets (1.4 % above 150 ms for a 114 ms p95), and the comparison's power
    grows with the number of events."""
    pooled = np.asarray(canary.cumulative) + np.asarray(stable.cumulative)
    finite = [i for i, b in enumerate(canary.bounds) if math.isfinite(b)]
    below = [i for i in finite if pooled[i] <= q * pooled[-1]]
    return canary.bounds[below[-1] if below else finite[0]]


def increments(looks: Sequence[Look]) -> list[Increment]:
    """The counts between consecutive looks; a count that went down (a counter reset, another lookback) starts
    the increments over from that look."""
    out: list[Increment] = []
    before = Look(0.0, 0.0, 0.0, 0.0)
    for look in looks:
        delta = Increment(
            look.canary_events - before.canary_events,
            look.stable_events - before.stable_events,
            look.canary_trials - before.canary_trials,
            look.stable_trials - before.stable_trials,
        )
        if min(delta.canary_events, delta.stable_events, delta.canary_trials, delta.stable_trials) < 0:
            out = [Increment(look.canary_events, look.stable_events, look.canary_trials, look.stable_trials)]
        else:
            out.append(delta)
        before = look
    return out


def _look(obs: Observation, earlier: Sequence[Look]) -> Look | None:
    """This look's cumulative tested counts, None when the histograms cannot be compared."""
    canary, stable = obs.canary_sample, obs.stable_sample
    if isinstance(canary, Counts) and isinstance(stable, Counts):
        return Look(canary.events, canary.trials, stable.events, stable.trials)
    if (
        not (isinstance(canary, Histogram) and isinstance(stable, Histogram))
        or canary.bounds != stable.bounds
    ):
        return None
    kept = earlier[-1].bound if earlier else None
    bound = kept if kept in canary.bounds else slow_bound(obs.metric.quantile, canary, stable)
    assert bound is not None
    return Look(above(canary, bound), canary.total, above(stable, bound), stable.total, bound)


def _own_rate(obs: Observation) -> tuple[float, float, float | None]:
    """(events, trials, limit) of the canary's own rate against its limit; for a quantile, the requests above
    the smallest bucket bound at or above ``max``, whose share must stay under 1 - q."""
    spec, sample = obs.metric, obs.canary_sample
    if isinstance(sample, Counts):
        return sample.events, sample.trials, None
    assert isinstance(sample, Histogram)
    top = spec.max if spec.max is not None else math.inf
    bound = next((b for b in sample.bounds if b >= top and math.isfinite(b)), None)
    if bound is None:
        return 0.0, sample.total, None
    return above(sample, bound), sample.total, bound


def _quantile_within(obs: Observation, limit: float, alpha: float, record: dict[str, Any]) -> bool:
    """Whether the canary's quantile is surely at or below the smallest bucket bound >= ``limit``: its share of
    requests above that bound is surely under 1 - q (the margin a pass needs, as the compare judge asks it of
    the quantile itself rather than of the share of slow requests)."""
    canary = obs.canary_sample
    assert isinstance(canary, Histogram)
    bound = next((b for b in canary.bounds if b >= limit and math.isfinite(b)), None)
    if bound is None:
        return False
    _, hi = rate_bounds(above(canary, bound), canary.total, alpha)
    record.update(margin_bound=bound, margin_share_upper=hi)
    return hi < 1.0 - obs.metric.quantile


def judge_metric(
    obs: Observation, history: Sequence[Mapping[str, Any]], alpha: float, settings: SequentialSettings
) -> MetricVerdict:
    """One counted metric's verdict from its sequences (both tracks present); ``history`` holds the looks the
    earlier verdicts recorded, oldest first (those since the tested bound last changed count)."""
    spec = obs.metric
    earlier = [Look.from_dict(d) for d in history]
    while len(earlier) > 1 and earlier[0].bound != earlier[-1].bound:
        earlier.pop(0)
    tolerance = 1.0 + (spec.tolerance if spec.tolerance is not None else settings.tolerance)
    margin = 1.0 + (spec.margin if spec.margin is not None else settings.margin)
    look = _look(obs, earlier)
    if look is None:
        return MetricVerdict(spec.name, "nodata", None, f"{spec.name}: canary and stable buckets differ")
    fresh = not earlier or look.bound != earlier[-1].bound
    looks = [look] if fresh else [*earlier, look]
    bad: list[str] = []
    open_: list[str] = []
    ok: list[str] = []
    details: dict[str, Any] = {"kind": spec.kind, "alpha": alpha, "direction": spec.direction}
    record = look.to_dict()
    compared: str | None = None  # the comparison's text while it is undecided
    if spec.compare:
        ratio: RatioBounds = ratio_bounds(increments(looks), alpha, settings.scale)
        estimate = None if math.isnan(ratio.estimate) else ratio.estimate  # no events yet
        record.update(ratio_lower=ratio.lower, ratio_upper=ratio.upper)
        what = "error rate" if spec.kind == "ratio" else f"share of requests slower than {_fmt(look.bound)} s"
        text = (
            f"canary/stable {what} ratio {_fmt(estimate)} (anytime {1 - alpha:.2%} bounds "
            f"{_fmt(ratio.lower)} to {_fmt(ratio.upper)})"
        )
        details.update(ratio=estimate, tolerance=tolerance, margin=margin)
        worse = {"increase": ratio.lower > tolerance, "decrease": ratio.upper < 1 / tolerance}
        excluded = {"increase": ratio.upper < margin, "decrease": ratio.lower > 1 / margin}
        sides = ("increase", "decrease") if spec.direction == "either" else (spec.direction,)
        if any(worse[s] for s in sides):
            bad.append(f"{text}: a regression beyond {_fmt(tolerance)}x is certain")
        elif all(excluded[s] for s in sides):
            ok.append(f"{text}: a ratio of {_fmt(margin)}x is excluded")
        elif (
            spec.kind == "quantile"
            and spec.direction == "increase"
            and _quantile_within(obs, margin * float(look.bound or 0.0), alpha, record)
        ):
            ok.append(
                f"{text}; the canary's p{spec.quantile * 100:g} is surely within {_fmt(margin)}x its bucket"
            )
        else:
            compared = text
            open_.append(text)
    if _bounds_rate(spec):
        events, trials, bound = _own_rate(obs)
        lo, hi = rate_bounds(events, trials, alpha)
        record.update(rate_lower=lo, rate_upper=hi)
        if spec.kind == "quantile":  # max only (see covers); a max above every finite bucket always holds
            name = f"p{spec.quantile * 100:g} vs {_fmt(bound)} s (share slower {_fmt(lo)} to {_fmt(hi)})"
            share = 1.0 - spec.quantile
            (bad if lo > share else ok if hi < share or bound is None else open_).append(name)
        else:
            rate = f"canary rate {_fmt(lo)} to {_fmt(hi)}"
            limits = ", ".join(
                f"{k} {_fmt(x)}" for k, x in (("min", spec.min), ("max", spec.max)) if x is not None
            )
            if (spec.max is not None and lo > spec.max) or (spec.min is not None and hi < spec.min):
                bad.append(f"{rate} beyond the limits ({limits})")
            elif (spec.max is not None and hi > spec.max) or (spec.min is not None and lo < spec.min):
                open_.append(f"{rate} (limits: {limits})")
            elif spec.has_threshold:
                ok.append(f"{rate} within the limits ({limits})")
            if compared is not None and compared in open_ and hi <= spec.min_effect:
                open_.remove(compared)  # an increase beyond min_effect is impossible below it
                ok.append(f"{compared}, but the {rate} is at most min_effect {_fmt(spec.min_effect)}")
    details["look"] = record
    value = obs.value("canary")
    if bad:
        return MetricVerdict(spec.name, "fail", False, f"{spec.name}: " + "; ".join(bad), value, details)
    if open_:
        why = f"{spec.name}: " + "; ".join(open_) + ": not certain either way yet"
        return MetricVerdict(spec.name, "inconclusive", None, why, value, details)
    return MetricVerdict(spec.name, "pass", True, f"{spec.name}: " + "; ".join(ok), value, details)


def sequential_judge(
    observations: Sequence[Observation],
    settings: SequentialSettings = SequentialSettings(),
    previous: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> JudgeVerdict | None:
    """The judge over the metrics it covers; ``previous`` maps a metric to the looks its earlier verdicts
    recorded, oldest first. None when it covers no metric."""
    covered = [obs for obs in observations if covers(obs.metric)]
    if not covered:
        return None
    alpha = settings.alpha / max(1, sequences([obs.metric for obs in covered]))
    verdicts: list[MetricVerdict] = []
    for obs in covered:
        missing = _missing(obs, ("canary", "stable"), settings.no_data)
        if missing is not None:
            verdicts.append(missing)
            continue
        history = (previous or {}).get(obs.metric.name) or []
        verdicts.append(judge_metric(obs, history, alpha, settings))
    verdict = _settle("sequential", verdicts, settings.final)
    # the bounds of every metric in the one-line reason too (the summary table and the audit show it)
    shown = "; ".join(v.why for v in verdicts if v.passed is not False)
    if shown:
        verdict.why += f" [{shown}]"
    return verdict
