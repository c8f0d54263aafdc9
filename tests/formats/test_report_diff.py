"""`mlgate report diff OLD.json NEW.json`: two real runs of the example's gates (the candidate, then the regressed
candidate), compared as text, Markdown and JSON; unreadable input is one line and exit 2."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.formats import comment
from gates.formats import report_diff as rd
from tests.conftest import clean_environ

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """mlgate.json of `metrics` + `security` on the example (old), and with the regressed candidate (new)."""
    import subprocess
    import sys

    base = tmp_path_factory.mktemp("diff")
    shutil.copytree(EXAMPLES, base / "examples", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    policy = (base / "examples" / "gates.yml").read_text(encoding="utf-8")
    regressed = base / "examples" / "regressed.yml"
    regressed.write_text(
        policy.replace(
            "predictions: data/mitigated_predictions.csv", "predictions: data/regressed_predictions.csv", 1
        ),
        encoding="utf-8",
    )
    out = []
    for name, path in (("old", base / "examples" / "gates.yml"), ("new", regressed)):
        report_dir = base / name
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "gates.cli",
                "--policy",
                str(path),
                "--report-dir",
                str(report_dir),
                "--no-audit",
            ]
            + ["metrics"],
            cwd=base,
            capture_output=True,
            text=True,
            env=clean_environ({"MLGATE_PROGRESS": "off"}),
            timeout=300,
            check=False,
        )
        assert completed.returncode in (0, 1), completed.stderr
        out.append(report_dir / "mlgate.json")
    return out[0], out[1]


def test_a_run_against_itself_has_no_differences(runs, cli):
    old, _ = runs
    result = cli("report", "diff", old, old)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "no differences in verdicts, checks or findings"
    assert "No differences" in cli("report", "diff", old, old, "--format", "markdown").stdout


def test_the_regressed_candidate_shows_the_changed_verdict_and_values(runs, cli):
    old, new = runs
    before, after = rd.load(old), rd.load(new)
    diff = rd.compare(before, after, old, new)
    (gate,) = diff.changed
    assert (gate.gate, gate.old_status, gate.new_status) == ("metrics", "pass", "fail") and diff.worse
    auc = next(c for c in gate.checks if c.name == "roc_auc_vs_baseline")
    old_value = next(c for c in before["gates"][0]["checks"] if c["name"] == "roc_auc_vs_baseline")["value"]
    new_value = next(c for c in after["gates"][0]["checks"] if c["name"] == "roc_auc_vs_baseline")["value"]
    assert auc.delta == pytest.approx(new_value - old_value) and auc.delta < 0
    assert {"status", "value", "ci"} <= set(auc.fields())

    text = cli("report", "diff", old, new)
    assert text.code == 0
    assert text.stdout.startswith("mlgate report diff: pass -> fail (worse)")
    assert "metrics: pass -> fail (changed)" in text.stdout
    assert "roc_auc_vs_baseline" in text.stdout and "(fail)" in text.stdout

    markdown = cli("report", "diff", old, new, "--format", "markdown").stdout
    assert markdown.startswith("### Changes since the previous run: ✅ pass → ❌ fail (worse)\n")
    assert (
        "| metrics | ✅ pass → ❌ fail |" in markdown
        and "<details><summary>Changed checks</summary>" in markdown
    )

    written = Path(old).parent / "diff.json"
    assert cli("report", "diff", old, new, "--format", "json", "--output", written).code == 0
    data = json.loads(written.read_text(encoding="utf-8"))
    assert data["status"] == {"old": "pass", "new": "fail", "worse": True}
    assert data["counts"]["gates_changed"] == 1 and data["counts"]["status_changes"] >= 1


def test_findings_added_and_removed_gates_added_and_removed(runs):
    old, _ = runs
    document = rd.load(old)
    finding = {
        "rule_id": "CVE-2024-0001",
        "level": "error",
        "message": "urllib3 1.26.0: request smuggling",
        "category": "vulns",
        "severity": "high",
        "suppressed": None,
        "properties": {},
        "location": {"path": "requirements.txt", "line": 3},
    }
    security = {
        "gate": "security",
        "status": "fail",
        "counts": {"pass": 0, "warn": 0, "fail": 1, "error": 0},
        "summary": {},
        "checks": [
            {"name": "vulns", "status": "fail", "value": 2, "ci": None, "threshold": "none", "why": "2"}
        ],
        "evidence": {},
        "artifacts": {},
        "findings": [finding, finding],  # the same finding twice counts twice
    }
    before = copy.deepcopy(document)
    before["gates"].append(security)
    after = copy.deepcopy(document)
    fixed = copy.deepcopy(security)
    fixed["findings"] = [finding, {**finding, "rule_id": "CVE-2024-0002"}]
    after["gates"] = [fixed]  # metrics gone, security changed
    diff = rd.compare(before, after)
    changes = {g.gate: g for g in diff.changed}
    assert changes["metrics"].change == "removed" and changes["metrics"].new_status is None
    assert [f["rule_id"] for f in changes["security"].findings_added] == ["CVE-2024-0002"]
    assert [f["rule_id"] for f in changes["security"].findings_removed] == ["CVE-2024-0001"]
    text = comment.diff_markdown(diff)
    assert "<details><summary>Findings added (1)</summary>" in text and "CVE-2024-0002 (high)" in text
    assert "| metrics | ✅ pass → (absent) |" in text
    reverse = rd.compare(after, before)
    assert {g.gate: g.change for g in reverse.changed}["metrics"] == "added"
    assert comment.size(comment.diff_markdown(diff, limit=2_000)) <= 2_400


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"{not json", "not JSON (line 1, column 2"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b'{"schema_version": "1.0"}', "not a valid mlgate report at (top level)"),
        (b"[1, 2]", "not a valid mlgate report"),
        (b'{"a": NaN}', "not an mlgate JSON report (NaN is not JSON)"),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(runs, cli, tmp_path, content, expected):
    old, _ = runs
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = cli("report", "diff", old, bad)
    assert result.code == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr_lines
    assert line.startswith(f"mlgate: error: {bad}: ") and expected in line
    missing = cli("report", "diff", tmp_path / "absent.json", old)
    assert missing.code == 2 and len(missing.stderr_lines) == 1 and "cannot read" in missing.stderr


def test_a_schema_violation_names_where(runs, tmp_path):
    old, _ = runs
    document = rd.load(old)
    document["gates"][0]["checks"][0]["status"] = "maybe"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InputError, match=r"at gates/0/checks/0/status: 'maybe' is not one of"):
        rd.load(broken)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_are_a_report_or_one_input_error(tmp_path, content):
    path = tmp_path / "any.json"
    path.write_bytes(content)
    try:
        document = rd.load(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    else:
        assert rd.compare(document, document).changed == []


def test_deeply_nested_json_is_an_input_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InputError):
        rd.load(path)
