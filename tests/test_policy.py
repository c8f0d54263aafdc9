"""The policy file: schema assembly, validation errors naming file and key path, and flag overlays."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gates.errors import InputError
from gates.policy import load_policy, policy_schema, validate
from gates.session import Session, deep_merge

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "gates.yml"


def write(tmp_path: Path, text: str, name: str = "gates.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as raised:
        load_policy(path)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_example_policy_is_valid():
    policy = load_policy(EXAMPLE)
    assert policy.source == "gates.yml"
    assert policy.base_dir == EXAMPLE.parent
    assert policy.gate_sections() == ["tests", "metrics", "latency", "bias", "data", "drift", "security"]
    assert policy.section("metrics")["baseline"]["join_on"] == "applicant_id"
    policy.section("metrics")["task"] = "changed"  # sections are copies
    assert policy.data["metrics"]["task"] == "binary"


def test_schema_is_a_valid_draft_2020_12_schema_with_every_offline_section():
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for section in ("version", "report_dir", "defaults", "audit", "tests", "metrics", "latency"):
        assert section in schema["properties"]
    assert schema["additionalProperties"] is False


METRICS = "version: 1\nmetrics:\n  predictions: p.csv\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            METRICS + "  thresholds:\n    roc_auc: {min: high}\n",
            "gates.yml: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 'high'",
        ),
        (
            METRICS + "  thresholds:\n    roc_auc: {min: 1.5}\n",
            "gates.yml: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 1.5",
        ),
        (
            METRICS + "  thresholds:\n    rocauc: {min: 0.5}\n",
            "gates.yml: metrics.thresholds: unknown key 'rocauc' ",
        ),
        (METRICS + "  bogus: 1\n", "gates.yml: metrics: unknown key 'bogus' (expected one of: baseline, "),
        ("version: 1\nmetrix: {}\n", "gates.yml: unknown key 'metrix'"),
        ("version: 2\n", "gates.yml: version: expected 1, got 2"),
        ("report_dir: out\n", "gates.yml: missing required key 'version'"),
        ("version: 1\nmetrics: {task: binary}\n", "gates.yml: metrics: missing required key 'predictions'"),
        (
            METRICS + "  task: ranking\n",
            "gates.yml: metrics.task: expected one of 'binary', 'multiclass', 'regression', got 'ranking'",
        ),
        (
            METRICS + "  bootstrap: {resamples: many}\n",
            "gates.yml: metrics.bootstrap.resamples: expected a whole number in [0, 100000], got 'many'",
        ),
        (
            METRICS + "  bootstrap: {confidence: 1}\n",
            "gates.yml: metrics.bootstrap.confidence: expected a number in (0.5, 1), got 1",
        ),
        (
            "version: 1\nlatency: {samples: l.csv, max_p95: 0}\n",
            "gates.yml: latency.max_p95: expected a number > 0, got 0",
        ),
        ("version: 1\ntests: {junit: []}\n", "gates.yml: tests.junit: "),
        (
            "version: 1\ndefaults: {decide_on: median}\n",
            "gates.yml: defaults.decide_on: expected one of 'point', ",
        ),
        (
            METRICS
            + "  baseline: {predictions: b.csv, margins: {roc_auc: {absolute: 0.1, relative: 0.1}}}\n",
            "gates.yml: metrics.baseline.margins.roc_auc: ",
        ),
        ("- a\n- b\n", 'gates.yml: expected a mapping, got ["a", "b"]'),
        ("", "gates.yml: the policy file is empty"),
        ("version: 1\nmetrics: {predictions: p.csv\n", "gates.yml: line 3, column 1: expected ',' or '}'"),
        ("version: 1\n\tmetrics: {}\n", "gates.yml: line 2, column 1: found character '\\t'"),
    ],
)
def test_policy_errors_name_file_and_key(tmp_path, text, expected):
    message = error_of(write(tmp_path, text))
    assert message.startswith(expected), message


def test_bad_type_message_is_exactly_the_documented_one(tmp_path):
    path = write(tmp_path, METRICS + "  thresholds:\n    roc_auc: {min: high}\n")
    assert (
        error_of(path) == "gates.yml: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 'high'"
    )


def test_several_problems_are_counted(tmp_path):
    message = error_of(
        write(tmp_path, "version: 1\nmetrics: {predictions: p.csv, task: x, bogus: 1, other: 2}\n")
    )
    assert "unknown key 'bogus', 'other'" in message
    assert message.endswith("(and 1 more problem)")  # task: x


def test_unreadable_policy_files(tmp_path):
    assert error_of(tmp_path / "nope.yml").endswith("nope.yml: policy file not found")
    path = tmp_path / "latin.yml"
    path.write_bytes("version: 1\nreport_dir: caf\xe9\n".encode("latin-1"))
    assert "latin.yml: not UTF-8 text" in error_of(path)


def test_validate_accepts_every_documented_key():
    validate(
        {
            "version": 1,
            "report_dir": "out",
            "audit": {"enabled": False, "path": "a.jsonl"},
            "defaults": {"bootstrap": {"confidence": 0.9, "resamples": 0, "seed": 3}, "decide_on": "bound"},
            "tests": {
                "junit": ["a.xml", "b/*.xml"],
                "coverage": "c.xml",
                "run": {"args": ["-x"], "cwd": ".", "coverage_source": ["pkg"]},
                "max_failures": 0,
                "max_errors": 0,
                "max_skipped": 3,
                "min_tests": 1,
                "min_coverage": 80.5,
            },
            "metrics": {
                "task": "multiclass",
                "predictions": "p.parquet",
                "classes": ["a", "b", 3],
                "columns": {"id": "i", "label": "y", "scores": ["pa", "pb", "p3"], "prediction": "yhat"},
                "positive_label": "a",
                "decision_threshold": 0.4,
                "decide_on": "point",
                "bootstrap": {"resamples": 10},
                "thresholds": {
                    name: {"min": 0.1}
                    for name in (
                        "accuracy",
                        "balanced_accuracy",
                        "precision",
                        "recall",
                        "f1",
                        "precision_macro",
                        "recall_macro",
                        "precision_weighted",
                        "recall_weighted",
                        "f1_macro",
                        "f1_weighted",
                        "roc_auc",
                        "average_precision",
                        "brier",
                        "log_loss",
                        "rmse",
                        "mae",
                        "r2",
                        "mape",
                    )
                },
                "baseline": {
                    "predictions": "b.csv",
                    "columns": {"label": "y"},
                    "join_on": None,
                    "decide_on": "point",
                    "margins": {"f1": {"relative": 0.02}},
                },
            },
            "latency": {
                "samples": "l.csv",
                "column": "ms",
                "unit": "s",
                "max_p50": 1,
                "max_p95": 2,
                "max_p99": 3,
                "max_mean": 1.5,
                "bootstrap": {"seed": 1},
                "decide_on": "bound",
            },
        },
        "test",
    )


def test_schema_command_output_matches_policy_schema(cli):
    result = cli("policy", "schema")
    assert result.code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(policy_schema()))


def test_policy_check_command(cli, tmp_path):
    good = write(tmp_path, METRICS + "  thresholds: {f1: {min: 0.5}}\n")
    result = cli("policy", "check", good)
    assert result.code == 0 and "valid (sections: metrics)" in result.stdout
    bad = write(tmp_path, METRICS + "  thresholds: {f1: {min: high}}\n", "bad.yml")
    result = cli("policy", "check", bad)
    assert result.code == 2
    expected = "mlgate: error: bad.yml: metrics.thresholds.f1.min: expected a number in [0, 1], got 'high'"
    assert result.stderr_lines == [expected]


def test_flags_are_laid_over_the_section_and_validated(tmp_path):
    path = write(tmp_path, METRICS + "  thresholds: {f1: {min: 0.5}, recall: {min: 0.2}}\n")
    session = Session(policy_path=path)
    merged = session.section("metrics", {"thresholds": {"f1": {"max": 0.9}}, "task": "binary"})
    assert merged["thresholds"] == {"f1": {"min": 0.5, "max": 0.9}, "recall": {"min": 0.2}}
    assert merged["predictions"] == "p.csv"
    with pytest.raises(InputError, match=r"^gates.yml \+ command-line flags: metrics.thresholds.f1.min: "):
        session.section("metrics", {"thresholds": {"f1": {"min": 2.0}}})


def test_deep_merge_does_not_mutate():
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    merged = deep_merge(base, {"a": {"b": 3}, "e": {"f": 4}})
    assert merged == {"a": {"b": 3, "c": [1]}, "d": 2, "e": {"f": 4}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 2}


def test_session_paths_follow_the_policy(tmp_path):
    path = write(tmp_path, "version: 1\nreport_dir: out\naudit: {path: trail/audit.jsonl}\n")
    session = Session(policy_path=path)
    assert session.resolved_report_dir() == tmp_path / "out"
    assert session.audit_path() == tmp_path / "trail" / "audit.jsonl"
    assert Session(policy_path=path, audit=False).audit_path() is None
    assert Session(policy_path=path, report_dir=Path("x")).resolved_report_dir() == Path("x")
    path = write(tmp_path, "version: 1\naudit: {enabled: false}\n", "off.yml")
    assert Session(policy_path=path).audit_path() is None
    path = write(tmp_path, "version: 1\nreport_dir: r\n", "default.yml")
    assert Session(policy_path=path).audit_path() == tmp_path / "r" / "audit.jsonl"


def test_example_policy_round_trips_through_yaml():
    data = yaml.safe_load(EXAMPLE.read_text())
    validate(data, "gates.yml")
