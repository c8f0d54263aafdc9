"""Drift reference profiles computed by Spark: gates.engine.duckdb_profiles' plan in Spark's dialect.

`mlgate drift profile --engine spark` summarises a reference where it lives (a table, a partitioned folder on
a cluster) into the profile the local and DuckDB engines write, with the same bin edges and counts. The
statements are duckdb_profiles' (one aggregate for count / nulls / mean / std / min / max, a capped DISTINCT,
exact (value, count) pairs, category counts); what Spark spells or does differently is here:

- type names (`int`, `decimal(10,2)`, `timestamp_ntz` ...), finiteness (no isfinite: NULL, NaN and the two
  infinities are tested), epoch seconds of dates and timestamps;
- order statistics: no global row_number (Spark would pull every row into one task): the column is sorted
  across the cluster (range partitions in order), each row's rank is its partition's offset plus its index
  in the partition (monotonically_increasing_id holds both), and only the wanted ranks come back;
- right-closed bin counts (DuckDB's ASOF join): Spark's Bucketizer (a binary search per row on the JVM, no
  Python) on -x, whose left-closed buckets are x's right-closed bins in reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gates.engine import duckdb_profiles as plan

NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
TEMPORAL = ("date", "timestamp")  # timestamp and timestamp_ntz
CATEGORICAL = ("string", "varchar", "char", "boolean")


def kind_of(spark_type: str) -> str:
    """Spark's simpleString type name as a profile kind."""
    name = spark_type.lower()
    if name.startswith("interval") or "interval" in name:
        return "unsupported"
    if name.split("(")[0] in NUMERIC:
        return "numeric"
    if name.startswith(TEMPORAL):
        return "temporal"
    if name.split("(")[0] in CATEGORICAL:
        return "categorical"
    return "unsupported"


def as_number(column: str, spark_type: str) -> str:
    """A DOUBLE expression; times as seconds since the epoch (UTC), as gates.readers.columns reads them."""
    name = spark_type.lower()
    if name == "date":
        return f"CAST(unix_date({column}) AS DOUBLE) * 86400.0"
    if name == "timestamp_ntz":  # wall-clock time read as UTC, as pyarrow's integer storage is
        return (
            f"CAST(timestampdiff(MICROSECOND, TIMESTAMP_NTZ'1970-01-01 00:00:00', {column}) AS DOUBLE) / 1e6"
        )
    if name.startswith("timestamp"):
        return f"CAST(unix_micros({column}) AS DOUBLE) / 1e6"
    return f"CAST({column} AS DOUBLE)"


def finite(x: str) -> str:
    return f"({x} IS NOT NULL AND NOT isnan({x}) AND abs({x}) != double('infinity'))"


def dialect(spark: Any, resolve: Callable[[str], str]) -> plan.Dialect:
    """duckdb_profiles' Dialect for the session `spark` (the order statistics and bins use DataFrames);
    `resolve` names the table `src` of a statement as the session knows it."""

    def quantiles(
        query: plan.Query, finite_sql: str, probs: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        picked = plan.interpolated(
            probs, n, lambda ranks: order_statistics(spark, resolve(finite_sql), ranks)
        )
        return picked, np.full(probs.size, np.nan)  # the counts: at_or_below's Bucketizer pass

    def at_or_below(query: plan.Query, finite_sql: str, points: np.ndarray) -> np.ndarray:
        return bin_counts(spark, resolve(finite_sql), points)

    return plan.Dialect(
        kind_of=kind_of,
        as_number=as_number,
        finite=finite,
        quantiles=quantiles,
        at_or_below=at_or_below,
        distinct_estimate=lambda x: f"approx_count_distinct({x}, 0.01)",
    )


def order_statistics(spark: Any, finite_sql: str, ranks: np.ndarray) -> dict[int, float]:
    """{rank: value} of the sorted finite values at 0-based `ranks`, from one distributed sort: the sorted
    partitions are in value order, so a row's rank is the rows of the partitions before it plus its index
    in its own (monotonically_increasing_id is partition << 33 | index). The sorted column is persisted
    between the two passes (the partition sizes, then the picks), so both see the same partitioning."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    ordered = (
        spark.sql(f"SELECT x FROM {finite_sql} AS f")
        .orderBy("x")
        .withColumn("id", F.monotonically_increasing_id())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        part = F.shiftright(F.col("id"), 33)
        sizes = sorted(
            (int(r["p"]), int(r["n"]))
            for r in ordered.groupBy(part.alias("p")).agg(F.count("*").alias("n")).collect()
        )
        offsets, total = {}, 0
        for index, size in sizes:
            offsets[index] = total
            total += size
        offset = F.lit(0)
        for index, start in offsets.items():
            offset = F.when(part == index, F.lit(start)).otherwise(offset)
        rank = offset + F.col("id").bitwiseAND(F.lit((1 << 33) - 1))
        picked = ordered.select(rank.alias("rn"), "x").where(F.col("rn").isin([int(r) for r in ranks]))
        table = picked.toArrow() if hasattr(picked, "toArrow") else None
        if table is not None:
            return dict(zip(table.column("rn").to_pylist(), table.column("x").to_pylist()))
        return {int(r["rn"]): float(r["x"]) for r in picked.collect()}
    finally:
        ordered.unpersist()


def bin_counts(spark: Any, finite_sql: str, points: np.ndarray) -> np.ndarray:
    """Counts of the right-closed bins (-inf, p0], (p0, p1], ..., (p_last, inf) of the finite values at
    sorted, distinct `points`: Bucketizer's bucket j of -x (splits -inf, -p_last, ..., -p0, inf; bucket j
    is [s_j, s_j+1)) is x's bin len(points) - j. `points` is never empty (duckdb_profiles._numeric)."""
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    frame = spark.sql(f"SELECT -x AS nx FROM {finite_sql} AS f")
    size = int(points.size)
    counts = np.zeros(size + 1, dtype=np.float64)
    splits = [-np.inf, *(-np.asarray(points, dtype=np.float64)[::-1]).tolist(), np.inf]
    bucketed = Bucketizer(splits=[float(s) for s in splits], inputCol="nx", outputCol="b").transform(frame)
    for row in bucketed.groupBy("b").agg(F.count("*").alias("c")).collect():
        counts[size - int(row["b"])] += int(row["c"])
    return counts
