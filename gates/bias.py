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

Rules live in gates/bias_rules.py, groups in gates/bias_groups.py, tables and pictures in
gates/bias_report.py. The fast path is ours: rows are tabulated into (group, label, prediction) cells (gates.stats.bootstrap.binary_cells,
no row-wise sort) with the group as the bootstrap stratum, so each resample redraws rows within every group
(a small group never vanishes), and the per-group confusion counts of all resamples are summed per (outcome,
group) column in one pass over a (b, K) weight matrix. A thousand resamples cost about the same at a million
rows as at a thousand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gates.bias_groups import Grouping, Groups, make_groups
from gates.bias_report import group_record, group_table, rule_charts, size_check
from gates.bias_rules import (
    GROUP_METRICS,
    OUTCOMES,
    RATES,
    SCORE_METRICS,
    canonical,
    parse_rules,
    plan_rule,
    rule_check,
    rule_value,
    sample_key,
    summed,
)
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.bias import BiasSettings, GroupJudging
from gates.engine.groups import Coded, group_values
from gates.readers.predictions import Predictions, TabulatedPredictions, load_predictions
from gates.resample import bootstrap
from gates.stats import metrics as m
from gates.stats.bootstrap import (
    EXACT_CELLS,
    binary_cells,
    coarsen,
    percentile_interval,
    safe_divide,
)

GATE = "bias"


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
        out = {"count": summed(counts[o] for o in OUTCOMES), "positives": counts["tp"] + counts["fn"]}
        out.update({o: counts[o] for o in OUTCOMES})  # the rates' numerators and denominators
        for metric in self.metrics:
            if metric in RATES:
                top, bottom = RATES[metric]
                out[metric] = safe_divide(summed(counts[o] for o in top), summed(counts[o] for o in bottom))
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
            out[metric] = safe_divide(summed(total[o] for o in top), summed(total[o] for o in bottom))
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


# ---------------------------------------------------------------------------------------------- the gate
def run(section: BiasSettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = BiasSettings.of(section)
    features = settings.features()
    from gates.engine import choose, shared
    from gates.engine import local as streaming

    given = settings.reader_spec(task="binary")  # the readers and engines still take the policy's mapping
    tabulated = choose.binary_cells(given, ctx, "bias", sensitive=list(features))  # DuckDB or Spark
    path = ctx.path(settings.predictions) if tabulated is None else tabulated.path
    if tabulated is None and streaming.wanted(given, path):  # too large for memory
        tabulated = streaming.tabulate(path, given, sensitive=list(features), where="bias")
    if tabulated is not None:
        result = evaluate(tabulated, {}, settings, ctx)
        result.evidence["streaming"] = tabulated.streaming
        return result
    pair = shared.current()  # in `mlgate run`, the metrics gate may have read these rows already
    p = pair.take(("local", str(path)), "bias") if pair and pair.role(given, list(features)) else None
    if p is None:
        p = load_predictions(path, given, extra_columns=list(features))
    columns = {f: group_values(p.frame[f], f, str(path), settings.missing_group) for f in features}
    return evaluate(p, columns, settings, ctx)


def needs_scores(settings: GroupJudging) -> bool:
    """Whether any reported metric or rule needs the scores (else the counts per group, label and decision
    are all the gate reads: gates.engine.shared then fetches no per-group score cells)."""
    named = [*settings.metrics, *(rule.metric for rule in settings.rules)]
    return any(canonical(x) in SCORE_METRICS for x in named)


def sensitive_features(section: Mapping[str, Any]) -> tuple[str, ...]:
    """The sensitive columns of a section given as a mapping (the engines read settings.reader_spec())."""
    value = section.get("sensitive")
    features = (value,) if isinstance(value, str) else tuple(value or ())
    if not features:
        raise InputError("bias.sensitive: name at least one sensitive column")
    return features


def evaluate(
    p: Predictions | TabulatedPredictions,
    sensitive: Mapping[str, Coded | np.ndarray],
    section: GroupJudging | Mapping[str, Any],
    ctx: GateContext,
) -> GateResult:
    """Pure part of the gate: label, prediction (and score) arrays plus sensitive values in, checks out."""
    settings = GroupJudging.part(section, "bias")
    boot = ctx.bootstrap(settings)
    decide_on = ctx.decide_on(settings)
    min_size = settings.min_group_size
    levels: dict[str, list[str]] | None = None  # of streamed cells' groups
    if isinstance(p, TabulatedPredictions):
        if p.levels is None:
            raise InputError(f"{p.path}: the streamed predictions were read without sensitive features")
        levels = p.levels
    features = tuple(levels) if levels is not None else tuple(sensitive)
    rules = parse_rules(settings, features, decide_on)
    reported = [canonical(x) for x in settings.metrics]
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
                    out[sample_key(f, name)] = values
                for name, values in overall_values(weights, stat, counts, metrics).items():
                    out[sample_key(f, name, "o")] = values
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
        check = rule_check(plan, samples, boot.confidence, settings.min_class_rows)
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
    if settings.plots:
        result.evidence["group_charts"] = rule_charts(plans, point, interval)
    return result
