"""Request records to the model's input matrix, validated, without building a DataFrame.

Same rules and the same matrix as ``examples.credit.features.from_records`` followed by ``to_matrix`` (the
training code path): required columns, finite numbers (not booleans), the inclusive ``RANGES``, whole numbers
for ``INTEGER_FEATURES``, declared category levels. tests/test_service.py checks that both accept and refuse
the same records and build identical matrices. A request is a few rows, where pandas' fixed cost per frame
would be most of the service's time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from examples.credit import features

_LEVEL_INDEX = {
    column: {level: i for i, level in enumerate(levels)}
    for column, levels in features.CATEGORICAL_FEATURES.items()
}
_WIDTH = len(features.feature_names())


def records_to_matrix(records: Sequence[Any]) -> np.ndarray:
    """Validate ``records`` and return the float64 matrix of :func:`features.feature_names` columns."""
    if not records:
        raise ValueError("no records given")
    matrix = np.zeros((len(records), _WIDTH), dtype=np.float64)
    for i, row in enumerate(records):
        if not isinstance(row, Mapping):
            raise ValueError(f"record {i} is not an object")  # noqa: TRY004 - one error type, as in features
        missing = [c for c in features.FEATURES if c not in row]
        if missing:
            raise ValueError(f"record {i}: missing required column(s): {', '.join(missing)}")
        for j, column in enumerate(features.NUMERIC_FEATURES):
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"record {i}: column '{column}' must be a finite number")
            low, high = features.RANGES[column]
            if not low <= value <= high:
                raise ValueError(f"record {i}: column '{column}' value {value:g} is outside [{low}, {high}]")
            if column in features.INTEGER_FEATURES and value != math.floor(value):
                raise ValueError(f"record {i}: column '{column}' must hold whole numbers")
            matrix[i, j] = value
        offset = len(features.NUMERIC_FEATURES)
        for column, levels in features.CATEGORICAL_FEATURES.items():
            value = row[column]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise ValueError(f"record {i}: column '{column}' has a missing value")
            position = _LEVEL_INDEX[column].get(str(value))
            if position is None:
                raise ValueError(
                    f"record {i}: column '{column}' has unknown value {str(value)!r}; "
                    f"expected one of {list(levels)}"
                )
            matrix[i, offset + position] = 1.0
            offset += len(levels)
    return matrix
