"""Spark's fast way to the cells on a score grid: one bigint key per row, aggregated, unpacked on the driver.

gates.engine.cells sends Spark the statements DuckDB runs. Spark's hash aggregation over several keys, two of
them strings (the sensitive features), under GROUPING SETS, is slow: about half a million cells from 1e8 rows
took a minute on two cores. Every key of a cell has few values that the shape scan has already seen (the
features, the label and the prediction) except the score, which on a grid is an integer bin. So each row's
cell is packed into ONE bigint (mixed radix: feature codes, label code, prediction code, bin), computed with
Spark expressions (CASE over the seen values, floor of score x 2^k), and Spark groups by that single
primitive key, for which its generated hash map is fast. The driver unpacks the keys with numpy into the very
Arrow table the SQL statement returns (same columns, same types, same values; the sums of the per-row losses
differ only in the order of addition, as they do between Spark runs), so cells.compute and compute_joint go
on unchanged.

`Statements` is the query callback Spark hands to cells.compute / compute_joint: it runs the shape scan,
recognises the cells statement by regenerating it from the shape (text equality, so a change in cells.py
makes Spark fall back to running the SQL, never to different numbers) and answers it packed. It falls back
to the SQL whenever packing does not apply: exact scores (no grid), a value it cannot spell as a literal, a
score outside [0, 1] or missing (the SQL path raises the error the other engines raise), a key space over
2^62. With the bias gate's cells carrying no scores, they are the shape scan's rows themselves, so the
joint statement needs one aggregation, not a GROUPING SETS expansion of every row.

The aggregation itself runs with Spark's vectorized first-level hash map sized for the cells (`fast_map`):
Spark's default first-level map holds 2^16 keys; a score grid has hundreds of thousands, and every row past
the first 65,536 keys went through the general UnsafeRow map: grouping 1e8 rows into half a million cells
took 18-22 s on two cores, with a map that holds them all 9-13 s (bench/results/spark_map.md).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.engine import cells as cell_sql
from gates.engine.spark import quote as spark_quote

KEY_SPACE = 1 << 62  # packed keys stay below this (bigint)
# Spark's first-level aggregation map: vectorized (primitive keys and buffers, as the packed key's are), with
# room for the cells up to 2^MAX_MAP_BITS keys (a larger one cost more in allocation and cache misses than it
# saved: 2^22 was slower than 2^20 for half a million cells); past its capacity Spark goes on in its general map
MAP_CONF = "spark.sql.codegen.aggregate.map.vectorized.enable"
MAP_BITS_CONF = "spark.sql.codegen.aggregate.fastHashMap.capacityBit"
MIN_MAP_BITS, MAX_MAP_BITS = 16, 20


@dataclass(frozen=True)
class Part:
    """One grouping of the cells: which features (indexes into plan.features), the grid's k (None: no
    score key), and the statement's `part` value."""

    features: list[int]
    grid: int | None
    part: int


class Statements:
    """cells' query callback on Spark: the shape scan recorded, the grid's cells statement packed."""

    def __init__(
        self,
        frame: Any,
        run_sql: Callable[[str], Any],
        collect: Callable[[Any], Any],
        shape_args: tuple[list[str], dict[str, Any], list[str], str],
        max_cells: int,
        bias_scores: bool | None = None,
    ):
        """`run_sql` runs a statement over the view, `collect` a DataFrame, both to an Arrow table;
        `shape_args` (columns, section, sensitive, source) are cells._shape's; `bias_scores` is None for
        one gate's cells (cells_sql), else compute_joint's flag (joint_sql)."""
        self.frame, self.run_sql, self.collect = frame, run_sql, collect
        self.shape_args, self.max_cells, self.bias_scores = shape_args, max_cells, bias_scores
        self.shape_table: Any = None

    def __call__(self, sql: str) -> Any:
        if self.shape_table is None:
            self.shape_table = self.run_sql(sql)  # cells asks for the shape first
            return self.shape_table
        packed = self._packed(sql)
        return packed if packed is not None else self.run_sql(sql)

    def _packed(self, sql: str) -> Any:
        columns, section, sensitive, source = self.shape_args
        shape = cell_sql._shape(lambda _: self.shape_table, spark_quote, columns, section, sensitive, source)
        plan, positive = shape.plan, shape.positive_values
        if self.bias_scores is None:
            grid = cell_sql.grid_bits(shape.rows, shape.combinations, self.max_cells)
            if grid is None or sql != cell_sql.cells_sql(plan, spark_quote, grid, positive):
                return None
            parts = [Part(list(range(len(plan.features))), grid if plan.score else None, 0)]
            return self._aggregate(shape.plan, positive, parts, {"s": 0}, shape.rows)
        grids = (
            cell_sql.grid_bits(shape.rows, 1, self.max_cells),
            cell_sql.grid_bits(shape.rows, shape.combinations, self.max_cells) if self.bias_scores else None,
        )
        if grids[0] is None or not plan.features:
            return None
        if sql != cell_sql.joint_sql(plan, spark_quote, grids, positive, self.bias_scores):
            return None
        features = list(range(len(plan.features)))
        metrics = Part([], grids[0] if plan.score else None, 1)
        if not self.bias_scores and plan.prediction:  # the bias cells are the shape's rows
            table = self._aggregate(plan, positive, [metrics], {"sm": 0}, shape.rows)
            return None if table is None else _concat(table, self._shape_rows(plan))
        bias = Part(features, grids[1] if plan.score and self.bias_scores else None, 0)
        return self._aggregate(plan, positive, [metrics, bias], {"sm": 0, "sb": 1}, shape.rows)

    def _shape_rows(self, plan: cell_sql.Plan) -> Any:
        """The shape scan's rows as the bias part of the joint statement's result."""
        import pyarrow as pa

        table = self.shape_table
        return table.append_column("part", pa.array(np.zeros(table.num_rows, dtype=np.int8)))

    def _aggregate(
        self,
        plan: cell_sql.Plan,
        positive: list[Any],
        parts: list[Part],
        score_columns: dict[str, int],
        table_rows: int,
    ) -> Any:
        """The parts' cells from one scan (one key per row and part), as the statement's Arrow table;
        None where packing does not apply. `score_columns` names each part's score column; `table_rows`
        (the shape scan's count) bounds the keys for Spark's first-level map."""
        import pyarrow as pa

        dims = self._dimensions(plan)
        if dims is None:
            return None
        keys, offsets, radices = [], [], []
        offset = 0
        for part in parts:
            radix = [len(dims[j][1]) for j in part.features] + [len(d[1]) for d in dims[-2:]]
            if part.grid is not None:
                radix.append((1 << part.grid) + 2)  # 0: outside [0, 1] or missing; bins 1 .. 2^k + 1
            if offset + math.prod(radix) >= KEY_SPACE:
                return None
            codes = [dims[j][0] for j in part.features] + [d[0] for d in dims[-2:]]
            if part.grid is not None:
                codes.append(_bin(spark_quote(plan.score or ""), part.grid))
            key = f"CAST({codes[0]} AS BIGINT)"  # bigint from the first digit on: no int overflow
            for code, size in zip(codes[1:], radix[1:]):
                key = f"({key}) * {size} + {code}"
            keys.append(f"{key} + {offset}")
            offsets.append(offset)
            radices.append(radix)
            offset += math.prod(radix)
        key_sql = keys[0] if len(keys) == 1 else f"explode(array({', '.join(keys)}))"
        select = [f"{key_sql} AS key"]
        sums = plan.score is not None
        if sums:
            log_loss, squared = cell_sql._losses(plan, spark_quote, positive)
            select += [f"{log_loss} AS llv", f"{squared} AS sqv"]
        aggregates = ["count(*) AS n"] + (["sum(llv) AS ll", "sum(sqv) AS sq"] if sums else [])
        frame = self.frame.selectExpr(*select).groupBy("key").agg(*_exprs(aggregates))
        with fast_map(self.frame.sparkSession, min(offset, table_rows)):
            result = self.collect(frame)
        key = result.column("key").to_numpy(zero_copy_only=False)
        if result.column("key").null_count:
            return None  # a value the CASE did not know: let the SQL say what it is
        tables = []
        for i, part in enumerate(parts):
            local = key - offsets[i]
            mine = (local >= 0) & (local < math.prod(radices[i]))
            columns = _unpacked(plan, dims, part, np.unravel_index(local[mine], radices[i]), score_columns, i)
            if columns is None:
                return None
            rows = pa.array(mine)
            for name in ["n", "ll", "sq"] if sums else ["n"]:
                columns[name] = result.column(name).filter(rows)
            columns["part"] = pa.array(np.full(int(mine.sum()), part.part, dtype=np.int8))
            tables.append(pa.table(columns))
        return _concat(*tables) if self.bias_scores is not None else tables[0].drop_columns(["part"])

    def _dimensions(self, plan: cell_sql.Plan) -> list[tuple[str, Any]] | None:
        """(code expression, distinct values as Arrow) for each feature, the label and the prediction, from
        the shape scan; None if a value cannot be written as a literal."""
        import pyarrow as pa

        out = []
        names = [*plan.features, plan.label] + ([plan.prediction] if plan.prediction else [])
        columns = (
            [f"f{j}" for j in range(len(plan.features))] + ["lab"] + (["pre"] if plan.prediction else [])
        )
        for name, column in zip(names, columns):
            distinct = self.shape_table.column(column).unique()
            code = _case(spark_quote(name), distinct.to_pylist())
            if code is None:
                return None
            out.append((code, distinct))
        if not plan.prediction:  # the decision from the score: 0 or 1, as the statement computes it
            decision = cell_sql._decision(plan, spark_quote).rsplit(" AS ", 1)[0]
            out.append((decision, pa.array([0, 1], type=pa.int32())))
        return out


@contextlib.contextmanager
def fast_map(spark: Any, keys: int) -> Iterator[None]:
    """Spark's vectorized first-level aggregation map with room for `keys` keys (within MIN_MAP_BITS ..
    MAX_MAP_BITS), for the queries run inside. A setting the session already has (the policy's
    `engine.spark.conf`, a cluster's) stands; what this sets is unset after (a notebook's session is shared);
    a session that refuses to set them (a managed service's) runs the query as it is, only slower."""
    wanted = {MAP_CONF: "true", MAP_BITS_CONF: str(map_bits(keys))}
    added: list[str] = []
    with contextlib.suppress(Exception):  # a session that refuses a setting (a managed one) runs as it is
        for name in [name for name in wanted if spark.conf.get(name, None) is None]:
            spark.conf.set(name, wanted[name])
            added.append(name)
    try:
        yield
    finally:
        for name in added:
            spark.conf.unset(name)


def map_bits(keys: int) -> int:
    """log2 of the first-level map's capacity for `keys` keys, within MIN_MAP_BITS .. MAX_MAP_BITS."""
    return min(MAX_MAP_BITS, max(MIN_MAP_BITS, math.ceil(math.log2(max(keys, 2)))))


def _case(column: str, values: list[Any]) -> str | None:
    """CASE mapping each distinct value to its index (NULL for an unknown one), or None when a value has no
    exact literal (dates, NaN ...)."""
    arms = []
    for i, value in enumerate(values):
        if value is None:
            arms.append(f"WHEN {column} IS NULL THEN {i}")
        elif isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
            arms.append(f"WHEN {column} = {cell_sql.value_literal(value)} THEN {i}")
        else:
            return None
    return f"CASE {' '.join(arms)} END"


def _bin(score: str, grid: int) -> str:
    """1 + the score's bin on the grid 2^-grid (cells._on_grid's floor), 0 outside [0, 1] or missing."""
    step = cell_sql.literal(2.0**grid)
    return f"CASE WHEN {score} >= 0 AND {score} <= 1 THEN floor({score} * {step}) + 1 ELSE 0 END"


def _unpacked(
    plan: cell_sql.Plan,
    dims: list[tuple[str, Any]],
    part: Part,
    digits: tuple[np.ndarray, ...],
    score_columns: dict[str, int],
    index: int,
) -> dict[str, Any] | None:
    """The statement's columns of one part from the key's digits; None when a score was outside [0, 1]."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    rows = len(digits[0]) if digits else 0
    for j in range(len(plan.features)):
        if j in part.features:
            columns[f"f{j}"] = dims[j][1].take(pa.array(digits[part.features.index(j)]))
        else:
            columns[f"f{j}"] = pa.nulls(rows, dims[j][1].type)
    n = len(part.features)
    columns["lab"] = dims[-2][1].take(pa.array(digits[n]))
    columns["pre"] = dims[-1][1].take(pa.array(digits[n + 1]))
    for name, owner in score_columns.items():
        if owner == index and part.grid is not None:
            bins = digits[n + 2]
            if (bins == 0).any():
                return None
            columns[name] = pa.array((bins - 1).astype(np.float64) / float(1 << part.grid))
        elif plan.score is not None:
            columns[name] = pa.nulls(rows, pa.float64())
    return columns


def _exprs(texts: list[str]) -> list[Any]:
    from pyspark.sql import functions as F

    return [F.expr(text) for text in texts]


def _concat(*tables: Any) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")
