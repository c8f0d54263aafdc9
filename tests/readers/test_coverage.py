"""Coverage reader: Cobertura and LCOV written by coverage.py, JaCoCo XML per its report.dtd; format by content."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers.coverage import read_cobertura, read_coverage
from tests.readers.test_junit import _one_line_or_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "readers"


def test_cobertura_and_lcov_from_the_same_coverage_run_agree():
    cobertura = read_coverage(FIXTURES / "coverage-cobertura.xml")
    lcov = read_coverage(FIXTURES / "coverage.lcov")
    root = ET.parse(FIXTURES / "coverage-cobertura.xml").getroot()
    assert (cobertura.format, lcov.format) == ("cobertura", "lcov")
    assert cobertura.line_rate == float(root.get("line-rate"))
    assert (
        (lcov.lines_valid, lcov.lines_covered) == (cobertura.lines_valid, cobertura.lines_covered) == (9, 7)
    )
    assert lcov.line_rate == pytest.approx(cobertura.line_rate, abs=1e-4)
    assert lcov.branch_rate == cobertura.branch_rate == 1.0
    assert lcov.worst_files[0][0] == cobertura.worst_files[0][0] == "calc.py"


def test_jacoco_uses_the_report_line_counter():
    cov = read_coverage(FIXTURES / "jacoco.xml")
    assert (cov.format, cov.lines_valid, cov.lines_covered) == ("jacoco", 6, 4)
    assert cov.line_rate == pytest.approx(4 / 6) and cov.branch_rate == 0.5
    assert cov.worst_files[0] == ("com/example/Calculator.java", pytest.approx(0.6))


def test_cobertura_without_branches_has_no_branch_rate(tmp_path):
    path = tmp_path / "c.xml"
    path.write_text('<coverage line-rate="0.5" branch-rate="0" branches-valid="0" lines-valid="2"/>')
    assert read_coverage(path).branch_rate is None


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('<coverage line-rate="lots"/>', "<coverage> attribute line-rate is not a number: 'lots'"),
        ('<coverage line-rate="80"/>', "line-rate: expected a number in [0, 1], got '80'"),
        ("<coverage/>", "<coverage> has no line-rate attribute"),
        ('<coverage line-rate="1" lines-valid="-3"/>', "lines-valid: expected a count, got '-3'"),
        ("<report name='x'/>", "expected a Cobertura <coverage> or JaCoCo <report> root"),
        ("<testsuite/>", "got <testsuite>"),
        ('<report><counter type="BRANCH" missed="1" covered="1"/></report>', "has no LINE counter"),
        ('<report><counter type="LINE" missed="0" covered="0"/></report>', "counts no lines"),
        ("TN:\nSF:a.js\nDA:1,1\n", "the record for 'a.js' has no 'end_of_record' line"),
        ("SF:a.js\nDA:one,1\nend_of_record\n", "line 2: expected 'DA:<line>,<hits>'"),
        ("SF:a.js\nDA:1,inf\nend_of_record\n", "line 2: expected 'DA:<line>,<hits>'"),
        ("SF:a.js\nend_of_record\n", "no line records"),
        ("mode: set\na.go:1.1,2.2 1 1\n", "line 1: expected an LCOV record starting with 'SF:'"),
        ("", "file is empty"),
    ],
)
def test_errors_name_file_and_place(tmp_path, content, fragment):
    path = tmp_path / "coverage.out"
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_coverage(path)
    message = str(raised.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_lcov_with_bom_and_float_hits(tmp_path):
    path = tmp_path / "lcov.info"
    path.write_text("\ufeffTN:\nSF:a.js\nDA:1,2.0\nDA:2,0\nBRDA:1,0,0,-\nBRDA:1,0,1,3\nend_of_record\n")
    cov = read_coverage(path)
    assert (cov.lines_valid, cov.lines_covered, cov.branch_rate) == (2, 1, 0.5)


def test_read_cobertura_refuses_other_formats():
    with pytest.raises(InputError, match="expected a Cobertura <coverage> root, got <report>"):
        read_cobertura(FIXTURES / "jacoco.xml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_any_bytes_give_a_result_or_a_one_line_error(tmp_path, data):
    path = tmp_path / "coverage.any"
    path.write_bytes(data)
    _one_line_or_result(path, read_coverage)


LCOVISH = st.lists(
    st.sampled_from(
        [
            "TN:",
            "SF:a.js",
            "DA:1,1",
            "DA:2,0",
            "DA:3,1e999",
            "DA:,",
            "BRDA:1,0,0,-",
            "BRDA:1",
            "LF:2",
            "end_of_record",
            "",
            "\ufeff",
            "<coverage line-rate='0.5'/>",
        ]
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LCOVISH)
def test_lcov_shaped_input_gives_a_result_or_a_one_line_error(tmp_path, lines):
    path = tmp_path / "lcov.info"
    path.write_text("\n".join(lines))
    _one_line_or_result(path, read_coverage)
