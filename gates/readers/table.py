"""Tables of predictions or data from CSV, TSV, Parquet or JSON Lines as pandas DataFrames (parsed by
gates.readers.arrow.read_arrow, the one parser), and column validation with errors naming file, column and row."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gates.core.errors import InputError
from gates.readers.arrow import (
    FORMATS,
    column_names,
    missing_message,
    read_arrow,
    require_file,
    small_int_codes,
    table_format,
)

__all__ = [
    "FORMATS",
    "column_names",
    "infer_classes",
    "label_codes",
    "numeric_column",
    "read_table",
    "require_columns",
    "table_format",
]


def read_table(
    path: Path, columns: Iterable[str] | None = None, categorical: Iterable[str] = ()
) -> pd.DataFrame:
    """Read the named columns (all when None) through the one parser (gates.readers.arrow.read_arrow) as a
    pandas DataFrame. Missing, empty, undecodable or malformed files are InputErrors naming file and place.

    Columns named in `categorical` are read from Parquet as dictionaries (pandas categoricals: no Python
    string per row). The columns of the last file read are kept, so a second gate on the same unchanged file
    (metrics, then bias) reads only the columns the first did not.
    """
    wanted = list(dict.fromkeys(columns)) if columns is not None else None
    stat = require_file(path)
    kind = table_format(path)
    cached = None
    to_read = wanted
    if wanted is not None and kind in ("parquet", "csv", "tsv"):
        cached = _cached_columns(path, stat, kind)
        if all(c in cached for c in wanted):
            return pd.DataFrame({c: cached[c] for c in wanted}, copy=False)
        to_read = [c for c in wanted if c not in cached]
    dictionary = [c for c in categorical if to_read is None or c in to_read]
    frame = _to_pandas(read_arrow(path, to_read, dictionary), path, to_read)
    if wanted is None or cached is None:
        return frame
    cached.update({c: frame[c] for c in frame.columns})
    return pd.DataFrame({c: cached[c] for c in wanted}, copy=False)


def _to_pandas(table: Any, path: Path, columns: list[str] | None) -> pd.DataFrame:
    """Column by column, freeing Arrow's copy as it goes. When that fails the file is read again to say why:
    a value pandas cannot hold (a time of day past 24 h in a damaged file) is an InputError naming the column;
    damaged pandas hints in a Parquet footer (index, dtypes) are dropped and the columns read as Arrow has them.
    """
    import pyarrow as pa

    try:
        return table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
    except (pa.ArrowException, ValueError, OverflowError, KeyError, TypeError):
        table = read_arrow(path, columns).replace_schema_metadata(None)
    for name, column in zip(table.column_names, table.columns):
        try:
            column.to_pandas()
        except (pa.ArrowException, ValueError, OverflowError) as exc:
            raise InputError(f"{path}: column {name!r}: values cannot be read ({exc})") from None
    return table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)


_LAST: dict[str, Any] = {}  # the columns of the last table read: {"key": ..., "columns": {name: Series}}


def _cached_columns(path: Path, stat, kind: str) -> dict[str, pd.Series]:
    """The kept columns of this file if it is the last one read and unchanged since, else a fresh store."""
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, kind)
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, columns={})
    return _LAST["columns"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(missing_message(path, missing, frame.columns))


def numeric_column(
    frame: pd.DataFrame, column: str, path: Path, probability: bool = False, row_offset: int = 0
) -> np.ndarray:
    """A float column with every value finite (and in [0, 1] for probabilities), or an InputError.

    `row_offset` is the number of data rows before this frame (when a file is read in chunks), so messages
    name the row of the file."""
    series = frame[column]
    if series.dtype == np.float64:  # the common case: no conversion, no copy
        values = series.to_numpy()
        bad_text = np.zeros(0, dtype=bool)
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad_text = np.isnan(values) & series.notna().to_numpy()
    if bad_text.any():
        row = int(np.flatnonzero(bad_text)[0])
        raise InputError(
            f"{path}: column '{column}' row {row + 1 + row_offset}: expected a number, "
            f"got {series.iloc[row]!r}"
        )
    if not np.isfinite(values).all():
        rows = np.flatnonzero(~np.isfinite(values))
        raise InputError(
            f"{path}: column '{column}': {rows.size} row{'s' if rows.size > 1 else ''} "
            f"NaN or infinite (first at row {rows[0] + 1 + row_offset})"
        )
    if probability and values.size and (values.min() < 0 or values.max() > 1):
        row = int(np.flatnonzero((values < 0) | (values > 1))[0])
        raise InputError(
            f"{path}: column '{column}' row {row + 1 + row_offset}: expected a probability in [0, 1], "
            f"got {values[row]:g}"
        )
    return values


def label_codes(
    frame: pd.DataFrame, column: str, path: Path, classes: list, row_offset: int = 0
) -> np.ndarray:
    """Map labels to the codes 0..C-1 of the declared classes; an undeclared or missing label is an error.

    The distinct values are found first (pd.factorize, hashing in C) and only those are compared as text,
    so a column of ten million labels costs one pass, not ten million Python calls.
    """
    series = frame[column]
    missing = series.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(f"{path}: column '{column}' row {row + 1 + row_offset}: label is missing")
    lookup = {label_key(c): i for i, c in enumerate(classes)}
    value_codes, uniques = _factorize(series)
    mapped = np.array([lookup.get(label_key(v), -1) for v in uniques], dtype=np.int64)
    if len(classes) < 127 and value_codes.dtype == np.int8 and mapped.size <= 8:  # one byte per row
        codes = np.full(value_codes.shape, -1, dtype=np.int8)
        for code, target in enumerate(mapped):
            codes[value_codes == code] = target
    else:
        codes = mapped[value_codes]
    unknown = codes < 0
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        shown = ", ".join(map(repr, classes))
        raise InputError(
            f"{path}: column '{column}' row {row + 1 + row_offset}: label {uniques[value_codes[row]]!r} is not one of "
            f"the declared classes {shown}"
        )
    return codes


def _factorize(series: pd.Series) -> tuple[np.ndarray, list]:
    """(code per row, distinct values as plain Python values), like pd.factorize.

    Integer and boolean columns with a few distinct values (labels, decisions) are coded by comparisons,
    into the smallest integer type, without a row-sized int64 temporary; other small integer ranges by
    counting; the rest is hashed by pandas."""
    values = series.to_numpy() if series.dtype.kind in "iub" else None
    if values is not None and values.size:
        small = small_int_codes(values)
        if small is not None:
            return small
        low, high = int(values.min()), int(values.max())
        if high - low < (1 << 16):
            offset = values.astype(np.int64) - low
            present = np.flatnonzero(np.bincount(offset))
            index = np.full(high - low + 1, -1, dtype=np.int64)
            index[present] = np.arange(present.size)
            return index[offset], [int(v) + low for v in present]
    codes, uniques = pd.factorize(series, sort=False)
    return codes, uniques.tolist()  # plain Python values (1, not np.int64(1)) for the keys and the messages


def label_key(value: object) -> str:
    """Labels compare as text, so 1, 1.0 and '1' from CSV, JSON or the policy are the same class."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def infer_classes(frame: pd.DataFrame, column: str) -> list:
    values = frame[column].dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)
