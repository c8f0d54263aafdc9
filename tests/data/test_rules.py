"""The data gate's column and table rules: what fails, how many rows, which ones, and never a sensitive value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates import data as gate
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.data.schema import check_schema_document
from gates.data.statistics import Judging

NOW = pd.Timestamp("2026-12-04T12:00:00Z")


def by_name(result) -> dict:
    return {c.name: c for c in result.checks}


def loans(n: int = 50) -> pd.DataFrame:
    start = pd.date_range("2026-11-01", periods=n, freq="h")
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "start": start,
            "end": start + pd.Timedelta(hours=2),
            "a": np.arange(n, dtype=float),
            "b": np.ones(n),
            "total": np.arange(n, dtype=float) + 1,
            "ssn": [f"{i:03d}-00-0000" for i in range(n)],
        }
    )


def test_patterns_lengths_dates_order_and_freshness():
    data = loans()
    data.loc[3, "email"] = "not an email"
    data.loc[[5, 6], "email"] = "x@y"
    data.loc[7, "start"] = pd.Timestamp("2020-01-01")
    schema = {
        "columns": {
            "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[a-z]+$", "length": {"min": 4}},
            "start": {"type": "datetime", "min": "2026-01-01", "monotonic": "increasing", "max_age": "2d"},
            "end": {"max_age": "3d", "max": "2026-12-31T00:00:00+01:00"},
        }
    }
    found = by_name(gate.evaluate(data, schema, "t", now=pd.Timestamp("2026-11-04T14:00Z")))
    email = found["column:email"]
    assert email.status is Status.FAIL and email.value == 3
    assert "pattern: 3 rows not matching" in email.why
    assert "(row 4: 'not an email'; row 6: 'x@y'; row 7: 'x@y')" in email.why
    assert "length: 2 rows with a length outside [4, inf] (row 6: 'x@y'; row 7: 'x@y')" in email.why
    start = found["column:start"]
    assert start.value == 1 and "freshness" not in start.why  # newest 2026-11-03 01:00: 1.5 days old
    assert "range: 1 row below min 2026-01-01 (row 8: '2020-01-01T00:00:00')" in start.why
    assert "monotonic: 1 row breaks the increasing order (row 8: '2020-01-01T00:00:00')" in start.why
    assert found["column:end"].status is Status.PASS
    stale = by_name(gate.evaluate(data, schema, "t", now=NOW))["column:start"]
    assert "freshness: the newest timestamp (2026-11-03T01:00:00+00:00) is 31.5d old at " in stale.why
    assert "older than max_age 2d; all 50 rows are stale" in stale.why and stale.value == 50


def test_a_fresh_table_passes_at_the_injected_clock():
    data = loans()
    schema = {"columns": {"start": {"max_age": "36h"}}, "extra_columns": "allow"}
    assert gate.evaluate(data, schema, "t", now=pd.Timestamp("2026-11-03T12:00Z")).status is Status.PASS
    later = gate.evaluate(data, schema, "t", now=pd.Timestamp("2026-11-05T12:00Z"))
    assert by_name(later)["column:start"].status is Status.FAIL


def test_sensitive_columns_never_show_values():
    data = loans()
    data.loc[[1, 2], "ssn"] = "bad"
    schema = {
        "columns": {"ssn": {"pattern": r"^\d{3}-\d{2}-\d{4}$", "sensitive": True, "unique": True}},
        "checks": [
            {"duplicates": ["ssn"]},
            {"expression": "a < b + ssn_len", "name": "never"}
            if False
            else {"column": "ssn", "length": {"max": 3}},
        ],
    }
    result = gate.evaluate(data, schema, "t")
    text = json.dumps(result.to_dict())
    assert "bad" not in text and "000-00-0000" not in text
    ssn = by_name(result)["column:ssn"]
    assert (
        "pattern: 2 rows not matching" in ssn.why
        and "(rows 2, 3; values hidden: sensitive column)" in ssn.why
    )
    assert "row 2: ssn hidden" in by_name(result)["duplicates[0]"].why


def test_sensitive_from_the_section_hides_relation_values_too(tmp_path):
    data = loans()
    data.loc[4, "total"] = 99.0
    result = gate.evaluate(
        data,
        {"checks": [{"expression": "total == a + b", "tolerance": 1e-9, "name": "total"}]},
        "t",
        sensitive={"total"},
    )
    total = by_name(result)["total"]
    assert total.status is Status.FAIL and total.value == 1
    assert "fails on 1 row of 50 (row 5: total hidden, a=4.0, b=1.0)" in total.why
    assert "99" not in json.dumps(result.to_dict()["checks"])


def test_mostly_severity_and_names_of_rule_entries():
    data = loans(100)
    data.loc[:3, "email"] = None
    data.loc[4:6, "email"] = "bad"
    schema = {
        "checks": [
            {"column": "email", "pattern": "@", "mostly": 0.95, "name": "email-ish"},
            {"column": "email", "pattern": "@", "mostly": 0.99},
            {"column": "email", "forbidden": ["bad"], "severity": "warn"},
            {"column": "nope", "unique": True},
            {"column": "email", "contains": ["user50@example.com", "zzz"]},
        ]
    }
    found = by_name(gate.evaluate(data, schema, "t"))
    assert (
        found["email-ish"].status is Status.PASS
        and "3.12% failing, within mostly 0.95" in found["email-ish"].why
    )
    assert (
        found["column:email:pattern"].status is Status.FAIL
        and "above 1 - mostly 0.99" in found["column:email:pattern"].why
    )
    assert (
        found["column:email:forbidden"].status is Status.WARN
        and "(severity: warn)" in found["column:email:forbidden"].why
    )
    assert (
        found["column:nope:unique"].status is Status.FAIL
        and "not in the table" in found["column:nope:unique"].why
    )
    assert "1 required value never appears: 'zzz'" in found["column:email:contains"].why
    assert "not in the schema" not in found["columns"].why or "email" not in found["columns"].why


def test_duplicates_on_all_or_some_columns():
    data = pd.DataFrame({"k": [1, 1, 2, 3, 3, 3], "v": ["a", "a", "b", "c", "d", "c"]})
    found = by_name(
        gate.evaluate(data, {"checks": [{"duplicates": True}, {"duplicates": ["k"], "name": "k"}]}, "t")
    )
    assert (
        found["duplicates[0]"].value == 4
        and "4 rows in 2 groups share the values of all columns" in found["duplicates[0]"].why
    )
    assert found["k"].value == 5 and found["k"].details["groups"] == 2


def test_row_change_and_references(tmp_path):
    loans(40).to_csv(tmp_path / "current.csv", index=False)
    loans(50).to_parquet(tmp_path / "reference.parquet")
    pd.DataFrame({"user": [f"{i}" for i in range(35)]}).to_csv(tmp_path / "users.csv", index=False)
    section = {
        "table": "current.csv",
        "schema": {"columns": {"id": {"type": "integer"}}, "extra_columns": "allow"},
        "row_change": {"reference": "reference.parquet", "max_share": 0.1},
        "references": [{"columns": ["id"], "table": "users.csv", "keys": ["user"]}],
    }
    ctx = GateContext(base_dir=tmp_path, report_dir=tmp_path / "r")
    found = by_name(gate.run(section, ctx))
    assert (
        found["row_change"].status is Status.FAIL
        and "40 rows, 20.0% fewer than the reference's 50" in found["row_change"].why
    )
    ref = found["references:id"]
    assert ref.status is Status.FAIL and ref.value == 5  # ids 35..39; '7' (text) and 7 (integer) are one key
    assert "5 rows of 40 hold a key absent from" in ref.why and "(row 36: id=35" in ref.why
    section["row_change"] = {"rows": 42, "max_share": 0.1}
    assert by_name(gate.run(section, ctx))["row_change"].status is Status.PASS


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"columns": {"a": {"pattern": "("}}}, "t: columns.a.pattern: not a valid regular expression '('"),
        ({"columns": {"a": {"max_age": "soon"}}}, "t: columns.a.max_age: 'soon' does not match"),
        (
            {"columns": {"a": {"type": "integer", "min": "2024-01-01"}}},
            "t: columns.a.min: a date bound on a integer column",
        ),
        (
            {"columns": {"a": {"min": "someday"}}},
            "t: columns.a.min: expected an ISO date or date-time, got 'someday'",
        ),
        ({"checks": [{"column": "a", "patern": "x"}]}, "t: checks[0].unknown key 'patern'"),
        ({"checks": [{"column": "a"}]}, "t: checks[0]: names a column but no rule (pattern, min, mean, ...)"),
        ({"checks": [{"expression": "a +"}]}, "t: checks[0].expression: cannot parse 'a +'"),
        (
            {"checks": [{"duplicates": True, "expression": "a < b"}]},
            "t: checks[0]: expected 'column' with column rules, 'duplicates' or 'expression'",
        ),
        (
            {"checks": [{"duplicates": True, "mostly": 0.9}]},
            "t: checks[0]: unknown key 'mostly' for a table rule",
        ),
        ({"columns": {"a": {"length": {"min": 5, "max": 2}}}}, "t: columns.a.length: min 5 is above max 2"),
    ],
)
def test_bad_rules_are_one_line_errors_before_any_data(schema, message):
    with pytest.raises(InputError) as raised:
        check_schema_document(schema, "t")
    assert str(raised.value).startswith(message)


def test_command_line_with_a_policy(cli, tmp_path):
    loans(30).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "gates.yml").write_text(
        "version: 1\n"
        "data:\n"
        "  table: t.parquet\n"
        "  as_of: '2026-11-02T12:00:00Z'\n"
        "  sensitive: [ssn]\n"
        "  schema:\n"
        "    extra_columns: allow\n"
        "    columns:\n"
        "      start: {type: datetime, max_age: 1d}\n"
        "      a: {mean: {min: 10, max: 20}, quantiles: [{q: 0.9, max: 30}]}\n"
        "    checks:\n"
        "      - {expression: 'end - start == 7200', name: two-hours}\n"
        "      - {column: ssn, pattern: '^0', length: {max: 11}}\n"
    )
    result = cli("--policy", "gates.yml", "--report-dir", "rep", "data", "--resamples", "200")
    assert result.code == 0, result.stdout + result.stderr
    assert (
        "quantile 0.9 26.1 passes, but the 95% interval reaches up to inf" in result.stdout
    )  # 30 rows: no bound
    result = cli("--policy", "gates.yml", "--report-dir", "rep", "data", "--as-of", "2026-12-01")
    assert result.code == 1 and "older than max_age 1d" in result.stdout
    policy = (tmp_path / "gates.yml").read_text().replace("max: 11", "max: 10")
    (tmp_path / "gates.yml").write_text(policy)
    result = cli("--policy", "gates.yml", "--report-dir", "rep", "data")
    assert "length: 30 rows with a length outside [0, 10] (rows 1, 2, 3, 4, 5; values hidden" in result.stdout
    assert "-00-0000" not in result.stdout + result.stderr + "".join(
        p.read_text()
        for p in (tmp_path / "rep").iterdir()
        if p.is_file() and p.suffix in (".json", ".md", ".xml", ".html")
    )
    bad = cli("--policy", "gates.yml", "--report-dir", "rep", "data", "--as-of", "tomorrow")
    assert bad.code == 2 and bad.stderr_lines == [
        "mlgate: error: data.as_of: expected an ISO date or date-time, got 'tomorrow'"
    ]


def test_which_rows_with_missing_values_a_relation_judges():
    data = pd.DataFrame({"a": [2.0, None, 3.0, None], "b": [1.0, 1.0, None, None]})
    counts = {}
    for skip in ("any", "all", "none"):
        entry = {"expression": "a > b", "skip_missing": skip, "name": skip}
        check = by_name(gate.evaluate(data, {"checks": [entry]}, "t"))[skip]
        counts[skip] = (check.value, check.details["judged_rows"])
    # any: only row 1 judged; all: rows with one value missing fail (Great Expectations' default for pairs)
    assert counts == {"any": (0.0, 1), "all": (2.0, 3), "none": (3.0, 4)}


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-5, 5),
    st.sampled_from(["2026-01-01", "x", "3", ""]),
)
_RULE_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.dictionaries(
        st.sampled_from(["min", "max", "q", "values", "min_share", "decide_on"]), _SCALARS, max_size=3
    ),
    st.lists(st.dictionaries(st.sampled_from(["q", "min", "max"]), _SCALARS, max_size=3), max_size=2),
)
_BOUNDS = st.dictionaries(
    st.sampled_from(["min", "max", "decide_on"]),
    st.one_of(st.floats(-5, 5), st.just("bound")),
    min_size=1,
    max_size=2,
)
_VALUES_OF = {
    "type": st.sampled_from(["integer", "number", "string", "boolean", "datetime"]),
    "min": st.one_of(st.integers(-3, 3), st.sampled_from(["2026-01-02", "soon"])),
    "pattern": st.sampled_from(["^a", "(", "\\d", "x|y", "^$"]),
    "length": st.dictionaries(st.sampled_from(["min", "max"]), st.integers(0, 3), min_size=1),
    "monotonic": st.sampled_from(["increasing", "strictly_decreasing"]),
    "max_age": st.sampled_from(["1d", "2h", "bad"]),
    "allowed": st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["a", "b"]), st.booleans()), min_size=1),
    "mean": _BOUNDS,
    "quantiles": st.lists(
        st.fixed_dictionaries(
            {"q": st.floats(0.01, 0.99)}, optional={"min": st.floats(-5, 5), "max": st.floats(-5, 5)}
        ),
        min_size=1,
        max_size=2,
    ),
    "in_set": st.fixed_dictionaries(
        {"values": st.lists(st.sampled_from(["a", 1, True]), min_size=1)},
        optional={"min_share": st.floats(0, 1)},
    ),
    "unique": st.booleans(),
    "max_null_rate": st.floats(0, 1),
}
_ALIKE = {
    "max": "min",
    "above": "min",
    "below": "min",
    "not_pattern": "pattern",
    "forbidden": "allowed",
    "contains": "allowed",
    "std": "mean",
    "sum": "mean",
    "median": "mean",
    "smallest": "mean",
    "largest": "mean",
    "distinct": "mean",
    "distinct_share": "mean",
    "sensitive": "unique",
    "required": "unique",
}
_RULE_KEYS = st.sampled_from(sorted({*_VALUES_OF, *_ALIKE}))
_RULES = st.lists(_RULE_KEYS, min_size=1, max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries(
        {k: st.one_of(*[_VALUES_OF[_ALIKE.get(k, k)]] * 4, _RULE_VALUES) for k in keys}  # mostly well-formed
    )
)
_COLUMNS = st.sampled_from(["n", "s", "d", "mixed", "gone"])
_DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "columns": st.dictionaries(
            _COLUMNS, st.dictionaries(_RULE_KEYS, _RULE_VALUES, max_size=3), max_size=3
        ),
        "checks": st.lists(
            st.one_of(
                _RULES.flatmap(lambda rules: _COLUMNS.map(lambda c: {"column": c, **rules})),
                st.fixed_dictionaries(
                    {"expression": st.sampled_from(["n < d", "s == 'a'", "n + 1 >= n", "mixed > 0"])}
                ),
                st.fixed_dictionaries(
                    {"duplicates": st.one_of(st.just(True), st.lists(_COLUMNS, min_size=1, max_size=2))}
                ),
            ),
            min_size=1,
            max_size=3,
        ),
        "rows": st.dictionaries(st.sampled_from(["min", "max"]), st.integers(0, 5), max_size=2),
    },
)
_FRAME = pd.DataFrame(
    {
        "n": [1.0, 2.0, None, 4.0],
        "s": ["a", "b", None, "a"],
        "d": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-02"]),
        "mixed": ["1", "x", "2026-01-01", None],
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCUMENTS)
def test_any_schema_document_is_checks_or_one_input_error(document):
    try:
        check_schema_document(document, "s.yml")
        result = gate.evaluate(_FRAME, document, "t", judging=Judging(resamples=20), now=NOW)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert result.checks and all(c.why for c in result.checks)


def test_bounds_on_values_that_are_not_numbers_or_dates_fail():
    data = pd.DataFrame({"n": ["1", "abc", None, "7"], "d": ["2026-01-01", "someday", None, "2026-02-01"]})
    found = by_name(gate.evaluate(data, {"columns": {"n": {"max": 5}, "d": {"min": "2025-01-01"}}}, "t"))
    assert (
        "range: 1 row holds values that are not numbers, so not within the bounds (row 2: 'abc')"
        in found["column:n"].why
    )
    assert "range: 1 row above max 5 (row 4: '7')" in found["column:n"].why
    assert (
        "range: 1 row holds values that are not dates" in found["column:d"].why
        and found["column:d"].value == 1
    )
