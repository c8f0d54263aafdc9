"""Pattern rules run on RE2: a catastrophic-backtracking pattern cannot hang the gate, RE2-only syntax is
a one-line error (a listed unsupported expectation in a suite), and RE2 agrees with Python's `re.search`."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates import data as gate
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.data.regex import search, to_re2
from gates.data.schema import check_schema_document
from gates.data.suites import read_suite

REDOS = r"(a+)+$"
# 30 a's then a b: Python's backtracking engine tries about 2**30 ways to split the a's before giving up
VICTIM = "a" * 30 + "b"


def test_redos_pattern_runs_in_linear_time_through_the_gate(tmp_path):
    rows = 10_000
    # odd rows: distinct attack strings (each is evaluated); even rows: runs of a's that do match
    codes = [f"{VICTIM}{i}" if i % 2 else "a" * (30 + i % 7) for i in range(rows)]
    pd.DataFrame({"code": codes}).to_parquet(tmp_path / "t.parquet")
    section = {"table": str(tmp_path / "t.parquet"), "schema": {"columns": {"code": {"pattern": REDOS}}}}
    context = GateContext(base_dir=tmp_path, report_dir=tmp_path / "r")
    gate.run({**section, "schema": {"columns": {"code": {"type": "string"}}}}, context)  # imports, not regex
    started = time.perf_counter()
    result = gate.run(section, context)
    elapsed = time.perf_counter() - started
    check = {c.name: c for c in result.checks}["column:code"]
    assert check.status is Status.FAIL and check.value == rows // 2
    assert f"pattern: {rows // 2} rows not matching" in check.why and f"row 2: '{VICTIM}1'" in check.why
    assert elapsed < 1.0, f"{rows} rows took {elapsed:.2f} s"


def test_the_same_payload_hangs_python_re():
    """The payload is real: Python's engine is still busy after 5 s (the subprocess is killed at the timeout)."""
    program = f"import re; re.search({REDOS!r}, {VICTIM!r})"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", program], timeout=5, check=False)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"^(?=a)", r"(?<!x)y", r"a\Z"])
def test_re2_only_syntax_is_a_one_line_error_naming_the_key(pattern):
    with pytest.raises(InputError) as raised:
        check_schema_document({"columns": {"code": {"not_pattern": pattern}}}, "data.schema")
    message = str(raised.value)
    assert message.startswith(
        f"data.schema: columns.code.not_pattern: not a valid regular expression {pattern!r}"
    )
    assert "RE2 syntax is required" in message and "\n" not in message


def test_command_line_exits_2_on_a_backreference(cli, tmp_path):
    pd.DataFrame({"code": ["aa"]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "gates.yml").write_text(
        "version: 1\ndata:\n  table: t.parquet\n  schema:\n    columns:\n      code: {pattern: '(a)\\1'}\n"
    )
    result = cli("--policy", "gates.yml", "--report-dir", "rep", "data")
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "columns.code.pattern" in result.stderr and "RE2 syntax is required" in result.stderr


def test_a_lookaround_expectation_in_a_suite_is_listed_unsupported():
    document = {
        "expectations": [
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "a", "regex": "^(?!x)"}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "a", "regex": "^[a-z]+$"}},
        ]
    }
    suite = read_suite(document, "s.json")
    assert len(suite.unsupported) == 1
    assert suite.unsupported[0].startswith("expect_column_values_to_match_regex(a): pattern: not a valid")
    assert "RE2 syntax is required" in suite.unsupported[0]
    assert [c["pattern"] for c in suite.schema["checks"]] == ["^[a-z]+$"]


def test_unicode_classes_keep_python_meaning():
    values = ["é", "٣", "\xa0", "²", "_", "a1", "-"]
    for pattern in (r"^\w+$", r"^\d$", r"^\s$", r"^[\w-]+$", r"\W", r"^\S$", r"^[\d]$", r"^\D$"):
        assert list(search(values, pattern, "t")) == [re.search(pattern, v) is not None for v in values], (
            pattern
        )
    assert to_re2(r"[]\d]\\d") == r"[]\p{Nd}]\\d"


# Patterns built from pieces both engines read alike; texts avoid a final newline, where `$` differs.
ATOMS = st.sampled_from(["a", "b", "1", ".", "[ab]", "[^a]", r"\d", r"\w", r"\s", r"\W", r"\.", "é"])


def _patterns() -> st.SearchStrategy[str]:
    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            inner.map(lambda p: f"(?:{p})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{1,2}"])).map(lambda t: f"(?:{t[0]}){t[1]}"),
        )

    core = st.recursive(ATOMS, grow, max_leaves=6)
    return st.tuples(st.sampled_from(["", "^"]), core, st.sampled_from(["", "$"])).map("".join)


@settings(max_examples=300, deadline=None)
@given(_patterns(), st.lists(st.text(alphabet="ab1 _.é٣\t\xa0-", max_size=6), min_size=1, max_size=8))
def test_re2_and_python_re_agree_on_simple_patterns(pattern, values):
    assert list(search(values, pattern, "t")) == [re.search(pattern, v) is not None for v in values]
