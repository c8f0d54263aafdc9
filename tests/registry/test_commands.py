"""The registry commands' edges on a plain SQLite store: logged predictions (runs:/), report-only mode that
relaxes evaluate but never promote, policy keys checked like every section, and the extra named when missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner


def test_logged_predictions_are_read_without_loading_a_model(sqlite_registry, cli, tmp_path: Path) -> None:
    import mlflow
    import pandas as pd

    frame = pd.read_csv(sqlite_registry.eval_table)
    rng_score = (frame["debt_ratio"].rank(pct=True) * 0.8 + 0.1).round(6)
    predictions = tmp_path / "predictions.csv"
    frame.assign(score=rng_score, prediction=(rng_score >= 0.5).astype(int)).to_csv(predictions, index=False)
    mlflow.set_tracking_uri(sqlite_registry.uri)
    experiment = mlflow.MlflowClient(sqlite_registry.uri).create_experiment(
        "logged-predictions", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(predictions), artifact_path="eval")
    result = cli(
        "registry", "evaluate", "--tracking-uri", sqlite_registry.uri, "--gate", "metrics",
        "--candidate", f"runs:/{run.info.run_id}/eval/predictions.csv", "--label-column", "default",
        "--task", "binary", "--min", "roc_auc=0.5",
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "mlgate-reports" / "mlgate.json").read_text())
    registry = next(g for g in report["gates"] if g["gate"] == "registry")
    assert [c["name"] for c in registry["checks"]] == ["candidate:predictions"]
    assert registry["evidence"]["candidate"]["run_id"] == run.info.run_id


def test_report_only_relaxes_evaluate_but_never_promote(sqlite_registry, cli, tmp_path: Path) -> None:
    weak, strong = sqlite_registry.versions["weak"], sqlite_registry.versions["strong"]
    sqlite_registry.set_aliases(champion=strong, challenger=weak)
    common = ["--tracking-uri", sqlite_registry.uri, "--model", "credit"]
    run = cli(
        "--fail-on", "never", "registry", "evaluate", *common, "--data", sqlite_registry.eval_table,
        "--label-column", "default", "--task", "binary", "--min", "roc_auc=0.99", "--margin", "roc_auc=0.02",
    )  # fmt: skip
    assert run.code == 0 and "report-only" in run.stdout  # a gate: relaxable like metrics
    report = tmp_path / "mlgate-reports" / "mlgate.json"
    assert json.loads(report.read_text())["status"] == "fail"
    refused = cli("--fail-on", "never", "registry", "promote", *common, "--report", report)
    assert refused.code == 1, refused.stdout  # a registry change is never report-only
    assert sqlite_registry.aliases()["champion"] == strong


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("registry:\n  candidate: s3://bucket/model\n", "registry.candidate"),
        ("registry:\n  retries: 99\n", "registry.retries"),
        ("registry:\n  promotion: {source: 'bad alias'}\n", "registry.promotion.source"),
    ],
)
def test_policy_keys_are_checked(cli, tmp_path: Path, policy: str, message: str) -> None:
    (tmp_path / "gates.yml").write_text("version: 1\n" + policy)
    result = cli("--policy", "gates.yml", "registry", "rollback", "--model", "credit")
    assert result.code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr_lines) == 1


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from gates.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    result = CliRunner().invoke(cli, ["registry", "rollback", "--model", "credit"])
    assert result.exit_code != 0
    assert "pip install 'mlgate[registry]'" in str(result.exception or result.output)


def test_a_first_release_without_a_champion_is_judged_on_thresholds(sqlite_registry, cli) -> None:
    client = sqlite_registry.client()
    sqlite_registry.set_aliases(challenger=sqlite_registry.versions["strong"])
    client.delete_registered_model_alias("credit", "champion")
    result = cli(
        "registry", "evaluate", "--tracking-uri", sqlite_registry.uri, "--model", "credit",
        "--data", sqlite_registry.eval_table, "--label-column", "default", "--task", "binary",
        "--min", "roc_auc=0.6",
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert "baseline:resolve" in result.stdout and "no 'champion' alias yet" in result.stdout
    assert "baseline:score" not in result.stdout


def test_rollback_finds_the_previous_version_in_the_audit_trail(sqlite_registry, cli, tmp_path: Path) -> None:
    """Without the version's mlgate.previous tag (deleted by hand), the promotion's audit record still says."""
    weak, strong = sqlite_registry.versions["weak"], sqlite_registry.versions["strong"]
    sqlite_registry.set_aliases(champion=weak, challenger=strong)
    report = tmp_path / "run-report.json"  # from `mlgate run`: no registry version in it
    report.write_text(json.dumps({"status": "pass", "gates": [{"gate": "metrics", "checks": []}]}))
    common = ["--tracking-uri", sqlite_registry.uri, "--model", "credit"]
    promoted = cli("registry", "promote", *common, "--report", report)
    assert promoted.code == 0 and "report:binding" in promoted.stdout  # promoted, with the warning
    sqlite_registry.client().delete_model_version_tag("credit", strong, "mlgate.previous.champion")
    rolled = cli("registry", "rollback", *common)
    assert rolled.code == 0, rolled.stdout + rolled.stderr
    evidence = json.loads((tmp_path / "mlgate-reports" / "registry.json").read_text())["gates"][0]["evidence"]
    assert evidence["found_in"] == "the audit trail"
    assert sqlite_registry.aliases()["champion"] == weak
