"""The policy file: schema assembly, validation errors naming file and key path, and flag overlays."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from gates.commands.session import Session, deep_merge
from gates.core.errors import InputError
from gates.core.policy import load_policy, policy_schema, validate

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


def test_every_problem_is_listed_on_its_own_line(tmp_path):
    path = write(
        tmp_path,
        "version: 1\nmetrics: {predictions: p.csv, task: x, bogus: 1, other: 2,\n"
        "  thresholds: {f1: {min: 2}}}\nmetrix: 1\n",
    )
    with pytest.raises(InputError) as raised:
        load_policy(path)
    lines = str(raised.value).split("\n")
    assert lines[0] == "gates.yml: 4 problems:"
    assert [line[:40] for line in lines[1:]] == [
        line[:40]
        for line in (
            "  - unknown key 'metrix' (expected one of: audit, ",
            "  - metrics: unknown key 'bogus', 'other' (expected one of: baseline, ",
            "  - metrics.task: expected one of 'binary', 'multiclass', 'regression', got 'x'",
            "  - metrics.thresholds.f1.min: expected a number in [0, 1], got 2",
        )
    ]
    assert lines[3] == "  - metrics.task: expected one of 'binary', 'multiclass', 'regression', got 'x'"
    assert lines[4] == "  - metrics.thresholds.f1.min: expected a number in [0, 1], got 2"


def test_every_problem_is_listed_by_the_cli_and_policy_check(cli, tmp_path):
    write(tmp_path, "version: 1\nmetrics: {predictions: p.csv, task: x, thresholds: {f1: {min: 2}}}\n")
    expected = [
        "mlgate: error: gates.yml: 2 problems:",
        "  - metrics.task: expected one of 'binary', 'multiclass', 'regression', got 'x'",
        "  - metrics.thresholds.f1.min: expected a number in [0, 1], got 2",
    ]
    for args in (
        ["policy", "check", "gates.yml"],
        ["--policy", "gates.yml", "metrics"],
        ["run", "--policy", "gates.yml"],
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert result.stderr_lines == expected, args
        assert "Traceback" not in result.stdout + result.stderr


def test_a_key_that_tries_to_start_a_workflow_command_stays_on_its_line(tmp_path):
    path = write(tmp_path, 'version: 1\nmetrics: {predictions: p.csv, "x\\n::error::pwned": 1, task: y}\n')
    with pytest.raises(InputError) as raised:
        load_policy(path)
    lines = str(raised.value).split("\n")
    assert len(lines) == 3 and all(not line.lstrip().startswith("::") for line in lines)
    assert "x\\n::error::pwned" in lines[1]


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


# -- YAML read strictly: duplicate keys, alias bombs, deep nesting ----------------------------------------------
DUPLICATE = """version: 1
metrics:
  thresholds:
    accuracy: {min: 0.99}
  predictions: p.csv
  task: binary
  thresholds:
    accuracy: {min: 0.1}
"""


def test_a_duplicate_key_names_both_lines(tmp_path):
    assert error_of(write(tmp_path, DUPLICATE)) == (
        "gates.yml: duplicate key 'thresholds' at line 7 (first at line 3)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nversion: 1\n", "gates.yml: duplicate key 'version' at line 2 (first at line 1)"),
        (  # deep inside a flow mapping
            "version: 1\nmetrics: {predictions: p.csv, thresholds: {f1: {min: 0.5, min: 0.1}}}\n",
            "gates.yml: duplicate key 'min' at line 2 (first at line 2)",
        ),
        (  # in a list item
            "version: 1\ntests:\n  junit: [a.xml]\n  run:\n    args: [-x]\n    cwd: .\n    cwd: sub\n",
            "gates.yml: duplicate key 'cwd' at line 7 (first at line 6)",
        ),
        (  # equal after YAML 1.1 resolution: both are the boolean true
            "version: 1\ndefaults: {yes: 1, true: 2}\n",
            "gates.yml: duplicate key True at line 2 (first at line 2)",
        ),
    ],
)
def test_duplicate_keys_at_any_depth(tmp_path, text, expected):
    assert error_of(write(tmp_path, text)) == expected


def test_every_duplicate_key_is_listed(tmp_path):
    path = write(tmp_path, "version: 1\nreport_dir: a\nreport_dir: b\nmetrics: {task: binary, task: x}\n")
    with pytest.raises(InputError) as raised:
        load_policy(path)
    assert str(raised.value).split("\n") == [
        "gates.yml: 2 problems:",
        "  - duplicate key 'report_dir' at line 3 (first at line 2)",
        "  - duplicate key 'task' at line 4 (first at line 4)",
    ]


def test_a_duplicate_key_from_the_cli_exits_2_naming_both_lines(cli, tmp_path):
    write(tmp_path, DUPLICATE)
    result = cli("--policy", "gates.yml", "metrics")
    assert result.code == 2
    assert result.stderr_lines == [
        "mlgate: error: gates.yml: duplicate key 'thresholds' at line 7 (first at line 3)"
    ]


def test_merge_keys_may_be_overridden(tmp_path):
    path = write(
        tmp_path,
        "version: 1\ndefaults: {bootstrap: &b {seed: 1, resamples: 10}}\n"
        "metrics:\n  predictions: p.csv\n  bootstrap:\n    <<: *b\n    seed: 2\n",
    )
    assert load_policy(path).section("metrics")["bootstrap"] == {"seed": 2, "resamples": 10}


def billion_laughs(levels: int = 9) -> str:
    lines = ["version: 1", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    import time
    import tracemalloc

    path = write(tmp_path, billion_laughs())
    tracemalloc.start()
    started = time.perf_counter()
    message = error_of(path)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert re.fullmatch(
        r"gates\.yml: line 3, column 10: aliases expand this document by [\d,]{11} nodes, more than the 100,000 allowed "
        r"\(an alias bomb\?\): write the repeated parts out",
        message,
    ), message
    assert elapsed < 5 and peak < 20 * 1024 * 1024


def test_a_few_aliases_are_fine_and_a_recursive_one_is_not(tmp_path):
    path = write(tmp_path, "version: 1\nreport_dir: &r out\naudit: {path: *r}\n")
    assert load_policy(path).data["audit"] == {"path": "out"}
    message = error_of(write(tmp_path, "version: 1\ndefaults: &d {x: [*d]}\n", "loop.yml"))
    assert message == (
        "loop.yml: line 2, column 11: an alias refers to the node that contains it (a recursive document)"
    )


def test_deep_nesting_is_an_error_not_a_crash(tmp_path):
    message = error_of(write(tmp_path, "version: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n"))
    assert re.fullmatch(r"gates\.yml: line 2, column \d+: the YAML is nested too deeply to read", message)


def test_the_shared_loader_reads_multi_document_streams():
    from gates.core import yamlsafe

    assert yamlsafe.load_all("a: 1\n---\nb: [1, 2]\n---\n") == [{"a": 1}, {"b": [1, 2]}, None]
    assert yamlsafe.load("") is None
    with pytest.raises(yamlsafe.DuplicateKeyError, match="duplicate key 'b' at line 4 \\(first at line 3\\)"):
        yamlsafe.load_all("a: 1\n---\nb: 1\nb: 2\n")
    with pytest.raises(yaml.YAMLError):  # every strict refusal is a YAMLError, so callers' handling holds
        yamlsafe.load(billion_laughs())
    with pytest.raises(yaml.constructor.ConstructorError):  # not a SafeLoader escape
        yamlsafe.load("!!python/object/apply:os.system ['true']\n")


def test_no_user_yaml_is_read_with_the_lenient_loaders():
    """Every place in gates/ that reads YAML goes through gates.core.yamlsafe (grep, so a new call site is caught)."""
    offenders = []
    for path in sorted((REPO / "gates").rglob("*.py")):
        if path.name == "yamlsafe.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if (
                re.search(r"yaml\.(safe_load|load|full_load|unsafe_load)(_all)?\(", line)
                and "_LineLoader" not in line
            ):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
            if re.search(r"\(yaml\.(Safe|Full|Unsafe)?Loader\)", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, offenders
