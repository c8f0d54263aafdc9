"""The result model: status algebra, exit-code precedence, and JSON-safe serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gates.core.result import Check, Finding, GateResult, Location, Status, error_result, exit_code, worst


def gate(*statuses: Status, name: str = "g", hint: int | None = None) -> GateResult:
    return GateResult(
        gate=name, checks=[Check(f"c{i}", s, "why") for i, s in enumerate(statuses)], exit_code_hint=hint
    )


def test_severity_order_and_worst():
    assert [s.severity for s in (Status.PASS, Status.WARN, Status.FAIL, Status.ERROR)] == [0, 1, 2, 3]
    assert worst([Status.PASS, Status.WARN]) is Status.WARN
    assert worst([Status.WARN, Status.FAIL, Status.PASS]) is Status.FAIL
    assert worst([Status.FAIL, Status.ERROR]) is Status.ERROR
    assert worst([Status.PASS]) is Status.PASS


def test_no_evidence_is_an_error_never_a_pass():
    assert worst([]) is Status.ERROR
    assert GateResult(gate="empty").status is Status.ERROR
    assert exit_code([GateResult(gate="empty")]) == 1
    assert exit_code([]) == 1


def test_warnings_do_not_block():
    assert Status.PASS.passed and Status.WARN.passed
    assert not Status.FAIL.passed and not Status.ERROR.passed
    assert exit_code([gate(Status.PASS, Status.WARN)]) == 0


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([gate(Status.PASS)], 0),
        ([gate(Status.PASS), gate(Status.FAIL)], 1),
        ([gate(Status.ERROR)], 1),
        ([gate(Status.FAIL), gate(Status.ERROR, hint=3)], 3),
        ([gate(Status.ERROR, hint=3), gate(Status.ERROR, hint=2)], 2),  # bad input outranks infrastructure
        ([gate(Status.FAIL), gate(Status.ERROR, hint=2)], 2),
    ],
)
def test_exit_code_precedence(results, expected):
    assert exit_code(results) == expected


def test_counts_and_status():
    result = gate(Status.PASS, Status.PASS, Status.WARN, Status.FAIL)
    assert result.counts() == {"pass": 2, "warn": 1, "fail": 1, "error": 0}
    assert result.status is Status.FAIL


def test_error_result_carries_reason_and_hint():
    result = error_result("metrics", "data.csv: file not found", 2)
    assert result.status is Status.ERROR
    assert result.exit_code_hint == 2
    assert result.checks[0].why == "data.csv: file not found"
    assert exit_code([result]) == 2


def test_to_dict_is_strict_json_without_nan():
    check = Check(
        "m",
        Status.ERROR,
        "undefined",
        value=float("nan"),
        ci=(float("-inf"), np.float64(0.5)),
        location=Location("a.py", 3),
        details={"arr": [np.float32(1.5), float("inf")], 4: np.int64(7)},
    )
    result = GateResult(
        gate="g",
        checks=[check],
        evidence={"x": np.float64("nan"), "nested": {"y": (1.0, math.inf)}},
        summary={"v": np.float64(0.25)},
        findings=[Finding("R1", "error", "msg", "cat", Location("f.txt"), properties={"n": np.nan})],
    )
    text = json.dumps(result.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["checks"][0]["value"] is None
    assert data["checks"][0]["ci"] == [None, 0.5]
    assert data["checks"][0]["location"] == {"path": "a.py", "line": 3}
    assert data["checks"][0]["details"] == {"arr": [1.5, None], "4": 7}
    assert data["evidence"] == {"x": None, "nested": {"y": [1.0, None]}}
    assert data["summary"] == {"v": 0.25}
    assert data["findings"][0]["properties"] == {"n": None}
    assert data["findings"][0]["location"] == {"path": "f.txt"}


@pytest.mark.parametrize(
    ("verdict", "fail_on", "expected"),
    [
        (0, "fail", 0),
        (1, "fail", 1),
        (2, "fail", 2),
        (3, "fail", 3),
        (0, "error", 0),
        (1, "error", 0),
        (2, "error", 2),
        (3, "error", 3),
        (0, "never", 0),
        (1, "never", 0),
        (2, "never", 0),
        (3, "never", 0),
        (130, "never", 130),  # an interrupt is not a verdict
    ],
)
def test_fail_on_maps_the_verdict_to_the_process_exit(verdict, fail_on, expected):
    from gates.core.result import process_exit_code, report_only_note

    assert process_exit_code(verdict, fail_on) == expected
    note = report_only_note(verdict, fail_on)
    if verdict != 0 and expected == 0:
        assert note == f"report-only (fail-on: {fail_on}): this verdict does not block"
    else:
        assert note is None


def test_fail_on_rejects_unknown_modes():
    from gates.core.result import process_exit_code

    with pytest.raises(ValueError, match="fail_on must be one of fail, error, never"):
        process_exit_code(1, "sometimes")


def test_log_safe_and_printable_keep_user_text_on_its_line():
    from gates.core.errors import log_safe, printable

    assert log_safe("a\nb\r\x1b[31mc\x85\td") == "a\\nb\\r\\x1b[31mc\\x85\td"
    assert log_safe("  ::error::x") == "»   ::error::x"
    assert log_safe("see ##[warning]x") == "see ## [warning]x"
    assert printable("p.yml: 2 problems:\n  - a: x\n  - b\n::error::y") == (
        "p.yml: 2 problems:\n  - a: x\n  - b\\n::error::y"
    )
