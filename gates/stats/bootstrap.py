"""Bootstrap machinery shared by every gate that reports intervals.

Rows are compressed into *cells*: the distinct tuples of whatever a metric reads (label, prediction, score,
group), each with its count. Drawing n rows with replacement is then the same, in distribution, as a
multinomial draw of n over the cells with probabilities count / n. Every metric is written as a function of
per-cell weights, so the point value uses the counts and each resample uses a draw: one code path, and the
cost of a resample is the number of cells, not the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

CHUNK_BYTES = 64 << 20  # weights held at once, per chunk of resamples
_LITTLE = np.little_endian


@dataclass(frozen=True)
class Cells:
    """Distinct rows (`columns`, each shape (K,)) with their counts, and the map from rows to cells.

    `row_cell` is None when the cells were built without keeping the rows (the binary tabulation and the
    streaming path need only counts). `order` is "g,score" when the cells are sorted by group (if there is a
    "g" column), then by score, so that each group's cells form one run sorted by score.
    """

    columns: dict[str, np.ndarray]
    counts: np.ndarray
    row_cell: np.ndarray | None = None  # for each input row, the index of its cell
    strata: np.ndarray | None = None  # per cell stratum id, for resampling within groups
    order: str | None = None

    @property
    def size(self) -> int:
        return int(self.counts.shape[0])

    @property
    def rows(self) -> int:
        if self.row_cell is not None:
            return int(self.row_cell.shape[0])
        return round(float(self.counts.sum()))


def compress(columns: dict[str, np.ndarray], strata_column: str | None = None) -> Cells:
    """Group identical rows. Multi-column arrays (n, m) are allowed (for example class probabilities)."""
    n = len(next(iter(columns.values())))
    stacked = [np.asarray(v, dtype=np.float64).reshape(n, -1) for v in columns.values()]
    matrix = np.concatenate(stacked, axis=1)
    fast = _compress_by_codes(matrix)
    if fast is not None:
        unique, row_cell, counts = fast
    else:
        unique, row_cell, counts = np.unique(matrix, axis=0, return_inverse=True, return_counts=True)
    row_cell = row_cell.reshape(-1)
    out: dict[str, np.ndarray] = {}
    start = 0
    for (name, original), block in zip(columns.items(), stacked):
        width = block.shape[1]
        values = unique[:, start : start + width]
        values = values[:, 0] if np.asarray(original).ndim == 1 else values
        out[name] = values
        start += width
    strata = out[strata_column].astype(np.int64) if strata_column else None
    return Cells(columns=out, counts=counts.astype(np.float64), row_cell=row_cell, strata=strata)


SMALL_RANGE = 1 << 20  # integer-valued columns spanning fewer values than this are coded by counting


def _column_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each row's value), as np.unique(values, return_inverse=True).

    Integer-valued columns with a small range (labels, predictions, group codes) are coded in linear time by
    counting; anything else is sorted.
    """
    if values.size:
        low, high = float(values.min()), float(values.max())
        if high - low < SMALL_RANGE and np.array_equal(values, np.floor(values)):
            offset = (values - low).astype(np.int64)
            present = np.bincount(offset) > 0
            rank = np.cumsum(present) - 1
            return np.flatnonzero(present) + low, rank[offset]
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.reshape(-1)


def _compress_by_codes(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """np.unique(matrix, axis=0) through one integer code per row: the same cells in the same (lexicographic)
    order, with 1-D work instead of a row-wise sort (counting when the codes span a small range). None when
    the per-column codes do not fit in one int64 (or a column holds NaN): the caller falls back to np.unique."""
    if np.isnan(matrix).any():
        return None
    levels, inverses = [], []
    for j in range(matrix.shape[1]):
        values, inverse = _column_codes(matrix[:, j])
        levels.append(values)
        inverses.append(inverse)
    space = float(np.prod([float(v.size) for v in levels]))
    if space >= 2.0**62:
        return None
    code = np.zeros(matrix.shape[0], dtype=np.int64)
    for values, inverse in zip(levels, inverses):
        code = code * values.size + inverse
    if space <= max(1 << 22, 2 * matrix.shape[0]):
        counts = np.bincount(code, minlength=int(space))
        present = counts > 0
        cell_codes = np.flatnonzero(present)
        row_cell = (np.cumsum(present) - 1)[code]
        counts = counts[cell_codes]
    else:
        cell_codes, row_cell, counts = np.unique(code, return_inverse=True, return_counts=True)
    unique = np.empty((cell_codes.size, matrix.shape[1]))
    rest = cell_codes.copy()
    for j in range(matrix.shape[1] - 1, -1, -1):
        unique[:, j] = levels[j][rest % levels[j].size]
        rest //= levels[j].size
    return unique, row_cell.reshape(-1), counts


# ------------------------------------------------------------------------------ binary tabulation
def binary_cells(
    y: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray | None = None,
    group: np.ndarray | None = None,
    strata: bool = False,
    weights: np.ndarray | None = None,
    sums: dict[str, np.ndarray] | None = None,
) -> Cells:
    """Cells of binary predictions: distinct (group, score, label, prediction), sorted in that order.

    The same cells as compress() would find, built without a row-wise unique: with no score the cell is a
    small integer code ((group * 2 + label) * 2 + prediction) counted by np.bincount; with a score each
    group's rows are sorted once by a 64-bit key that packs the score's bits above the label and prediction
    bits (probabilities in [0, 2) leave the two low bits free), and runs of equal keys are the cells. No
    argsort over the rows, no map from rows to cells. `weights` (per row, default 1) are summed per cell; the
    streaming path merges chunks' cells through it, and `sums` (per row values) are summed per cell into
    columns of those names.

    Columns: y, pred (int8), g (int64, when group is given), score (float64, when given), and `sums`.
    """
    low = (np.asarray(y) != 0).astype(np.uint8) * 2 + (np.asarray(pred) != 0).astype(np.uint8)
    g = None if group is None else np.asarray(group, dtype=np.int64)
    n_groups = int(g.max()) + 1 if g is not None and g.size else 1
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    extra = {k: np.asarray(v, dtype=np.float64) for k, v in (sums or {}).items()}
    if score is None:
        code = low.astype(np.int64) if g is None else g * 4 + low
        counts = np.bincount(code, weights=w, minlength=4 * n_groups)
        cell = np.flatnonzero(counts)
        totals = {k: np.bincount(code, weights=v, minlength=4 * n_groups)[cell] for k, v in extra.items()}
        return _binary_result(
            cell // 4,
            (cell & 3).astype(np.uint8),
            None,
            counts[cell].astype(np.float64),
            g is not None,
            strata,
            totals,
        )
    values = np.asarray(score, dtype=np.float64)  # (-0.0 and 0.0 become one value below)
    if g is None or n_groups == 1:
        segments = [(0, values, low, w, extra)]
    else:
        order = np.argsort(g.astype(np.uint16) if n_groups <= 1 << 16 else g, kind="stable")  # radix sort
        sizes = np.bincount(g, minlength=n_groups)
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        values, low = values[order], low[order]
        w = w[order] if w is not None else None
        extra = {k: v[order] for k, v in extra.items()}
        segments = []
        for k in range(n_groups):
            if sizes[k]:
                part = slice(bounds[k], bounds[k + 1])
                segments.append(
                    (
                        k,
                        values[part],
                        low[part],
                        None if w is None else w[part],
                        {name: v[part] for name, v in extra.items()},
                    )
                )
    del values, low, w
    parts = [(k, *_sorted_runs(v, lo, ww, ex)) for k, v, lo, ww, ex in segments]
    del segments

    def joined(runs: list[np.ndarray]) -> np.ndarray:  # no copy for a single run
        return runs[0] if len(runs) == 1 else np.concatenate(runs)

    group_codes = (
        np.concatenate([np.full(p[1].size, p[0], dtype=np.int64) for p in parts]) if g is not None else None
    )
    totals = {
        name: (parts[0][4][name] if len(parts) == 1 else np.concatenate([p[4][name] for p in parts]))
        for name in extra
    }
    return _binary_result(
        group_codes,
        joined([p[2] for p in parts]),
        joined([p[1] for p in parts]),
        joined([p[3] for p in parts]),
        g is not None,
        strata,
        totals,
    )


def _sorted_runs(
    values: np.ndarray, low: np.ndarray, weights: np.ndarray | None, extra: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Distinct (score, low) pairs sorted by score then low, with their counts (or summed weights) and the
    per-pair sums of the `extra` values."""
    if values.size == 0:
        return values, low, np.zeros(0), {k: np.zeros(0) for k in extra}
    packable = bool(values.min() >= 0.0) and bool(values.max() < 2.0)
    order = None
    if packable:  # bits of a float in [0, 2) are below 2**62 and ordered like the floats; the sign bit of
        key = values.view(np.uint64) << np.uint64(2)  # -0.0 is shifted out, so it packs as 0.0
        np.bitwise_or(key, low, out=key, casting="unsafe")
        if weights is None and not extra:
            key.sort()
        else:
            order = np.argsort(key, kind="stable")
            key = key[order]
        change = np.empty(key.size, dtype=bool)
        change[0] = True
        np.not_equal(key[1:], key[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        del change
        size = key.size
        key = key[starts]  # the first key of every run; the sorted keys are no longer needed
        codes = key.view(np.uint8)[::8] & np.uint8(3) if _LITTLE else (key & np.uint64(3)).astype(np.uint8)
        key >>= np.uint64(2)
        distinct = key.view(np.float64)
    else:
        values = values + 0.0  # -0.0 and 0.0 are one value
        order = np.lexsort((low, values))
        ordered, low_ordered = values[order], low[order]
        bits = ordered.view(np.uint64)
        change = (bits[1:] != bits[:-1]) | (low_ordered[1:] != low_ordered[:-1])
        starts = np.flatnonzero(np.concatenate(([True], change)))
        distinct, codes = ordered[starts], low_ordered[starts]
        size = ordered.size
    if weights is None:
        counts = np.empty(starts.size, dtype=np.float64)
        np.subtract(starts[1:], starts[:-1], out=counts[:-1], casting="unsafe")
        counts[-1] = size - starts[-1]
    else:
        counts = np.add.reduceat(weights if order is None else weights[order], starts)
    totals = {k: np.add.reduceat(v[order], starts) for k, v in extra.items()}
    return distinct, codes, counts, totals


def _binary_result(
    g: np.ndarray | None,
    low: np.ndarray,
    score: np.ndarray | None,
    counts: np.ndarray,
    grouped: bool,
    strata: bool,
    totals: dict[str, np.ndarray] | None = None,
) -> Cells:
    columns = {"y": (low >> 1).astype(np.int8), "pred": (low & 1).astype(np.int8)}
    if grouped:
        columns["g"] = np.asarray(g, dtype=np.int64)
    if score is not None:
        columns["score"] = score
    columns.update(totals or {})
    return Cells(
        columns=columns,
        counts=np.asarray(counts, dtype=np.float64),
        strata=columns["g"] if (strata and grouped) else None,
        order="g,score",
    )


def merge_binary_cells(parts: list[Cells], strata: bool = False, sums: tuple[str, ...] = ()) -> Cells:
    """Cells of several chunks of rows as one table: the same cells binary_cells() gives on all the rows.
    Columns named in `sums` are per-cell sums and are added up."""
    parts = [p for p in parts if p.size]
    if not parts:
        raise ValueError("no rows")
    column = {name: np.concatenate([p.columns[name] for p in parts]) for name in parts[0].columns}
    return binary_cells(
        column["y"],
        column["pred"],
        column.get("score"),
        column.get("g"),
        strata=strata,
        weights=np.concatenate([p.counts for p in parts]),
        sums={name: column[name] for name in sums},
    )


# ------------------------------------------------------------------------------------- coarse cells
BOOTSTRAP_BINS = 512  # score bins per group for the bootstrap when the exact cells are too many
EXACT_CELLS = 4096  # up to this many cells the bootstrap runs on the exact cells
EDGE_SAMPLE = 1 << 18  # cells looked at to place the bin edges


@dataclass(frozen=True)
class Binning:
    """How coarse cells were made from exact ones: the score's bin edges and the sizes before and after."""

    edges: np.ndarray  # interior edges; bin k holds scores in (edges[k-1], edges[k]]
    exact_cells: int
    cells: int

    @property
    def bins(self) -> int:
        return int(self.edges.size) + 1


def coarsen(
    cells: Cells, bins: int = BOOTSTRAP_BINS, sums: dict[str, np.ndarray] | None = None
) -> tuple[Cells, Binning]:
    """Merge exact binary cells into (group, score bin, label, prediction) cells for the bootstrap.

    The bins are weighted quantiles of the score (equal shares of rows), the same edges for every group;
    tied scores always share a bin. The coarse cell's "score" is its bin number (order is all a ranking
    metric needs: two rows in one bin count as a tie). `sums` are per exact cell values (for example a
    per-row loss) whose count-weighted mean each coarse cell carries, so sums over rows stay exact.
    """
    score = cells.columns["score"]
    g = cells.columns.get("g")
    n_groups = int(g.max()) + 1 if g is not None and g.size else 1
    edges = coarsen_edges(score, cells.counts, bins)
    if cells.order == "g,score":
        bin_of = np.empty(cells.size, dtype=np.int64)
        bounds = (
            np.searchsorted(g, np.arange(n_groups + 1), side="left")
            if g is not None
            else np.array([0, cells.size])
        )
        for k in range(bounds.size - 1):
            a, b = int(bounds[k]), int(bounds[k + 1])
            if a == b:
                continue
            cut = np.searchsorted(score[a:b], edges, side="left")
            bin_of[a:b] = np.repeat(np.arange(edges.size + 1), np.diff(np.concatenate(([0], cut, [b - a]))))
    else:
        bin_of = np.searchsorted(edges, score, side="left")
    nb = edges.size + 1
    space = n_groups * nb * 4
    code = bin_of if g is None else g * nb + bin_of
    code *= 4
    code += cells.columns["y"].astype(np.int8) * np.int8(2)
    code += cells.columns["pred"]
    counts = np.bincount(code, weights=cells.counts, minlength=space)
    keep = np.flatnonzero(counts)
    columns: dict[str, np.ndarray] = {
        "y": ((keep >> 1) & 1).astype(np.int8),
        "pred": (keep & 1).astype(np.int8),
    }
    if g is not None:
        columns["g"] = keep // (4 * nb)
    columns["score"] = ((keep // 4) % nb).astype(np.float64)
    kept = counts[keep]
    for name, values in (sums or {}).items():
        total = np.bincount(code, weights=cells.counts * values, minlength=space)[keep]
        columns[name] = total / kept
    coarse = Cells(
        columns=columns,
        counts=kept,
        strata=columns["g"] if cells.strata is not None else None,
        order="g,score",
    )
    return coarse, Binning(edges=edges, exact_cells=cells.size, cells=coarse.size)


def coarsen_edges(score: np.ndarray, counts: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the weighted quantiles 1/bins, ..., (bins-1)/bins of the score (distinct values).

    With more than EDGE_SAMPLE cells the quantiles are taken from every k-th cell (deterministic); any edges
    give valid bins, the sample only decides how evenly the rows spread over them.
    """
    if score.size > EDGE_SAMPLE:
        step = -(-score.size // EDGE_SAMPLE)
        score, counts = score[::step], counts[::step]
    order = np.argsort(score, kind="stable")
    cumulative = np.cumsum(counts[order])
    targets = cumulative[-1] * np.arange(1, bins) / bins
    picked = np.minimum(np.searchsorted(cumulative, targets, side="left"), order.size - 1)
    edges = np.unique(score[order][picked])
    return edges[edges < score.max()] if edges.size else edges


def weight_chunks(cells: Cells, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield (b, K) arrays of bootstrap weights, `resamples` rows in all, reproducible from `seed`.

    Without strata every resample draws n rows; with strata, each stratum keeps its own size (resampling
    within groups, so a small group never vanishes from a resample).
    """
    rng = np.random.default_rng(seed)
    k = cells.size
    per_chunk = max(1, min(resamples, CHUNK_BYTES // max(1, 8 * k)))
    done = 0
    groups = _strata_groups(cells)
    while done < resamples:
        b = min(per_chunk, resamples - done)
        weights = np.zeros((b, k), dtype=np.float64)
        for members in groups:
            weights[:, members] = _draw(rng, cells.counts[members], b)
        yield weights
        done += b


def _strata_groups(cells: Cells) -> list[np.ndarray]:
    if cells.strata is None:
        return [np.arange(cells.size)]
    return [np.flatnonzero(cells.strata == s) for s in np.unique(cells.strata)]


def _draw(rng: np.random.Generator, counts: np.ndarray, b: int) -> np.ndarray:
    """b multinomial draws of sum(counts) over these cells, in proportion to their counts.

    With few cells the multinomial is drawn directly; when nearly every row is its own cell, drawing row
    indices and counting them is cheaper and gives the same distribution.
    """
    total, k = int(counts.sum()), counts.size
    if total == 0:
        return np.zeros((b, k))
    if k * 4 < total:
        return rng.multinomial(total, counts / total, size=b).astype(np.float64)
    # Rows of these cells, repeated by count, then uniform row draws binned back to cells.
    local = np.repeat(np.arange(k), counts.astype(np.int64))
    out = np.empty((b, k))
    for i in range(b):
        out[i] = np.bincount(local[rng.integers(0, total, total)], minlength=k)
    return out


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    undefined_share: float  # resamples where the statistic was undefined (NaN)


def percentile_interval(samples: np.ndarray, confidence: float) -> Interval | None:
    """Percentile bootstrap interval over the defined resamples; None when too few are defined."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = samples[np.isfinite(samples)]
    if samples.size == 0 or finite.size < max(2, samples.size // 2):
        return None
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(float(low), float(high), 1 - finite.size / samples.size)


def bootstrap(
    cells: Cells,
    statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
    resamples: int,
    seed: int,
    advance: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate a vectorised statistic (weights (b, K) -> {name: (b,)}) on every resample; ``advance`` is told
    how many resamples each chunk held (gates.resample shows progress with it; never changes a number)."""
    collected: dict[str, list[np.ndarray]] = {}
    for weights in weight_chunks(cells, resamples, seed):
        for name, values in statistic(weights).items():
            collected.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
        if advance is not None:
            advance(len(weights))
    return {name: np.concatenate(parts) for name, parts in collected.items()}


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise division that yields NaN (undefined), not inf or a warning, where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out
