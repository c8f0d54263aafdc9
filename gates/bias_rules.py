"""Disparity rules of the bias gate: which rates a rule reads, which groups it judges, its value and verdict.

Kept apart from the gate (gates/bias.py, which groups rows and runs the statistic) because a rule is pure
arithmetic on per-group values: it is where fairlearn's definitions live (`difference` max - min, `ratio`
min / max, `to_overall` against all rows, equalized odds the worse of TPR and FPR) and where the interval
with a stated coverage comes from (gates.stats.intervals.disparity_interval for rates, the bootstrap
within groups for everything else).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.bias_groups import Grouping
from gates.core.errors import InputError
from gates.core.result import Check, Status
from gates.core.settings.bias import GroupJudging
from gates.core.thresholds import Threshold, decide
from gates.stats.bootstrap import percentile_interval, safe_divide
from gates.stats.intervals import RateFamily, disparity_interval

OUTCOMES = ("tp", "fp", "fn", "tn")
# Rates from confusion counts: (numerator outcomes, denominator outcomes).
RATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "selection_rate": (("tp", "fp"), OUTCOMES),
    "true_positive_rate": (("tp",), ("tp", "fn")),
    "false_positive_rate": (("fp",), ("fp", "tn")),
    "false_negative_rate": (("fn",), ("tp", "fn")),
    "true_negative_rate": (("tn",), ("fp", "tn")),
    "accuracy": (("tp", "tn"), OUTCOMES),
    "error_rate": (("fp", "fn"), OUTCOMES),
    "precision": (("tp",), ("tp", "fp")),
}


ALIASES = {
    "tpr": "true_positive_rate",
    "fpr": "false_positive_rate",
    "fnr": "false_negative_rate",
    "tnr": "true_negative_rate",
}


SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")


OTHER_METRICS = ("balanced_accuracy", "recall", "f1")  # from gates.stats.metrics.binary, no score needed


GROUP_METRICS = tuple(RATES) + OTHER_METRICS + SCORE_METRICS


CRITERIA = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("true_positive_rate",),
    "equalized_odds": ("true_positive_rate", "false_positive_rate"),
}


SHORT = {
    "selection_rate": "selection",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
    "true_negative_rate": "TNR",
    "error_rate": "error",
}


UNDEFINED_WHY = {
    "true_positive_rate": "no positive labels",
    "false_negative_rate": "no positive labels",
    "false_positive_rate": "no negative labels",
    "true_negative_rate": "no negative labels",
    "precision": "no positive predictions",
    "recall": "no positive labels",
    "roc_auc": "one label class only",
    "average_precision": "no positive labels",
    "balanced_accuracy": "one label class only",
}


# The label class(es) whose rows carry each metric: a group with few of them gets an interval that under-covers
# (the per-group form of the metrics gate's min_class_rows; selection rate, accuracy, error rate and Brier
# score are carried by all of a group's rows, which min_group_size already bounds).
CLASSES_NEEDED: dict[str, tuple[str, ...]] = {
    "true_positive_rate": ("positives",),
    "false_negative_rate": ("positives",),
    "recall": ("positives",),
    "f1": ("positives",),
    "false_positive_rate": ("negatives",),
    "true_negative_rate": ("negatives",),
    "balanced_accuracy": ("positives", "negatives"),
    "roc_auc": ("positives", "negatives"),
    "average_precision": ("positives", "negatives"),
    "log_loss": ("positives", "negatives"),
}
DEFAULT_MIN_CLASS_ROWS = 20


def canonical(metric: str) -> str:
    return ALIASES.get(metric, metric)


# ------------------------------------------------------------------------------------------------- rules
@dataclass
class Rule:
    name: str
    metric: str  # a group metric or a criterion (demographic_parity, equal_opportunity, equalized_odds)
    disparity: str  # difference | ratio
    relative_to: str  # between_groups | to_overall
    threshold: Threshold
    features: tuple[str, ...]

    @property
    def components(self) -> tuple[str, ...]:
        return CRITERIA.get(self.metric, (self.metric,))

    def describe(self) -> str:
        where = "between groups" if self.relative_to == "between_groups" else "to overall"
        return f"{self.metric} {self.disparity} {where}"


def parse_rules(settings: GroupJudging, features: tuple[str, ...], decide_on: str) -> list[Rule]:
    rules: list[Rule] = []
    if settings.four_fifths:
        rules.append(
            Rule(
                "four_fifths",
                "selection_rate",
                "ratio",
                "between_groups",
                Threshold(min=0.8, decide_on=decide_on),
                features,
            )
        )
    if settings.max_disparity is not None:
        rules.append(
            Rule(
                "error_rate_difference",
                "error_rate",
                "difference",
                "between_groups",
                Threshold(max=float(settings.max_disparity), decide_on=decide_on),
                features,
            )
        )
    for index, spec in enumerate(settings.rules):
        where = f"bias.rules[{index}]"
        metric = canonical(spec.metric)
        if metric not in GROUP_METRICS and metric not in CRITERIA:
            raise InputError(
                f"{where}.metric: unknown metric {spec.metric!r} (known: "
                f"{', '.join(sorted(set(GROUP_METRICS) | set(CRITERIA) | set(ALIASES)))})"
            )
        disparity, relative_to = spec.disparity, spec.relative_to
        if disparity == "difference" and spec.max is None:
            raise InputError(f"{where}: a difference needs 'max' (the largest allowed gap)")
        if disparity == "ratio" and spec.min is None:
            raise InputError(f"{where}: a ratio needs 'min' (for example 0.8, the four-fifths rule)")
        own = tuple(spec.sensitive or features)
        unknown = [f for f in own if f not in features]
        if unknown:
            raise InputError(
                f"{where}.sensitive: {', '.join(map(repr, unknown))} not in bias.sensitive "
                f"({', '.join(features)})"
            )
        suffix = "" if relative_to == "between_groups" else "_to_overall"
        scope = "" if own == features else f"[{','.join(own)}]"
        name = spec.name or f"{metric}_{disparity}{suffix}{scope}"
        rules.append(
            Rule(
                name,
                metric,
                disparity,
                relative_to,
                Threshold(min=spec.min, max=spec.max, decide_on=spec.decide_on or decide_on),
                own,
            )
        )
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"bias.rules: two rules are named {duplicated[0]!r}; give one a 'name'")
    return rules


# ----------------------------------------------------------------------------------------- the statistic
def summed(parts: Iterable[np.ndarray]) -> np.ndarray:
    """The elementwise sum of the arrays, as sum() gives it."""
    total: np.ndarray | None = None
    for part in parts:
        total = part + 0 if total is None else total + part
    if total is None:
        raise ValueError("nothing to add")
    return total


def disparity(values: np.ndarray, overall: np.ndarray, kind: str, relative_to: str) -> np.ndarray:
    """(b, E) values of the judged groups -> (b,) disparity; NaN where any judged group is undefined."""
    undefined = np.isnan(values).any(axis=1)
    if relative_to == "between_groups":
        high, low = values.max(axis=1), values.min(axis=1)
        out = high - low if kind == "difference" else safe_divide(low, high)
    elif kind == "difference":
        out = np.abs(values - overall[:, None]).max(axis=1)
    else:
        ratio = safe_divide(values, np.broadcast_to(overall[:, None], values.shape))
        with np.errstate(divide="ignore"):
            ratio = np.where(ratio > 1, 1 / np.where(ratio > 1, ratio, 1), ratio)
        out = ratio.min(axis=1)
    return np.where(undefined, np.nan, out)


@dataclass
class RulePlan:
    """Which groups a rule judges, which it leaves out and why, and its point value."""

    rule: Rule
    grouping: Grouping
    judged: np.ndarray
    excluded: dict[str, str]
    value: float
    point_values: dict[str, np.ndarray]
    overall: dict[str, float]
    family: RateFamily | None = None  # the judged groups' counts, when every component is a rate
    class_rows: dict[str, np.ndarray] | None = None  # positives and negatives per group

    def record(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "metric": self.rule.metric,
            "disparity": self.rule.disparity,
            "relative_to": self.rule.relative_to,
            "sensitive": list(self.rule.features),
            "judged": [self.grouping.labels[i] for i in self.judged],
            "excluded": self.excluded,
            "value": self.value,
        }


def sample_key(features: tuple[str, ...], name: str, kind: str = "g") -> str:
    return f"{kind}|{'|'.join(features)}|{name}"


def plan_rule(rule: Rule, grouping: Grouping, point: dict[str, np.ndarray], min_size: int) -> RulePlan:
    excluded: dict[str, str] = {}
    judged = []
    values = {c: np.asarray(point[sample_key(rule.features, c)], dtype=float) for c in rule.components}
    for g, label in enumerate(grouping.labels):
        size = int(grouping.sizes[g])
        if size == 0:
            excluded[label] = "empty intersection (no rows)"
        elif size < min_size:
            excluded[label] = f"n={size} < min_group_size {min_size}"
        else:
            undefined = [c for c in rule.components if not np.isfinite(values[c][g])]
            if undefined:
                excluded[label] = "; ".join(
                    f"{c} undefined ({UNDEFINED_WHY.get(c, 'empty denominator')})" for c in undefined
                )
            else:
                judged.append(g)
    judged_idx = np.array(judged, dtype=np.int64)
    overall = {c: float(point[sample_key(rule.features, c, "o")]) for c in rule.components}
    plan = RulePlan(rule, grouping, judged_idx, excluded, float("nan"), values, overall)
    plan.class_rows = {
        "positives": np.asarray(
            point[sample_key(rule.features, "tp")] + point[sample_key(rule.features, "fn")], float
        ),
        "negatives": np.asarray(
            point[sample_key(rule.features, "fp")] + point[sample_key(rule.features, "tn")], float
        ),
    }
    if all(c in RATES for c in rule.components) and judged_idx.size >= 2:
        plan.family = rate_family(rule, judged_idx, point)
    if judged_idx.size >= 2:
        single = {k: np.asarray(v)[None, ...] for k, v in point.items()}
        plan.value = float(rule_value(plan, single)[0])
    return plan


def rate_family(rule: Rule, judged: np.ndarray, point: dict[str, np.ndarray]) -> RateFamily:
    """Numerator and denominator counts of each component rate, per judged group and overall."""
    successes, trials, overall_successes, overall_trials = [], [], [], []
    for c in rule.components:
        top, bottom = RATES[c]
        k = summed(np.asarray(point[sample_key(rule.features, o)], dtype=float) for o in top)
        n = summed(np.asarray(point[sample_key(rule.features, o)], dtype=float) for o in bottom)
        successes.append(k[judged])
        trials.append(n[judged])
        overall_successes.append(float(k.sum()))
        overall_trials.append(float(n.sum()))
    return RateFamily(successes, trials, overall_successes, overall_trials)


def rule_value(plan: RulePlan, values: dict[str, np.ndarray]) -> np.ndarray:
    rule = plan.rule
    parts = [
        disparity(
            values[sample_key(rule.features, c)][:, plan.judged],
            values[sample_key(rule.features, c, "o")],
            rule.disparity,
            rule.relative_to,
        )
        for c in rule.components
    ]
    if len(parts) == 1:
        return parts[0]
    stacked = np.vstack(parts)
    worst = stacked.max(axis=0) if rule.disparity == "difference" else stacked.min(axis=0)
    return np.where(np.isnan(stacked).any(axis=0), np.nan, worst)


def rule_check(
    plan: RulePlan, samples: dict[str, np.ndarray], confidence: float, floor: int = DEFAULT_MIN_CLASS_ROWS
) -> Check:
    rule = plan.rule
    details: dict[str, Any] = {
        "sensitive": list(rule.features),
        "relative_to": rule.relative_to,
        "judged_groups": [plan.grouping.labels[i] for i in plan.judged],
        "excluded_groups": plan.excluded,
        "group_values": {
            c: {plan.grouping.labels[i]: float(plan.point_values[c][i]) for i in plan.judged}
            for c in rule.components
        },
        "overall": plan.overall,
    }
    if plan.judged.size < 2:
        why = (
            f"{rule.describe()} needs at least two judged groups by {plan.grouping.key}; "
            f"{plan.judged.size} left after exclusions"
        )
        if plan.excluded:
            why += ": " + "; ".join(f"{k}: {v}" for k, v in plan.excluded.items())
        return Check(rule.name, Status.ERROR, why, threshold=rule.threshold.describe(), details=details)
    key = f"r|{rule.name}"
    ci = None
    if plan.family is not None:  # rates: simultaneous intervals with stated coverage, no resampling
        low, high, method = disparity_interval(plan.family, rule.disparity, rule.relative_to, confidence)
        ci = (low, high)
        details["interval_method"] = method
    elif key in samples:
        found = percentile_interval(samples[key], confidence)
        details["interval_method"] = "percentile bootstrap within groups"
        if found:
            ci = (found.low, found.high)
            details["undefined_resamples"] = found.undefined_share
        else:
            details["undefined_resamples"] = float(np.mean(~np.isfinite(samples[key])))
    check = decide(
        rule.name,
        plan.value,
        ci,
        rule.threshold,
        confidence,
        label=rule.describe(),
        details=details,
        biased_point=rule.relative_to == "between_groups" or rule.disparity == "difference",
    )
    context = []
    for c in rule.components:
        vals = plan.point_values[c][plan.judged]
        low, high = int(np.argmin(vals)), int(np.argmax(vals))
        name = SHORT.get(c, c)
        context.append(
            f"{name} lowest {plan.grouping.labels[plan.judged[low]]} {vals[low]:.4g}, highest "
            f"{plan.grouping.labels[plan.judged[high]]} {vals[high]:.4g}"
            + (f", overall {plan.overall[c]:.4g}" if rule.relative_to == "to_overall" else "")
        )
    check.why += " (" + "; ".join(context) + ")"
    if plan.excluded:
        check.why += "; not judged: " + "; ".join(f"{k} ({v})" for k, v in plan.excluded.items())
    if ci is None and key in samples:
        check.why += "; no interval: most resamples left a judged group undefined"
    guard_group_classes(check, plan, floor)
    return check


def guard_group_classes(check: Check, plan: RulePlan, floor: int) -> None:
    """A judged group with fewer than `floor` rows of the class its metric is carried by (TPR: positives, FPR:
    negatives, ROC AUC: both) makes the rule's interval too optimistic to back a verdict: the check warns, and
    is an error when the bound decides (an undecided gate, never a pass)."""
    if plan.class_rows is None or check.status is Status.ERROR:
        return
    short: dict[str, dict[str, int]] = {}
    for c in plan.rule.components:
        for kind in CLASSES_NEEDED.get(c, ()):
            for g in plan.judged:
                rows = round(float(plan.class_rows[kind][g]))
                if rows < floor:
                    short.setdefault(plan.grouping.labels[g], {})[kind] = rows
    if not short:
        return
    check.details["min_class_rows"] = floor
    check.details["groups_below_min_class_rows"] = short
    listed = "; ".join(
        f"{g}: " + ", ".join(f"{v} {k}" for k, v in found.items()) for g, found in short.items()
    )
    check.why += (
        f"; too few rows of a class for {plan.rule.metric} (below min_class_rows {floor}: {listed}): the "
        "interval is too optimistic to back a verdict"
    )
    if plan.rule.threshold.decide_on == "bound":
        check.status = Status.ERROR
    elif check.status is Status.PASS:
        check.status = Status.WARN
