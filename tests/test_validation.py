"""Data-validation gate: each constraint, inferred schemas, schema files and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gates import data as validation
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 76, n),
            "income": rng.lognormal(10, 0.4, n),
            "sex": rng.choice(["female", "male"], n),
            "flag": rng.integers(0, 2, n),
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
        }
    )


SCHEMA = {
    "columns": {
        "id": {"type": "integer", "unique": True},
        "age": {"type": "integer", "min": 18, "max": 75, "max_null_rate": 0},
        "income": {"type": "number", "min": 0},
        "sex": {"type": "string", "allowed": ["female", "male"]},
        "flag": {"type": "integer", "allowed": [0, 1]},
        "when": {"type": "datetime"},
    },
    "rows": {"min": 10, "max": 1000},
}


def checks(result) -> dict:
    return {c.name: c for c in result.checks}


def test_clean_table_passes_every_check():
    result = validation.evaluate(frame(), SCHEMA, "t.csv")
    assert result.status is Status.PASS
    assert set(checks(result)) == {"row_count", "columns"} | {f"column:{c}" for c in SCHEMA["columns"]}


def test_each_constraint_names_rows_and_values():
    data = frame()
    data.loc[3, "age"] = 16
    data.loc[7, "age"] = 99
    data.loc[[5, 9], "income"] = np.nan
    data["income"] = data["income"].astype(object)
    data.loc[11, "income"] = "lots"
    data.loc[4, "sex"] = "unknown"
    data.loc[8, "id"] = 2
    data["age"] = data["age"].astype(float)
    data.loc[12, "age"] = 30.5
    data.loc[13, "age"] = np.nan
    schema = json.loads(json.dumps(SCHEMA))
    schema["columns"]["income"]["max_null_rate"] = 0.005
    result = validation.evaluate(data, schema, "t.csv")
    found = checks(result)
    age = found["column:age"]
    assert age.status is Status.FAIL and age.value == 4
    assert "range: 1 row below min 18 (row 4: 16.0)" in age.why
    assert "range: 1 row above max 75 (row 8: 99.0)" in age.why
    assert "type: expected integer, 1 row holds other values (row 13: 30.5)" in age.why
    assert "nulls: 1 row missing (0.50%), above max_null_rate 0" in age.why
    income = found["column:income"]
    assert "type: expected number, 1 row holds other values (row 12: 'lots')" in income.why
    assert "nulls: 2 rows missing (1.00%), above max_null_rate 0.005 (rows 6, 10)" in income.why
    assert found["column:age"].why.startswith("4 rows break the schema: ")
    assert found["column:sex"].why.startswith("1 row breaks the schema: ")
    assert (
        "allowed: 1 row holds values outside ['female', 'male'] (row 5: 'unknown')" in found["column:sex"].why
    )
    assert "unique: 2 rows share a value with another row (row 3: 2; row 9: 2)" in found["column:id"].why
    assert found["column:flag"].status is Status.PASS and found["column:when"].status is Status.PASS


def test_columns_and_row_count():
    data = frame(5).drop(columns=["flag"]).assign(extra=1)
    result = validation.evaluate(data, SCHEMA, "t.csv")
    found = checks(result)
    assert (
        found["row_count"].status is Status.FAIL
        and "5 rows, outside the bounds (>= 10 and <= 1000)" in found["row_count"].why
    )
    assert found["columns"].status is Status.FAIL
    assert (
        "missing required column: flag" in found["columns"].why
        and "not in the schema: extra" in found["columns"].why
    )
    optional = json.loads(json.dumps(SCHEMA))
    optional["columns"]["flag"]["required"] = False
    optional["extra_columns"] = "fail"
    assert (
        checks(validation.evaluate(frame(20).assign(extra=1), optional, "t"))["columns"].status is Status.FAIL
    )
    optional["extra_columns"] = "warn"
    result = validation.evaluate(frame(20).drop(columns=["flag"]).assign(extra=1), optional, "t")
    assert (
        checks(result)["columns"].status is Status.WARN
        and "optional column absent: flag" in checks(result)["columns"].why
    )


def test_boolean_and_datetime_types():
    data = pd.DataFrame({"b": ["true", "False", "maybe", None], "d": ["2024-01-01", "2024-02-30", None, "x"]})
    schema = {"columns": {"b": {"type": "boolean"}, "d": {"type": "datetime"}}}
    found = checks(validation.evaluate(data, schema, "t"))
    assert "type: expected boolean, 1 row holds other values (row 3: 'maybe')" in found["column:b"].why
    assert (
        "type: expected datetime, 2 rows cannot be read as dates (row 2: '2024-02-30'; row 4: 'x')"
        in found["column:d"].why
    )


def test_inferred_schema_passes_a_fresh_sample_and_catches_breakage(tmp_path):
    reference, current = frame(3000, seed=1), frame(1000, seed=2)
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")
    section = {"table": "cur.parquet", "schema": "schema.yml", "infer_from": "ref.parquet"}
    result = validation.run(section, ctx(tmp_path))
    assert result.status is Status.PASS, [c.why for c in result.checks if c.status is not Status.PASS]
    saved = yaml.safe_load((tmp_path / "schema.yml").read_text())
    assert saved["columns"]["id"] == {
        "type": "integer",
        "required": True,
        "max_null_rate": 0.0,
        "unique": True,
    }
    assert saved["columns"]["sex"]["allowed"] == ["female", "male"]
    assert saved["columns"]["flag"]["allowed"] == [0, 1] and "min" not in saved["columns"]["flag"]
    assert saved["columns"]["income"]["min"] == 0.0  # non-negative column: never below 0
    assert "inferred from" in result.evidence["schema_origin"]
    again = validation.run(section, ctx(tmp_path))  # now the saved file is the declared schema
    assert again.evidence["schema_origin"] == str(tmp_path / "schema.yml")
    broken = current.assign(age=current["age"] * 10)
    broken.loc[0, "sex"] = "x"
    broken.to_parquet(tmp_path / "cur.parquet")
    result = validation.run(section, ctx(tmp_path))
    assert {c.name for c in result.checks if c.status is Status.FAIL} == {"column:age", "column:sex"}


def test_schema_files_are_validated(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"columns": {"a": {"type": "float"}}}))
    frame(20).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match=r"s.json: columns.a.type: expected one of 'integer'"):
        validation.run({"table": "t.csv", "schema": "s.json"}, ctx(tmp_path))
    with pytest.raises(InputError, match="schema file not found"):
        validation.run({"table": "t.csv", "schema": "nope.yml"}, ctx(tmp_path))
    with pytest.raises(InputError, match="needs a 'schema'"):
        validation.run({"table": "t.csv"}, ctx(tmp_path))
    inline = validation.run(
        {
            "table": "t.csv",
            "schema": {"columns": {"age": {"type": "integer", "min": 18}}},
            "extra_columns": "allow",
            "rows": {"min": 30},
        },
        ctx(tmp_path),
    )
    assert (
        checks(inline)["row_count"].status is Status.FAIL and checks(inline)["columns"].status is Status.PASS
    )


def test_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gates.cli import cli

    monkeypatch.chdir(tmp_path)
    frame(300, 1).to_csv("ref.csv", index=False)
    frame(100, 2).to_csv("cur.csv", index=False)
    runner = CliRunner()
    args = [
        "--no-audit",
        "--report-dir",
        "rep",
        "data",
        "--table",
        "cur.csv",
        "--infer-from",
        "ref.csv",
        "--save-schema",
        "schema.json",
    ]
    out = runner.invoke(cli, args, standalone_mode=False)
    assert out.exception is None and out.return_value == 0, out.output
    assert json.loads((tmp_path / "schema.json").read_text())["columns"]["sex"]["allowed"] == [
        "female",
        "male",
    ]
    out = runner.invoke(
        cli,
        [
            "--no-audit",
            "--report-dir",
            "rep",
            "data",
            "--table",
            "cur.csv",
            "--schema",
            "schema.json",
            "--min-rows",
            "500",
        ],
        standalone_mode=False,
    )
    assert out.return_value == 1


@pytest.mark.skipif(not (EXAMPLES / "current.parquet").exists(), reason="example data not generated")
def test_example_current_passes_a_schema_inferred_from_reference(tmp_path):
    section = {
        "table": str(EXAMPLES / "current.parquet"),
        "infer_from": str(EXAMPLES / "reference.parquet"),
        "save_schema": str(tmp_path / "schema.yml"),
    }
    for table in ("current.parquet", "current_drifted.parquet"):
        result = validation.run({**section, "table": str(EXAMPLES / table)}, ctx(tmp_path))
        assert result.status is Status.PASS, [c.why for c in result.checks if c.status is not Status.PASS]


READER_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "readers"


@pytest.mark.parametrize(
    "name", ["logical-types.parquet", "logical-types.parq", "pandas-types.parquet", "bom.jsonl"]
)
def test_infer_from_every_logical_type(cli, tmp_path, name):
    """Nested list/struct/map columns (issue 13: a traceback before) get presence and null checks; decimals are
    numbers, nullable booleans booleans, dates datetimes; the same file then passes its own schema."""
    table = str(READER_FIXTURES / name)
    result = cli(
        "--report-dir", "reports", "data", "--infer-from", table, "--table", table, "--schema", "s.yml"
    )
    assert result.code == 0, result.stdout + result.stderr
    columns = yaml.safe_load((tmp_path / "s.yml").read_text())["columns"]
    if name.startswith("logical-types"):
        assert {
            c: columns[c].get("type") for c in ("tags", "point", "attributes", "price", "flag", "day")
        } == {
            "tags": None,
            "point": None,
            "attributes": None,
            "price": "number",
            "flag": "boolean",
            "day": "datetime",
        }


def test_nested_columns_against_a_declared_schema():
    nested = pd.DataFrame({"tags": [[1, 2], [1, 2], None], "point": [{"x": 1}, {"x": 2}, {"x": 2}]})
    schema = {
        "columns": {
            "tags": {"type": "integer", "unique": True},
            "point": {"allowed": ['{"x": 1}', '{"x": 2}'], "max_null_rate": 0},
        }
    }
    by_name = checks(validation.evaluate(nested, schema, "t.parquet"))
    assert (
        "type: expected integer, 2 rows hold other values (row 1: '[1, 2]'; row 2: '[1, 2]')"
        in by_name["column:tags"].why
    )
    assert "unique: 2 rows share a value" in by_name["column:tags"].why
    assert by_name["column:point"].status is Status.PASS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,a\n1,2,3\n", "t.csv: column 'a' appears twice in the header (columns 1 and 3)"),
        ("y_true,score\n0,0.1\n1\n1,0.7\n", "t.csv: row 2: 1 field, expected 2 as in the header ('1')"),
    ],
)
def test_bad_tables_are_one_line_input_errors(cli, tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "good.yml").write_text("columns: {a: {}}\n")
    for args in (["--infer-from", "t.csv", "--schema", "s.yml"], ["--schema", "good.yml"]):
        result = cli("--report-dir", "reports", "data", "--table", "t.csv", *args)
        assert result.code == 2 and result.stderr_lines == [f"mlgate: error: {tmp_path / message}"]
