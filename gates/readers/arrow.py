"""Table formats, headers, and the Parquet fast path: columns straight from pyarrow into numpy, no pandas.

pandas costs a quarter of a second to import and a copy per column; for a Parquet file of clean columns
(numbers without nulls, labels without nulls, text categories) neither is needed. Everything here returns
None (or raises nothing) when a column is not clean, and the caller falls back to the pandas reader in
gates.readers.table, which gives the detailed error messages.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.errors import InputError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise InputError(
            f"{path}: unknown table format '{path.suffix}' (expected .csv, .tsv, .parquet or .jsonl)"
        )
    return kind


def column_names(path: Path) -> list[str]:
    """The header only, without reading the rows (for resolving default column names)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    kind = table_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:  # .csv.gz / .jsonl.gz are read by pandas too, so the header must be read through gzip here
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            first = handle.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc})") from None
    if kind == "jsonl":
        try:
            record = json.loads(first)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line 1 is not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line 1: expected a JSON object per line")
        return list(record)
    return [c.strip().strip('"') for c in first.rstrip("\r\n").split("\t" if kind == "tsv" else ",")]


def missing_message(path: Path, missing: list[str], present: Iterable[str]) -> str:
    names = ", ".join(map(str, present))
    plural = "s" if len(missing) > 1 else ""
    return f"{path}: missing column{plural} {', '.join(repr(m) for m in missing)} (columns: {names})"


# ------------------------------------------------------------------------------------------- Parquet
_LAST: dict[
    str, Any
] = {}  # the columns of the last Parquet file read: {"key": ..., "columns": {name: array}}


def read_parquet_columns(path: Path, columns: list[str], categorical: Iterable[str] = ()) -> dict[str, Any]:
    """{name: pyarrow.ChunkedArray} of the named columns; text columns named in `categorical` stay dictionary
    encoded. The columns of the last file are kept, so a second gate on the same unchanged file reads only
    what the first did not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stat = require_file(path)
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, columns={})
    kept: dict[str, Any] = _LAST["columns"]
    wanted = list(dict.fromkeys(columns))
    to_read = [c for c in wanted if c not in kept]
    if to_read:
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # noqa: BLE001 - as above
            raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        missing = [c for c in to_read if c not in schema.names]
        if missing:
            raise InputError(missing_message(path, missing, schema.names))
        as_dictionary = [
            c
            for c in categorical
            if c in to_read
            and (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))
        ]
        table = pq.read_table(path, columns=to_read, read_dictionary=as_dictionary or None)
        if table.num_rows == 0:
            raise InputError(f"{path}: has a header but no rows")
        kept.update({c: table.column(c) for c in to_read})
    return {c: kept[c] for c in wanted}


def float_values(column: Any) -> np.ndarray | None:
    """float64 values of a numeric column without nulls (no copy for float64), else None."""
    import pyarrow as pa

    t = column.type
    if column.null_count or not (pa.types.is_floating(t) or pa.types.is_integer(t)):
        return None
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.to_numpy(zero_copy_only=False)
    return values if values.dtype == np.float64 else values.astype(np.float64)


def raw_values(column: Any) -> tuple[np.ndarray, list] | None:
    """(code per row, distinct values as Python values) of a label-like column without nulls, else None.

    Integer and boolean columns are coded by numpy (gates.readers.table's comparisons); text and
    dictionary columns by Arrow's dictionary encoding. Codes index into the distinct values.
    """
    import pyarrow as pa

    if column.null_count:
        return None
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = (column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column).to_numpy(
            zero_copy_only=False
        )
        return small_int_codes(values)
    if pa.types.is_dictionary(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return dictionary_codes(column)
    return None


def dictionary_codes(column: Any) -> tuple[np.ndarray, list]:
    """(index per row, -1 for null; dictionary values) of a text or dictionary column, as one dictionary."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if isinstance(column, pa.ChunkedArray):
        column = (
            column.unify_dictionaries().combine_chunks()
            if column.num_chunks
            else pa.chunked_array([], type=column.type).combine_chunks()
        )
    indices = column.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    names = column.dictionary.to_pylist()
    used = np.bincount(indices[indices >= 0], minlength=len(names)) > 0 if len(names) else np.zeros(0, bool)
    if not used.all():  # values of the dictionary that no row holds: drop them
        remap = np.full(len(names) + 1, -1, dtype=np.int64)
        remap[np.flatnonzero(used)] = np.arange(int(used.sum()))
        indices = remap[indices]  # -1 stays -1 (the last entry)
        names = [n for n, u in zip(names, used) if u]
    return indices, names


def small_int_codes(values: np.ndarray) -> tuple[np.ndarray, list] | None:
    """Codes of an integer or boolean array with fewer than 64 distinct values in its range, by comparisons
    (no row-sized int64 temporary); None for wider ranges."""
    if not values.size:
        return None
    low, high = int(values.min()), int(values.max())
    if high - low >= 64:
        return None
    distinct = [v for v in range(low, high + 1) if np.any(values == v)]
    codes = np.full(values.shape, -1, dtype=np.int8)
    for code, v in enumerate(distinct):
        codes[values == v] = code
    return codes, ([bool(v) for v in distinct] if values.dtype.kind == "b" else distinct)


def require_file(path: Path) -> os.stat_result:
    """The checks every table reader starts with: the path exists, is a file, and is not empty."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a table file")
    stat = path.stat()
    if stat.st_size == 0:
        raise InputError(f"{path}: file is empty")
    return stat
