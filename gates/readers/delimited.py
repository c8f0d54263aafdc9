"""CSV, TSV and JSON Lines into pyarrow Tables, with errors that name the row: the text half of the one table
parser (gates.readers.arrow.read_arrow dispatches here).

pyarrow's readers are fast and strict but say little about where a file is wrong (no row number when
multi-threaded, JSON row numbers relative to a block), so when they refuse a file it is read again, slowly, only
to find the place. pandas' missing-value markers are kept so a cell that was missing before pyarrow parsed the
tables is still missing.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
from pathlib import Path
from typing import Any

from gates.core.errors import InputError

# pandas' default missing-value markers, so CSV cells read as missing are the same as before pyarrow parsed them.
NULL_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


def csv_header(path: Path, kind: str) -> list[str]:
    """The header as pyarrow's CSV parser reads it (a quoted name may hold the delimiter or a newline), so
    the names checked here are the names the reader will find."""
    import pyarrow as pa
    import pyarrow.csv as pc

    try:
        with pc.open_csv(
            path,
            parse_options=csv_parse_options(kind),
            convert_options=pc.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True),
        ) as reader:
            return list(reader.schema.names)
    except pa.ArrowException as exc:
        if "Expected" in str(exc) and "columns, got" in str(exc):
            raise InputError(field_count_message(path, kind)) from None
        raise InputError(f"{path}: cannot parse as {kind}: {first_error(exc)}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as {kind}: {first_error(exc)}") from None


def first_line(path: Path) -> str:
    try:  # .csv.gz / .jsonl.gz: the header is read through gzip
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return handle.readline().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc})") from None


def first_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


CONVERSION = re.compile(r"CSV column #(\d+): CSV conversion error")


def read_csv(path: Path, kind: str, columns: list[str] | None, header: list[str]) -> Any:
    """pyarrow's CSV reader, strict about the number of fields; a column whose type was guessed from the first
    block and breaks later is re-read as text (pandas' object column), so mixed columns still load."""
    import pyarrow as pa
    import pyarrow.csv as pc

    types: dict[str, Any] = {}
    for _ in range(len(header) + 1):
        try:
            return pc.read_csv(
                path,
                parse_options=pc.ParseOptions(
                    delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True
                ),
                convert_options=pc.ConvertOptions(
                    include_columns=columns,
                    column_types=types,
                    null_values=NULL_VALUES,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        except pa.ArrowException as exc:
            guessed = CONVERSION.search(str(exc))
            if guessed and int(guessed.group(1)) < len(header):
                types[header[int(guessed.group(1))]] = pa.string()
                continue
            if "Expected" in str(exc) and "columns, got" in str(exc):
                raise InputError(field_count_message(path, kind)) from None
            raise InputError(f"{path}: cannot parse as {kind}: {first_error(exc)}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot read as {kind}: {first_error(exc)}") from None
    raise InputError(f"{path}: cannot parse as {kind}: column types keep changing")


def csv_parse_options(kind: str) -> Any:
    import pyarrow.csv as pc

    return pc.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)


def csv_convert_options(columns: list[str] | None, types: dict[str, Any]) -> Any:
    """Missing-value markers as pandas has them, so cells read as missing are the same in every gate."""
    import pyarrow.csv as pc

    return pc.ConvertOptions(
        include_columns=columns,
        column_types=types,
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )


def field_count_message(path: Path, kind: str) -> str:
    """Where the first row with the wrong number of fields is: a single-threaded re-read knows the row.
    pyarrow hands the row over as text, so a file that is not UTF-8 is reported as such first."""
    import codecs

    import pyarrow.csv as pc

    decoder = codecs.getincrementaldecoder("utf-8")()
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    read = 0
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: not UTF-8 text ({exc.reason} at byte {read + exc.start})"
                ) from None
            read += len(chunk)
    found: list[Any] = []

    def stop(row: Any) -> str:
        found.append(row)
        return "error"

    with contextlib.suppress(Exception):  # the error is expected; the row it stopped on is what we want
        pc.read_csv(
            path,
            read_options=pc.ReadOptions(use_threads=False),
            parse_options=pc.ParseOptions(
                delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True, invalid_row_handler=stop
            ),
        )
    if not found:
        return f"{path}: a row does not have as many fields as the header"
    row = found[0]
    # pyarrow numbers records from the header (1), so data row n is record n + 1; a quoted newline stays in its row
    where = f"row {row.number - 1}" if row.number is not None else "a row"
    return (
        f"{path}: {where}: {row.actual_columns} field{'s' if row.actual_columns != 1 else ''}, expected "
        f"{row.expected_columns} as in the header ({row.text[:60]!r})"
    )


def read_jsonl(path: Path) -> Any:
    """pyarrow's JSON reader; when it refuses, the first line that is not a JSON object is named, and a file of
    valid objects whose values change type is read record by record (the column becomes text)."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        table = pj.read_json(path)
    except pa.ArrowException as exc:
        table = _jsonl_records(path, exc)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as jsonl: {first_error(exc)}") from None
    return table


def _jsonl_records(path: Path, arrow_error: BaseException) -> Any:
    import pyarrow as pa

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    records: list[dict[str, Any]] = []
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {number} is not JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {number}: expected a JSON object per line")
                records.append(record)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    names = list(dict.fromkeys(k for r in records for k in r))
    arrays = {}
    for name in names:
        values = [r.get(name) for r in records]
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[name] = pa.array(
                [None if v is None else json.dumps(v) if not isinstance(v, str) else v for v in values]
            )
    if not arrays:
        raise InputError(f"{path}: cannot parse as jsonl: {first_error(arrow_error)}")
    return pa.table(arrays)
