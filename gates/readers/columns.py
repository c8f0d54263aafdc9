"""Reading columns for the drift gate straight into numpy through pyarrow, and the stored reference profile.

Only the columns a run needs are read, a few at a time for Parquet, so a million-row, hundred-column table is
never held whole in memory. CSV and JSON Lines are read once with pyarrow's own readers (still only the
needed columns for CSV).
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.errors import InputError
from gates.readers.arrow import table_format
from gates.stats.drift_profiles import (
    BINS,
    EXACT_LIMIT,
    MAX_CATEGORIES,
    QUANTILES,
    CategoricalProfile,
    NumericProfile,
    Profile,
    SkippedProfile,
    profile_categorical,
    profile_from_dict,
    profile_numeric,
)

PROFILE_FORMAT = 1


def is_profile_path(path: Path) -> bool:
    return path.suffix.lower() == ".json"


class ColumnSource:
    """A table whose columns can be read one batch at a time (pyarrow arrays)."""

    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            raise InputError(f"{path}: file not found")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, expected a table file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty")
        self.kind = table_format(path)
        self._table = None
        self._local = threading.local()
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                meta = pq.read_metadata(path)
                self.names = list(pq.read_schema(path).names)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
                raise InputError(
                    f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})"
                ) from None
            self.rows = int(meta.num_rows)
            schema = meta.schema.to_arrow_schema()
            self._text = [
                f.name
                for f in schema  # read as dictionaries: counting categories needs no strings
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            ]
        else:
            from gates.readers.arrow import read_arrow  # the one text-table parser every gate uses

            self._table = read_arrow(path)
            self.names = list(self._table.column_names)
            self.rows = int(self._table.num_rows)
        if self.rows == 0:
            raise InputError(f"{path}: has a header but no rows")

    def require(self, columns: list[str]) -> None:
        missing = [c for c in columns if c not in self.names]
        if missing:
            raise InputError(
                f"{self.path}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} (columns: {', '.join(self.names)})"
            )

    def read(self, columns: list[str]) -> dict[str, Any]:
        """{name: pyarrow.ChunkedArray} for the named columns that exist."""
        columns = [c for c in columns if c in self.names]
        if not columns:
            return {}
        if self._table is not None:
            return {c: self._table.column(c) for c in columns}
        handle = getattr(self._local, "parquet", None)
        if handle is None:  # one reader per thread: a ParquetFile is not shared across threads
            import pyarrow.parquet as pq

            handle = self._local.parquet = pq.ParquetFile(self.path, read_dictionary=self._text or None)
        table = handle.read(columns=columns, use_threads=False)
        return {c: table.column(c) for c in columns}


# ------------------------------------------------------------------------------- arrow column -> numbers
def arrow_kind(column) -> str:
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_temporal(t):
        return "temporal"
    if pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return "categorical"
    if pa.types.is_null(t):
        return "null"
    return "unsupported"


class NotNumbers(ValueError):
    """A column that cannot be read as numbers (for example text where the reference had numbers)."""


def numeric_values(column) -> np.ndarray:
    """float64 values with NaN for missing; raises NotNumbers when the column is not numbers.

    Dates, times, timestamps (any unit, with or without a time zone) and durations become seconds (since the
    epoch, since midnight, or of the duration), whatever their unit, so a reference stored in nanoseconds and a
    batch written in microseconds compare on one scale."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = arrow_kind(column)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if kind == "temporal":
        return temporal_seconds(column)
    if kind == "null":
        return np.full(len(column), np.nan)
    if kind != "numeric":
        try:
            column = pc.cast(column, pa.float64())  # text holding numbers
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise NotNumbers(str(exc)) from None
    values = pc.cast(column, pa.float64()).to_numpy()
    return np.asarray(values, dtype=np.float64)


_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def temporal_seconds(column) -> np.ndarray:
    """Seconds of a date, time, timestamp or duration column (NaN for missing): the integer storage of the
    type (days for date32, its unit for the others; the time zone only labels UTC instants) times its unit."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_date32(t):
        storage, scale = pa.int32(), 86400.0
    elif pa.types.is_date64(t):
        storage, scale = pa.int64(), 1e-3
    elif pa.types.is_interval(t):
        raise NotNumbers(f"type {t} (calendar intervals) has no fixed length in seconds")
    else:
        storage = pa.int32() if pa.types.is_time32(t) else pa.int64()
        scale = _SECONDS_PER_UNIT[t.unit]
    chunks = (
        [chunk.view(storage) for chunk in column.chunks]
        if isinstance(column, pa.ChunkedArray)
        else [column.view(storage)]
    )
    values = pa.chunked_array(chunks, type=storage).to_numpy(zero_copy_only=False)
    out = np.asarray(values, dtype=np.float64) * scale
    if column.null_count:
        out[np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
    return out


def category_key(value: Any) -> str:
    """Categories compare as text: 1, 1.0 and '1' are one category, as labels are elsewhere in mlgate."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def category_counts(column) -> tuple[list[str], np.ndarray, int]:
    """(categories, counts, missing) of one column of any type."""
    import pyarrow.compute as pc

    nulls = int(column.null_count)
    if arrow_kind(column) == "numeric":
        values = numeric_values(column)
        nan = np.isnan(values)
        nulls = int(nan.sum())
        distinct, counts = np.unique(values[~nan], return_counts=True)
        keys = [category_key(float(v)) for v in distinct]
    else:
        counted = pc.value_counts(column.drop_null())
        keys = [category_key(v) for v in counted.field("values").to_pylist()]
        counts = np.asarray(counted.field("counts").to_numpy(), dtype=np.int64)
    merged: dict[str, int] = {}
    for key, count in zip(keys, counts):
        merged[key] = merged.get(key, 0) + int(count)
    return list(merged), np.array(list(merged.values()), dtype=np.int64), nulls


def build_profile(
    column,
    declared_kind: str | None = None,
    quantiles: int = QUANTILES,
    bins: int = BINS,
    exact_limit: int = EXACT_LIMIT,
    max_categories: int = MAX_CATEGORIES,
) -> Profile:
    """The reference summary of one column; numbers with at most two distinct values count as categories."""
    kind = arrow_kind(column)
    if kind == "unsupported":
        return SkippedProfile(reason=f"type {column.type} is not supported for drift", count=len(column))
    if declared_kind == "categorical" or (declared_kind is None and kind == "categorical"):
        return profile_categorical(*category_counts(column), max_categories=max_categories)
    try:
        values = numeric_values(column)
    except NotNumbers:
        return SkippedProfile(
            reason=f"declared numeric, but holds {column.type} values that are not numbers", count=len(column)
        )
    profile = profile_numeric(values, quantiles=quantiles, bins=bins, exact_limit=exact_limit, owned=True)
    profile.seconds = kind == "temporal"
    if declared_kind is None and kind == "numeric" and profile.distinct == 2:
        distinct, counts = profile.exact_distribution()
        keys = [category_key(float(v)) for v in distinct]
        return CategoricalProfile(
            count=profile.count,
            nulls=profile.nulls,
            categories=dict(sorted(zip(keys, counts.astype(int).tolist()))),
        )
    return profile


# ------------------------------------------------------------------------------------------ profile file
def profile_document(
    profiles: dict[str, Profile], rows: int, source: str, sha256: str | None, settings: dict[str, Any]
) -> dict[str, Any]:
    return {
        "mlgate_drift_profile": PROFILE_FORMAT,
        "source": source,
        "sha256": sha256,
        "rows": rows,
        "settings": settings,
        "columns": {name: p.to_dict() for name, p in profiles.items()},
    }


def save_profile(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_profile(path: Path) -> tuple[dict[str, Profile], dict[str, Any]]:
    """Read a stored profile; anything that is not one is an InputError naming the file."""
    if not path.exists():
        raise InputError(f"{path}: profile file not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a drift profile (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("mlgate_drift_profile") != PROFILE_FORMAT:
        raise InputError(
            f"{path}: not an mlgate drift profile (expected 'mlgate_drift_profile: {PROFILE_FORMAT}'; "
            "write one with `mlgate drift profile`)"
        )
    profiles: dict[str, Profile] = {}
    for name, data in (document.get("columns") or {}).items():
        try:
            profiles[name] = profile_from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: column '{name}': malformed profile entry ({exc})") from None
    meta = {k: v for k, v in document.items() if k != "columns"}
    return profiles, meta


__all__ = [
    "CategoricalProfile",
    "ColumnSource",
    "NumericProfile",
    "build_profile",
    "category_counts",
    "is_profile_path",
    "load_profile",
    "numeric_values",
    "profile_document",
    "save_profile",
]
