"""The whole registry flow against a real `mlflow server` (mlflow 3.17.2, SQLite backend, proxied artifacts) and
against a plain SQLite store: evaluate challenger against champion, promote on a passing report, tag on a
failing one, roll back, and every change in a verified audit trail."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gates.core.audit import verify

pytestmark = pytest.mark.timeout(240)


def evaluate(cli, registry, *extra: str):
    return cli(
        "registry", "evaluate",
        "--tracking-uri", registry.uri,
        "--model", "credit",
        "--data", registry.eval_table,
        "--label-column", "default",
        "--task", "binary",
        *extra,
    )  # fmt: skip


def audit_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def head_of(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith("mlgate: audit trail"))
    return line.rsplit(" ", 1)[1]


@pytest.mark.parametrize("store", ["server_registry", "sqlite_registry"])
def test_evaluate_promote_rollback(store: str, cli, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    registry = request.getfixturevalue(store)
    weak, strong = registry.versions["weak"], registry.versions["strong"]
    registry.set_aliases(champion=weak, challenger=strong)

    run = evaluate(cli, registry, "--margin", "roc_auc=0.02")
    assert run.code == 0, run.stdout + run.stderr
    assert run.stderr == ""
    report_path = tmp_path / "mlgate-reports" / "mlgate.json"
    report = json.loads(report_path.read_text())
    gates = {g["gate"]: g for g in report["gates"]}
    assert set(gates) == {"registry", "metrics"}
    evidence = gates["registry"]["evidence"]
    assert (evidence["candidate"]["version"], evidence["baseline"]["version"]) == (strong, weak)
    checks = {c["name"]: c for c in gates["registry"]["checks"]}
    assert checks["candidate:scan:model.skops"]["status"] == "pass"  # scanned before it was loaded
    assert checks["candidate:score"]["value"] == 1500
    predictions = Path(evidence["candidate"]["predictions"])
    header = predictions.read_text().splitlines()[0].split(",")
    assert {"default", "score", "prediction", "sex"} <= set(header)
    assert any(c["name"] == "roc_auc_vs_baseline" for c in gates["metrics"]["checks"])
    evaluated_head = head_of(run.stdout)

    promoted = cli("registry", "promote", "--tracking-uri", registry.uri, "--model", "credit",
                   "--report", report_path)  # fmt: skip
    assert promoted.code == 0, promoted.stdout + promoted.stderr
    assert registry.aliases() == {"champion": strong, "challenger": strong}
    tags = registry.tags(strong)
    assert tags["mlgate.verdict"] == "pass"
    kept = tmp_path / "mlgate-reports" / "registry-evidence"
    copy = next(kept.glob("report-*.json"))
    assert tags["mlgate.report_sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert tags["mlgate.audit_head"] == evaluated_head
    assert tags["mlgate.previous.champion"] == weak

    rolled = cli("registry", "rollback", "--tracking-uri", registry.uri, "--model", "credit")
    assert rolled.code == 0, rolled.stdout + rolled.stderr
    assert registry.aliases()["champion"] == weak
    assert "mlgate.rolled_back.champion" in registry.tags(strong)

    trail = tmp_path / "mlgate-reports" / "audit.jsonl"
    assert verify(trail).ok
    actions = [r["summary"].get("action") for r in audit_records(trail) if r["gate"] == "registry"]
    assert actions == [None, "promote", "rollback"]  # evaluate's registry record has no action


def test_failing_report_tags_the_reasons_and_moves_no_alias(server_registry, cli, tmp_path: Path) -> None:
    registry = server_registry
    weak, strong = registry.versions["weak"], registry.versions["strong"]
    registry.set_aliases(champion=strong, challenger=weak)
    run = evaluate(cli, registry, "--min", "roc_auc=0.99", "--margin", "roc_auc=0.02")
    assert run.code == 1, run.stdout + run.stderr
    report = tmp_path / "mlgate-reports" / "mlgate.json"
    refused = cli(
        "registry", "promote", "--tracking-uri", registry.uri, "--model", "credit", "--report", report
    )
    assert refused.code == 1, refused.stdout + refused.stderr
    assert registry.aliases() == {"champion": strong, "challenger": weak}
    tags = registry.tags(weak)
    assert tags["mlgate.verdict"] == "fail"
    assert "metrics/roc_auc" in tags["mlgate.reasons"]
    assert "mlgate.previous.champion" not in tags


def test_a_report_on_another_version_is_refused_before_any_change(
    server_registry, cli, tmp_path: Path
) -> None:
    registry = server_registry
    weak, strong = registry.versions["weak"], registry.versions["strong"]
    registry.set_aliases(champion=weak, challenger=strong)
    assert evaluate(cli, registry, "--gate", "metrics", "--margin", "roc_auc=0.02").code == 0
    registry.set_aliases(challenger=weak)  # the alias moved after the evaluation
    before = registry.tags(weak)
    report = tmp_path / "mlgate-reports" / "mlgate.json"
    refused = cli(
        "registry", "promote", "--tracking-uri", registry.uri, "--model", "credit", "--report", report
    )
    assert refused.code == 2
    assert len(refused.stderr_lines) == 1 and "evaluate again" in refused.stderr
    assert registry.aliases() == {"champion": weak, "challenger": weak}
    assert registry.tags(weak) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "--model", "nosuch"], "'nosuch'"),
        (
            ["promote", "--model", "credit", "--from", "nosuchalias", "--report", "r.json"],
            "no alias 'nosuchalias'",
        ),
        (["evaluate", "--candidate", "models:/credit/99", "--data", "eval.csv"], "99"),
    ],
)
def test_unknown_model_version_or_alias_is_exit_2_in_one_line(
    sqlite_registry, cli, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "eval.csv").write_bytes(sqlite_registry.eval_table.read_bytes())
    (tmp_path / "r.json").write_text(
        json.dumps({"status": "pass", "gates": [{"gate": "metrics", "checks": []}]})
    )
    result = cli("registry", *args, "--tracking-uri", sqlite_registry.uri)
    assert result.code == 2, result.stdout + result.stderr
    assert len(result.stderr_lines) == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
