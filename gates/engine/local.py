"""Binary predictions too large for memory: read in chunks, keep only mergeable sufficient statistics.

Every number the metrics and bias gates report on binary predictions is a function of the exact cells: the
distinct (group, score, label, prediction) combinations with their counts (gates.stats.bootstrap.binary_cells). Cells of
two chunks merge by adding counts, so a file is read a batch at a time (Parquet record batches, CSV or JSON
Lines chunks; only the needed columns), each batch is tabulated and merged, and the rows are dropped. The
gates then run on the merged cells exactly as they do on cells built from rows in memory: the same cells,
the same point values, the same bootstrap draws, the same intervals.

The table of cells grows with the number of distinct cells, not rows: at most 4 per group with no score, and
up to one per row with continuous scores. Each batch's cells are appended; once the cells held pass
`max_cells`, they are merged into one table, and when that table has more than `max_cells` cells, scores are
merged onto a grid of 2**-k (k as large as fits; 2**-20 keeps about a million levels) for the rest of the
run. finish() does the same, so the final table never has more than `max_cells` cells (when that allows
8 a group: 2 score levels), and at most
`max_cells` + one batch's cells (at most `batch_rows`) are ever held. Peak memory is therefore the batch
being read plus a merge of up to `max_cells + batch_rows` cells: the held columns and the sort's keys and
order, some 65-70 bytes a cell (bench/results/streaming.md); it does not grow with the rows. With a grid:

- counts, every count-based metric (accuracy, precision, recall, F1, rates per group) and the losses (log
  loss, Brier: carried as per-cell sums of the exact per-row values) stay exact;
- ROC AUC and average precision become those of the grid scores; for ROC AUC the evidence states the bound
  0.5 * (pairs of a positive and a negative in one grid cell) / (all such pairs), computed from the cells.

Not streamed (an InputError says so): multiclass and regression tasks, and the paired baseline comparison
(the join by id needs both files' rows at once).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.errors import InputError
from gates.readers.arrow import column_names, table_format
from gates.readers.predictions import (
    TabulatedPredictions,
    binary_arrays,
    classes_from,
    infer_task,
    resolve_columns,
)
from gates.stats.bootstrap import Cells, binary_cells

BATCH_ROWS = 1_000_000
MAX_CELLS = 1 << 23  # about 8.4 million cells at most in the table (a grid for the scores past that)
AUTO_ROWS = 20_000_000  # `streaming: auto` streams Parquet files with more rows than this
AUTO_BYTES = 1 << 30  # ... and CSV / JSON Lines files larger than this
LOSS_SUMS = ("log_loss_sum", "brier_sum")
SLICE_CELLS = 1 << 18  # cells regridded at a time


def settings(section: dict[str, Any]) -> dict[str, Any]:
    """The section's `streaming` key as {enabled: True | False | "auto", batch_rows, max_cells}."""
    value = section.get("streaming", "auto")
    spec = value if isinstance(value, dict) else {"enabled": value}
    return {
        "enabled": spec.get("enabled", "auto"),
        "batch_rows": int(spec.get("batch_rows", BATCH_ROWS)),
        "max_cells": int(spec.get("max_cells", MAX_CELLS)),
    }


def wanted(section: dict[str, Any], path: Path) -> bool:
    """Whether this file is read in chunks: on request, or with `auto` when it is large (see AUTO_*)."""
    enabled = settings(section)["enabled"]
    if enabled != "auto":
        return bool(enabled)
    if not path.is_file() or infer_task(section) != "binary" or section.get("baseline"):
        return False
    if table_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_metadata(path).num_rows > AUTO_ROWS
        except Exception:  # noqa: BLE001 - not Parquet: the in-memory reader reports it properly
            return False
    return path.stat().st_size > AUTO_BYTES


def check_supported(section: dict[str, Any], where: str) -> None:
    task = infer_task(section)
    if task != "binary":
        raise InputError(
            f"{where}.streaming: only binary predictions are read in chunks (task is {task}); "
            "set streaming: false"
        )
    if section.get("baseline"):
        raise InputError(
            f"{where}.streaming: the baseline comparison needs both files' rows at once and is not "
            "streamed; set streaming: false"
        )


# ------------------------------------------------------------------------------------------------ reading
def iter_frames(
    path: Path, columns: list[str], categorical: list[str], batch_rows: int
) -> Iterator[tuple[int, Any]]:
    """(rows before this chunk, pandas DataFrame of the named columns): the one table parser
    (gates.readers.arrow), streamed, so a chunked run reads every value as the in-memory path does."""
    from gates.core import progress
    from gates.readers.arrow import iter_arrow

    with progress.task(f"reading {path.name}", unit="rows") as shown:
        for offset, table in iter_arrow(path, columns, categorical, batch_rows):
            shown.update(offset + table.num_rows)
            yield offset, table.to_pandas()


# ---------------------------------------------------------------------------------------------- tabulation
class _Levels:
    """Values of one sensitive feature in the order first seen; codes stay fixed as new values arrive."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def codes(self, coded) -> np.ndarray:
        mapped = []
        for name in coded.names:
            if name not in self.index:
                self.index[name] = len(self.names)
                self.names.append(name)
            mapped.append(self.index[name])
        return np.asarray(mapped, dtype=np.int64)[coded.codes]


class Accumulator:
    """Merged exact cells of the chunks seen so far, and the score grid once the table grew too large."""

    def __init__(self, features: list[str], max_cells: int):
        self.features = features
        self.levels = [_Levels() for _ in features]
        self.max_cells = max_cells
        self.parts: list[Cells] = []
        self.pending = 0
        self.grid: int | None = None  # k: scores floored to multiples of 2**-k once the table was too large
        self.rows = 0

    def add(self, y: np.ndarray, pred: np.ndarray, score: np.ndarray | None, coded: list) -> None:
        self.rows += len(y)
        codes = [levels.codes(c) for levels, c in zip(self.levels, coded)]
        group, local = self._local_groups(codes, len(y))
        sums = None
        if self.grid is not None and score is not None:
            sums = _loss_sums_per_row(y, score)
            score = _on_grid(score, self.grid)
        part = binary_cells(y, pred, score, group, sums=sums)
        self._append(self._with_feature_codes(part, local))

    def _local_groups(self, codes: list[np.ndarray], n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """A compact code per row for the combination of its feature codes, and each code's combination (the
        combinations in sorted order, as np.unique gives them; without a sort while they are few)."""
        if not codes:
            return None, None
        return self._combinations(codes, n)

    @staticmethod
    def _combinations(codes: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
        """_local_groups() of at least one feature."""
        shape = tuple(int(c.max()) + 1 if c.size else 1 for c in codes)
        combined = np.ravel_multi_index(codes, shape) if n else np.zeros(0, dtype=np.int64)
        space = math.prod(shape)
        if space <= max(1 << 20, n):
            present = np.bincount(combined, minlength=space) > 0
            distinct = np.flatnonzero(present)
            inverse = (np.cumsum(present) - 1)[combined]
        else:
            distinct, inverse = np.unique(combined, return_inverse=True)
        return inverse.reshape(-1), np.stack(np.unravel_index(distinct, shape))

    def _with_feature_codes(self, part: Cells, local: np.ndarray | None) -> Cells:
        columns = {k: v for k, v in part.columns.items() if k != "g"}
        if local is not None:
            for j in range(len(self.features)):
                columns[f"f{j}"] = local[j].astype(np.int32)[part.columns["g"]]
        return Cells(columns=columns, counts=part.counts)

    def _append(self, part: Cells) -> None:
        self.parts.append(part)
        self.pending += part.size
        if self.pending > self.max_cells:  # held: at most max_cells + this batch's cells
            self._merge()

    def _merge(self) -> None:
        """One table of at most max_cells cells (scores onto a coarser grid when the merged cells are more)."""
        merged = self._merged(self.parts)  # empties self.parts
        self.parts, self.pending = [merged], merged.size
        if merged.size > self.max_cells and "score" in merged.columns:
            self._coarsen_grid()

    def _merged(self, parts: list[Cells], again: bool = False) -> Cells:
        """One table from several (or one re-aggregated, `again`); the feature codes travel through a
        combined group code and back. Empties `parts`, so that the pieces are freed before the sort."""
        pieces = [p for p in parts if p.size] or parts[:1]
        parts.clear()
        if len(pieces) == 1 and not again:
            return pieces[0]
        if len(pieces) == 1:
            columns, counts = dict(pieces[0].columns), pieces[0].counts
        else:
            columns = {name: np.concatenate([p.columns[name] for p in pieces]) for name in pieces[0].columns}
            counts = np.concatenate([p.counts for p in pieces])
        del pieces
        features = [columns.pop(f"f{j}") for j in range(len(self.features))]
        group, local = self._local_groups(features, len(columns["y"])) if features else (None, None)
        del features
        sums = {k: columns.pop(k) for k in LOSS_SUMS if k in columns}
        merged = binary_cells(
            columns.pop("y"),
            columns.pop("pred"),
            columns.pop("score", None),
            group,
            weights=counts,
            sums=sums or None,
        )
        return self._with_feature_codes(merged, local)

    def _coarsen_grid(self) -> None:
        """Merge the scores of the one held table onto the finest grid 2**-k that keeps it under max_cells;
        losses become sums. The table is sorted by group, then score, so it is regridded a slice at a time
        (no grid cell spans two slices): the working memory is that of a slice, not of the table."""
        merged = self.parts[0]
        features = [merged.columns[f"f{j}"] for j in range(len(self.features))]
        combos = int(self._combinations(features, merged.size)[1].shape[1]) if features else 1
        k = math.floor(math.log2(max(2.0, self.max_cells / (4.0 * combos) - 1)))
        k = min(k, 52) if self.grid is None else min(k, self.grid - 1)
        exact_losses = self.grid is None  # the exact scores are still here: start the loss sums from them
        while True:  # probabilities in [0, 1] fit at once; coarser only if they do not
            pieces = [
                self._regridded(merged, start, end, k, exact_losses)
                for start, end in _grid_slices(merged, features, k, SLICE_CELLS)
            ]
            columns = {name: np.concatenate([p.columns[name] for p in pieces]) for name in pieces[0].columns}
            regridded = Cells(columns=columns, counts=np.concatenate([p.counts for p in pieces]))
            del pieces
            if regridded.size <= self.max_cells or k <= 0:
                break
            k -= 1
        self.grid = k
        self.parts, self.pending = [regridded], regridded.size

    def _regridded(self, merged: Cells, start: int, end: int, k: int, exact_losses: bool) -> Cells:
        columns = {name: v[start:end] for name, v in merged.columns.items()}
        counts = merged.counts[start:end]
        if exact_losses:
            loss = _loss_sums_per_row(columns["y"], columns["score"])
            columns["log_loss_sum"] = loss["log_loss_sum"] * counts
            columns["brier_sum"] = loss["brier_sum"] * counts
        columns["score"] = _on_grid(columns["score"], k)
        return self._merged([Cells(columns=columns, counts=counts)], again=True)

    def finish(self) -> tuple[Cells, dict[str, list[str]]]:
        """The final cells with "g" over the features' sorted levels (as gates.bias.make_groups); never more
        than max_cells of them when there are scores (the last merge goes onto a grid too when needed)."""
        if not self.parts:
            raise InputError("no rows")
        self._merge()
        merged = self.parts[0]
        self.parts = []
        if not merged.size:
            raise InputError("no rows")
        levels: dict[str, list[str]] = {}
        group = None
        if self.features:
            codes = []
            for j, (name, lv) in enumerate(zip(self.features, self.levels)):
                order = sorted(range(len(lv.names)), key=lv.names.__getitem__)
                rank = np.empty(len(lv.names), dtype=np.int64)
                rank[order] = np.arange(len(lv.names))
                levels[name] = [lv.names[i] for i in order]
                codes.append(rank[merged.columns[f"f{j}"]])
            group = np.ravel_multi_index(codes, tuple(len(levels[f]) for f in self.features))
        sums = {k: merged.columns[k] for k in LOSS_SUMS if k in merged.columns}
        cells = binary_cells(
            merged.columns["y"],
            merged.columns["pred"],
            merged.columns.get("score"),
            group,
            strata=group is not None,
            weights=merged.counts,
            sums=sums or None,
        )
        return cells, levels


def _grid_slices(cells: Cells, features: list[np.ndarray], k: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of consecutive slices of about `size` cells of a table sorted by (features, score), cut
    only where the (features, grid cell of the score) changes."""
    n, score = cells.size, cells.columns["score"]
    start = 0
    while start < n:
        end = min(start + size, n)
        while end < n:  # move the cut forward to the first cell of the next grid cell
            window = slice(end - 1, min(end - 1 + size, n))
            level = _on_grid(score[window], k)
            same = level == level[0]
            for f in features:
                same &= f[window] == f[end - 1]
            changed = np.flatnonzero(~same)
            if changed.size:
                end = end - 1 + int(changed[0])
                break
            end = window.stop
        yield start, end
        start = end


def _on_grid(score: np.ndarray, k: int) -> np.ndarray:
    step = 2.0**k
    return np.floor(np.asarray(score, dtype=np.float64) * step) / step


def _loss_sums_per_row(y: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    from gates.stats.metrics import binary_losses

    losses = binary_losses(y, score)
    return {"log_loss_sum": losses["log_loss"], "brier_sum": losses["brier"]}


def tabulate(
    path: Path, section: dict[str, Any], sensitive: list[str] | None = None, where: str = "metrics"
) -> TabulatedPredictions:
    """Read a binary predictions file in chunks into its exact cells (see the module docstring)."""
    from gates.engine.groups import group_values

    check_supported(section, where)
    options = settings(section)
    mapping = resolve_columns(section, column_names(path))
    needed = [mapping["label"]] + [mapping[k] for k in ("score", "prediction") if k in mapping]
    features = list(sensitive or [])
    classes = list(section["classes"]) if section.get("classes") else _scan_classes(path, mapping, options)
    accumulator = Accumulator(features, options["max_cells"])
    ordered: list = classes
    batches = 0
    for offset, frame in iter_frames(
        path, needed + [f for f in features if f not in needed], features, options["batch_rows"]
    ):
        y, pred, score, ordered = binary_arrays(path, section, frame, mapping, classes, row_offset=offset)
        coded = [
            group_values(frame[f], f, str(path), section.get("missing_group"), row_offset=offset)
            for f in features
        ]
        accumulator.add(y, pred, score, coded)
        batches += 1
        del frame, y, pred, score, coded
    cells, levels = accumulator.finish()
    if "log_loss_sum" in cells.columns:  # scores were merged: per-cell mean losses of the exact rows
        columns = dict(cells.columns)
        columns["log_loss"] = columns.pop("log_loss_sum") / cells.counts
        columns["brier"] = columns.pop("brier_sum") / cells.counts
        cells = Cells(columns=columns, counts=cells.counts, strata=cells.strata, order=cells.order)
    info: dict[str, Any] = {
        "batches": batches,
        "batch_rows": options["batch_rows"],
        "cells": cells.size,
        "max_cells": options["max_cells"],
        "exact": accumulator.grid is None,
    }
    if accumulator.grid is not None:
        info["score_grid"] = f"2^-{accumulator.grid}"
    return TabulatedPredictions(
        path=path,
        cells=cells,
        classes=ordered,
        has_score="score" in mapping,
        levels=levels if features else None,
        streaming=info,
    )


def _scan_classes(path: Path, mapping: dict[str, Any], options: dict[str, Any]) -> list:
    """A first pass over the label (and prediction) columns only, for the classes the policy does not declare."""
    from gates.readers.table import infer_classes

    columns = [mapping["label"]] + ([mapping["prediction"]] if "prediction" in mapping else [])
    seen: list = []
    for _, frame in iter_frames(path, columns, [], options["batch_rows"]):
        for column in columns:
            for value in infer_classes(frame, column):
                if value not in seen:
                    seen.append(value)
    return classes_from(seen, "prediction" in mapping, mapping, path, "binary")
