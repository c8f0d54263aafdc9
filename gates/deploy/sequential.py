"""The sequential canary judge: anytime-valid tests on counted metrics, so an analysis can run every 10-30 s
without its looks adding up to false rollbacks (the threshold and compare judges test a fixed horizon at every
look, and each look is a fresh chance of a false alarm).

For every ``ratio`` and ``quantile`` metric (see :func:`covers`), from the cumulative counts since the canary
started (Prometheus' increase() over the growing lookback), split into increments between looks:

- ``ratio`` (an error rate), canary against stable: the ratio of the two rates, by the conditional binomial
  test on each increment's errors (:mod:`gates.stats.sequential`). Two one-sided mixtures, each tuned to the
  question it answers: the **rollback** mixture is centred on the regression a pass must exclude (``1 +
  margin``, 2x by default) with sd ``scale`` of the log ratio, and tests "the ratio is at most ``1 +
  tolerance``"; the **pass** mixture is centred on no change and passes once ``1 + margin`` is
  excluded. A wide two-sided mixture centred on 1 (the first version: sd 1) spent most of its weight on ratios
  below 1 and beyond 5x and caught 26 % of the 2x error rates at 50 requests/s (now about 70 %,
  bench/canary_judge).
- ``quantile`` (a latency), canary against stable: a shift of the whole histogram towards slower buckets
  (:func:`gates.stats.sequential_latency.shift_log_e`, a rank test on every request, conditioned on each
  increment's pooled buckets) is the rollback test; a pass needs the canary's quantile surely within ``1 + margin`` times
  the stable one's (anytime quantile bounds read off the buckets).
- absolute limits (``max`` / ``min``): the canary's own rate (Beta(1, 1) mixture) or the share of its requests
  at or below the limit's bucket bound (:func:`gates.stats.sequential.limit_log_e`); the pass reads its bounds.

alpha has two jobs. A **false rollback** (rolling back a canary with no regression) has chance at most alpha over
the whole canary. The rollback tests' e-values are averaged with weights fixed by the policy (each comparison 1,
each metric's absolute limits ``LIMIT_WEIGHT``; normalised to sum to 1) and the canary rolls back when the
average reaches 1 / alpha. Under no regression every e-value is at most a test supermartingale over the same
looks, so their average is one too, and Ville bounds it by alpha however often one looks. The average rejects
whenever a Bonferroni split with the same weights would (w_i e_i >= 1 / alpha implies the sum does), and also
when several tests each hold part of the evidence (a doubled error rate moves both the comparison and the limit).
The rollback names the test holding the largest share of the average (and every test that crossed its own
weighted share alone). An even split over the four tests of two metrics asked each comparison for e >= 400; now
250, and less when the limits agree. A **false promotion** (passing a metric whose regression is ``margin`` or
more) has chance at most alpha per metric: each metric's pass bounds use alpha / 2 (a pass has at most two
routes). The canary promotes only when every metric passes, so a regressed metric must itself falsely pass: no
split over metrics.

With ``terminal_share`` (the canary's policy: 0.5) the sequences get alpha x (1 - share) and, at the canary's
terminal look (one look fixed in advance: gates.deploy.canary.state.is_terminal_look), each comparison also runs
one fixed-horizon test (gates.stats.terminal) at its weight's part of alpha x share: a union bound keeps any false
rollback at most alpha, and at the last look, where stopping early no longer matters, the fixed-horizon test is
the more powerful one.

Each metric's verdict records its look (cumulative counts or buckets, and the bounds at that look:
``details.look``); the next analysis continues from all the looks recorded before it (``previous``). Without
them (a re-run after an interruption) the cumulative counts count as one increment: exact for that look, and the
guarantee holds from there on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.deploy.evidence import Counts, Histogram
from gates.deploy.queries import MetricSpec
from gates.deploy.sequential_looks import Look, bucket_increments, increments, look_of
from gates.deploy.verdicts import JudgeVerdict, MetricVerdict, Observation, fmt_value, missing_verdict, settle
from gates.stats.sequential import (
    Mixture,
    limit_log_e,
    rate_bounds,
    ratio_bound,
    ratio_estimate,
    ratio_log_e,
)
from gates.stats.sequential_latency import quantile_bounds, shift_log_e, shifted_up
from gates.stats.terminal import ratio_p_value, shift_p_value

# The latency shift mixture: tilts beta ~ Normal(1.5, 1) on beta > 0 (see shift_log_e: a +30 % latency on
# every request of a lognormal with sd 0.5 grows fastest near 1.7, a doubled one near 4).
SHIFT = (1.5, 1.0)
# An absolute limit's weight in the average of rollback evidence, against 1 for a comparison: limits rarely decide
# before the comparison does (a canary beyond them is usually beyond stable too), so they get a small share of
# alpha; fixed here, never chosen from the data.
LIMIT_WEIGHT = 0.25


@dataclass(frozen=True)
class SequentialSettings:
    alpha: float = 0.01  # chance of a false rollback over the whole canary; of a false pass per metric
    tolerance: float = 0.0  # a regression: the canary's rate above (1 + tolerance) x stable's (metric's wins)
    margin: float = (
        1.0  # a pass excludes a ratio of 1 + margin or more; rollback is tuned to it (metric's wins)
    )
    scale: float = 0.3  # standard deviation of each mixture over log rate ratios
    no_data: str = "fail"
    final: bool = False
    # the share of the rollback alpha spent on one fixed-horizon test at the last allowed look (0: none; the
    # canary's policy sets it, a judge without a fixed last look leaves it at 0), and whether this is that look
    terminal_share: float = 0.0
    terminal: bool = False


def covers(spec: MetricSpec) -> bool:
    """Whether the sequential judge decides this metric (the others go to the threshold / compare judges):
    per-track counts or histograms without ``max_increase`` (a difference it does not bound)."""
    return spec.scope == "track" and spec.max_increase is None and spec.kind in ("ratio", "quantile")


def _sides(spec: MetricSpec) -> tuple[str, ...]:
    return ("increase", "decrease") if spec.direction == "either" else (spec.direction,)


def _has_limits(spec: MetricSpec) -> bool:
    return spec.min is not None or spec.max is not None


def terminal_weight(specs: Sequence[MetricSpec]) -> float:
    """The total weight of the fixed-horizon tests at the terminal look (fixed by the policy): 1 per compared
    direction (the comparisons have one; the absolute limits none)."""
    return sum(len(_sides(s)) for s in specs if covers(s) and s.compare)


def rollback_weight(specs: Sequence[MetricSpec]) -> float:
    """The total weight of the rollback tests the judge runs on these metrics (fixed by the policy): 1 per
    compared direction, ``LIMIT_WEIGHT`` for a metric's absolute limits. A test's share of the average is its
    weight over this total."""
    return sum(len(_sides(s)) * int(s.compare) + LIMIT_WEIGHT * _has_limits(s) for s in specs if covers(s))


@dataclass(frozen=True)
class Evidence:
    """One rollback test at this look: its log e-value, its share of the average (``weight``) and what a
    rollback on it claims."""

    metric: str
    test: str
    weight: float
    log_e: float
    claim: str
    p_terminal: float | None = None  # the fixed-horizon test's p-value, at the terminal look only


@dataclass
class _Findings:
    """What the tests of one metric found: failed, open (undecided) and passed statements."""

    evidence: list[Evidence] = field(default_factory=list)  # the rollback tests (decided over all metrics)
    open_: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # into details.look: this look's bounds
    details: dict[str, Any] = field(default_factory=dict)  # into details: the comparison's estimate, lines


def _compare_rates(
    spec: MetricSpec, looks: Sequence[Look], alphas: tuple[float, float], settings: SequentialSettings
) -> tuple[_Findings, str | None]:
    """Canary against stable error rates; returns the findings and the comparison's text while undecided.
    ``alphas``: (this test's share of the rollback alpha, the pass alpha); the rollback bound shown is the
    anytime bound at that share (it crosses the tolerance when this test alone is certain)."""
    alpha_fail, alpha_pass = alphas
    tolerance = 1.0 + (spec.tolerance if spec.tolerance is not None else settings.tolerance)
    margin = 1.0 + (spec.margin if spec.margin is not None else settings.margin)
    incs = increments(looks)
    found = _Findings()
    estimate = ratio_estimate(incs)
    found.details.update(ratio=None if math.isnan(estimate) else estimate, tolerance=tolerance, margin=margin)
    excluded, shown, log_es = [], [], []
    for side in _sides(spec):
        up = side == "increase"
        rollback = Mixture(margin if up else 1 / margin, settings.scale)
        keep = Mixture(1.0, settings.scale)
        fail_bound = ratio_bound(incs, alpha_fail, rollback, "lower" if up else "upper")
        pass_bound = ratio_bound(incs, alpha_pass, keep, "upper" if up else "lower")
        log_es.append(
            (
                side,
                ratio_log_e(incs, tolerance if up else 1 / tolerance, rollback, "above" if up else "below"),
            )
        )
        excluded.append(pass_bound < margin if up else pass_bound > 1 / margin)
        lower, upper = (fail_bound, pass_bound) if up else (pass_bound, fail_bound)
        suffix = "" if len(_sides(spec)) == 1 else f"_{side}"
        found.record.update(
            {
                f"ratio_lower{suffix}": lower,
                f"ratio_upper{suffix}": upper,
                f"log_e_ratio{suffix}": round(log_es[-1][1], 4),
            }
        )
        shown.append(f"{fmt_value(lower)} to {fmt_value(upper)}")
    text = (
        f"canary/stable error rate ratio {fmt_value(None if math.isnan(estimate) else estimate)} "
        f"(anytime bounds {', '.join(shown)})"
    )
    for side, log_e in log_es:
        up = side == "increase"
        beyond = fmt_value(tolerance) if up else fmt_value(1 / tolerance)
        p_terminal = None
        if settings.terminal and settings.terminal_share > 0:
            p_terminal = ratio_p_value(incs, tolerance if up else 1 / tolerance, "above" if up else "below")
            found.record[f"p_terminal{'' if len(_sides(spec)) == 1 else '_' + side}"] = p_terminal
        found.evidence.append(
            Evidence(
                spec.name,
                f"compare_{side}",
                1.0,
                log_e,
                f"{text}: a ratio beyond {beyond}x is certain",
                p_terminal,
            )
        )
    if all(excluded):
        found.ok.append(f"{text}: a ratio of {fmt_value(margin)}x is excluded")
        return found, None
    found.open_.append(text)
    return found, text


def _bucket_at_or_above(bounds: Sequence[float], x: float) -> float:
    return next((b for b in bounds if b >= x), math.inf)


def _bucket_at_or_below(bounds: Sequence[float], x: float) -> float:
    return max((b for b in bounds if b <= x), default=0.0)


def _compare_latency(
    spec: MetricSpec, looks: Sequence[Look], alphas: tuple[float, float], settings: SequentialSettings
) -> _Findings:
    """Canary against stable latency histograms: the evidence of a shift towards slower buckets than the stable
    ones moved up by the tolerance (``x (1 + tolerance) + min_effect``) is a rollback test; the canary's quantile
    surely within (1 + margin) x (or min_effect of) the stable one's passes."""
    _, alpha_pass = alphas
    margin = 1.0 + (spec.margin if spec.margin is not None else settings.margin)
    tolerance = 1.0 + (spec.tolerance if spec.tolerance is not None else settings.tolerance)
    canary, stable = bucket_increments(looks)
    found = _Findings()
    look = looks[-1]
    q = spec.quantile
    c_lo, c_hi = quantile_bounds(look.le, look.canary_buckets, q, alpha_pass / 2)
    s_lo, s_hi = quantile_bounds(look.le, look.stable_buckets, q, alpha_pass / 2)
    pq = f"p{q * 100:g}"
    found.record.update(
        canary_quantile=[c_lo, c_hi], stable_quantile=[s_lo, s_hi], quantile_lower=c_lo, quantile_upper=c_hi
    )
    found.details.update(tolerance=tolerance, margin=margin)
    quantiles = f"canary {pq} in ({fmt_value(c_lo)}, {fmt_value(c_hi)}] s, stable in ({fmt_value(s_lo)}, {fmt_value(s_hi)}] s"
    effect = spec.min_effect
    passed = []
    for side in _sides(spec):
        up = side == "increase"
        if up:  # the stable histogram moved up by the tolerance: only a larger slow-down counts
            pair = (canary, shifted_up(stable, look.le, tolerance, effect))
        else:  # the canary moved up instead: only a speed-up beyond the tolerance counts
            pair = (shifted_up(canary, look.le, tolerance, effect), stable)
        what = "slower" if up else "faster"
        log_e = shift_log_e(*pair, *SHIFT, side=what)
        found.record[f"log_e_{what}"] = round(log_e, 4)
        p_terminal = None
        if settings.terminal and settings.terminal_share > 0:
            p_terminal = found.record[f"p_terminal_{what}"] = shift_p_value(*pair, side=what)
        found.evidence.append(
            Evidence(
                spec.name,
                f"compare_{side}",
                1.0,
                log_e,
                f"canary {what} than stable (beyond x{fmt_value(tolerance)} + {fmt_value(effect)} s) is certain ({quantiles})",
                p_terminal,
            )
        )
        if up:  # read at bucket resolution, as the limits are: the allowance rounds up to a bucket bound
            allowed = _bucket_at_or_above(look.le, max(margin * s_lo, s_lo + effect))
            passed.append(c_hi <= allowed)
        else:
            allowed = _bucket_at_or_below(look.le, min(s_hi / margin, s_hi - effect))
            passed.append(c_lo >= allowed)
    if all(passed):
        found.ok.append(
            f"{quantiles}: the canary's {pq} is surely within {fmt_value(margin)}x"
            + (f" or {fmt_value(effect)} s" if effect else "")
            + " of the stable one's"
        )
    else:
        found.open_.append(f"{quantiles}; no certain shift")
    return found


def _own_limits(
    obs: Observation, alphas: tuple[float, float], found: _Findings, compared: str | None
) -> None:
    """The canary's own rate or quantile against ``min`` / ``max`` (and, for a rate, ``min_effect``). The
    rollback evidence is an e-process against "within the limits" (:func:`limit_log_e`; with both limits, the
    average of the two); the pass needs the bounds at the pass alpha inside them."""
    spec, sample = obs.metric, obs.canary_sample
    _, alpha_pass = alphas
    limits = ", ".join(
        f"{k} {fmt_value(x)}" for k, x in (("min", spec.min), ("max", spec.max)) if x is not None
    )
    log_es: list[float] = []
    if isinstance(sample, Histogram):
        pq = f"p{spec.quantile * 100:g}"
        plo, phi = quantile_bounds(sample.bounds, sample.cumulative, spec.quantile, alpha_pass)
        found.record.update(quantile_lower=plo, quantile_upper=phi)
        text = f"canary {pq} in ({fmt_value(plo)}, {fmt_value(phi)}] s"
        # buckets bound a quantile only at their bounds: a limit between two is read as the bound beyond it
        top = _bucket_at_or_above(sample.bounds, spec.max) if spec.max is not None else math.inf
        bottom = _bucket_at_or_below(sample.bounds, spec.min) if spec.min is not None else 0.0
        below = dict(zip(sample.bounds, sample.cumulative))  # requests at or below each bucket bound
        if spec.max is not None:  # p95 <= top means at least 95 % at or below top: evidence of fewer
            log_es.append(_quantile_limit(below.get(top), sample.total, spec.quantile, "below"))
        if spec.min is not None:  # p95 > bottom means at most 95 % at or below bottom: evidence of more
            log_es.append(_quantile_limit(below.get(bottom), sample.total, spec.quantile, "above"))
        claim = f"{text} beyond the limits ({limits})"
        if (spec.max is not None and phi > top) or (spec.min is not None and plo < bottom):
            found.open_.append(f"{text} (limits: {limits})")
        elif _has_limits(spec):
            found.ok.append(f"{text} within the limits ({limits})")
        _limit_evidence(spec, log_es, claim, found)
        return
    assert isinstance(sample, Counts)
    if spec.max is not None:
        log_es.append(limit_log_e(sample.events, sample.trials, spec.max, "above"))
    if spec.min is not None:
        log_es.append(limit_log_e(sample.events, sample.trials, spec.min, "below"))
    plo, phi = rate_bounds(sample.events, sample.trials, alpha_pass)
    found.record.update(rate_lower=plo, rate_upper=phi)
    rate = f"canary rate {fmt_value(plo)} to {fmt_value(phi)}"
    _limit_evidence(spec, log_es, f"{rate} beyond the limits ({limits})", found)
    if (spec.max is not None and phi > spec.max) or (spec.min is not None and plo < spec.min):
        found.open_.append(f"{rate} (limits: {limits})")
    elif _has_limits(spec):
        found.ok.append(f"{rate} within the limits ({limits})")
    if compared is not None and spec.direction == "increase" and phi <= spec.min_effect:
        found.open_.remove(compared)  # an increase beyond min_effect is impossible below it
        found.ok.append(f"{compared}, but the {rate} is at most min_effect {fmt_value(spec.min_effect)}")


def _quantile_limit(below: float | None, total: float, q: float, side: str) -> float:
    """Evidence against a quantile limit from the requests at or below the limit's bucket bound (None: the
    limit is beyond the buckets, so they cannot say)."""
    return -math.inf if below is None else limit_log_e(below, total, q, side)


def _limit_evidence(spec: MetricSpec, log_es: Sequence[float], claim: str, found: _Findings) -> None:
    if log_es:
        log_e = float(np.logaddexp.reduce(log_es)) - math.log(len(log_es))
        found.record["log_e_limits"] = round(log_e, 4)
        found.evidence.append(Evidence(spec.name, "limits", LIMIT_WEIGHT, log_e, claim))


def judge_metric(
    obs: Observation,
    history: Sequence[Mapping[str, Any]],
    alphas: tuple[float, float],
    settings: SequentialSettings,
) -> tuple[MetricVerdict, list[Evidence]]:
    """One counted metric's verdict before the rollback tests are weighed (pass or inconclusive) and its
    rollback evidence; ``alphas``: (a comparison's share of the rollback alpha, for the bounds it shows; the
    pass alpha); ``history`` holds the looks the earlier verdicts recorded, oldest first."""
    spec = obs.metric
    look = look_of(obs)
    if look is None:
        return MetricVerdict(spec.name, "nodata", None, f"{spec.name}: canary and stable buckets differ"), []
    looks = [*(Look.from_dict(d) for d in history), look]
    found = _Findings()
    compared = None
    if spec.compare:
        if spec.kind == "ratio":
            found, compared = _compare_rates(spec, looks, alphas, settings)
        else:
            found = _compare_latency(spec, looks, alphas, settings)
    if _has_limits(spec) or (spec.kind == "ratio" and compared is not None and spec.min_effect > 0):
        _own_limits(obs, alphas, found, compared)
    details: dict[str, Any] = {
        "kind": spec.kind,
        "alpha": settings.alpha,
        "alpha_pass": alphas[1],
        "direction": spec.direction,
        **found.details,
        "look": Look(**{**look.__dict__, "extra": found.record}).to_dict(),
    }
    value = obs.value("canary")
    if found.open_ or not found.ok:
        why = f"{spec.name}: " + ("; ".join(found.open_) or "nothing to test (no comparison, no limits)")
        why += ": not certain either way yet" if found.open_ else ""
        return MetricVerdict(spec.name, "inconclusive", None, why, value, details), found.evidence
    ok = MetricVerdict(spec.name, "pass", True, f"{spec.name}: " + "; ".join(found.ok), value, details)
    return ok, found.evidence


def weigh(
    evidence: Sequence[Evidence], total: float, alpha: float, terminal: tuple[float, float] = (0.0, 0.0)
) -> tuple[float, list[Evidence]]:
    """The log of the weighted average of the rollback e-values (each weight over ``total``, the policy's
    total: a test without data this look keeps its share, at e-value 0) and the tests a rollback names.

    The average rolls back at 1 / (alpha (1 - share)); ``terminal`` = (share, total terminal weight): at the
    terminal look a test whose p-value is at most alpha x share x its weight over that total rolls back too.
    Named: none when neither does; else the largest term of the average and every test whose own term crossed,
    and every terminal test that rejected."""
    if not evidence:
        return -math.inf, []
    share = terminal[0]
    terms = [math.log(e.weight / total) + e.log_e for e in evidence]
    combined = float(np.logaddexp.reduce(terms))
    level = math.log(1.0 / (alpha * (1.0 - share)))
    rejected = [e for e in evidence if _terminal_cut(e, alpha, terminal) is not None]
    if combined < level:
        return combined, rejected
    top = max(range(len(terms)), key=terms.__getitem__)
    named = [e for i, e in enumerate(evidence) if i == top or terms[i] >= level]
    return combined, named + [e for e in rejected if e not in named]


def _terminal_cut(e: Evidence, alpha: float, terminal: tuple[float, float]) -> float | None:
    """The level this test's terminal p-value was held to (alpha x share x its weight over the terminal total)
    when it rejected at it; None when it did not, or ran no terminal test."""
    share, terminal_total = terminal
    if e.p_terminal is None or terminal_total <= 0:
        return None
    cut = alpha * share * e.weight / terminal_total
    return cut if e.p_terminal <= cut else None


def _reason(e: Evidence, settings: SequentialSettings, terminal: tuple[float, float]) -> str:
    """What a named rollback test found: its evidence, and the terminal test's p-value when it rejected."""
    text = f"{e.claim} (its evidence {math.exp(min(e.log_e, 700)):.3g}"
    cut = _terminal_cut(e, settings.alpha, terminal)
    if cut is not None:
        text += f"; the last look's fixed-horizon test: p {e.p_terminal:.2g} <= {cut:.2g}"
    return text + ")"


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
    total = rollback_weight([obs.metric for obs in covered])
    share = settings.terminal_share
    alphas = (settings.alpha * (1.0 - share) / max(1.0, total), settings.alpha / 2)
    verdicts: list[MetricVerdict] = []
    evidence: list[Evidence] = []
    for obs in covered:
        missing = missing_verdict(obs, ("canary", "stable"), settings.no_data)
        if missing is not None:
            verdicts.append(missing)
            continue
        history = (previous or {}).get(obs.metric.name) or []
        verdict_, found = judge_metric(obs, history, alphas, settings)
        verdicts.append(verdict_)
        evidence.extend(found)
    terminal = (share, terminal_weight([obs.metric for obs in covered]))
    combined, named = weigh(evidence, total, settings.alpha, terminal)
    level = f"{math.exp(min(combined, 700)):.3g}, rolls back at {1 / (settings.alpha * (1 - share)):g}"
    for i, v in enumerate(verdicts):
        mine = [e for e in named if e.metric == v.metric]
        if mine:
            reasons = "; ".join(_reason(e, settings, terminal) for e in mine)
            details = {**v.details, "rollback_evidence": round(combined, 4)}
            verdicts[i] = MetricVerdict(
                v.metric,
                "fail",
                False,
                f"{v.metric}: {reasons}; all rollback evidence {level}",
                v.value,
                details,
            )
    verdict = settle("sequential", verdicts, settings.final)
    # the bounds of every metric in the one-line reason too (the summary table and the audit show it)
    shown = "; ".join(v.why for v in verdicts if v.passed is not False)
    if shown:
        verdict.why += f" [{shown}]"
    return verdict
