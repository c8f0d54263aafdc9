"""The hash-chained audit trail: appends, verification of edits / deletions / reordering / truncation,
and concurrent appends from several processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gates.core.audit import GENESIS, append, append_results, record_hash, verify
from gates.core.errors import InputError
from gates.core.policy import Policy
from gates.core.result import Check, GateResult, Status
from tests.conftest import clean_environ


def trail(tmp_path: Path, n: int = 5) -> tuple[Path, list[str]]:
    path = tmp_path / "audit.jsonl"
    heads = [append(path, {"kind": "gate", "gate": f"g{i}", "status": "pass"}) for i in range(n)]
    return path, heads


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rewrite(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in items))


def test_append_builds_a_chain(tmp_path):
    path, heads = trail(tmp_path, 3)
    items = records(path)
    assert [r["seq"] for r in items] == [0, 1, 2]
    assert items[0]["prev"] == GENESIS
    assert [r["prev"] for r in items[1:]] == heads[:2]
    assert [r["hash"] for r in items] == heads == [record_hash(r) for r in items]
    result = verify(path)
    assert result.ok and result.records == 3 and result.head == heads[-1]


def test_edited_record_is_named(tmp_path):
    path, _ = trail(tmp_path)
    items = records(path)
    items[2]["status"] = "fail"  # the verdict changed, hash left alone
    rewrite(path, items)
    problems = verify(path).problems
    assert problems == ["line 3 (seq 2): record was edited (its hash does not match)"]


def test_edited_record_with_recomputed_hash_breaks_the_chain(tmp_path):
    path, _ = trail(tmp_path)
    items = records(path)
    items[1]["status"] = "fail"
    items[1]["hash"] = record_hash(items[1])
    rewrite(path, items)
    problems = verify(path).problems
    assert problems == ["line 3 (seq 2): does not follow the record before it (the chain is broken)"]


@pytest.mark.parametrize(("index", "line"), [(0, 1), (2, 3)])
def test_deleted_record_is_named(tmp_path, index, line):
    path, _ = trail(tmp_path)
    items = records(path)
    del items[index]
    rewrite(path, items)
    problems = verify(path).problems
    assert len(problems) == 1
    assert problems[0].startswith(f"line {line}: expected record seq {index}, found {index + 1}")
    assert "deleted, inserted or reordered" in problems[0]


def test_reordered_records_are_named(tmp_path):
    path, _ = trail(tmp_path)
    items = records(path)
    items[1], items[2] = items[2], items[1]
    rewrite(path, items)
    problems = verify(path).problems
    assert problems and all("reordered" in p for p in problems)
    assert problems[0].startswith("line 2: expected record seq 1, found 2")
    assert any(p.startswith("line 3: expected record seq") for p in problems)


def test_truncation_is_caught_only_with_the_expected_head(tmp_path):
    path, heads = trail(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]))
    assert verify(path).ok  # the file alone cannot show it
    result = verify(path, expect_head=heads[-1])
    assert not result.ok
    assert "cut off the end" in result.problems[0]
    assert verify(path, expect_head=heads[2]).ok


def test_damaged_lines_and_missing_file(tmp_path):
    path, _ = trail(tmp_path, 2)
    with path.open("a") as handle:
        handle.write("{not json\n")
        handle.write("[1, 2]\n")
    problems = verify(path).problems
    assert problems == ["line 3: not valid JSON (the record was damaged)", "line 4: not an audit record"]
    with pytest.raises(InputError, match="nope.jsonl: audit trail not found"):
        verify(tmp_path / "nope.jsonl")


def test_append_to_a_damaged_trail_is_an_input_error(tmp_path, cli):
    path, _ = trail(tmp_path, 2)
    with path.open("a") as handle:
        handle.write('{"seq": 2, "truncated\n')
    with pytest.raises(InputError, match="the last record is damaged"):
        append(path, {"kind": "gate"})
    (tmp_path / "lat.csv").write_text("latency_ms\n1\n2\n3\n")
    result = cli("--audit-log", path.name, "latency", "--samples", "lat.csv", "--max-p50", "10")
    assert result.code == 2 and "Traceback" not in result.stderr
    expected = (
        f"mlgate: error: {path.name}: the last record is damaged, so nothing can be chained to it "
        f"(run `mlgate audit verify {path.name}`)"
    )
    assert result.stderr_lines == [expected]


def test_verify_command(cli, tmp_path):
    path, heads = trail(tmp_path)
    result = cli("audit", "verify", path.name)
    assert result.code == 0
    assert result.stdout.strip() == f"audit.jsonl: 5 records, chain intact, head {heads[-1]}"
    result = cli("audit", "verify", path.name, "--expect-head", heads[-1])
    assert result.code == 0

    items = records(path)
    items[3]["gate"] = "forged"
    rewrite(path, items)
    result = cli("audit", "verify", path.name)
    assert result.code == 1
    assert "TAMPERED (1 problem)" in result.stdout
    assert result.stderr_lines == ["audit.jsonl: line 4 (seq 3): record was edited (its hash does not match)"]

    path, heads = trail(tmp_path / "t")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    result = cli("audit", "verify", str(path), "--expect-head", heads[-1])
    assert result.code == 1 and "cut off the end" in result.stderr

    result = cli("audit", "verify", "missing.jsonl")
    assert result.code == 2 and result.stderr_lines == ["mlgate: error: missing.jsonl: audit trail not found"]


WRITER = """
import sys
from pathlib import Path
from gates.core.audit import append
for i in range(int(sys.argv[3])):
    append(Path(sys.argv[1]), {"kind": "gate", "gate": sys.argv[2], "status": "pass", "i": i})
"""


def test_concurrent_appends_keep_the_chain_valid(tmp_path):
    path = tmp_path / "shared" / "audit.jsonl"
    writers, each = 4, 25
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{w}", str(each)], env=clean_environ(), cwd=tmp_path
        )
        for w in range(writers)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * writers
    result = verify(path)
    assert result.ok, result.problems
    assert result.records == writers * each
    items = records(path)
    assert [r["seq"] for r in items] == list(range(writers * each))
    for w in range(writers):
        assert sorted(r["i"] for r in items if r["gate"] == f"w{w}") == list(range(each))


def test_append_results_records_inputs_policy_and_github_context(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    result = GateResult(
        gate="metrics",
        checks=[Check("roc_auc", Status.FAIL, "low")],
        evidence={"inputs": {"/x/preds.csv": "f" * 64}},
    )
    policy = Policy(
        data={"version": 1, "metrics": {"predictions": "p.csv"}}, base_dir=tmp_path, source="gates.yml"
    )
    path = tmp_path / "a.jsonl"
    head = append_results(
        path, [result, GateResult(gate="latency", checks=[Check("p95", Status.PASS, "ok")])], policy
    )
    first, second = records(path)
    assert second["hash"] == head
    assert first["gate"] == "metrics" and first["status"] == "fail"
    assert first["counts"] == {"pass": 0, "warn": 0, "fail": 1, "error": 0}
    assert first["inputs"] == {"/x/preds.csv": "f" * 64}
    assert first["policy"]["source"] == "gates.yml" and len(first["policy"]["sha256"]) == 64
    assert first["github"] == {"sha": "abc123", "actor": "octocat"}
    assert verify(path).ok


def test_gate_runs_append_one_record_per_gate_with_input_hashes(cli, tmp_path):
    (tmp_path / "lat.csv").write_text("latency_ms\n" + "\n".join(str(5 + i % 11) for i in range(200)) + "\n")
    for _ in range(2):
        result = cli(
            "--audit-log",
            "trail.jsonl",
            "latency",
            "--samples",
            "lat.csv",
            "--max-p95",
            "100",
            "--resamples",
            "50",
        )
        assert result.code == 0
    items = records(tmp_path / "trail.jsonl")
    assert [r["seq"] for r in items] == [0, 1]
    assert list(items[0]["inputs"]) == [str(tmp_path / "lat.csv")]
    assert items[0]["inputs"] == items[1]["inputs"]
    assert len(next(iter(items[0]["inputs"].values()))) == 64
    assert cli("audit", "verify", "trail.jsonl").code == 0


def test_records_carry_a_compact_summary_and_the_report_hash(tmp_path):
    import hashlib

    import numpy as np

    canary = GateResult(
        gate="canary",
        checks=[Check("analysis", Status.FAIL, "error rate up")],
        summary={
            "verdict": "rolled_back",
            "image": "ghcr.io/acme/model:1.2.0",
            "step": np.int64(2),
            "weight": 25,
            "ratio": float("nan"),
            "reason": "x" * 500,
            "note": None,
            "queries": [{"q": "sum(rate(...))"}],
            "table": {"a": 1},
            "ok": False,
            "images": ["app:1", "sidecar:2"],
        },
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "mlgate.json").write_text('{"gates": "all the evidence"}\n')
    (reports / "canary.json").write_text('{"gates": "the canary evidence"}\n')
    policy = Policy(data={"version": 1}, base_dir=tmp_path, source="gates.yml")
    path = tmp_path / "a.jsonl"
    head = append_results(path, [canary], policy, report=reports / "mlgate.json")
    (record,) = records(path)
    assert record["hash"] == head and verify(path, expect_head=head).ok
    summary = record["summary"]
    assert summary["verdict"] == "rolled_back" and summary["image"] == "ghcr.io/acme/model:1.2.0"
    assert (
        summary["step"] == 2
        and summary["weight"] == 25
        and summary["ratio"] == "nan"
        and summary["ok"] is False
    )
    assert len(summary["reason"]) == 200 and summary["reason"].endswith("…") and summary["note"] is None
    assert "queries" not in summary and "table" not in summary  # in the report, bound by its hash
    assert summary["images"] == "app:1, sidecar:2" and record["why"] == "error rate up"
    sha = hashlib.sha256((reports / "mlgate.json").read_bytes()).hexdigest()
    assert record["report"] == {"path": str(reports / "mlgate.json"), "sha256": sha}
    assert (
        record["gate_report"]["sha256"] == hashlib.sha256((reports / "canary.json").read_bytes()).hexdigest()
    )
    append_results(tmp_path / "b.jsonl", [canary], policy)  # no report written: no hash to bind
    assert "report" not in records(tmp_path / "b.jsonl")[0]


def test_a_run_prints_and_outputs_the_new_head_for_verify_expect_head(cli, tmp_path):
    import hashlib

    from tests.test_formats import parse_github_output

    (tmp_path / "lat.csv").write_text("latency_ms\n" + "\n".join(str(5 + i % 11) for i in range(200)) + "\n")
    github_output = tmp_path / "github_output"
    result = cli(
        "--audit-log",
        "trail.jsonl",
        "--report-dir",
        "reports",
        "latency",
        "--samples",
        "lat.csv",
        "--max-p95",
        "100",
        "--resamples",
        "50",
        env={"GITHUB_OUTPUT": str(github_output)},
    )
    assert result.code == 0 and result.stderr == ""
    (record,) = records(tmp_path / "trail.jsonl")
    lines = result.stdout.splitlines()
    assert lines[-2:] == [f"mlgate: audit trail trail.jsonl head {record['hash']}", "verdict: latency pass"]
    outputs = parse_github_output(github_output.read_text())
    assert outputs["audit-head"] == record["hash"]
    assert outputs["audit-log"] == str(tmp_path / "trail.jsonl")  # step outputs hold absolute paths
    assert record["summary"] and all(not isinstance(v, (list, dict)) for v in record["summary"].values())
    report = tmp_path / "reports" / "mlgate.json"
    assert record["report"]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    assert cli("audit", "verify", "trail.jsonl", "--expect-head", outputs["audit-head"]).code == 0
    # the kept head of a later run catches that run's record being cut off the end
    first = outputs["audit-head"]
    cli(
        "--audit-log",
        "trail.jsonl",
        "latency",
        "--samples",
        "lat.csv",
        "--max-p95",
        "100",
        "--resamples",
        "50",
        env={"GITHUB_OUTPUT": str(github_output)},
    )
    kept = parse_github_output(github_output.read_text())["audit-head"]
    trail_file = tmp_path / "trail.jsonl"
    trail_file.write_text(trail_file.read_text().splitlines(keepends=True)[0])
    result = cli("audit", "verify", "trail.jsonl", "--expect-head", kept)
    assert result.code == 1 and "cut off the end" in result.stderr
    assert cli("audit", "verify", "trail.jsonl", "--expect-head", first).code == 0
    # an error run keeps stderr to its one error line; the head is still printed and output
    result = cli(
        "--audit-log",
        "trail.jsonl",
        "latency",
        "--samples",
        "missing.csv",
        "--max-p95",
        "100",
        env={"GITHUB_OUTPUT": str(github_output)},
    )
    assert result.code == 2 and len(result.stderr_lines) == 1
    head = records(tmp_path / "trail.jsonl")[-1]["hash"]
    assert f"mlgate: audit trail trail.jsonl head {head}" in result.stdout
    assert parse_github_output(github_output.read_text())["audit-head"] == head
