"""`mlgate registry evaluate`: candidate and baseline from the registry turned into the predictions files the
metrics and bias gates already read, so those gates run exactly as they do on files (candidate = challenger,
baseline = champion).

The result of this step is a gate of its own, `registry`, in the same report: which versions the references
resolved to (`promote` later checks that the version it moves is the one judged here), the artifact scan of
each model, and how many rows each scored. A side that could not be turned into predictions leaves no file and
the gates that need it are not run: their verdict would rest on no evidence.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.core.context import GateContext, sha256_file
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.registry.references import Reference, parse
from gates.registry.scoring import OutputColumns, Scored, score_version
from gates.registry.store import RegistryStore

GATE = "registry"


@dataclass
class Plan:
    """What to evaluate, from the policy's `registry` section and the flags."""

    tracking_uri: str
    candidate: Reference
    baseline: Reference | None
    data: Path | None
    features: list[str]
    columns: OutputColumns
    # the baseline came from the default alias, not from the user: a model with no champion yet is judged on
    # its thresholds alone (a warning), where a named baseline that does not exist is an error
    baseline_implied: bool = False
    timeout: int | None = None
    retries: int | None = None
    allowed_globals: tuple[str, ...] = ()


def plan_from(section: dict[str, Any], metrics: dict[str, Any], tracking_uri: str, ctx: GateContext) -> Plan:
    """The plan for `section` (registry settings) with the metrics section naming label, classes and threshold."""
    model = section.get("model")
    promotion = section.get("promotion") or {}
    if not section.get("candidate") and not model:
        raise InputError(
            "mlgate registry evaluate: give --candidate or --model (registry.candidate or registry.model)"
        )
    candidate = parse(
        section.get("candidate") or f"models:/{model}@{promotion.get('source', 'challenger')}",
        "registry.candidate",
    )
    implied = not section.get("baseline") and bool(model)
    baseline_text = section.get("baseline") or (
        f"models:/{model}@{promotion.get('target', 'champion')}" if model else None
    )
    baseline = parse(baseline_text, "registry.baseline") if baseline_text else None
    needs_data = candidate.is_model or (baseline is not None and baseline.is_model)
    data = ctx.path(section["data"], what="evaluation table") if section.get("data") else None
    if needs_data and data is None:
        raise InputError("mlgate registry evaluate: scoring a registered model needs --data (registry.data)")
    names = dict(metrics.get("columns") or {})
    columns = OutputColumns(
        label=names.get("label", "label"),
        score=names.get("score", "score"),
        prediction=names.get("prediction", "prediction"),
        kind=section.get("output", "auto"),
        classes=tuple(metrics.get("classes") or ()),
        positive_label=metrics.get("positive_label"),
        decision_threshold=float(metrics.get("decision_threshold", 0.5)),
    )
    return Plan(
        tracking_uri=tracking_uri,
        candidate=candidate,
        baseline=baseline,
        baseline_implied=implied,
        data=data,
        features=list(section.get("features") or []),
        columns=columns,
        timeout=section.get("timeout_seconds"),
        retries=section.get("retries"),
        allowed_globals=tuple(section.get("allowed_globals") or ()),
    )


def prepare(plan: Plan, ctx: GateContext) -> tuple[GateResult, dict[str, dict[str, Any]]]:
    """Resolve, scan, score. Returns the `registry` result and, per side that produced a predictions file,
    the overrides the metrics and bias gates need to read it ({"candidate": {...}, "baseline": {...}})."""
    result = GateResult(gate=GATE)
    store = RegistryStore(plan.tracking_uri, plan.timeout, plan.retries)
    result.evidence["tracking_uri"] = store.shown
    out_dir = ctx.report_dir / "registry"
    out_dir.mkdir(parents=True, exist_ok=True)
    sides = [("candidate", plan.candidate)]
    if plan.baseline is not None and not _no_champion_yet(store, plan, result):
        sides.append(("baseline", plan.baseline))
    table = None
    if any(ref.is_model for _, ref in sides):
        from gates.readers.table import read_table

        assert plan.data is not None  # plan_from requires it for a model
        table = read_table(plan.data)
    ready: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlgate-registry-") as scratch:
        for side, ref in sides:
            (out_dir / f"{side}_predictions.csv").unlink(missing_ok=True)  # never read last run's file
            if ref.is_model:
                scored, overrides = _scored_model(store, ref, side, table, plan, Path(scratch), ctx)
            else:
                scored, overrides = _logged_predictions(store, ref, side, Path(scratch)), {}
            result.checks += scored.checks
            if scored.predictions.is_file():
                final = out_dir / scored.predictions.name
                scored.predictions.replace(final)
                scored.evidence["predictions"] = str(final)
                ctx.inputs[str(final)] = sha256_file(final)
                ready[side] = {"predictions": str(final), **overrides}
            result.evidence[side] = {"reference": ref.text, **scored.evidence}
    versions = [result.evidence[side].get("version") for side, _ in sides]
    if len(versions) == 2 and versions[0] and versions[0] == versions[1]:
        result.checks.append(
            Check(
                name="candidate:baseline",
                status=Status.WARN,
                why=f"candidate and baseline are the same version ({versions[0]}): the comparison cannot "
                f"show a difference",
            )
        )
    result.summary = {side: result.evidence[side].get("version") or ref.text for side, ref in sides}
    if table is not None:
        result.summary["rows"] = len(table)
    return result, ready


def _no_champion_yet(store: RegistryStore, plan: Plan, result: GateResult) -> bool:
    """True (and a warning) when the default baseline alias does not exist yet: the model's first release."""
    ref = plan.baseline
    if (
        ref is None
        or not plan.baseline_implied
        or ref.kind != "alias"
        or ref.alias in store.aliases(ref.name)
    ):
        return False
    result.checks.append(
        Check(
            name="baseline:resolve",
            status=Status.WARN,
            why=f"{ref.name!r} has no {ref.alias!r} alias yet (a first release): the candidate is judged on "
            f"its thresholds alone, with no baseline comparison",
        )
    )
    return True


def _scored_model(
    store: RegistryStore, ref: Reference, side: str, table: Any, plan: Plan, scratch: Path, ctx: GateContext
) -> tuple[Scored, dict[str, Any]]:
    info = store.resolve(ref)
    resolved = Check(
        name=f"{side}:resolve",
        status=Status.PASS,
        value=info.version,
        why=f"{ref.text} is version {info.version} of {info.name!r} (run {info.run_id or 'none'})",
    )
    assert plan.data is not None
    scored, overrides = score_version(
        store, info, side, table, plan.data, plan.columns, plan.features, scratch, ctx,
        list(plan.allowed_globals),
    )  # fmt: skip
    scored.checks.insert(0, resolved)
    return scored, overrides


def _logged_predictions(store: RegistryStore, ref: Reference, side: str, scratch: Path) -> Scored:
    """A run's logged predictions file (a table: read by the gates, never loaded as code)."""
    local = store.download_run_file(ref, scratch / side)
    final = local.with_name(f"{side}_predictions{local.suffix.lower()}")
    local.replace(final)
    size = final.stat().st_size
    check = Check(
        name=f"{side}:predictions",
        status=Status.PASS,
        value=size,
        why=f"{ref.text}: predictions logged by run {ref.run_id} ({size} bytes)",
    )
    return Scored(final, [check], {"run_id": ref.run_id, "path": ref.path})


def gate_overrides(
    ready: dict[str, dict[str, Any]], metrics: dict[str, Any], gates: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The metrics and bias runs over the predictions files: the candidate's file (its output columns when a
    model scored it), and for metrics the baseline's file."""
    if "candidate" not in ready:
        return []
    candidate = ready["candidate"]
    scored_columns = {k: v for k, v in candidate.items() if k in ("columns", "classes")}
    requests: list[tuple[str, dict[str, Any]]] = []
    for gate in gates:
        overrides: dict[str, Any] = {"predictions": candidate["predictions"], **scored_columns}
        if gate == "metrics" and "baseline" in ready:
            baseline = ready["baseline"]
            spec: dict[str, Any] = {"predictions": baseline["predictions"]}
            if "columns" in baseline and "columns" not in candidate:
                spec["columns"] = {**(metrics.get("columns") or {}), **baseline["columns"]}
            overrides["baseline"] = spec
        if gate == "bias":
            overrides.pop("classes", None)
            if "columns" in overrides:
                overrides["columns"] = {
                    k: v for k, v in overrides["columns"].items() if k in ("score", "prediction")
                }
        requests.append((gate, overrides))
    return requests
