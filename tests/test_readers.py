"""Table, predictions, JUnit and Cobertura readers: what they return, and errors that name file and column."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates.core.errors import InputError
from gates.readers.junit import read_cobertura, read_junit
from gates.readers.predictions import load_predictions
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
    expect_error(tmp_path, "bad.jsonl: cannot parse as jsonl", read_table, tmp_path / "bad.jsonl")
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


def test_load_predictions_validates_task(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"label": [0, 1, 2], "score": [0.1, 0.5, 0.9]}).to_csv(path, index=False)
    expect_error(tmp_path, "holds 3 distinct labels; a binary task needs 2", load_predictions, path, {})
    expect_error(
        tmp_path,
        "label 2 is not one of the declared classes 0, 1",
        load_predictions,
        path,
        {"classes": [0, 1]},
    )
    pd.DataFrame({"label": [0, 1], "p0": [0.2, 0.5], "p1": [0.7, 0.5]}).to_csv(path, index=False)
    expect_error(
        tmp_path,
        "row 1: class probabilities sum to 0.9, expected 1",
        load_predictions,
        path,
        {"task": "multiclass", "columns": {"scores": ["p0", "p1"]}},
    )
    expect_error(
        tmp_path,
        "1 score columns for 2 classes",
        load_predictions,
        path,
        {"task": "multiclass", "classes": [0, 1], "columns": {"scores": ["p0"]}},
    )
    expect_error(tmp_path, "missing column 'prediction'", load_predictions, path, {"task": "regression"})
    expect_error(
        tmp_path,
        "positive_label 5 is not one of the classes",
        load_predictions,
        path,
        {"columns": {"score": "p1"}, "positive_label": 5},
    )


def test_load_predictions_from_gzipped_json_lines(tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        FRAME.to_json(handle, orient="records", lines=True)
    p = load_predictions(path, {"columns": {"id": "id"}})
    np.testing.assert_array_equal(p.y, [0, 1, 1])
    np.testing.assert_allclose(p.score, [0.1, 0.8, 0.6])
    np.testing.assert_array_equal(p.ids, [1, 2, 3])


def test_load_predictions_binary_one_class_is_still_binary(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"label": [1, 1, 1], "score": [0.2, 0.6, 0.9]}).to_csv(path, index=False)
    p = load_predictions(path, {})
    assert p.task == "binary" and p.classes == [0, 1]
    np.testing.assert_array_equal(p.y, [1, 1, 1])
    np.testing.assert_array_equal(p.pred, [0, 1, 1])


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="s" tests="5" failures="1" errors="1" skipped="1">
    <testcase classname="pkg.test_a" name="test_ok" time="0.01"/>
    <testcase classname="pkg.test_a" name="test_bad" file="pkg/test_a.py" line="9" time="0.02">
      <failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2

pkg/helpers.py:3: in check
    raise
pkg/test_a.py:12: AssertionError</failure>
    </testcase>
    <testcase classname="pkg.test_a" name="test_err"><error message="fixture blew up"/></testcase>
    <testcase classname="pkg.test_a" name="test_skip"><skipped message="not today"/></testcase>
    <testcase classname="" name="TestBare"/>
  </testsuite>
</testsuites>
"""


def test_read_junit_outcomes_and_locations(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    run = read_junit(path)
    assert [c.outcome for c in run.cases] == ["passed", "failed", "error", "skipped", "passed"]
    assert (run.count("passed"), run.count("failed"), run.count("error"), run.count("skipped")) == (
        2,
        1,
        1,
        1,
    )
    failed = run.cases[1]
    assert failed.message == "assert 1 == 2"
    assert (failed.file, failed.line) == ("pkg/test_a.py", 12)  # the test file's own frame, not the helper
    assert run.cases[2].message == "fixture blew up"
    assert run.sources == [str(path)]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "file is empty"),
        ("<testsuites><testsuite>", "not well-formed XML"),
        ("<coverage/>", "expected a JUnit <testsuites> or <testsuite> root, got <coverage>"),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><testsuites>&b;</testsuites>',
            "refused XML",
        ),
    ],
)
def test_read_junit_errors(tmp_path, content, fragment):
    path = tmp_path / "junit.xml"
    path.write_text(content)
    expect_error(tmp_path, fragment, read_junit, path)


COBERTURA = """<?xml version="1.0" ?>
<coverage version="7.0" line-rate="{rate}" branch-rate="0.5" lines-covered="8" lines-valid="10">
  <packages><package name="p"><classes>
    <class name="a" filename="p/a.py" line-rate="1"/>
    <class name="b" filename="p/b.py" line-rate="0.5"/>
  </classes></package></packages>
</coverage>
"""


def test_read_cobertura(tmp_path):
    path = tmp_path / "coverage.xml"
    path.write_text(COBERTURA.format(rate="0.8"))
    cov = read_cobertura(path)
    assert (cov.line_rate, cov.lines_valid, cov.lines_covered, cov.branch_rate) == (0.8, 10, 8, 0.5)
    assert cov.worst_files == [("p/b.py", 0.5), ("p/a.py", 1.0)]
    path.write_text(COBERTURA.format(rate="lots"))
    expect_error(tmp_path, "attribute line-rate is not a number", read_cobertura, path)
    path.write_text(COBERTURA.format(rate="80"))
    expect_error(tmp_path, "line-rate: expected a number in [0, 1], got '80'", read_cobertura, path)
    path.write_text(JUNIT)
    expect_error(tmp_path, "expected a Cobertura <coverage> root", read_cobertura, path)
