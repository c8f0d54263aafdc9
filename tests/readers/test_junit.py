"""JUnit reader on what real tools write: pytest (with pytest-rerunfailures and pytest-xdist), Surefire, Ant.

Every result of a test case counts and a test is as bad as its worst result (issue 13): a skipped test whose
teardown errored is an error, a rerun that finally failed is a failure, a rerun that finally passed is flaky.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers.junit import read_junit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "readers"

PYTEST_OUTCOMES = {
    "test_passes": "passed",
    "test_fails": "failed",
    "test_skipped_with_teardown_error": "error",
    "test_rerun_then_pass": "flaky",
    "test_rerun_then_fail": "failed",
    "test_xfail": "skipped",
    "test_xpass_strict": "failed",
    "test_xpass_lenient": "passed",
    "test_zero_division": "passed",
}


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


@pytest.mark.parametrize("name", ["pytest-rerun.xml", "pytest-xdist.xml"])
def test_pytest_reruns_and_teardown_errors(name):
    run = read_junit(FIXTURES / name)
    by_name = {c.name: c for c in run.cases}
    assert {n: c.outcome for n, c in by_name.items()} == PYTEST_OUTCOMES
    assert by_name["test_rerun_then_fail"].attempts == 3
    assert by_name["test_rerun_then_pass"].attempts == 2
    assert by_name["test_rerun_then_pass"].message == "failed on 1 of 2 attempts"
    teardown = by_name["test_skipped_with_teardown_error"]
    assert teardown.message.startswith("failed on teardown with")
    assert (teardown.file, teardown.line) == ("test_outcomes.py", 29)
    assert "\n" not in by_name["test_fails"].message


def test_surefire_rerun_and_flaky_elements():
    by_name = {c.name: c for c in read_junit(FIXTURES / "surefire-reruns.xml").cases}
    assert {n: c.outcome for n, c in by_name.items()} == {
        "adds": "passed",
        "dividesFlaky": "flaky",
        "subtractsAlwaysFails": "failed",
        "connectsErrorThenFails": "error",  # two <failure> and an <error>: the worst wins
        "ignored": "skipped",
        "flakyError": "flaky",
    }
    assert by_name["subtractsAlwaysFails"].attempts == 3
    assert by_name["flakyError"].message == "error on 1 of 2 attempts: timeout"
    assert by_name["adds"].time == pytest.approx(0.002)


def test_ant_junit():
    run = read_junit(FIXTURES / "ant-junit.xml")
    assert [(c.name, c.outcome) for c in run.cases] == [("testAdd", "passed"), ("testDivide", "failed")]
    assert run.cases[1].message == "expected:<2> but was:<3>"


def test_time_with_thousands_separator(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text('<testsuite><testcase name="a" time="1,234.5"/><testcase name="b" time="x"/></testsuite>')
    assert [c.time for c in read_junit(path).cases] == [1234.5, 0.0]


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
def test_errors_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "junit.xml"
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_junit(path)
    assert fragment in str(raised.value) and str(path) in str(raised.value)


def _one_line_or_result(path: Path, reader) -> None:
    started = time.monotonic()
    try:
        reader(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    assert time.monotonic() - started < 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_any_bytes_give_a_result_or_a_one_line_error(tmp_path, data):
    path = tmp_path / "junit.xml"
    path.write_bytes(data)
    _one_line_or_result(path, read_junit)


JUNITISH = st.lists(
    st.sampled_from(
        [
            "<testsuite>",
            "</testsuite>",
            '<testcase name="a" classname="c">',
            '<testcase name="a" time="1,2">',
            "</testcase>",
            "<failure/>",
            '<error message="x"/>',
            "<skipped/>",
            "<rerunFailure><stackTrace>t.py:1: x</stackTrace></rerunFailure>",
            "<flakyError/>",
            "<stackTrace/>",
            "&amp;",
            "<![CDATA[x]]>",
        ]
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=JUNITISH)
def test_junit_shaped_input_gives_a_result_or_a_one_line_error(tmp_path, parts):
    path = tmp_path / "junit.xml"
    path.write_text("".join(parts))
    _one_line_or_result(path, read_junit)
