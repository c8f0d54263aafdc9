"""Sensitive columns as integer codes into their distinct values: the grouping key of every per-group
sufficient statistic. It lives in the engine, not in the bias gate, because the chunked engine codes each chunk
the same way the in-memory path does (and an engine must not import a gate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.core.errors import InputError


@dataclass
class Coded:
    """A sensitive column already reduced to codes: `codes` per row index into `names` (text, may repeat)."""

    codes: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def group_values(
    series: Any, column: str, where: str, missing_group: str | None, row_offset: int = 0
) -> Coded:
    """Sensitive values as text codes. Missing values are an error unless the policy names a group for them.

    The column is factorised once (a pandas categorical, as the predictions reader delivers sensitive
    columns from Parquet, is already coded), so only its distinct values become Python strings.
    """
    from gates.readers.columns import category_key

    if hasattr(series, "null_count"):  # an Arrow column (the Parquet fast path): Arrow's dictionary encoding
        from gates.readers.arrow import dictionary_codes

        codes, values = dictionary_codes(series)
    else:
        import pandas as pd

        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        values = uniques.tolist()
    missing = codes < 0
    if missing.any() and missing_group is None:
        rows = np.flatnonzero(missing)
        raise InputError(
            f"{where}: sensitive column '{column}': {rows.size} row{'s' if rows.size > 1 else ''} "
            f"without a value (first at row {rows[0] + 1 + row_offset}); set bias.missing_group to "
            "treat them as a named group"
        )
    keys = [category_key(u) for u in values]
    if missing.any():  # code -1 (missing) becomes the missing group's name
        keys.append(str(missing_group))
        codes = np.where(missing, len(keys) - 1, codes)
    return Coded(np.asarray(codes, dtype=np.int64), keys)
