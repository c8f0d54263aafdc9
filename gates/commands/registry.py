"""`mlgate registry`: the model registry (MLflow) in the loop.

    mlgate registry evaluate --candidate models:/credit@challenger --baseline models:/credit@champion --data eval.csv
    mlgate registry promote --model credit --from challenger --to champion --report mlgate-reports/mlgate.json
    mlgate registry rollback --model credit --alias champion

Every subcommand writes its report through the session (JSON, summary, outputs, JUnit, audit record), also when
it stops on bad input (exit 2) or an unreachable server (exit 3, nothing changed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gates.commands.common import absolute, compact, parse_pairs
from gates.core.errors import InfraError, InputError
from gates.core.result import GateResult, error_result
from gates.core.settings.registry import RegistrySettings

GATE = "registry"


def _session() -> Any:
    return click.get_current_context().obj


def _settings(overrides: dict[str, Any]) -> RegistrySettings:
    settings = _session().settings(GATE, overrides)
    assert isinstance(settings, RegistrySettings)
    return settings


def _store(settings: RegistrySettings, flag: str | None) -> Any:
    from gates.registry.store import RegistryStore, resolve_tracking_uri

    uri = resolve_tracking_uri(flag, settings.tracking_uri, _session().policy.base_dir)
    return RegistryStore(uri, settings.timeout_seconds, settings.retries)


def _finish(work: Any) -> int:
    """Run `work` (returns results) and report; a stop on bad input (2) or a dead server (3) is reported too."""
    try:
        results: list[GateResult] = work()
    except (InputError, InfraError) as exc:
        results = [error_result(GATE, str(exc), exc.exit_code)]
    code: int = _session().finish(results)
    return code


def connection_options(command: Any) -> Any:
    options = [
        click.option(
            "--tracking-uri",
            help="MLflow tracking URI: server URL or sqlite:///FILE (default MLFLOW_TRACKING_URI, else the "
            "policy's registry.tracking_uri, else sqlite:///mlflow.db).",
        ),
        click.option("--timeout", type=int, help="Seconds per request to a tracking server (default 10)."),
        click.option("--retries", type=int, help="Retries of a failed request (default 2)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def registry() -> None:
    """Model registry (MLflow): evaluate registered versions, promote by alias, roll back."""


@registry.command()
@click.option(
    "--candidate", help="Model under review: models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN/FILE."
)
@click.option(
    "--baseline", help="Production model, same forms (default models:/MODEL@champion with --model)."
)
@click.option(
    "--model", help="Registered model: candidate MODEL@challenger, baseline MODEL@champion by default."
)
@click.option("--data", type=click.Path(path_type=Path), help="Evaluation table (csv, parquet, jsonl).")
@click.option(
    "--feature", "features", multiple=True, help="Input column of a model without signature, repeatable."
)
@click.option(
    "--output",
    type=click.Choice(["auto", "score", "prediction"]),
    help="One output value per row is a prediction (auto) or the positive class's probability (score).",
)
@click.option(
    "--gate", "gates", multiple=True, type=click.Choice(["metrics", "bias"]), help="Gate to run, repeatable."
)
@click.option("--label-column", help="Column with the true label (metrics.columns.label; default 'label').")
@click.option("--id-column", help="Id column joining candidate and baseline rows (metrics.columns.id).")
@click.option("--task", type=click.Choice(["binary", "multiclass", "regression"]))
@click.option("--min", "minimums", multiple=True, metavar="METRIC=VALUE", help="Lower threshold, repeatable.")
@click.option(
    "--margin",
    "margins",
    multiple=True,
    metavar="METRIC=VALUE[%]",
    help="Non-inferiority margin, repeatable.",
)
@connection_options
def evaluate(
    candidate, baseline, model, data, features, output, gates, label_column, id_column, task, minimums, margins,
    tracking_uri, timeout, retries,
) -> int:  # fmt: skip
    """Score the evaluation table with candidate and baseline (after the artifact scan), then run the metrics
    and bias gates on the predictions: candidate = challenger, baseline = champion."""
    from gates.commands.metrics import parse_margin

    session = _session()
    overrides = compact(
        {
            "model": model,
            "candidate": candidate,
            "baseline": baseline,
            "data": absolute(data),
            "features": list(features),
            "output": output,
            "gates": list(gates),
            "timeout_seconds": timeout,
            "retries": retries,
        }
    )
    metrics_flags = compact(
        {
            "task": task,
            "columns": compact({"label": label_column, "id": id_column}),
            "thresholds": {name: {"min": value} for name, value in parse_pairs(minimums, "--min").items()},
        }
    )
    if margins:
        metrics_flags["baseline"] = {"margins": parse_pairs(margins, "--margin", parse_margin)}

    try:
        prepared, requests = _prepare(overrides, metrics_flags, tracking_uri)
    except (InputError, InfraError) as exc:
        return int(session.finish([error_result(GATE, str(exc), exc.exit_code)]))
    return int(session.run_gates(requests, before=[prepared]))


def _prepare(
    overrides: dict[str, Any], metrics_flags: dict[str, Any], tracking_uri: str | None
) -> tuple[GateResult, list[tuple[str, dict[str, Any]]]]:
    """The `registry` result (resolve, scan, score) and the metrics / bias runs over its predictions files."""
    from gates.commands.session import deep_merge
    from gates.registry.evaluate import gate_overrides, plan_from, prepare
    from gates.registry.store import resolve_tracking_uri

    session = _session()
    settings = _settings(overrides)
    default = ["metrics", "bias"] if session.policy.section("bias") else ["metrics"]
    chosen: list[str] = list(settings.gates) if settings.gates else default
    metrics = deep_merge(session.policy.section("metrics") or {}, metrics_flags)
    uri = resolve_tracking_uri(tracking_uri, settings.tracking_uri, session.policy.base_dir)
    ctx = session.context()
    prepared, ready = prepare(plan_from(settings.model_dump(exclude_none=True), metrics, uri, ctx), ctx)
    prepared.evidence["inputs"] = dict(ctx.inputs)
    requests = []
    for name, extra in gate_overrides(ready, metrics, chosen):
        if name == "metrics":
            extra = deep_merge(metrics_flags, extra)
            if "predictions" not in extra.get("baseline", {"predictions": True}):
                del extra["baseline"]  # margins given, but no baseline to compare with
        requests.append((name, extra))
    return prepared, requests


@registry.command()
@click.option("--model", help="Registered model name (registry.model).")
@click.option("--from", "source", help="Alias of the version under review (default challenger).")
@click.option("--version", help="Version number to promote instead of --from's.")
@click.option("--to", "target", help="Alias a passing report moves (default champion).")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    required=True,
    help="JSON report the decision rests on (REPORT_DIR/mlgate.json of `registry evaluate`).",
)
@connection_options
def promote(model, source, version, target, report, tracking_uri, timeout, retries) -> int:
    """Move the alias when the report passes (tag the version with verdict, report digest and audit head);
    on a failing report tag the version with the reasons and move nothing."""
    session = _session()

    def work() -> list[GateResult]:
        from gates.registry import promotion
        from gates.registry.references import check_alias

        settings = _settings(compact({"model": model, "timeout_seconds": timeout, "retries": retries}))
        name = _model_name(settings)
        configured = settings.promotion
        from_alias = check_alias(source or (configured.source if configured else "challenger"), "--from")
        to_alias = check_alias(target or (configured.target if configured else "champion"), "--to")
        decided = promotion.read_report(Path(absolute(report) or report))
        head = promotion.audit_head(session.audit_path())
        store = _store(settings, tracking_uri)
        candidate = store.model_version(name, str(version)) if version else store.by_alias(name, from_alias)
        kept = promotion.keep_report(decided, session.resolved_report_dir())
        return [promotion.promote(store, name, candidate, to_alias, decided, head, kept)]

    return _finish(work)


@registry.command()
@click.option("--model", help="Registered model name (registry.model).")
@click.option("--alias", help="Alias to move back (default champion).")
@click.option("--to", "version", help="Version to move it to (default: the one recorded before the current).")
@connection_options
def rollback(model, alias, version, tracking_uri, timeout, retries) -> int:
    """Move the alias back to the version it pointed to before (recorded in a tag and in the audit trail)."""
    session = _session()

    def work() -> list[GateResult]:
        from gates.registry import promotion
        from gates.registry.references import check_alias

        settings = _settings(compact({"model": model, "timeout_seconds": timeout, "retries": retries}))
        name = _model_name(settings)
        configured = settings.promotion
        name_alias = check_alias(alias or (configured.target if configured else "champion"), "--alias")
        promotion.audit_head(session.audit_path())  # a trail that does not verify stops the change
        store = _store(settings, tracking_uri)
        return [promotion.rollback(store, name, name_alias, session.audit_path(), version)]

    return _finish(work)


def _model_name(settings: RegistrySettings) -> str:
    if not settings.model:
        raise InputError("mlgate registry: give --model (or registry.model in the policy)")
    return settings.model
