"""Turning a predictions table into validated arrays for one task (binary, multiclass or regression)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gates.core.errors import InputError
from gates.readers.arrow import column_names, float_values, raw_values, read_parquet_columns, table_format

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_COLUMNS = {"label": "label", "score": "score", "prediction": "prediction"}


@dataclass
class Predictions:
    """Validated per-row arrays. For classification, y and pred are class codes (binary: 1 = positive)."""

    path: Path
    task: str
    y: np.ndarray
    pred: np.ndarray
    score: np.ndarray | None  # binary: (n,), multiclass: (n, C), regression: None
    classes: list
    ids: np.ndarray | None = None
    frame: Any = (
        None  # the columns read (a DataFrame, or {name: Arrow column}), kept for gates that need more
    )

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])


@dataclass
class TabulatedPredictions:
    """Binary predictions summarised as their exact cells (gates.stats.bootstrap.binary_cells), without per-row arrays:
    what the streaming reader (gates.engine.local) builds from a file too large for memory. The gates compute
    everything from the cells, so the numbers are the ones the in-memory path gives on the same rows.

    `cells` has columns y, pred (0/1), score (when the file has one) and g (with sensitive features: the
    index of each cell's intersection of the features' sorted `levels`, as gates.bias.make_groups).
    `losses` holds per-cell mean log loss and squared error when scores were merged into a grid (see
    gates.engine.local: then ROC AUC and average precision are approximate and `streaming` says by how much).
    """

    path: Path
    cells: Any  # gates.stats.bootstrap.Cells
    classes: list
    has_score: bool
    levels: dict[str, list[str]] | None = None
    streaming: dict[str, Any] = field(default_factory=dict)  # how the file was read (gates.engine.local)
    task: str = "binary"

    @property
    def rows(self) -> int:
        return self.cells.rows

    @property
    def score(self) -> bool | None:
        """Truthy when the predictions have scores (the per-row scores themselves are not kept)."""
        return True if self.has_score else None


def resolve_columns(section: dict[str, Any], available: list[str]) -> dict[str, Any]:
    """Explicit mapping wins; otherwise the default names, each only if the file has it."""
    mapping = dict(section.get("columns") or {})
    for key, default in DEFAULT_COLUMNS.items():
        if key not in mapping and default in available:
            mapping[key] = default
    mapping.setdefault("label", "label")
    return mapping


def infer_task(section: dict[str, Any]) -> str:
    if section.get("task"):
        return section["task"]
    return "multiclass" if (section.get("columns") or {}).get("scores") else "binary"


_LAST: dict[str, Any] = {}  # the last validated predictions: {"key": ..., "value": Predictions}


def load_predictions(
    path: Path, section: dict[str, Any], extra_columns: list[str] | None = None
) -> Predictions:
    """Read and validate a predictions file against the section's task, classes and column mapping.

    Only the needed columns are read; extra columns (sensitive features) come as pandas categoricals from
    Parquet. The arrays of the last file are kept: a second gate on the same unchanged file with the same
    mapping (metrics, then bias) reads only its extra columns and does not validate the rows again.
    """
    task = infer_task(section)
    mapping = resolve_columns(section, column_names(path))
    needed = [mapping["label"]] + [mapping[k] for k in ("id", "score", "prediction") if k in mapping]
    needed += list(mapping.get("scores") or [])
    stat = path.stat()
    key = (
        str(path.resolve()),
        stat.st_size,
        stat.st_mtime_ns,
        task,
        repr(sorted(mapping.items())),
        repr(section.get("classes")),
        repr(section.get("positive_label")),
        section.get("decision_threshold"),
    )
    if _LAST.get("key") == key:
        kept: Predictions = _LAST["value"]
        if isinstance(kept.frame, dict):
            frame: Any = read_parquet_columns(
                path, needed + list(extra_columns or []), list(extra_columns or [])
            )
        else:
            from gates.readers.table import read_table

            frame = read_table(
                path, needed + list(extra_columns or []), categorical=list(extra_columns or [])
            )
        return Predictions(kept.path, kept.task, kept.y, kept.pred, kept.score, kept.classes, kept.ids, frame)
    p = _load(path, section, task, mapping, needed, list(extra_columns or []))
    _LAST.clear()
    _LAST.update(key=key, value=p)
    return p


def _load(
    path: Path,
    section: dict[str, Any],
    task: str,
    mapping: dict[str, Any],
    needed: list[str],
    extra_columns: list[str],
) -> Predictions:
    if task == "binary" and table_format(path) == "parquet":
        fast = _binary_from_arrow(path, section, mapping, needed, extra_columns)
        if fast is not None:
            return fast
    from gates.readers.table import label_codes, numeric_column, read_table

    frame = read_table(path, needed + extra_columns, categorical=extra_columns)
    ids = frame[mapping["id"]].to_numpy() if "id" in mapping else None
    if task == "regression":
        if "prediction" not in mapping:
            raise InputError(f"{path}: missing column 'prediction' (set metrics.columns.prediction)")
        y = numeric_column(frame, mapping["label"], path)
        pred = numeric_column(frame, mapping["prediction"], path)
        return Predictions(path, task, y, pred, None, [], ids, frame)
    classes = _classes(section, frame, mapping, path, task)
    y = label_codes(frame, mapping["label"], path, classes)
    if task == "binary":
        return _binary(path, section, frame, mapping, classes, y, ids)
    return _multiclass(path, section, frame, mapping, classes, y, ids)


def _binary_from_arrow(
    path: Path, section: dict[str, Any], mapping: dict[str, Any], needed: list[str], extra_columns: list[str]
) -> Predictions | None:
    """Binary predictions from Parquet without pandas: labels and decisions coded from their few distinct
    values, the score taken as is. None when a column is not clean (nulls, text scores, labels outside the
    declared classes, probabilities outside [0, 1]): the pandas reader then says exactly what is wrong."""
    from gates.readers.table import label_key

    columns = read_parquet_columns(path, needed + extra_columns, extra_columns)
    label = raw_values(columns[mapping["label"]])
    decision = raw_values(columns[mapping["prediction"]]) if "prediction" in mapping else None
    if label is None or ("prediction" in mapping and decision is None):
        return None
    if section.get("classes"):
        classes = list(section["classes"])
    else:
        seen = list(label[1]) + (list(decision[1]) if decision is not None else [])
        classes = classes_from(seen, decision is not None, mapping, path, "binary")
    positive = section.get("positive_label", classes[-1])
    if str(positive) not in map(str, classes):
        raise InputError(f"{path}: positive_label {positive!r} is not one of the classes {classes}")
    keys = [label_key(c) for c in classes]
    positive_key = label_key(positive)

    def is_positive(coded: tuple[np.ndarray, list]) -> np.ndarray | None:
        values = [label_key(v) for v in coded[1]]
        if any(v not in keys for v in values):
            return None  # an undeclared label: the pandas reader names the row
        hits = [i for i, v in enumerate(values) if v == positive_key]
        if not hits:
            return np.zeros(coded[0].shape, dtype=np.int8)
        mask = coded[0] == hits[0]
        for i in hits[1:]:  # several spellings of the positive label (1 and "1")
            mask |= coded[0] == i
        return mask.view(np.int8)  # 0/1 as int8, without the masked writes of a copy

    y = is_positive(label)
    score = None
    if "score" in mapping:
        score = float_values(columns[mapping["score"]])
        if score is None or (score.size and (score.min() < 0 or score.max() > 1)):
            return None
    if decision is not None:
        pred = is_positive(decision)
    elif score is not None:
        pred = (score >= section.get("decision_threshold", 0.5)).astype(np.int8)
    else:
        raise InputError(f"{path}: needs a 'score' or 'prediction' column (set metrics.columns)")
    if y is None or pred is None:
        return None
    ids = columns[mapping["id"]].to_numpy() if "id" in mapping else None
    ordered = [c for c in classes if str(c) != str(positive)] + [positive]
    return Predictions(path, "binary", y, pred, score, ordered, ids, columns)


def _classes(
    section: dict[str, Any], frame: pd.DataFrame, mapping: dict[str, Any], path: Path, task: str
) -> list:
    from gates.readers.table import infer_classes

    if section.get("classes"):
        return list(section["classes"])
    seen = infer_classes(frame, mapping["label"])
    if "prediction" in mapping:
        seen = list(seen) + list(infer_classes(frame, mapping["prediction"]))
    return classes_from(seen, "prediction" in mapping, mapping, path, task)


def classes_from(seen: list, with_predictions: bool, mapping: dict[str, Any], path: Path, task: str) -> list:
    """The classes from the distinct labels (and predictions) seen, when the policy does not declare them."""
    if with_predictions:
        seen = sorted(set(map(str, seen)))
        seen = [int(v) if v.lstrip("-").isdigit() else v for v in seen]
    else:
        try:
            seen = sorted(set(seen))
        except TypeError:
            seen = sorted(set(seen), key=str)
    if task == "binary":
        if len(seen) == 1 and str(seen[0]) in ("0", "1"):
            return [0, 1]  # one class present: still binary 0/1, and the metrics say what is undefined
        if len(seen) != 2:
            raise InputError(
                f"{path}: column '{mapping['label']}' holds {len(seen)} distinct labels; a binary "
                f"task needs 2 (declare metrics.classes, or set task: multiclass)"
            )
    return seen


def _binary(
    path: Path,
    section: dict[str, Any],
    frame: pd.DataFrame,
    mapping: dict[str, Any],
    classes: list,
    y: np.ndarray,
    ids: np.ndarray | None,
) -> Predictions:
    y, pred, score, ordered = binary_arrays(path, section, frame, mapping, classes, y)
    return Predictions(path, "binary", y, pred, score, ordered, ids, frame)


def binary_arrays(
    path: Path,
    section: dict[str, Any],
    frame: pd.DataFrame,
    mapping: dict[str, Any],
    classes: list,
    y: np.ndarray | None = None,
    row_offset: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list]:
    """Validated 0/1 labels and decisions, the score, and the classes ordered negative first."""
    from gates.readers.table import label_codes, numeric_column

    positive = section.get("positive_label", classes[-1])
    if str(positive) not in map(str, classes):
        raise InputError(f"{path}: positive_label {positive!r} is not one of the classes {classes}")
    positive_code = [str(c) for c in classes].index(str(positive))
    if y is None:
        y = label_codes(frame, mapping["label"], path, classes, row_offset)
    y = (y == positive_code).astype(np.int8)
    score = (
        numeric_column(frame, mapping["score"], path, probability=True, row_offset=row_offset)
        if "score" in mapping
        else None
    )
    if "prediction" in mapping:
        pred = (label_codes(frame, mapping["prediction"], path, classes, row_offset) == positive_code).astype(
            np.int8
        )
    elif score is not None:
        pred = (score >= section.get("decision_threshold", 0.5)).astype(np.int8)
    else:
        raise InputError(f"{path}: needs a 'score' or 'prediction' column (set metrics.columns)")
    ordered = [c for c in classes if str(c) != str(positive)] + [positive]
    return y, pred, score, ordered


def _multiclass(
    path: Path,
    section: dict[str, Any],
    frame: pd.DataFrame,
    mapping: dict[str, Any],
    classes: list,
    y: np.ndarray,
    ids: np.ndarray | None,
) -> Predictions:
    from gates.readers.table import label_codes, numeric_column

    score_columns = list(mapping.get("scores") or [])
    proba = None
    if score_columns:
        if len(score_columns) != len(classes):
            raise InputError(
                f"{path}: {len(score_columns)} score columns for {len(classes)} classes "
                f"(metrics.columns.scores must list one column per class, in class order)"
            )
        proba = np.column_stack([numeric_column(frame, c, path, probability=True) for c in score_columns])
        sums = proba.sum(axis=1)
        off = np.abs(sums - 1) > 1e-3
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise InputError(f"{path}: row {row + 1}: class probabilities sum to {sums[row]:.4g}, expected 1")
    if "prediction" in mapping:
        pred = label_codes(frame, mapping["prediction"], path, classes)
    elif proba is not None:
        pred = proba.argmax(axis=1)
    else:
        raise InputError(f"{path}: needs score columns or a 'prediction' column (set metrics.columns)")
    return Predictions(path, "multiclass", y, pred, proba, classes, ids, frame)
