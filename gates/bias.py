"""Bias gate: per-group metrics over sensitive features and their intersections, and disparity rules.

Semantics follow fairlearn's MetricFrame: with several sensitive features every combination of their values
is a group (combinations with no rows are listed as empty); `difference` between groups is max - min,
`ratio` is min / max; `to_overall` compares each group with the metric on all rows (largest absolute gap;
smallest ratio, each ratio taken <= 1). Demographic parity is the selection rate, equal opportunity the true
positive rate, equalized odds the worse of the true and false positive rate disparities (fairlearn's
`worst_case`). Where mlgate departs from fairlearn, it is on purpose and said in the report:
- a rate with an empty denominator (TPR of a group without positives, precision of a group without positive
  predictions) is undefined (NaN), not 0, and the group is left out of that rule with the reason;
- groups smaller than `min_group_size` are reported with their counts but left out of every verdict.

The fast path is ours: rows are tabulated into (group, label, prediction) cells (gates.stats.bootstrap.binary_cells,
no row-wise sort) with the group as the bootstrap stratum, so each resample redraws rows within every group
(a small group never vanishes), and the per-group confusion counts of all resamples are summed per (outcome,
group) column in one pass over a (b, K) weight matrix. A thousand resamples cost about the same at a million
rows as at a thousand.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.thresholds import Threshold, decide
from gates.engine.groups import Coded, group_values
from gates.readers.predictions import Predictions, TabulatedPredictions, load_predictions
from gates.stats import metrics as m
from gates.stats.bootstrap import (
    EXACT_CELLS,
    binary_cells,
    bootstrap,
    coarsen,
    percentile_interval,
    safe_divide,
)

GATE = "bias"
DEFAULT_MIN_GROUP_SIZE = 30
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
DEFAULT_REPORTED = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "accuracy",
    "error_rate",
    "precision",
)
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


def canonical(metric: str) -> str:
    return ALIASES.get(metric, metric)


# ------------------------------------------------------------------------------------------------ groups
@dataclass
class Grouping:
    """One way of splitting rows: by these features, every combination of their values a group."""

    features: tuple[str, ...]
    labels: list[str]  # "female" or "female × over_50"
    sizes: np.ndarray  # rows per group (0: an empty intersection)
    of_full: np.ndarray  # for each intersection of all features, the index of its group here

    @property
    def key(self) -> str:
        return " × ".join(self.features)


@dataclass
class Groups:
    features: tuple[str, ...]
    levels: dict[str, list[str]]
    full_code: np.ndarray | None  # per row: index of its intersection of all features
    full_sizes: np.ndarray | None = None  # rows per intersection, when there are no rows (streamed cells)
    groupings: dict[tuple[str, ...], Grouping] = field(default_factory=dict)

    def grouping(self, features: tuple[str, ...]) -> Grouping:
        if features not in self.groupings:
            self.groupings[features] = _grouping(self, features)
        return self.groupings[features]


def _codes_and_names(values: Any) -> tuple[np.ndarray, list[str]]:
    """Per-row codes into distinct names, from a Coded column or from raw values (factorised here)."""
    if isinstance(values, Coded):
        codes, names = values.codes, [str(n) for n in values.names]
    else:
        import pandas as pd

        codes, uniq = pd.factorize(np.asarray(values, dtype=object))  # hashing: fast on a million strings
        names = [str(u) for u in uniq]
    distinct = sorted(set(names))
    if len(distinct) != len(names):  # two raw values with one text (1 and "1"): one group
        position = {name: i for i, name in enumerate(distinct)}
        codes = np.array([position[n] for n in names], dtype=np.int64)[codes]
        names = distinct
    return np.asarray(codes, dtype=np.int64), names


def make_groups(columns: Mapping[str, Any]) -> Groups:
    """Codes of every row's intersection of all sensitive features (fairlearn order: sorted levels)."""
    features = tuple(columns)
    levels: dict[str, list[str]] = {}
    codes = []
    for name, values in columns.items():
        code, names = _codes_and_names(values)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        levels[name] = [names[i] for i in order]
        codes.append(rank[code])
    shape = tuple(len(levels[f]) for f in features)
    full = np.ravel_multi_index(codes, shape) if codes else np.zeros(0, dtype=np.int64)
    return Groups(features=features, levels=levels, full_code=np.asarray(full, dtype=np.int64))


def _grouping(groups: Groups, features: tuple[str, ...]) -> Grouping:
    full_shape = tuple(len(groups.levels[f]) for f in groups.features)
    sub_shape = tuple(len(groups.levels[f]) for f in features)
    full_index = np.array(list(itertools.product(*[range(s) for s in full_shape])), dtype=np.int64)
    positions = [groups.features.index(f) for f in features]
    of_full = np.ravel_multi_index(tuple(full_index[:, p] for p in positions), sub_shape)
    labels = [" × ".join(combo) for combo in itertools.product(*[groups.levels[f] for f in features])]
    if groups.full_sizes is not None:
        full_sizes = groups.full_sizes
    elif groups.full_code is not None:
        full_sizes = np.bincount(groups.full_code, minlength=int(np.prod(full_shape)))
    else:
        raise ValueError("groups need per-row codes or per-intersection sizes")
    sizes = np.bincount(of_full, weights=full_sizes, minlength=len(labels)).astype(np.int64)
    return Grouping(
        features=features, labels=labels, sizes=sizes, of_full=np.asarray(of_full, dtype=np.int64)
    )


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


def parse_rules(section: dict[str, Any], features: tuple[str, ...], decide_on: str) -> list[Rule]:
    rules: list[Rule] = []
    if section.get("four_fifths"):
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
    if section.get("max_disparity") is not None:
        rules.append(
            Rule(
                "error_rate_difference",
                "error_rate",
                "difference",
                "between_groups",
                Threshold(max=float(section["max_disparity"]), decide_on=decide_on),
                features,
            )
        )
    for index, spec in enumerate(section.get("rules") or []):
        where = f"bias.rules[{index}]"
        metric = canonical(spec["metric"])
        if metric not in GROUP_METRICS and metric not in CRITERIA:
            raise InputError(
                f"{where}.metric: unknown metric {spec['metric']!r} (known: "
                f"{', '.join(sorted(set(GROUP_METRICS) | set(CRITERIA) | set(ALIASES)))})"
            )
        disparity = spec.get("disparity", "difference")
        relative_to = spec.get("relative_to", "between_groups")
        if disparity == "difference" and spec.get("max") is None:
            raise InputError(f"{where}: a difference needs 'max' (the largest allowed gap)")
        if disparity == "ratio" and spec.get("min") is None:
            raise InputError(f"{where}: a ratio needs 'min' (for example 0.8, the four-fifths rule)")
        own = tuple(spec.get("sensitive") or features)
        unknown = [f for f in own if f not in features]
        if unknown:
            raise InputError(
                f"{where}.sensitive: {', '.join(map(repr, unknown))} not in bias.sensitive "
                f"({', '.join(features)})"
            )
        suffix = "" if relative_to == "between_groups" else "_to_overall"
        scope = "" if own == features else f"[{','.join(own)}]"
        name = spec.get("name") or f"{metric}_{disparity}{suffix}{scope}"
        rules.append(
            Rule(
                name,
                metric,
                disparity,
                relative_to,
                Threshold(
                    min=spec.get("min"), max=spec.get("max"), decide_on=spec.get("decide_on", decide_on)
                ),
                own,
            )
        )
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"bias.rules: two rules are named {duplicated[0]!r}; give one a 'name'")
    return rules


# ----------------------------------------------------------------------------------------- the statistic
def _added(parts: Iterable[np.ndarray]) -> np.ndarray:
    """The elementwise sum of the arrays, as sum() gives it."""
    total: np.ndarray | None = None
    for part in parts:
        total = part + 0 if total is None else total + part
    if total is None:
        raise ValueError("nothing to add")
    return total


class GroupStatistic:
    """Vectorised per-group metrics: weights (b, K) over cells -> {metric: (b, G)} for one grouping.

    Confusion counts of every group come from one pass: the cells are put in order of their (outcome,
    group) column once, and each resample's weights are summed per column with np.add.reduceat. Metrics
    that need more than counts (ROC AUC, F1, ...) are computed per group on that group's cells only.
    """

    def __init__(self, cells_columns: dict[str, np.ndarray], grouping: Grouping, metrics: list[str]):
        self.y = cells_columns["y"].astype(bool)
        self.pred = cells_columns["pred"].astype(bool)
        self.score = cells_columns.get("score")
        self.losses = (
            {k: cells_columns[k] for k in ("log_loss", "brier")} if "log_loss" in cells_columns else None
        )
        self.group = grouping.of_full[cells_columns["g"].astype(np.int64)]
        self.size = len(grouping.labels)
        self.metrics = metrics
        outcome = np.where(self.y, np.where(self.pred, 0, 2), np.where(self.pred, 1, 3))
        self.column = outcome * self.size + self.group
        self.order = np.argsort(self.column, kind="stable")
        ordered = self.column[self.order]
        self.starts = (
            np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
            if ordered.size
            else np.zeros(0, dtype=np.int64)
        )
        self.present = ordered[self.starts]
        self._members: dict[int, np.ndarray] = {}

    def counts(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        flat = np.zeros((weights.shape[0], 4 * self.size))
        if weights.shape[0] == 1:
            flat[0] = np.bincount(self.column, weights=weights[0], minlength=4 * self.size)
        elif self.starts.size:
            flat[:, self.present] = np.add.reduceat(weights[:, self.order], self.starts, axis=1)
        return {name: flat[:, i * self.size : (i + 1) * self.size] for i, name in enumerate(OUTCOMES)}

    def members(self, g: int) -> np.ndarray:
        if g not in self._members:
            self._members[g] = np.flatnonzero(self.group == g)
        return self._members[g]

    def __call__(
        self, weights: np.ndarray, counts: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        counts = counts if counts is not None else self.counts(weights)
        out = {"count": _added(counts[o] for o in OUTCOMES), "positives": counts["tp"] + counts["fn"]}
        for metric in self.metrics:
            if metric in RATES:
                top, bottom = RATES[metric]
                out[metric] = safe_divide(_added(counts[o] for o in top), _added(counts[o] for o in bottom))
        others = [x for x in self.metrics if x not in RATES]
        if others:
            with_score = any(x in SCORE_METRICS for x in others)
            score = self.score if with_score else None
            if with_score and score is None:
                raise ValueError(
                    f"{', '.join(x for x in others if x in SCORE_METRICS)} need scores in the cells"
                )
            per_group = []
            for g in range(self.size):
                idx = self.members(g)
                losses = {k: v[idx] for k, v in self.losses.items()} if self.losses and with_score else None
                per_group.append(
                    m.binary(
                        weights[:, idx],
                        self.y[idx],
                        self.pred[idx],
                        score[idx] if score is not None else None,
                        losses,
                    )
                )
            for metric in others:
                out[metric] = np.stack([values[metric] for values in per_group], axis=1)
        return out


def overall_values(
    weights: np.ndarray, stat: GroupStatistic, counts: dict[str, np.ndarray], metrics: list[str]
) -> dict[str, np.ndarray]:
    """Metrics on all rows (fairlearn's `overall`), from the summed group counts where possible."""
    total = {o: counts[o].sum(axis=1) for o in OUTCOMES}
    out: dict[str, np.ndarray] = {}
    for metric in metrics:
        if metric in RATES:
            top, bottom = RATES[metric]
            out[metric] = safe_divide(_added(total[o] for o in top), _added(total[o] for o in bottom))
    others = [x for x in metrics if x not in RATES]
    if others:
        with_score = any(x in SCORE_METRICS for x in others)
        values = m.binary(
            weights,
            stat.y,
            stat.pred,
            stat.score if with_score else None,
            stat.losses if with_score else None,
        )
        out.update({x: values[x] for x in others})
    return out


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


# ---------------------------------------------------------------------------------------------- the gate
def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    features = sensitive_features(section)
    if section.get("task", "binary") != "binary":
        raise InputError(f"bias.task: the bias gate judges binary decisions, got {section['task']!r}")
    path = ctx.path(section["predictions"])
    from gates.engine import local as streaming

    if streaming.wanted({**section, "task": "binary"}, path):  # too large for memory (or asked for)
        tabulated = streaming.tabulate(
            path, {**section, "task": "binary"}, sensitive=list(features), where="bias"
        )
        result = evaluate(tabulated, {}, section, ctx)
        result.evidence["streaming"] = tabulated.streaming
        return result
    p = load_predictions(path, {**section, "task": "binary"}, extra_columns=list(features))
    missing_group = section.get("missing_group")
    columns = {f: group_values(p.frame[f], f, str(path), missing_group) for f in features}
    return evaluate(p, columns, section, ctx)


def sensitive_features(section: dict[str, Any]) -> tuple[str, ...]:
    value = section.get("sensitive")
    features = (value,) if isinstance(value, str) else tuple(value or ())
    if not features:
        raise InputError("bias.sensitive: name at least one sensitive column")
    return features


def evaluate(
    p: Predictions | TabulatedPredictions,
    sensitive: Mapping[str, Coded | np.ndarray],
    section: dict[str, Any],
    ctx: GateContext,
) -> GateResult:
    """Pure part of the gate: label, prediction (and score) arrays plus sensitive values in, checks out."""
    boot = ctx.bootstrap(section)
    decide_on = ctx.decide_on(section)
    min_size = int(section.get("min_group_size", DEFAULT_MIN_GROUP_SIZE))
    levels: dict[str, list[str]] | None = None  # of streamed cells' groups
    if isinstance(p, TabulatedPredictions):
        if p.levels is None:
            raise InputError(f"{p.path}: the streamed predictions were read without sensitive features")
        levels = p.levels
    features = tuple(levels) if levels is not None else tuple(sensitive)
    rules = parse_rules(section, features, decide_on)
    reported = [canonical(x) for x in (section.get("metrics") or DEFAULT_REPORTED)]
    for x in reported:
        if x not in GROUP_METRICS:
            raise InputError(f"bias.metrics: unknown metric {x!r} (known: {', '.join(GROUP_METRICS)})")
    metrics = list(dict.fromkeys(reported + [c for r in rules for c in r.components]))
    needs_score = any(x in SCORE_METRICS for x in metrics)
    if needs_score and p.score is None:
        raise InputError(
            f"{p.path}: {', '.join(x for x in metrics if x in SCORE_METRICS)} need a score column "
            "(set bias.columns.score)"
        )
    if isinstance(p, TabulatedPredictions):  # streamed: the cells are all there is
        assert levels is not None  # set above for streamed predictions
        groups = Groups(
            features=features,
            levels=levels,
            full_code=None,
            full_sizes=np.bincount(
                p.cells.columns["g"],
                weights=p.cells.counts,
                minlength=math.prod(len(levels[f]) for f in features),
            ),
        )
        cells = p.cells
        if not needs_score and "score" in cells.columns:  # the counts per (group, label, decision) suffice
            cells = binary_cells(
                cells.columns["y"],
                cells.columns["pred"],
                None,
                group=cells.columns["g"],
                strata=True,
                weights=cells.counts,
            )
    else:
        groups = make_groups(sensitive)
        cells = binary_cells(
            p.y, p.pred, p.score if needs_score else None, group=groups.full_code, strata=True
        )
    wanted = list(dict.fromkeys([features] + [r.features for r in rules]))

    def statistic_of(columns: dict[str, np.ndarray]):
        stats = {f: GroupStatistic(columns, groups.grouping(f), metrics) for f in wanted}

        def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for f, stat in stats.items():
                counts = stat.counts(weights)
                for name, values in stat(weights, counts).items():
                    out[_key(f, name)] = values
                for name, values in overall_values(weights, stat, counts, metrics).items():
                    out[_key(f, name, "o")] = values
            return out

        return statistic

    statistic = statistic_of(cells.columns)
    point = {k: v[0] for k, v in statistic(cells.counts[None, :]).items()}
    plans = [plan_rule(rule, groups.grouping(rule.features), point, min_size) for rule in rules]
    # The bootstrap runs on the exact cells, or with many distinct scores on score-bin cells whose ranking
    # metrics are shifted by the point value's binning offset (see gates.stats.bootstrap.coarsen).
    boot_cells, shift, binning = cells, {}, None
    if needs_score and boot.resamples and cells.size > EXACT_CELLS:
        losses = (
            {k: cells.columns[k] for k in ("log_loss", "brier")}
            if "log_loss" in cells.columns
            else m.binary_losses(cells.columns["y"], cells.columns["score"])
        )
        boot_cells, binning = coarsen(cells, sums=losses)
        boot_statistic = statistic_of(boot_cells.columns)
        binned = {k: v[0] for k, v in boot_statistic(boot_cells.counts[None, :]).items()}
        shift = {
            k: np.nan_to_num(np.asarray(point[k], dtype=float) - binned[k])
            for k in point
            if k.split("|")[-1] in ("roc_auc", "average_precision")
        }
    else:
        boot_statistic = statistic

    def with_rules(weights: np.ndarray) -> dict[str, np.ndarray]:
        out = boot_statistic(weights)
        for key, offset in shift.items():
            out[key] = out[key] + offset
        for plan in plans:
            if plan.judged.size >= 2:
                out[f"r|{plan.rule.name}"] = rule_value(plan, out)
        return out

    samples = bootstrap(boot_cells, with_rules, boot.resamples, boot.seed) if boot.resamples else {}
    checks = [size_check(groups.grouping(f), min_size) for f in wanted]
    summary: dict[str, Any] = {}
    for plan in plans:
        check = rule_check(plan, samples, boot.confidence)
        checks.append(check)
        if isinstance(check.value, float) and np.isfinite(check.value):
            summary[plan.rule.name] = round(check.value, 6)
    if not rules:
        checks.append(
            Check(
                "rules",
                Status.ERROR,
                "no disparity rules are configured (rules, four_fifths or "
                "max_disparity): nothing was decided",
            )
        )

    def interval(key: str, column: int | None = None) -> tuple[float, float] | None:
        if key not in samples:
            return None
        values = samples[key] if column is None else samples[key][:, column]
        found = percentile_interval(values, boot.confidence)
        return (found.low, found.high) if found else None

    tables, group_evidence = {}, {}
    for f in wanted:
        grouping = groups.grouping(f)
        tables[f"Groups by {grouping.key}"] = group_table(grouping, f, point, reported, interval, min_size)
        group_evidence[grouping.key] = group_record(grouping, f, point, metrics, interval, min_size)
    evidence = {
        "sensitive": list(features),
        "rows": p.rows,
        "min_group_size": min_size,
        "levels": groups.levels,
        "bootstrap": {
            "method": "percentile bootstrap, rows redrawn within each intersection group"
            + (
                f"; ranking metrics of each resample from {binning.bins} score bins, shifted by the "
                "point value's binning offset"
                if binning
                else ""
            ),
            "confidence": boot.confidence,
            "resamples": boot.resamples,
            "seed": boot.seed,
            "cells": boot_cells.size,
        },
        "groups": group_evidence,
        "rules": [plan.record() for plan in plans],
        "tables": tables,
    }
    result = GateResult(gate=GATE, checks=checks, evidence=evidence, summary=summary)
    if section.get("plots", True):
        result.artifacts.update(rule_pictures(plans, point, interval, ctx))
    return result


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


def _key(features: tuple[str, ...], name: str, kind: str = "g") -> str:
    return f"{kind}|{'|'.join(features)}|{name}"


def plan_rule(rule: Rule, grouping: Grouping, point: dict[str, np.ndarray], min_size: int) -> RulePlan:
    excluded: dict[str, str] = {}
    judged = []
    values = {c: np.asarray(point[_key(rule.features, c)], dtype=float) for c in rule.components}
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
    overall = {c: float(point[_key(rule.features, c, "o")]) for c in rule.components}
    plan = RulePlan(rule, grouping, judged_idx, excluded, float("nan"), values, overall)
    if judged_idx.size >= 2:
        single = {k: np.asarray(v)[None, ...] for k, v in point.items()}
        plan.value = float(rule_value(plan, single)[0])
    return plan


def rule_value(plan: RulePlan, values: dict[str, np.ndarray]) -> np.ndarray:
    rule = plan.rule
    parts = [
        disparity(
            values[_key(rule.features, c)][:, plan.judged],
            values[_key(rule.features, c, "o")],
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


def rule_check(plan: RulePlan, samples: dict[str, np.ndarray], confidence: float) -> Check:
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
    if key in samples:
        found = percentile_interval(samples[key], confidence)
        if found:
            ci = (found.low, found.high)
            details["undefined_resamples"] = found.undefined_share
        else:
            details["undefined_resamples"] = float(np.mean(~np.isfinite(samples[key])))
    check = decide(
        rule.name, plan.value, ci, rule.threshold, confidence, label=rule.describe(), details=details
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
    return check


def size_check(grouping: Grouping, min_size: int) -> Check:
    small = {label: int(n) for label, n in zip(grouping.labels, grouping.sizes) if n < min_size}
    name = f"group_sizes[{grouping.key}]"
    details = {
        "sizes": {label: int(n) for label, n in zip(grouping.labels, grouping.sizes)},
        "min_group_size": min_size,
    }
    if not small:
        return Check(
            name,
            Status.PASS,
            f"all {len(grouping.labels)} groups by {grouping.key} have at least "
            f"{min_size} rows (smallest {int(grouping.sizes.min())})",
            value=float(grouping.sizes.min()),
            threshold=f">= {min_size} rows",
            details=details,
        )
    listed = ", ".join(
        f"{label} (n={n}{', empty intersection' if n == 0 else ''})" for label, n in small.items()
    )
    return Check(
        name,
        Status.WARN,
        f"{len(small)} of {len(grouping.labels)} groups by {grouping.key} have fewer than "
        f"{min_size} rows and are reported but not judged: {listed}",
        value=float(grouping.sizes.min()),
        threshold=f">= {min_size} rows",
        details=details,
    )


def _group_status(grouping: Grouping, g: int, min_size: int) -> str:
    n = int(grouping.sizes[g])
    if n == 0:
        return "empty intersection"
    if n < min_size:
        return f"not judged (n < {min_size})"
    return "judged"


def group_table(
    grouping: Grouping,
    features: tuple[str, ...],
    point: dict[str, np.ndarray],
    metrics: list[str],
    interval,
    min_size: int,
) -> str:
    from gates.formats.text import number

    def cell(value: float, ci: tuple[float, float] | None, n: int) -> str:
        if n == 0:
            return "–"
        if not np.isfinite(value):
            return "undefined"
        return number(float(value)) + (f" [{number(ci[0])}, {number(ci[1])}]" if ci else "")

    head = ["group", "n", "positives"] + [SHORT.get(x, x) for x in metrics] + ["status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    counts = point[_key(features, "count")]
    positives = point[_key(features, "positives")]
    for g, label in enumerate(grouping.labels):
        n = round(float(counts[g]))
        row = [label, str(n), str(round(float(positives[g])))]
        row += [cell(point[_key(features, x)][g], interval(_key(features, x), g), n) for x in metrics]
        row.append(_group_status(grouping, g, min_size))
        lines.append("| " + " | ".join(row) + " |")
    overall = [cell(float(point[_key(features, x, "o")]), None, 1) for x in metrics]
    total, positive = round(float(counts.sum())), round(float(positives.sum()))
    lines.append("| " + " | ".join(["**overall**", str(total), str(positive)] + overall + [""]) + " |")
    return "\n".join(lines)


def group_record(
    grouping: Grouping,
    features: tuple[str, ...],
    point: dict[str, np.ndarray],
    metrics: list[str],
    interval,
    min_size: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for g, label in enumerate(grouping.labels):
        entry: dict[str, Any] = {
            "n": int(grouping.sizes[g]),
            "positives": round(float(point[_key(features, "positives")][g])),
            "status": _group_status(grouping, g, min_size),
        }
        for x in metrics:
            value = float(point[_key(features, x)][g])
            ci = interval(_key(features, x), g) if entry["n"] else None
            entry[x] = {"value": value if np.isfinite(value) else None, "ci": list(ci) if ci else None}
        out[label] = entry
    out["overall"] = {x: float(point[_key(features, x, "o")]) for x in metrics}
    return out


def threshold_lines(plan: RulePlan, component: str) -> list[tuple[float, str]]:
    """Where the threshold sits on the per-group scale, for the picture."""
    rule, t = plan.rule, plan.rule.threshold
    vals = plan.point_values[component][plan.judged]
    if vals.size == 0:
        return []
    overall = plan.overall[component]
    if rule.relative_to == "between_groups":
        if rule.disparity == "ratio" and t.min is not None:
            return [(t.min * float(vals.max()), f"{t.min:g} × highest group")]
        if rule.disparity == "difference" and t.max is not None:
            return [(float(vals.max()) - t.max, f"highest − {t.max:g}")]
        return []
    if rule.disparity == "difference" and t.max is not None:
        return [(overall - t.max, f"overall ± {t.max:g}"), (overall + t.max, "")]
    if rule.disparity == "ratio" and t.min:
        return [(overall * t.min, f"overall × {t.min:g} and ÷ {t.min:g}"), (overall / t.min, "")]
    return []


def rule_pictures(
    plans: list[RulePlan], point: dict[str, np.ndarray], interval, ctx: GateContext
) -> dict[str, str]:
    from gates.formats import plots

    out: dict[str, str] = {}
    for plan in plans[:8]:
        for component in plan.rule.components:
            f = plan.rule.features
            labels = plan.grouping.labels
            values = [float(v) for v in point[_key(f, component)]]
            intervals = [
                interval(_key(f, component), g) if plan.grouping.sizes[g] else None
                for g in range(len(labels))
            ]
            judged = [g in set(plan.judged.tolist()) for g in range(len(labels))]
            title = f"{plan.rule.name}: {component} by {plan.grouping.key}"
            out.update(
                plots.group_bars(
                    ctx.report_dir,
                    f"bias-{plan.rule.name}-{component}",
                    title,
                    labels,
                    values,
                    intervals,
                    judged,
                    threshold_lines(plan, component),
                    overall=plan.overall[component],
                )
            )
    return out
