"""The table reader: CSV, TSV, Parquet (.parquet, .parq, .pq) and JSON Lines through one parser, on files the
real writers (pyarrow, pandas) produce; errors name the file and the place (line, column)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers.table import column_names, label_codes, numeric_column, read_table

FRAME = pd.DataFrame(
    {"id": [1, 2, 3], "label": [0, 1, 1], "score": [0.1, 0.8, 0.6], "group": ["a", "b", "é"]}
)


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet", "t.jsonl", "t.csv.gz"])
def test_read_table_formats(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        FRAME.to_parquet(path)
    elif name.endswith(".jsonl"):
        FRAME.to_json(path, orient="records", lines=True, force_ascii=False)
    elif name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            FRAME.to_csv(handle, index=False)
    else:
        FRAME.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    frame = read_table(path, ["score", "label", "group"])
    assert list(frame.columns) == ["score", "label", "group"]
    np.testing.assert_allclose(frame["score"], FRAME["score"])
    assert frame["group"].tolist() == ["a", "b", "é"]
    assert column_names(path) == list(FRAME.columns)


def expect_error(tmp_path: Path, fragment: str, function, *args):
    with pytest.raises(InputError) as raised:
        function(*args)
    message = str(raised.value)
    assert "\n" not in message
    assert fragment in message, message
    return message


def test_table_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.csv"
    expect_error(tmp_path, "missing.csv: file not found", read_table, missing)
    (tmp_path / "empty.csv").write_text("")
    expect_error(tmp_path, "empty.csv: file is empty", read_table, tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("label,score\n")
    expect_error(tmp_path, "header.csv: has a header but no rows", read_table, tmp_path / "header.csv")
    (tmp_path / "t.xlsx").write_text("x")
    expect_error(tmp_path, "unknown table format '.xlsx'", read_table, tmp_path / "t.xlsx")
    FRAME.to_csv(tmp_path / "ok.csv", index=False)
    message = expect_error(
        tmp_path, "ok.csv: missing column 'prob'", read_table, tmp_path / "ok.csv", ["prob"]
    )
    assert "(columns: id, label, score, group)" in message
    (tmp_path / "latin.csv").write_bytes("label,group\n1,caf\xe9\n".encode("latin-1"))
    expect_error(tmp_path, "latin.csv: not UTF-8 text", read_table, tmp_path / "latin.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    expect_error(tmp_path, "bad.parquet: not a readable Parquet file", read_table, tmp_path / "bad.parquet")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": \n')
    expect_error(
        tmp_path, "bad.jsonl: line 2 is not JSON (Expecting value)", read_table, tmp_path / "bad.jsonl"
    )
    FRAME.to_parquet(tmp_path / "ok.parquet")
    expect_error(tmp_path, "ok.parquet: missing column 'prob'", read_table, tmp_path / "ok.parquet", ["prob"])


def test_numeric_column_errors_name_column_and_row(tmp_path):
    path = tmp_path / "f.csv"
    frame = pd.DataFrame({"score": ["0.1", "abc", "0.3"]})
    expect_error(
        tmp_path,
        "f.csv: column 'score' row 2: expected a number, got 'abc'",
        numeric_column,
        frame,
        "score",
        path,
    )
    frame = pd.DataFrame({"score": [0.1, np.nan, np.inf]})
    expect_error(
        tmp_path,
        "column 'score': 2 rows NaN or infinite (first at row 2)",
        numeric_column,
        frame,
        "score",
        path,
    )
    frame = pd.DataFrame({"score": [0.1, 1.2]})
    expect_error(
        tmp_path,
        "column 'score' row 2: expected a probability in [0, 1], got 1.2",
        numeric_column,
        frame,
        "score",
        path,
        True,
    )
    np.testing.assert_array_equal(numeric_column(frame, "score", path), [0.1, 1.2])


def test_label_codes_compare_labels_as_text(tmp_path):
    path = tmp_path / "f.csv"
    frame = pd.DataFrame({"y": [1.0, 0.0, 1.0], "s": ["1", "0", "1"], "b": [True, False, True]})
    for column in ("y", "s", "b"):
        np.testing.assert_array_equal(label_codes(frame, column, path, [0, 1]), [1, 0, 1])
    message = expect_error(
        tmp_path,
        "column 'y' row 2: label 7 is not one of the declared classes 0, 1",
        label_codes,
        pd.DataFrame({"y": [1, 7]}),
        "y",
        path,
        [0, 1],
    )
    assert "np." not in message  # a plain value, not a numpy repr
    expect_error(
        tmp_path,
        "column 'y' row 2: label is missing",
        label_codes,
        pd.DataFrame({"y": [1, None]}),
        "y",
        path,
        [0, 1],
    )


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "readers"


def test_every_parquet_logical_type_reads(tmp_path):
    """pyarrow-written nested list/struct/map, decimals, dictionary, dates and timestamps with and without a
    time zone (one beyond pandas' nanosecond range) all load; .parq is Parquet too."""
    for name in ("logical-types.parquet", "logical-types.parq"):
        frame = read_table(FIXTURES / name)
        assert frame.shape == (3, 21)
        assert frame["tags"].iloc[0].tolist() == [1, 2] and frame["point"].iloc[0] == {"x": 1, "y": "a"}
        assert str(frame["at_utc"].dtype).endswith("UTC]") and frame["far_future"].iloc[0].year == 2900
        assert column_names(FIXTURES / name)[-1] == "nothing"
    pandas_written = read_table(FIXTURES / "pandas-types.parquet")
    assert pandas_written["nullable"].isna().tolist() == [False, True, False]
    assert str(pandas_written["when"].dtype).endswith("Europe/Berlin]")


def test_json_lines_with_a_byte_order_mark():
    with_bom, without = read_table(FIXTURES / "bom.jsonl"), read_table(FIXTURES / "pandas.jsonl")
    assert list(with_bom.columns) == list(without.columns) == column_names(FIXTURES / "bom.jsonl")
    assert with_bom["id"].tolist() == [1, 2, 3]


def test_json_lines_whose_values_change_type_still_load(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": "two", "b": "y", "c": true}\n')
    frame = read_table(path, ["a", "c"])
    assert frame["a"].tolist() == ["1", "two"] and frame["c"].isna().tolist() == [True, False]
    path.write_text('{"a": 1}\n[1, 2]\n')
    expect_error(tmp_path, "t.jsonl: line 2: expected a JSON object per line", read_table, path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("y_true,score\n0,0.1\n1\n1,0.7\n", "short.csv: row 2: 1 field, expected 2 as in the header ('1')"),
        ("y_true,score\n0,0.1\n1,0.7,9\n", "short.csv: row 2: 3 fields, expected 2 as in the header"),
        ('y,s\n"a\nb",1\n2\n', "short.csv: row 2: 1 field, expected 2"),  # a quoted newline is one row
    ],
)
def test_csv_row_with_the_wrong_number_of_fields_names_its_row(tmp_path, text, fragment):
    (tmp_path / "short.csv").write_text(text)
    expect_error(tmp_path, fragment, read_table, tmp_path / "short.csv")


def test_duplicate_header_names_are_refused_naming_the_column(tmp_path):
    (tmp_path / "dup.csv").write_text("a,b,a\n1,2,3\n")
    expect_error(
        tmp_path,
        "dup.csv: column 'a' appears twice in the header (columns 1 and 3)",
        read_table,
        tmp_path / "dup.csv",
    )
    expect_error(tmp_path, "column 'a' appears twice", column_names, tmp_path / "dup.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["x", "x"]), tmp_path / "dup.parquet")
    expect_error(
        tmp_path, "dup.parquet: column 'x' appears twice", read_table, tmp_path / "dup.parquet", ["x"]
    )


def test_quoted_header_and_bom_in_csv(tmp_path):
    (tmp_path / "q.csv").write_bytes('\ufeff"a,b",c\n1,2\n'.encode())
    assert column_names(tmp_path / "q.csv") == ["a,b", "c"]
    assert read_table(tmp_path / "q.csv", ["a,b"])["a,b"].tolist() == [1]


def test_a_column_whose_type_changes_after_the_first_block_still_loads(tmp_path):
    """pyarrow guesses a CSV column's type from its first block; text far below must not break the read."""
    path = tmp_path / "big.csv"
    path.write_text("n,label\n" + "1,0\n" * 300_000 + "abc,1\n")
    frame = read_table(path)
    assert len(frame) == 300_001 and frame["n"].iloc[-1] == "abc"
    expect_error(
        tmp_path, "column 'n' row 300001: expected a number, got 'abc'", numeric_column, frame, "n", path
    )


def test_dates_read_alike_for_every_gate(tmp_path):
    """CSV dates are dates (date32), as drift and Parquet have them, not text in one gate and dates in another."""
    (tmp_path / "d.csv").write_text(
        "day,at\n2024-01-01,2024-01-01T10:00:00\n2024-01-02,2024-01-02T11:00:00\n"
    )
    frame = read_table(tmp_path / "d.csv")
    assert frame["day"].iloc[0] == pd.Timestamp("2024-01-01") and str(frame["at"].dtype).startswith(
        "datetime64"
    )
    assert str(read_table(FIXTURES / "logical-types.parquet")["day"].dtype).startswith("datetime64")


def test_parquet_row_count_is_what_is_read_not_the_footer(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    assert len(read_table(path)) == 3
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damage a page
    path.write_bytes(bytes(data))
    try:
        assert len(read_table(path)) == 3
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


# ------------------------------------------------------------------- any bytes: a table or a one-line error
def _table_or_one_line_error(path: Path) -> None:
    started = time.monotonic()
    from gates.readers.arrow import iter_arrow

    try:
        frame = read_table(path)
        assert len(frame) > 0
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    try:  # the streaming reader too, on the columns the header names
        assert sum(t.num_rows for _, t in iter_arrow(path, column_names(path)[:3], batch_rows=7)) > 0
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    assert time.monotonic() - started < 5


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=1500), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz"])
)
def test_any_bytes_give_a_table_or_a_one_line_error(tmp_path, data, suffix):
    path = tmp_path / f"t{suffix}"
    path.write_bytes(data)
    _table_or_one_line_error(path)


CSVISH = st.lists(
    st.sampled_from(
        ["a", "b", "1", "2.5", '"', '""', ",", "\n", "\r\n", "\t", "\ufeff", "NA", "true", "é", "{", "}"]
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=CSVISH, suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]))
def test_table_shaped_text_gives_a_table_or_a_one_line_error(tmp_path, parts, suffix):
    path = tmp_path / f"t{suffix}"
    path.write_text("".join(parts), encoding="utf-8")
    _table_or_one_line_error(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), flip=st.integers(min_value=0, max_value=10_000))
def test_damaged_parquet_gives_a_table_or_a_one_line_error(tmp_path, cut, flip):
    data = bytearray((FIXTURES / "logical-types.parquet").read_bytes())
    data[flip % len(data)] ^= 0x55
    path = tmp_path / "t.parquet"
    path.write_bytes(bytes(data[: max(1, len(data) - cut % len(data))]) if cut % 3 else bytes(data))
    _table_or_one_line_error(path)


# ------------------------------------------------------------------------- streaming: the same parser, by rows
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz"])
def test_streamed_batches_equal_the_whole_table(tmp_path, suffix):
    import pyarrow as pa

    from gates.readers.arrow import iter_arrow, read_arrow

    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {"y": rng.integers(0, 2, 10_000), "s": rng.random(10_000), "g": rng.choice(["a", "b"], 10_000)}
    )
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        data.to_parquet(path, row_group_size=3_000)
    elif suffix == ".jsonl":
        data.to_json(path, orient="records", lines=True)
    else:
        data.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    batches = list(iter_arrow(path, ["s", "y", "g"], ["g"], batch_rows=4_000))
    assert [offset for offset, _ in batches] == [0, 4_000, 8_000]
    assert [t.num_rows for _, t in batches] == [4_000, 4_000, 2_000]
    whole = read_arrow(path, ["s", "y", "g"])
    streamed = pa.concat_tables([t for _, t in batches])
    assert streamed.column("s").to_pylist() == whole.column("s").to_pylist()  # bit for bit
    assert streamed.column("g").to_pylist() == whole.column("g").to_pylist()


def test_streamed_errors_name_file_and_place(tmp_path):
    from gates.readers.arrow import iter_arrow

    path = tmp_path / "late.csv"
    path.write_text("n,label\n" + "1,0\n" * 300_000 + "abc,1\n")
    with pytest.raises(InputError, match=r"late.csv: column 'n': cannot parse as csv after row \d+: .*'abc'"):
        list(iter_arrow(path, ["n"], batch_rows=1_000))
    path.write_text("y,s\n0,0.1\n1\n")
    with pytest.raises(InputError, match=r"late.csv: row 2: 1 field, expected 2"):
        list(iter_arrow(path, ["y", "s"]))
    path.write_text("y,s\n")
    with pytest.raises(InputError, match="has a header but no rows"):
        list(iter_arrow(path, ["y"]))


def test_damaged_pandas_hints_in_a_parquet_footer_are_dropped(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    pq.write_table(
        table.replace_schema_metadata({b"pandas": b'{"columns": [{}], "index_columns": [7]}'}), path
    )
    frame = read_table(path)
    assert frame["a"].tolist() == [1, 2] and frame["b"].tolist() == ["x", "y"]


def test_short_row_that_is_not_utf8_is_reported_quietly(tmp_path, capfd):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n\xff\n")
    expect_error(tmp_path, "t.csv: not UTF-8 text (invalid start byte at byte 8)", read_table, path)
    assert capfd.readouterr().err == ""  # nothing printed by pyarrow's row callback
