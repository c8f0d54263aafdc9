"""The one table parser (CSV, TSV, Parquet, JSON Lines into a pyarrow Table), headers, and the Parquet fast
path: columns straight from pyarrow into numpy, no pandas.

Every gate reads tables through `read_arrow` (gates.readers.table.read_table is its pandas view), so a column
has the same type in every gate: a date column is date32 for the data gate and for drift alike. pandas costs
a quarter of a second to import and a copy per column, so nothing here imports it. Errors name the file and
the place: the row of a CSV file with the wrong number of fields, the column named twice in a header, the
line of a JSON Lines file that is not an object (text formats: gates.readers.delimited).

The fast-path helpers below return None when a column is not clean, and the caller falls back to the pandas
reader in gates.readers.table, which gives the detailed error messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.errors import InputError
from gates.readers.delimited import (
    CONVERSION,
    csv_convert_options,
    csv_header,
    csv_parse_options,
    field_count_message,
    first_error,
    first_line,
    read_csv,
    read_jsonl,
)

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".parq": "parquet",
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
            f"{path}: unknown table format '{path.suffix}' (expected .csv, .tsv, .parquet, .parq or .jsonl)"
        )
    return kind


def column_names(path: Path) -> list[str]:
    """The header only, without reading the rows; a name given twice is an InputError naming it."""
    require_file(path)
    kind = table_format(path)
    if kind == "parquet":
        names = list(parquet_schema(path).names)
    else:
        first = first_line(path)
        if kind == "jsonl":
            try:
                record = json.loads(first)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line 1 is not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}: line 1: expected a JSON object per line")
            return list(record)
        names = csv_header(path, kind)
    require_unique(path, names)
    return names


def require_unique(path: Path, names: list[str]) -> None:
    """Two columns with one name make every lookup by name ambiguous: refuse, naming the column."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name in seen:
            raise InputError(
                f"{path}: column {name!r} appears twice in the header (columns {seen[name]} and {position})"
            )
        seen[name] = position


def missing_message(path: Path, missing: list[str], present: Iterable[str]) -> str:
    names = ", ".join(map(str, present))
    plural = "s" if len(missing) > 1 else ""
    return f"{path}: missing column{plural} {', '.join(repr(m) for m in missing)} (columns: {names})"


def parquet_schema(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path}: not a readable Parquet file ({first_error(exc)})") from None


# ------------------------------------------------------------------------------------------- read_arrow
def read_arrow(path: Path, columns: list[str] | None = None, categorical: Iterable[str] = ()) -> Any:
    """The named columns (all when None) as a pyarrow Table with at least one row, or an InputError.

    Text columns named in `categorical` are read from Parquet as dictionaries. Rows are what the file holds:
    the count is that of the rows read, never a footer's claim.
    """
    import pyarrow as pa

    require_file(path)
    kind = table_format(path)
    names = column_names(path)
    if columns is not None and kind != "jsonl":  # JSON Lines records may name more keys than the first
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(missing_message(path, missing, names))
    if kind == "parquet":
        table = _read_parquet(path, columns, categorical)
    elif kind == "jsonl":
        table = read_jsonl(path)
        if columns is not None:  # checked here: JSON Lines records may name more keys than the first
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise InputError(missing_message(path, missing, table.column_names))
            table = table.select(columns)
    else:
        table = read_csv(path, kind, columns, names)
    if table.num_rows == 0:
        raise InputError(f"{path}: has a header but no rows")
    try:  # offsets and UTF-8 of every value: a damaged file fails here, with its name, not in a gate
        table.validate(full=True)
    except pa.ArrowException as exc:
        raise InputError(f"{path}: damaged {kind} data ({first_error(exc)})") from None
    return table


def _read_parquet(path: Path, columns: list[str] | None, categorical: Iterable[str]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(path)
    text = [
        c
        for c in categorical
        if c in schema.names
        and (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))
    ]
    try:
        return pq.read_table(path, columns=columns, read_dictionary=text or None)
    except Exception as exc:  # noqa: BLE001 - a damaged page or column chunk raises several pyarrow types
        raise InputError(f"{path}: not a readable Parquet file ({first_error(exc)})") from None


# ------------------------------------------------------------------------------------------- iter_arrow
def iter_arrow(
    path: Path, columns: list[str], categorical: Iterable[str] = (), batch_rows: int = 65_536
) -> Iterator[tuple[int, Any]]:
    """(rows before this batch, pyarrow Table of the named columns), batch after batch, for files too large
    to hold: the same parser and options as read_arrow, so a streamed file reads exactly as a whole one.

    A streaming reader guesses a CSV column's type from the first block and cannot go back; a value further
    down that does not fit is an InputError naming the column and the rows read before it.
    """
    import pyarrow as pa

    require_file(path)
    kind = table_format(path)
    names = column_names(path)
    if kind != "jsonl":
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(missing_message(path, missing, names))
    offset = 0
    try:
        for table in _rebatch(_batches(path, kind, columns, list(categorical), batch_rows), batch_rows):
            if kind == "jsonl":
                absent = [c for c in columns if c not in table.column_names]
                if absent:
                    raise InputError(
                        f"{path}: rows {offset + 1}-{offset + table.num_rows} lack column {absent[0]!r}"
                    )
                table = table.select(columns)
            if table.num_rows:  # without pandas hints from a footer: a stream has no index to restore
                yield offset, table.replace_schema_metadata(None)
            offset += table.num_rows
    except pa.ArrowException as exc:
        if "Expected" in str(exc) and "columns, got" in str(exc):
            raise InputError(field_count_message(path, kind)) from None
        guessed = CONVERSION.search(str(exc))
        where = (
            f"column {names[int(guessed.group(1))]!r}: "
            if guessed and int(guessed.group(1)) < len(names)
            else ""
        )
        raise InputError(
            f"{path}: {where}cannot parse as {kind} after row {offset}: {first_error(exc)}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as {kind} after row {offset}: {first_error(exc)}") from None
    if offset == 0:
        raise InputError(f"{path}: has a header but no rows")


def _rebatch(batches: Iterator[Any], rows: int) -> Iterator[Any]:
    """Tables of exactly `rows` rows (the last may be shorter): CSV and JSON readers cut by bytes, not rows."""
    import pyarrow as pa

    pending: list[Any] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def _batches(
    path: Path, kind: str, columns: list[str], categorical: list[str], batch_rows: int
) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    if kind == "parquet":
        schema = parquet_schema(path)
        text = [
            c
            for c in categorical
            if pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type)
        ]
        yield from pq.ParquetFile(path, read_dictionary=text or None).iter_batches(
            batch_size=batch_rows, columns=columns
        )
    elif kind == "jsonl":
        yield from pj.open_json(path)
    else:
        yield from pc.open_csv(
            path,
            parse_options=csv_parse_options(kind),
            convert_options=csv_convert_options(columns, {c: pa.string() for c in categorical}),
        )


# ------------------------------------------------------------------------------------------- Parquet
_LAST: dict[
    str, Any
] = {}  # the columns of the last Parquet file read: {"key": ..., "columns": {name: array}}


def read_parquet_columns(path: Path, columns: list[str], categorical: Iterable[str] = ()) -> dict[str, Any]:
    """{name: pyarrow.ChunkedArray} of the named columns; text columns named in `categorical` stay dictionary
    encoded. The columns of the last file are kept, so a second gate on the same unchanged file reads only
    what the first did not."""
    stat = require_file(path)
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, columns={})
    kept: dict[str, Any] = _LAST["columns"]
    wanted = list(dict.fromkeys(columns))
    to_read = [c for c in wanted if c not in kept]
    if to_read:
        table = read_arrow(path, to_read, [c for c in categorical if c in to_read])
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
    # the lowest and highest are present by definition: only the values between need a look
    distinct = [low] + [v for v in range(low + 1, high) if np.any(values == v)] + [high][: high - low]
    if len(distinct) == high - low + 1:  # no gaps (labels 0/1): a code is the distance from the lowest
        codes = np.empty(values.shape, dtype=np.int8)
        np.subtract(
            values.view(np.int8) if values.dtype.kind == "b" else values, low, out=codes, casting="unsafe"
        )
    else:
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
