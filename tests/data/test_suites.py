"""Great Expectations suites and pandera schemas read as data-gate rules: fixtures written by the real
libraries (great_expectations 1.24.1, pandera 0.35.0; tests/data/suites/make_fixtures.py regenerates them),
suites generated at runtime, verdicts compared with the libraries' own, and any input a rule set or one error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates import data as gate
from gates.core.errors import InputError
from gates.data.suites import load_suite, parse_suite_text, read_suite

SUITES = Path(__file__).resolve().parent / "suites"
GE_FIXTURE = SUITES / "ge-1.24.1-loans.json"
PANDERA_YAML = SUITES / "pandera-0.35.0-loans.yml"
PANDERA_JSON = SUITES / "pandera-0.35.0-loans-full.json"


def loans(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.date_range("2026-01-01", periods=n, freq="h")
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 80, n),
            "email": [f"u{i}@example.com" for i in range(n)],
            "sex": rng.choice(["female", "male"], n),
            "income": rng.lognormal(10, 0.4, n),
            "start": start,
            "end": start + pd.Timedelta(hours=1),
        }
    )


def broken() -> pd.DataFrame:
    data = loans()
    data.loc[[3, 4], "email"] = "nobody"
    data.loc[[5, 6, 7], "age"] = 150
    data.loc[8, "sex"] = "x"
    data.loc[9, "end"] = pd.Timestamp("2020-01-01")
    data.loc[10, "id"] = 11
    return data


def test_the_ge_fixture_becomes_rules_and_lists_what_it_cannot_run():
    suite = load_suite(GE_FIXTURE)
    assert (suite.kind, suite.version, suite.read) == ("great_expectations", "1.24.1", 17)
    assert suite.unsupported == [
        "expectations[14] expect_column_kl_divergence_to_be_less_than (age): not supported by the data gate",
        (
            "expectations[15] expect_column_values_to_be_between (income): row_condition (a rule on a subset of "
            "rows) is not supported"
        ),
        "expectations[16] expect_column_values_to_match_strftime_format (email): not supported by the data gate",
    ]
    names = [c["name"] for c in suite.schema["checks"]]
    assert "expect_column_pair_values_a_to_be_greater_than_b(end, start)" in names
    rules = {c["name"]: c for c in suite.schema["checks"]}
    assert rules["expect_column_values_to_be_between(age)"] == {
        "column": "age",
        "min": 18.0,
        "max": 99.0,
        "mostly": 0.95,
        "name": "expect_column_values_to_be_between(age)",
    }
    assert rules["expect_column_values_to_be_increasing(start)"]["severity"] == "warn"
    assert suite.schema["rows"] == {"min": 10, "max": 100000}


def test_the_pandera_yaml_and_json_fixtures_are_the_same_rules():
    yml, full = load_suite(PANDERA_YAML), load_suite(PANDERA_JSON)
    assert yml.schema == full.schema and yml.unsupported == full.unsupported == []
    assert full.version == "0.35.0" and yml.read == 10
    assert yml.schema["extra_columns"] == "fail"  # strict: true
    assert yml.schema["columns"]["email"] == {"required": True, "type": "string"}  # nullable: true
    rules = {c["name"]: c for c in yml.schema["checks"]}
    assert rules["pandera:str_matches(email)"]["pattern"] == r"^(?:[^@\s]+@)"
    assert rules["pandera:less_than(income)"] == {
        "column": "income",
        "below": 1000000.0,
        "name": "pandera:less_than(income)",
        "severity": "warn",
    }


def test_command_line_runs_suites_and_lists_unsupported(cli, tmp_path):
    broken().to_parquet(tmp_path / "t.parquet")
    result = cli(
        "--report-dir",
        "rep",
        "data",
        "--table",
        "t.parquet",
        "--suite",
        str(GE_FIXTURE),
        "--suite",
        str(PANDERA_YAML),
        "--resamples",
        "200",
    )
    assert result.code == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "rep" / "data.json").read_text())
    checks = {c["name"]: c for g in report["gates"] for c in g["checks"]}
    assert checks[f"suite:{GE_FIXTURE}"]["status"] == "warn"
    assert "3 of 17 expectations not supported and not run" in checks[f"suite:{GE_FIXTURE}"]["why"]
    assert checks[f"suite:{PANDERA_YAML}"]["status"] == "pass"
    assert checks["expect_column_values_to_match_regex(email)"]["status"] == "fail"
    assert checks["expect_column_values_to_match_regex(email)"]["details"]["problems"][0]["sample"] == [
        {"row": 4, "value": "nobody"},
        {"row": 5, "value": "nobody"},
    ]
    assert checks["pandera:in_range(age)"]["value"] == 3
    loans().to_parquet(tmp_path / "t.parquet")
    error = cli(
        "--report-dir",
        "rep",
        "data",
        "--table",
        "t.parquet",
        "--suite",
        str(GE_FIXTURE),
        "--unsupported",
        "error",
    )
    assert error.code == 1 and "data/suite:" in error.stdout and "error" in error.stdout
    warn = cli("--report-dir", "rep", "data", "--table", "t.parquet", "--suite", str(GE_FIXTURE))
    assert warn.code == 0, warn.stdout


def _ge_suite(gx, gxe):
    suite = gx.ExpectationSuite(name="runtime")
    for expectation in (
        gxe.ExpectColumnValuesToNotBeNull(column="email"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=18, max_value=99),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=18, max_value=99, mostly=0.98),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=18, max_value=99, mostly=0.99),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"@example\.com$"),
        gxe.ExpectColumnValuesToNotMatchRegex(column="email", regex=r"^nobody$", mostly=0.995),
        gxe.ExpectColumnValueLengthsToBeBetween(column="email", min_value=6),
        gxe.ExpectColumnValuesToBeInSet(column="sex", value_set=["female", "male"]),
        gxe.ExpectColumnDistinctValuesToContainSet(column="sex", value_set=["female", "male", "other"]),
        gxe.ExpectColumnMeanToBeBetween(column="income", min_value=1000, max_value=1e6),
        gxe.ExpectColumnMaxToBeBetween(column="age", max_value=100),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end", column_B="start"),
        # a missing income: GE's default judges (and fails) a row with one value missing; 'either' skips it
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="income", column_B="age", mostly=0.999),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="income", column_B="age", mostly=0.9999, ignore_row_if="either_value_is_missing"
        ),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "sex"]),
        gxe.ExpectTableRowCountToBeBetween(min_value=10, max_value=150),
        gxe.ExpectColumnValuesToBeIncreasing(column="start"),
    ):
        suite.add_expectation(expectation)
    return suite


def test_verdicts_agree_with_great_expectations(tmp_path):
    """The same suite on the same data: every expectation GE passes, the gate passes (warnings count as
    passing), and every one GE fails, the gate fails."""
    gx = pytest.importorskip("great_expectations")
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(_ge_suite(gx, gxe))
    data = broken()
    data.loc[12, "income"] = np.nan
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("t")
        .add_batch_definition_whole_dataframe("b")
        .get_batch(batch_parameters={"dataframe": data})
    )
    theirs = {}
    for outcome in batch.validate(suite).results:
        config = outcome.expectation_config
        kwargs = config.kwargs
        theirs.setdefault((config.type, kwargs.get("mostly")), []).append(bool(outcome.success))
    document = read_suite(json.loads(json.dumps(suite.to_json_dict(), default=str)), "runtime")
    assert document.unsupported == []
    result = gate.evaluate(data, document.schema, "t")
    ours: dict = {}
    for entry in document.schema["checks"]:
        base = entry["name"]
        passed = all(
            c.status.passed for c in result.checks if c.name == base or c.name.startswith(base + ":")
        )
        kind = base.split("(")[0].split("#")[0]
        ours.setdefault((kind, entry.get("mostly")), []).append(passed)
    rows = next(c for c in result.checks if c.name == "row_count")
    ours[("expect_table_row_count_to_be_between", None)] = [rows.status.passed]
    assert ours == theirs
    assert theirs[("expect_column_pair_values_a_to_be_greater_than_b", 0.999)] == [False]
    assert theirs[("expect_column_pair_values_a_to_be_greater_than_b", 0.9999)] == [True]


def test_verdicts_agree_with_pandera():
    pa = pytest.importorskip("pandera.pandas")
    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(int, pa.Check.ge(0), unique=True),
            "age": pa.Column(int, [pa.Check.in_range(18, 99), pa.Check.lt(200)]),
            "email": pa.Column(
                str,
                [pa.Check.str_matches(r"u\d+@"), pa.Check.str_length(5, 40), pa.Check.str_endswith(".com")],
            ),
            "sex": pa.Column(str, [pa.Check.isin(["female", "male"]), pa.Check.notin(["x"])]),
            "income": pa.Column(float, pa.Check.gt(0)),
            "start": pa.Column("datetime64[ns]"),
            "end": pa.Column("datetime64[ns]"),
        },
        strict=True,
        unique=["email", "sex"],
    )
    data = broken()
    failures = set()
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for column, check in zip(cases["column"], cases["check"]):
            failures.add((str(column), str(check).split("(")[0]))
    for text in (schema.to_yaml(), schema.to_json()):
        suite = read_suite(parse_suite_text(text, "runtime"), "runtime")
        result = gate.evaluate(data, suite.schema, "t")
        ours = set()
        pandera_names = {"unique": "field_uniqueness", "nulls": "not_nullable", "type": "dtype"}
        for check in result.checks:
            if check.status.passed:
                continue
            if check.name.startswith("pandera:unique"):
                ours.add(("None", "multiple_fields_uniqueness"))
            elif check.name.startswith("pandera:"):
                name, column = check.name[len("pandera:") :].rstrip(")").split("(")
                ours.add((column, name))
            elif check.name.startswith("column:"):
                ours |= {(check.name[7:], pandera_names[p["check"]]) for p in check.details["problems"]}
        assert ours == failures and len(failures) == 6


# --------------------------------------------------------------------------------------- any input
_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=False), st.text(max_size=8)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_GE_TYPES = st.sampled_from(
    sorted(__import__("gates.data.suite_ge", fromlist=["x"]).EXPECTATIONS)
    + ["expect_column_to_exist", "expect_table_row_count_to_be_between", "nope"]
)
_GE_KWARGS = st.dictionaries(
    st.sampled_from(
        [
            "column",
            "min_value",
            "max_value",
            "mostly",
            "value_set",
            "regex",
            "column_A",
            "column_B",
            "column_list",
            "quantile_ranges",
            "strictly",
            "or_equal",
            "row_condition",
            "type_",
            "x",
        ]
    ),
    _VALUES | st.sampled_from(["id", "age", "email"]),
    max_size=5,
)
_GE_DOCS = st.fixed_dictionaries(
    {
        "expectations": st.lists(
            st.fixed_dictionaries({"type": _GE_TYPES, "kwargs": _GE_KWARGS}) | _VALUES, max_size=5
        )
    },
    optional={"meta": _VALUES, "name": _VALUES},
)
_PANDERA_CHECKS = st.sampled_from(
    [
        "greater_than",
        "in_range",
        "isin",
        "str_matches",
        "str_length",
        "notin",
        "unique_values_eq",
        "less_than_or_equal_to",
        "custom",
        "checks",
        "dtype",
        "nullable",
        "unique",
        "required",
        "regex",
    ]
)
_PANDERA_DOCS = st.fixed_dictionaries(
    {
        "schema_type": st.just("dataframe"),
        "columns": st.dictionaries(
            st.sampled_from(["id", "age", "email"]),
            st.dictionaries(_PANDERA_CHECKS, _VALUES, max_size=4) | _VALUES,
            max_size=3,
        ),
    },
    optional={"strict": _VALUES, "unique": _VALUES, "checks": _VALUES, "index": _VALUES},
)


def _read_then_run(document) -> None:
    try:
        suite = read_suite(document, "s.json")
    except InputError as exc:
        assert str(exc).startswith("s.json") and "Traceback" not in str(exc)
        return
    try:
        gate.evaluate(loans(20), suite.schema, "t")
    except InputError as exc:  # a rule that the data cannot be judged by (text bound on numbers, ...)
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_GE_DOCS)
def test_any_ge_like_document_is_rules_or_one_error(document):
    _read_then_run(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PANDERA_DOCS)
def test_any_pandera_like_document_is_rules_or_one_error(document):
    _read_then_run(document)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_suite_or_one_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("s") / "suite.yml"
    path.write_bytes(data)
    try:
        load_suite(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))


def test_a_rule_no_data_gate_rule_can_take_is_listed_not_fatal():
    document = {
        "expectations": [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "a", "value_set": [{"x": 1}]}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "a", "regex": "("}},
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": "a", "result_format": "COMPLETE"},
            },
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": "a", "column_index": 2, "x": 1},
            },
        ]
    }
    suite = read_suite(document, "s.json")
    assert suite.unsupported == [
        'expect_column_values_to_be_in_set(a): allowed[0]: expected a string or a number or true or false, got {"x": 1}',
        (
            "expect_column_values_to_match_regex(a): pattern: not a valid regular expression '(' (missing ): (; "
            "RE2 syntax is required: no backreferences or lookaround)"
        ),
        "expectations[3] expect_column_values_to_be_unique (a): arguments column_index, x not supported",
    ]
    assert suite.schema["checks"] == [
        {"column": "a", "unique": True, "name": "expect_column_values_to_be_unique(a)"}
    ]
