"""Drift reference profiles (gates.stats.drift_profiles) computed by DuckDB, equal to the in-memory ones.

`mlgate drift profile --engine duckdb` summarises a reference of any size (a glob, a partitioned folder) in
a few scans instead of holding each column sorted in memory. Every number is the one
gates.stats.drift_profiles.profile_numeric / profile_categorical give on the same values:

- count, nulls (NULL, NaN and infinities), mean, population std, min, max: one aggregate over all numeric
  columns (std to rounding: DuckDB sums in another order);
- at most `exact_limit` distinct values (a DISTINCT that stops past the limit): the exact (value, count)
  pairs, and the bins from them;
- otherwise quantile points interpolated linearly between the order statistics at (n - 1) p, as numpy's
  'linear' method does, the order statistics picked by row number from one sort, which also gives each
  picked value's count of values at or below it, and so the count at each point and the right-closed bin
  counts (a point that rounding put outside its two order statistics is counted by an ASOF join: each
  value meets the first point at or above it);
- categories: their counts, keyed as gates.readers.columns.category_key keys them (1, 1.0 and '1' are one).
Numbers with two distinct values become categories, as gates.readers.columns.build_profile decides.
Times are held in seconds (epoch); INTERVAL columns are skipped with a reason, as unsupported types are.

The statements are DuckDB's; Spark (gates.engine.spark_profiles) runs the same plan through a Dialect that
swaps the few pieces the two SQLs spell differently (types, finiteness, epoch seconds) and the two that
DuckDB does with SQL Spark lacks (the order statistics and the ASOF bin counts), so both engines give the
same profile by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.readers.columns import category_key
from gates.stats import drift_profiles as dp

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)
TEMPORAL = ("DATE", "TIMESTAMP", "TIME")
CATEGORICAL = ("VARCHAR", "BOOLEAN")

Query = Callable[[str], Any]  # SQL -> Arrow table


def profile_columns(drift: Any, columns: list[str], where: str) -> list[str]:
    """The reference columns a profile summarises, in order (the same on every engine): drift.columns (each
    must exist, else a one-line error naming ``where``) or every column, less drift.exclude, plus the model
    outputs the drift section compares that are not columns already."""
    from gates.core.errors import InputError

    wanted = list(drift.columns or columns)
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise InputError(
            f"{where}: drift.columns names {', '.join(map(repr, missing))}, not in the reference"
        )
    names = [c for c in wanted if c not in set(drift.exclude or ())]
    if drift.outputs and not drift.outputs.reference:
        names += [c for c in drift.outputs.columns if c in columns and c not in names]
    return names


def kind_of(duckdb_type: str) -> str:
    name = duckdb_type.upper()
    if name.startswith(NUMERIC):
        return "numeric"
    if name.startswith(TEMPORAL):
        return "temporal"
    if name.startswith(CATEGORICAL):
        return "categorical"
    return "unsupported"


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines running build(): type names to kinds, a column as DOUBLE (times as
    epoch seconds), the finiteness test, numpy's linear quantiles at probabilities (from order statistics)
    and the counts of the right-closed bins at points."""

    kind_of: Callable[[str], str]
    as_number: Callable[[str, str], str]  # (quoted column, engine type) -> DOUBLE expression
    finite: Callable[[str], str]  # expression -> predicate: neither NULL, NaN nor infinite
    # the quantiles, and the count of values at or below each where the order statistics tell it (NaN
    # elsewhere: counted by at_or_below)
    quantiles: Callable[[Query, str, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
    at_or_below: Callable[[Query, str, np.ndarray], np.ndarray]
    # an aggregate estimating a column's distinct values (HyperLogLog++ at 1%), or None: see _many_values
    distinct_estimate: Callable[[str], str] | None = None


def build(
    query: Query,
    types: dict[str, str],
    names: list[str],
    options: dict[str, Any],
    declared: dict[str, str],
    quote: Callable[[str], str],
    dialect: Dialect | None = None,
) -> dict[str, dp.Profile]:
    """Profiles of `names` (types: the engine's column types; declared: per-column kind overrides), in
    DuckDB's SQL unless another `dialect` is given."""
    sql = dialect or DUCKDB
    quantiles = int(options.get("quantiles", dp.QUANTILES))
    bins = int(options.get("bins", dp.BINS))
    exact_limit = int(options.get("exact_limit", dp.EXACT_LIMIT))
    max_categories = int(options.get("max_categories", dp.MAX_CATEGORIES))
    kinds = {n: sql.kind_of(types[n]) for n in names}
    out: dict[str, dp.Profile] = {}
    numeric = []
    for name in names:
        kind = kinds[name]
        if kind == "unsupported":
            out[name] = dp.SkippedProfile(reason=f"type {types[name]} is not supported for drift")
        elif declared.get(name) == "categorical" or (declared.get(name) is None and kind == "categorical"):
            out[name] = _categorical(query, quote(name), max_categories)
        else:
            numeric.append(name)
    expressions = {n: sql.as_number(quote(n), types[n]) for n in numeric}
    summaries = _summaries(query, expressions, sql) if numeric else {}
    for name in numeric:
        out[name] = _numeric(
            query,
            expressions[name],
            summaries[name],
            (quantiles, bins, exact_limit),
            kinds[name] == "temporal",
            sql,
        )
        profile = out[name]
        two_values = isinstance(profile, dp.NumericProfile) and profile.distinct == 2
        if two_values and declared.get(name) is None and kinds[name] == "numeric":
            out[name] = _as_categories(profile)
    return {n: out[n] for n in names}


def _as_categories(profile: Any) -> dp.CategoricalProfile:
    """A numeric column with two values, as categories (gates.readers.columns.build_profile's rule)."""
    values, counts = profile.exact_distribution()
    keys = [category_key(float(v)) for v in values]
    return dp.CategoricalProfile(
        count=profile.count,
        nulls=profile.nulls,
        categories=dict(sorted(zip(keys, counts.astype(int).tolist()))),
    )


def _as_number(column: str, duckdb_type: str) -> str:
    if kind_of(duckdb_type) == "temporal":
        return f"CAST(epoch({column}) AS DOUBLE)"
    return f"CAST({column} AS DOUBLE)"


def _summaries(query: Query, expressions: dict[str, str], sql: Dialect) -> dict[str, dict[str, Any]]:
    """count, nulls, mean, std, min, max of every numeric column in one scan. The finite values are
    selected by a CASE in a subquery (NULL otherwise, which the aggregates skip), not by a FILTER clause
    per aggregate: DuckDB's cost of FILTER grows faster than the number of aggregates (80 columns x 5
    aggregates over a million rows: 43-47 s with FILTER, 1.2 s with the CASE, the same numbers bit for
    bit; docs/how-to/engines.md, "Drift profiles on the engines")."""
    finite = ", ".join(
        f"CASE WHEN {sql.finite(x)} THEN {x} END AS v{i}" for i, x in enumerate(expressions.values())
    )
    parts = []
    for i in range(len(expressions)):
        v = f"v{i}"
        parts += [f"count({v}) AS n{i}", f"avg({v}) AS mean{i}", f"stddev_pop({v}) AS std{i}"]
        parts += [f"min({v}) AS min{i}", f"max({v}) AS max{i}"]
        if sql.distinct_estimate is not None:
            parts.append(f"{sql.distinct_estimate(v)} AS estimate{i}")
    row = query(
        f"SELECT count(*) AS total, {', '.join(parts)} FROM (SELECT {finite} FROM src) AS finite_values"
    ).to_pylist()[0]
    out = {}
    for i, name in enumerate(expressions):
        n = int(row[f"n{i}"])
        out[name] = {
            "n": n,
            "nulls": int(row["total"]) - n,
            **{k: row[f"{k}{i}"] for k in ("mean", "std", "min", "max")},
            "estimate": row.get(f"estimate{i}"),
        }
    return out


def _many_values(query: Query, finite: str, estimate: int | None, exact_limit: int) -> bool:
    """Whether the column has more than exact_limit distinct values. A DISTINCT that stops past the limit
    decides (an exact count(DISTINCT) of 80 columns at once held 3.5 GB and took a minute on a million
    rows), unless the engine's estimate is past anything HyperLogLog++ at 1% (2^14 registers) can say of
    exact_limit values: ten times the limit plus twice the registers (its raw estimate of a few values is
    about 0.72 x the registers; linear counting, used there, stays under 2,134 for 2,000). On Spark that
    DISTINCT shuffles every value of the column (8.4 s of a 27 s profile of 1e7 rows); the estimate rides
    on the summaries' scan."""
    if estimate is not None and estimate > 10 * exact_limit + 2 * (1 << 14):
        return True
    capped = query(
        f"SELECT count(*) AS d FROM (SELECT DISTINCT x FROM {finite} AS f LIMIT {exact_limit + 1}) AS c"
    )
    return int(capped.column("d").to_pylist()[0]) > exact_limit


def _numeric(
    query: Query, x: str, s: dict[str, Any], sizes: tuple[int, int, int], seconds: bool, sql: Dialect
) -> dp.NumericProfile:
    quantiles, bins, exact_limit = sizes
    n = s["n"]
    if n == 0:
        return dp.NumericProfile(count=0, nulls=s["nulls"], seconds=seconds)
    profile = dp.NumericProfile(
        count=n,
        nulls=s["nulls"],
        mean=float(s["mean"]),
        std=float(s["std"]),
        min=float(s["min"]),
        max=float(s["max"]),
        seconds=seconds,
    )
    finite = f"(SELECT {x} AS x FROM src WHERE {sql.finite(x)})"
    bin_probs = np.linspace(0.0, 1.0, bins + 1)[1:-1] if bins > 1 else np.empty(0)
    if not _many_values(query, finite, s.get("estimate"), exact_limit):
        # few values: everything else follows from (value, count) here
        table = query(f"SELECT x, count(*) AS c FROM {finite} AS f GROUP BY x ORDER BY x")
        values = np.asarray(table.column("x").to_numpy(), dtype=np.float64)
        counts = np.asarray(table.column("c").to_numpy(), dtype=np.float64)
        profile.values, profile.counts = values, counts
        edges = np.unique(_quantiles_of_counts(values, counts, bin_probs))
        below = np.concatenate((np.cumsum(counts)[np.searchsorted(values, edges, side="right") - 1], [n]))
        profile.bin_edges, profile.bin_counts = edges, np.diff(np.concatenate(([0.0], below)))
        return profile
    grid = dp.quantile_grid(n, quantiles)
    probs = np.concatenate((grid, bin_probs))
    both, counted = sql.quantiles(query, finite, probs, n)
    profile.points = np.unique(both[: grid.size])
    profile.bin_edges = np.unique(both[grid.size :]) if bins > 1 else np.empty(0)
    # the values at or below each point and bin edge (integer counts, exact in float64): from the order
    # statistics where they tell it, the rest (all of them on Spark) in one counting pass over their union
    union = np.union1d(profile.points, profile.bin_edges)
    known = {q: c for q, c in zip(both.tolist(), counted.tolist()) if not np.isnan(c)}
    at_or_below = np.asarray([known.get(p, np.nan) for p in union.tolist()], dtype=np.float64)
    missing = np.isnan(at_or_below)
    if missing.any():
        at_or_below[missing] = np.cumsum(sql.at_or_below(query, finite, union[missing]))[:-1]
    profile.below = at_or_below[np.searchsorted(union, profile.points)]
    edges = at_or_below[np.searchsorted(union, profile.bin_edges)]
    profile.bin_counts = np.diff(np.concatenate(([0.0], edges, [float(n)])))
    return profile


def _quantiles_of_counts(values: np.ndarray, counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """gates.stats.drift_profiles.linear_quantiles of the sorted values each repeated `counts` times."""
    n = counts.sum()
    ends = np.cumsum(counts)  # the sorted array's index of each value's last copy, plus one
    position = probs * (n - 1)
    low = np.floor(position)
    high = np.minimum(low + 1, n - 1)
    at_low = values[np.searchsorted(ends, low, side="right")]
    at_high = values[np.searchsorted(ends, high, side="right")]
    return at_low + (position - low) * (at_high - at_low)


def _list(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.17e}" for v in values) + "]"


def interpolated(
    probs: np.ndarray, n: int, order_statistics: Callable[[np.ndarray], dict[int, float]]
) -> np.ndarray:
    """numpy's linear quantiles at `probs` of n values: the order statistics (0-based ranks) at floor and
    ceil of (n - 1) p, from `order_statistics(ranks)`, interpolated here."""
    position, low, high = _brackets(probs, n)
    at = order_statistics(np.unique(np.concatenate((low, high))))
    return _between(position, low, high, at)[0]


def _brackets(probs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position (n - 1) p, its floor and the next rank, capped at n - 1) of each probability."""
    position = probs * (n - 1)
    low = np.floor(position)
    return position, low.astype(np.int64), np.minimum(low + 1, n - 1).astype(np.int64)


def _between(
    position: np.ndarray, low: np.ndarray, high: np.ndarray, at: dict[int, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the interpolated quantiles, the order statistics below and above each)."""
    at_low = np.asarray([at[int(r)] for r in low], dtype=np.float64)
    at_high = np.asarray([at[int(r)] for r in high], dtype=np.float64)
    return at_low + (position - low) * (at_high - at_low), at_low, at_high


def _quantiles(query: Query, finite: str, probs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The quantiles from the order statistics picked by their row number in one sort (DuckDB's
    quantile_cont with a thousand probabilities took 0.8 s a column on a million rows; one sort takes a
    fifth of that), and from the same sort each picked value's count of values at or below it (the
    window's peers: ties included). A quantile between two adjacent order statistics x_lo <= q < x_hi has
    no value strictly between them, so its count is x_lo's; q = x_hi has x_hi's; a q that rounding put
    outside [x_lo, x_hi] gets NaN and is counted by the caller's own pass."""
    position, low, high = _brackets(probs, n)
    wanted = ", ".join(str(int(r)) for r in np.unique(np.concatenate((low, high))))
    table = query(
        f"SELECT rn, x, le FROM (SELECT x, row_number() OVER w - 1 AS rn, count(*) OVER (w RANGE BETWEEN "
        f"UNBOUNDED PRECEDING AND CURRENT ROW) AS le FROM {finite} WINDOW w AS (ORDER BY x)) "
        f"WHERE rn IN ({wanted}) ORDER BY rn"
    )
    ranks = table.column("rn").to_pylist()
    at = dict(zip(ranks, table.column("x").to_pylist()))
    up_to = dict(zip(ranks, table.column("le").to_pylist()))
    values, at_low, at_high = _between(position, low, high, at)
    counts = np.where(
        values == at_high,
        [float(up_to[int(r)]) for r in high],
        np.where((at_low <= values) & (values < at_high), [float(up_to[int(r)]) for r in low], np.nan),
    )
    return values, counts


def _at_or_below(query: Query, finite: str, points: np.ndarray) -> np.ndarray:
    """Counts of the right-closed bins (-inf, p0], (p0, p1], ..., (p_last, inf): each value is matched to
    the first point at or above it (an ASOF join on sorted points), the rest fall in the last bin.
    `points` is never empty: _numeric asks only for the points the sort did not count."""
    rows = ", ".join(f"({i}, {float(v):.17e})" for i, v in enumerate(points))
    table = query(
        f"WITH p(i, v) AS (VALUES {rows}) "
        f"SELECT i, count(*) AS c FROM {finite} s ASOF LEFT JOIN p ON s.x <= p.v GROUP BY i"
    )
    counts = np.zeros(points.size + 1, dtype=np.float64)
    for i, c in zip(table.column("i").to_pylist(), table.column("c").to_pylist()):
        counts[points.size if i is None else int(i)] += c
    return counts


DUCKDB = Dialect(
    kind_of=kind_of,
    as_number=_as_number,
    finite=lambda x: f"isfinite({x})",
    quantiles=_quantiles,
    at_or_below=_at_or_below,
)


def _categorical(query: Query, column: str, max_categories: int) -> dp.CategoricalProfile | dp.SkippedProfile:
    """Category counts; an identifier-like column (more than max_categories values) is skipped after one
    counting scan, without fetching its values."""
    row = query(
        f"SELECT count(DISTINCT {column}) AS d, count({column}) AS n, count(*) AS t FROM src"
    ).to_pylist()[0]
    if int(row["d"]) > max_categories:
        return dp.SkippedProfile(
            reason=f"{int(row['d'])} distinct values (more than {max_categories}): looks like an identifier "
            "or free text; exclude it or declare it numeric",
            count=int(row["n"]),
            nulls=int(row["t"]) - int(row["n"]),
        )
    table = query(f"SELECT {column} AS v, count(*) AS c FROM src GROUP BY 1")
    values, counts = table.column("v").to_pylist(), table.column("c").to_pylist()
    nulls = sum(c for v, c in zip(values, counts) if v is None)
    merged: dict[str, int] = {}
    for value, count in zip(values, counts):
        if value is not None:
            key = category_key(value)
            merged[key] = merged.get(key, 0) + int(count)
    return dp.profile_categorical(list(merged), np.asarray(list(merged.values())), nulls, max_categories)
