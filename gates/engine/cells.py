"""The one definition of the binary cells every out-of-process engine computes, as SQL, and their validation.

DuckDB and Spark run the same two statements over a table (`src`) through compute(): the shape (rows per
combination of the sensitive features, label and prediction) and the cells (rows per features x label x
prediction x score), so both engines give the same numbers by construction. The statements group by the RAW label and prediction values; which value
is the positive class, whether a label is declared, and how a sensitive value reads as text are decided here
in Python on the few distinct values, by the same functions the local engine uses (gates.readers.table,
gates.readers.columns.category_key). The result is a TabulatedPredictions equal to gates.engine.local's.

Scores: a table with at most `max_cells` rows is grouped by the exact score (cells <= rows, so they fit), as
gates.engine.local keeps them. A larger one is grouped by the score floored onto the grid 2**-k with k the
largest for which (4 x combinations x (2**k + 1)) cells fit (the formula gates.engine.local starts from),
and each cell carries the sums of its rows' exact log loss and squared error (the first statement, over the
narrow label column, tells which label values are the positive class). Flooring is monotone, so ranking
metrics change only where two distinct scores share a grid cell; the metrics gate reports that bound.
Values outside [0, 1] (and NaN) are kept as they are, so the checks below still see them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.errors import InputError
from gates.readers.predictions import TabulatedPredictions, classes_from
from gates.stats.bootstrap import Cells, binary_cells

MAX_CELLS = 1 << 21  # engine.max_cells: above this many rows, scores go onto a grid (about 1 GB at 1e8 rows)
EPS = float(np.finfo(np.float64).eps)  # log loss clips probabilities to [eps, 1 - eps], as scikit-learn


@dataclass(frozen=True)
class Plan:
    """Which columns the cells read and how: the policy's mapping resolved against the table's columns."""

    label: str
    prediction: str | None
    score: str | None
    features: list[str]
    decision_threshold: float = 0.5

    @classmethod
    def from_section(cls, section: dict[str, Any], available: list[str], features: list[str]) -> Plan:
        from gates.readers.predictions import resolve_columns

        mapping = resolve_columns(section, available)
        wanted = [mapping["label"], *(mapping[k] for k in ("score", "prediction") if k in mapping), *features]
        missing = [c for c in dict.fromkeys(wanted) if c not in available]
        if missing:
            raise InputError(
                f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} not in the table "
                f"(it has {', '.join(available[:20])}{', ...' if len(available) > 20 else ''})"
            )
        if "score" not in mapping and "prediction" not in mapping:
            raise InputError(
                "needs a 'score' or 'prediction' column (set columns.score or columns.prediction)"
            )
        return cls(
            label=mapping["label"],
            prediction=mapping.get("prediction"),
            score=mapping.get("score"),
            features=features,
            decision_threshold=float(section.get("decision_threshold", 0.5)),
        )


def grid_bits(rows: int, combinations: int, max_cells: int) -> int | None:
    """None (exact scores) when the rows fit in max_cells, else the grid's k (scores floored to 2**-k)."""
    if rows <= max_cells:
        return None
    return min(52, math.floor(math.log2(max(2.0, max_cells / (4.0 * max(1, combinations)) - 1))))


# ------------------------------------------------------------------------------------------------ SQL
def literal(value: float) -> str:
    """A float as a SQL literal both engines read as DOUBLE, exactly: with an exponent (Spark reads 0.5
    without one as a DECIMAL), and 17 significant digits (enough to round-trip any double)."""
    return f"{float(value):.16e}"


def value_literal(value: Any) -> str:
    """A label value as fetched (int, float, text, bool, Decimal) as a SQL literal of the same value."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return literal(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def shape_sql(plan: Plan, quote) -> str:
    """Rows per combination of the sensitive features, label and prediction: the table's size, its groups
    and its classes, from a scan of the narrow columns."""
    select = [f"{quote(f)} AS f{j}" for j, f in enumerate(plan.features)] + [f"{quote(plan.label)} AS lab"]
    if plan.prediction:
        select.append(f"{quote(plan.prediction)} AS pre")
    positions = ", ".join(str(i + 1) for i in range(len(select)))
    return f"SELECT {', '.join(select)}, count(*) AS n FROM src GROUP BY {positions}"


def cells_sql(plan: Plan, quote, grid: int | None, positive: list[Any]) -> str:
    """The cells: features f0.., raw label `lab`, raw prediction or 0/1 decision `pre`, score `s`, count `n`,
    and on a grid the sums of each row's exact log loss `ll` and squared error `sq` (the label values in
    `positive` are the positive class). Valid DuckDB and Spark SQL alike."""
    score = quote(plan.score) if plan.score else None
    select = [f"{quote(f)} AS f{j}" for j, f in enumerate(plan.features)]
    select.append(f"{quote(plan.label)} AS lab")
    select.append(_decision(plan, quote))
    if score is not None:
        select.append(f"{_on_grid(score, grid)} AS s")
        if grid is not None:
            log_loss, squared = _losses(plan, quote, positive)
            select += [f"sum({log_loss}) AS ll", f"sum({squared}) AS sq"]
    select.append("count(*) AS n")
    keys = [f"f{j}" for j in range(len(plan.features))] + ["lab", "pre"] + (["s"] if score else [])
    # group by the expressions' positions: both engines accept ordinals, and an alias could shadow a column
    positions = ", ".join(str(i + 1) for i in range(len(keys)))
    return f"SELECT {', '.join(select)} FROM src GROUP BY {positions}"


def joint_sql(
    plan: Plan,
    quote,
    grids: tuple[int | None, int | None],
    positive: list[Any],
    bias_scores: bool = True,
) -> str:
    """The metrics gate's cells (no features, scores on grids[0]) and the bias gate's (plan.features, scores
    on grids[1]) from one scan: GROUPING SETS over the per-row values of cells_sql(), computed once in a
    subquery whose only columns are the aliases (so no column of the table can shadow one). Column `part` is
    0 on the bias gate's cells and 1 on the metrics gate's; otherwise the columns are cells_sql()'s, with
    the score as `sm` (metrics) or `sb` (bias; none when `bias_scores` is False). Valid DuckDB and Spark
    SQL alike."""
    score = quote(plan.score) if plan.score else None
    features = [f"f{j}" for j in range(len(plan.features))]
    inner = [f"{quote(f)} AS f{j}" for j, f in enumerate(plan.features)]
    inner += [f"{quote(plan.label)} AS lab", _decision(plan, quote)]
    outer = [*features, "lab", "pre"]
    metrics_keys, bias_keys = ["lab", "pre"], [*features, "lab", "pre"]
    if score is not None:
        inner.append(f"{_on_grid(score, grids[0])} AS sm")
        outer.append("sm")
        metrics_keys.append("sm")
        if bias_scores:
            inner.append(f"{_on_grid(score, grids[1])} AS sb")
            outer.append("sb")
            bias_keys.append("sb")
        if grids != (None, None):
            log_loss, squared = _losses(plan, quote, positive)
            inner += [f"{log_loss} AS llv", f"{squared} AS sqv"]
            outer += ["sum(llv) AS ll", "sum(sqv) AS sq"]
    outer += ["count(*) AS n", "grouping(f0) AS part"]  # the features are rolled up on the metrics cells
    sets = f"({', '.join(bias_keys)}), ({', '.join(metrics_keys)})"
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM src) AS per_row "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def _decision(plan: Plan, quote) -> str:
    """The prediction column as `pre`, or the decision from the score, before any grid."""
    if plan.prediction:
        return f"{quote(plan.prediction)} AS pre"
    return f"CASE WHEN {quote(plan.score)} >= {literal(plan.decision_threshold)} THEN 1 ELSE 0 END AS pre"


def _on_grid(score: str, grid: int | None) -> str:
    """The score, or on a grid floored to a multiple of 2**-grid (values outside [0, 1] kept as they are)."""
    if grid is None:
        return score
    step = literal(2.0**grid)
    return f"CASE WHEN {score} >= 0 AND {score} <= 1 THEN floor({score} * {step}) / {step} ELSE {score} END"


def _losses(plan: Plan, quote, positive: list[Any]) -> tuple[str, str]:
    """Each row's exact log loss and squared error (the label values in `positive` are the positive class)."""
    score = quote(plan.score)
    p = f"least(greatest(CAST({score} AS DOUBLE), {literal(EPS)}), {literal(1 - EPS)})"
    is_positive = (
        f"{quote(plan.label)} IN ({', '.join(value_literal(v) for v in positive)})" if positive else "FALSE"
    )
    error = f"({score} - CASE WHEN {is_positive} THEN 1 ELSE 0 END)"
    # the square as a product, as the local engine computes it (np.multiply): the same double on every engine,
    # and Spark's POWER is a call per row into fdlibm (the packed aggregation at 1e8 rows ~10% faster;
    # docs/how-to/engines.md, Spark)
    return (
        f"-ln(CASE WHEN {is_positive} THEN {p} ELSE 1 - {p} END)",
        f"{error} * {error}",
    )


# ------------------------------------------------------------------------------------------- tabulation
@dataclass
class Values:
    """A column of the fetched cells as codes into its distinct values (-1: missing), so that only the few
    distinct labels, decisions and group values are looked at in Python, not one per cell."""

    codes: np.ndarray
    distinct: list[Any]

    @classmethod
    def of(cls, column: Any) -> Values:
        """From an Arrow array or chunked array."""
        import pyarrow as pa

        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        encoded = array.dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(codes, encoded.dictionary.to_pylist())

    @classmethod
    def empty(cls) -> Values:
        return cls(np.zeros(0, dtype=np.int64), [])


Query = Callable[[str], Any]  # SQL over the view `src` -> a pyarrow Table


@dataclass
class Shape:
    """What the first, narrow scan tells: the plan, the size, the classes and the number of groups."""

    plan: Plan
    rows: int
    classes: list
    positive: Any
    positive_values: list[Any]  # the label values that are the positive class, as fetched
    combinations: int


def compute(
    query: Query,
    quote: Callable[[str], str],
    available: list[str],
    section: dict[str, Any],
    sensitive: list[str],
    max_cells: int,
    source: str,
    info: dict[str, Any],
) -> TabulatedPredictions:
    """The cells of a table an engine can query (`query` runs a statement over the view `src`, `quote`
    quotes a column name in its dialect): the shape first (size, groups, classes, validated here before the
    big scan), then the cells on the grid the size calls for.

    Inside `mlgate run` with both the metrics and the bias gate on this table (gates.engine.shared), the
    first call computes both gates' cells in one scan (compute_joint) and the second takes its share."""
    from gates.engine import shared

    pair = shared.current()
    role = pair.role(section, sensitive) if pair is not None else None
    if pair is not None and role is not None:
        found = pair.cells(
            (info.get("engine"), source, max_cells),
            role,
            lambda: compute_joint(
                query,
                quote,
                available,
                section,
                pair.bias_section,
                pair.features,
                max_cells,
                source,
                info,
                pair.bias_scores,
            ),
        )
        if found is not None:
            return found
    shape = _shape(query, quote, available, section, sensitive, source)
    grid = grid_bits(shape.rows, shape.combinations, max_cells)
    table = query(cells_sql(shape.plan, quote, grid, shape.positive_values))
    return _tabulated(
        source, section, shape.plan, table, grid, shape.classes, shape.positive, {**info, "rows": shape.rows}
    )


def compute_joint(
    query: Query,
    quote: Callable[[str], str],
    available: list[str],
    metrics_section: dict[str, Any],
    bias_section: dict[str, Any],
    sensitive: list[str],
    max_cells: int,
    source: str,
    info: dict[str, Any],
    bias_scores: bool = True,
) -> dict[str, TabulatedPredictions]:
    """{"metrics": cells without groups, "bias": cells per group of `sensitive`}: each exactly what
    compute() returns for that gate alone (the same grids, validation and coding), from one shape scan and
    one GROUPING SETS scan (joint_sql) instead of two of each. The sections differ only in what the cells do
    not depend on (gates.engine.shared.READER_KEYS are equal), except the bias gate's missing_group.
    `bias_scores` False: the bias cells carry no scores (counts per group, label and decision: what the
    bias gate keeps of them when none of its metrics reads a score); the metrics cells still check them."""
    shape = _shape(query, quote, available, bias_section, sensitive, source)
    bias_grid = grid_bits(shape.rows, shape.combinations, max_cells) if bias_scores else None
    grids = (grid_bits(shape.rows, 1, max_cells), bias_grid)
    table = query(joint_sql(shape.plan, quote, grids, shape.positive_values, bias_scores))
    part = np.asarray(table.column("part").to_numpy(), dtype=np.int64)
    whole = shape.plan
    metrics_plan = Plan(whole.label, whole.prediction, whole.score, [], whole.decision_threshold)
    bias_plan = whole if bias_scores else Plan(whole.label, whole.prediction, None, whole.features)
    out = {}
    for name, plan, section, grid, rows, score in (
        ("metrics", metrics_plan, metrics_section, grids[0], part == 1, "sm"),
        ("bias", bias_plan, bias_section, grids[1], part == 0, "sb"),
    ):
        keep = [c for c in table.column_names if c not in ("part", "sm", "sb")]
        if name == "metrics":
            keep = [c for c in keep if not c.startswith("f")]
        if grid is None:
            keep = [c for c in keep if c not in ("ll", "sq")]
        chosen = table.filter(rows).select(keep)
        if plan.score:
            chosen = chosen.append_column("s", table.column(score).filter(rows))
        out[name] = _tabulated(
            source, section, plan, chosen, grid, shape.classes, shape.positive, {**info, "rows": shape.rows}
        )
    return out


def _shape(
    query: Query,
    quote: Callable[[str], str],
    available: list[str],
    section: dict[str, Any],
    sensitive: list[str],
    source: str,
) -> Shape:
    """The narrow scan: rows per features x label x prediction, validated (classes, positive label)."""
    from gates.readers.table import label_key

    try:
        plan = Plan.from_section(section, available, sensitive)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    shape = query(shape_sql(plan, quote))
    counts = np.asarray(shape.column("n").to_numpy(), dtype=np.float64)
    rows = int(counts.sum())
    if not rows:
        raise InputError(f"{source}: no rows")
    label = Values.of(shape.column("lab"))
    prediction = Values.of(shape.column("pre")) if plan.prediction else Values.empty()
    classes = _classes(source, section, plan, label, prediction)
    positive = section.get("positive_label", classes[-1])
    if str(positive) not in map(str, classes):
        raise InputError(f"{source}: positive_label {positive!r} is not one of the classes {classes}")
    _is_positive(source, plan.label, label, classes, positive, counts)
    if plan.prediction:
        _is_positive(source, plan.prediction, prediction, classes, positive, counts)
    combinations = 1
    if plan.features:
        codes = np.stack([Values.of(shape.column(f"f{j}")).codes for j in range(len(plan.features))])
        combinations = int(np.unique(codes, axis=1).shape[1])
    key = label_key(positive)
    positive_values = [v for v in label.distinct if label_key(v) == key]
    return Shape(plan, rows, classes, positive, positive_values, combinations)


def _tabulated(
    source: str,
    section: dict[str, Any],
    plan: Plan,
    table: Any,
    grid: int | None,
    classes: list,
    positive: Any,
    info: dict[str, Any],
) -> TabulatedPredictions:
    """The fetched cells, validated as the local readers validate rows, as the gates' cells."""
    from gates.engine.groups import group_values

    counts = np.asarray(table.column("n").to_numpy(), dtype=np.float64)
    label = Values.of(table.column("lab"))
    y = _is_positive(source, plan.label, label, classes, positive, counts)
    if plan.prediction:
        pred = _is_positive(
            source, plan.prediction, Values.of(table.column("pre")), classes, positive, counts
        )
    else:
        pred = np.asarray(table.column("pre").to_numpy(), dtype=np.int8)
    score = None
    if plan.score:
        raw = np.asarray(table.column("s").to_numpy(zero_copy_only=False), dtype=np.float64)
        score = _checked_scores(source, plan.score, raw, counts)
    sums = None
    if grid is not None and plan.score:
        sums = {
            "log_loss_sum": np.asarray(table.column("ll").to_numpy(), dtype=np.float64),
            "brier_sum": np.asarray(table.column("sq").to_numpy(), dtype=np.float64),
        }
    levels: dict[str, list[str]] = {}
    group = None
    if plan.features:
        import pandas as pd

        codes = []
        for j, name in enumerate(plan.features):
            values = Values.of(table.column(f"f{j}"))
            missing = values.codes < 0
            if missing.any() and section.get("missing_group") is None:  # rows, not cells, and no row number
                rows = int(counts[missing].sum())
                raise InputError(
                    f"{source}: sensitive column '{name}': {rows} row{'s' if rows > 1 else ''} without a "
                    "value; set bias.missing_group to treat them as a named group"
                )
            series = pd.Series(
                pd.Categorical.from_codes(values.codes, categories=pd.Index(values.distinct, dtype=object))
            )
            coded = group_values(series, name, source, section.get("missing_group"))
            order = sorted(set(coded.names))
            rank = {key: i for i, key in enumerate(order)}
            codes.append(np.asarray([rank[k] for k in coded.names], dtype=np.int64)[coded.codes])
            levels[name] = order
        group = np.ravel_multi_index(codes, tuple(len(levels[f]) for f in plan.features))
    del table
    cells = binary_cells(y, pred, score, group, strata=group is not None, weights=counts, sums=sums)
    if sums is not None:  # per-cell mean losses of the exact rows, as gates.engine.local hands them over
        columns = dict(cells.columns)
        columns["log_loss"] = columns.pop("log_loss_sum") / cells.counts
        columns["brier"] = columns.pop("brier_sum") / cells.counts
        cells = Cells(columns=columns, counts=cells.counts, strata=cells.strata, order=cells.order)
    info = {**info, "cells": cells.size, "exact": grid is None}
    if grid is not None:
        info["score_grid"] = f"2^-{grid}"
    ordered = [c for c in classes if str(c) != str(positive)] + [positive]
    return TabulatedPredictions(
        path=Path(source),
        cells=cells,
        classes=ordered,
        has_score=plan.score is not None,
        levels=levels if plan.features else None,
        streaming=info,
    )


def _classes(source: str, section: dict[str, Any], plan: Plan, label: Values, prediction: Values) -> list:
    if section.get("classes"):
        return list(section["classes"])
    seen = [v for v in label.distinct]
    if plan.prediction:
        seen += [v for v in prediction.distinct if v not in seen]
    return classes_from(seen, plan.prediction is not None, {"label": plan.label}, Path(source), "binary")


def _is_positive(
    source: str, column: str, values: Values, classes: list, positive: Any, counts: np.ndarray
) -> np.ndarray:
    """1 where the value is the positive class, 0 for the other declared class; anything else is an error
    naming the column, the value and how many rows hold it (an aggregate has no row numbers)."""
    from gates.readers.table import label_key

    keys = {label_key(c) for c in classes}
    target = label_key(positive)
    missing = values.codes < 0
    if missing.any():
        rows = int(counts[missing].sum())
        raise InputError(f"{source}: column '{column}': {rows} row{'s' if rows > 1 else ''} missing a value")
    mapped = np.empty(len(values.distinct), dtype=np.int8)
    for i, value in enumerate(values.distinct):
        key = label_key(value)
        if key not in keys:
            rows = int(counts[values.codes == i].sum())
            shown = ", ".join(map(repr, classes))
            raise InputError(
                f"{source}: column '{column}': value {value!r} ({rows} rows) is not one of the "
                f"declared classes {shown}"
            )
        mapped[i] = key == target
    return mapped[values.codes]


def _checked_scores(source: str, column: str, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    score = np.asarray(score, dtype=np.float64)  # None (missing) became NaN
    bad = ~np.isfinite(score)
    if bad.any():
        rows = int(counts[bad].sum())
        raise InputError(
            f"{source}: column '{column}': {rows} row{'s' if rows > 1 else ''} missing, NaN or infinite"
        )
    outside = (score < 0) | (score > 1)
    if outside.any():
        raise InputError(
            f"{source}: column '{column}': expected probabilities in [0, 1], got "
            f"{score[outside][0]:g} ({int(counts[outside].sum())} rows outside)"
        )
    return score
