"""Feature engineering shared by training and serving.

The model consumes a purely numeric matrix built by :func:`to_matrix`:
the numeric features in ``NUMERIC_FEATURES`` order, followed by one-hot
columns for every categorical feature in ``CATEGORICAL_FEATURES`` order
(levels in their declared order).  Unknown categories are rejected rather
than silently encoded as all-zeros.

The sensitive attributes (``sex``, ``age_band``) are *not* model inputs; they
are only carried along for fairness evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

ID_COLUMN = "applicant_id"
LABEL = "default"
SENSITIVE_FEATURES = ["sex", "age_band"]

NUMERIC_FEATURES = [
    "age",
    "income",
    "debt_ratio",
    "credit_history_years",
    "num_open_accounts",
]
CATEGORICAL_FEATURES: dict[str, tuple[str, ...]] = {
    "employment": ("salaried", "self_employed", "unemployed", "retired"),
    "region": ("north", "south", "east", "west"),
}
#: Raw input columns the model needs, in order.
FEATURES = NUMERIC_FEATURES + list(CATEGORICAL_FEATURES)

#: Inclusive valid ranges of the numeric inputs.
RANGES: dict[str, tuple[float, float]] = {
    "age": (18, 75),
    "income": (0.0, 10_000_000.0),
    "debt_ratio": (0.0, 1.5),
    "credit_history_years": (0.0, 60.0),
    "num_open_accounts": (0, 100),
}
INTEGER_FEATURES = ("age", "num_open_accounts")


def feature_names() -> list[str]:
    """Names of the columns of :func:`to_matrix`, in order."""
    names = list(NUMERIC_FEATURES)
    for column, levels in CATEGORICAL_FEATURES.items():
        names.extend(f"{column}_{level}" for level in levels)
    return names


def validate(df: pd.DataFrame, require_label: bool = False) -> None:
    """Check that ``df`` holds valid model inputs.

    Raises ``ValueError`` naming the offending column for: a missing column,
    missing values, non-numeric or non-integer values where numbers are
    expected, values outside ``RANGES`` and unknown category levels.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    required = list(FEATURES) + ([LABEL] if require_label else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"missing required column(s): {', '.join(missing)}")

    for column in NUMERIC_FEATURES:
        series = df[column]
        if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
            raise ValueError(f"column '{column}' must be numeric, got dtype {series.dtype}")
        values = series.to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(values).any():
            raise ValueError(f"column '{column}' has missing values")
        low, high = RANGES[column]
        bad = (values < low) | (values > high)
        if bad.any():
            example = values[bad][0]
            raise ValueError(
                f"column '{column}' has {int(bad.sum())} value(s) outside [{low}, {high}], e.g. {example:g}"
            )
        if column in INTEGER_FEATURES and (values != np.floor(values)).any():
            raise ValueError(f"column '{column}' must hold whole numbers")

    for column, levels in CATEGORICAL_FEATURES.items():
        series = df[column]
        if series.isna().any():
            raise ValueError(f"column '{column}' has missing values")
        unknown = sorted(set(series.astype(str)) - set(levels))
        if unknown:
            raise ValueError(
                f"column '{column}' has unknown value(s) {unknown}; expected one of {list(levels)}"
            )

    if require_label:
        labels = df[LABEL]
        if labels.isna().any() or not set(pd.unique(labels)).issubset({0, 1}):
            raise ValueError(f"column '{LABEL}' must hold only 0 and 1")


def to_matrix(df: pd.DataFrame, check: bool = True) -> np.ndarray:
    """Return the float64 model-input matrix (rows of ``df``, :func:`feature_names` columns)."""
    if check:
        validate(df)
    n = len(df)
    blocks = [df[NUMERIC_FEATURES].to_numpy(dtype=np.float64)]
    for column, levels in CATEGORICAL_FEATURES.items():
        values = df[column].astype(str).to_numpy()
        onehot = np.zeros((n, len(levels)), dtype=np.float64)
        for j, level in enumerate(levels):
            onehot[:, j] = values == level
        blocks.append(onehot)
    return np.hstack(blocks)


def from_records(records: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Build a frame of model inputs from JSON-like records (e.g. a request body).

    Only the columns in ``FEATURES`` are kept; the result is validated.
    """
    rows = list(records)
    if not rows:
        raise ValueError("no records given")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"record {i} is not an object")  # noqa: TRY004 - one error type for callers
        missing = [c for c in FEATURES if c not in row]
        if missing:
            raise ValueError(f"record {i}: missing required column(s): {', '.join(missing)}")
        for column in NUMERIC_FEATURES:
            value = row[column]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (isinstance(value, float) and not math.isfinite(value))
            ):
                raise ValueError(f"record {i}: column '{column}' must be a finite number")
    frame = pd.DataFrame({c: [row[c] for row in rows] for c in FEATURES})
    validate(frame)
    return frame
