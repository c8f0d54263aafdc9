"""Score an evaluation table with a registered model, never loading what the artifact scan has not passed.

The order is the point: download the version's files into a fresh folder, run the security gate's artifact scan
on every file there (gates.security.artifacts, the same code as `mlgate security --artifacts`), check that the
MLmodel file would make MLflow load only those scanned bytes (a known loader, no code paths, no model-from-code
script), and only then load the model from that same folder with `mlflow.pyfunc` and predict.

The output becomes the predictions table the metrics and bias gates read (gates/readers/predictions.py): the
evaluation table's columns plus the model's outputs, named as the gates' `columns` expect:
- a 2-column probability matrix (scikit-learn's predict_proba): binary, `score` is the positive class's
  column in sorted label order, `prediction` is score >= decision_threshold (the metrics gate's own rule);
- a wider matrix: multiclass, one `score_<class>` column per class in the declared (or sorted) class order;
- one value per row: `prediction` (a label or a regression value), or `score` when `output: score` says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gates.core import yamlsafe
from gates.core.context import GateContext, sha256_file
from gates.core.errors import InputError
from gates.core.result import Check, Status
from gates.registry.store import RegistryStore, VersionInfo

# pyfunc loader modules whose files the artifact scan reads completely (scikit-learn: pickle, cloudpickle or
# skops). Another flavor's loader would read formats the scan does not judge, so it is refused, not trusted.
SCANNED_LOADERS = ("mlflow.sklearn",)
# MLmodel keys that make MLflow run code that is not the scanned model: extra import paths and model-from-code.
_CODE_KEYS = ("code", "model_code_path")
_PATH_KEYS = ("data", "model_path")  # what the pyfunc flavor makes MLflow open


@dataclass
class Scored:
    """A side (candidate or baseline) turned into a predictions file, and the checks that got it there."""

    predictions: Path
    checks: list[Check] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputColumns:
    """What the gates read: the label, and the names the model's outputs are written under."""

    label: str
    score: str = "score"
    prediction: str = "prediction"
    kind: str = "auto"  # auto | score | prediction: how to read one output value per row
    classes: tuple = ()
    positive_label: Any = None
    decision_threshold: float = 0.5


def scan_model(folder: Path, side: str, ctx: GateContext, allowed_globals: list[str]) -> list[Check]:
    """The security gate's artifact scan over every file of the downloaded version: its checks, named by side."""
    from gates.core.registry import require_extra

    require_extra("scoring a registered model (its files are scanned before loading)", "security")
    from gates.security.artifacts import check

    part = check({"paths": [str(folder)], "allowed_globals": list(allowed_globals)}, ctx, {})
    checks = []
    for item in part.checks:
        label = item.name.split(":", 1)[-1]
        try:
            label = str(Path(label).relative_to(folder))
        except ValueError:
            pass
        item.name = f"{side}:scan:{label}" if item.name.startswith("artifact:") else f"{side}:{item.name}"
        checks.append(item)
    return checks


def check_loader(folder: Path, scanned: set[Path]) -> dict[str, Any]:
    """What MLflow will load from `folder`, refused (InputError) unless it is exactly a scanned file through a
    scanned loader. Returns the pyfunc flavor's settings."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise InputError(f"{folder}: no MLmodel file: not an MLflow model")
    try:
        meta = yamlsafe.load(mlmodel.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:  # a broken file the registry served
        raise InputError(f"{mlmodel}: not a readable MLmodel file ({type(exc).__name__})") from None
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict):
        raise InputError(f"{mlmodel}: the model has no python_function flavor, so mlgate cannot score it")
    loader = pyfunc.get("loader_module")
    if loader not in SCANNED_LOADERS:
        raise InputError(
            f"{mlmodel}: refused to load: loader_module {loader!r} reads files the artifact scan does not "
            f"judge (scored loaders: {', '.join(SCANNED_LOADERS)}); log predictions and use runs:/ instead"
        )
    for key in _CODE_KEYS:
        if pyfunc.get(key) or meta.get(key):
            raise InputError(
                f"{mlmodel}: refused to load: '{key}' would run code that is not the scanned model"
            )
    # MLflow hands the loader folder/`data` when set, and the scikit-learn loader then opens folder/`model_path`:
    # each one given must be a file the scan passed (a path out of the folder, or an unscanned file, is refused).
    given = {key: pyfunc[key] for key in _PATH_KEYS if pyfunc.get(key) is not None}
    if "model_path" not in given:
        raise InputError(f"{mlmodel}: refused to load: the python_function flavor names no model_path")
    for key, value in given.items():
        if (folder / str(value)).resolve() not in scanned:
            raise InputError(f"{mlmodel}: refused to load: {key} {value!r} is not a scanned model file")
    return pyfunc


def load_scanned(folder: Path) -> Any:
    """mlflow.pyfunc.load_model on the local folder the scan passed (nothing is downloaded again)."""
    import mlflow.pyfunc

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    except Exception as exc:  # noqa: BLE001 - a broken artifact or a missing package: one line naming the model
        raise InputError(f"{folder}: the model did not load: {type(exc).__name__}: {exc}") from None


def model_inputs(model: Any, frame: Any, features: list[str], data: Path) -> Any:
    """The columns the model takes: its signature's inputs, else the configured `features`."""
    schema = model.metadata.get_input_schema() if model.metadata else None
    names = list(schema.input_names()) if schema is not None and schema.has_input_names() else []
    if not names:
        if not features:
            raise InputError(
                f"{data}: the model has no input signature: name its input columns with --feature "
                f"(registry.features)"
            )
        names = features
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(
            f"{data}: column {missing[0]!r} is missing: the model takes {', '.join(map(str, names))}"
        )
    inputs = frame[names].copy()
    if schema is not None and names:
        # A CSV reads 33 as an integer where the signature says double; MLflow refuses int64 -> float64 as
        # unsafe, though every value an evaluation table holds converts exactly. Nothing else is converted.
        for spec in schema.inputs:
            kind = str(getattr(spec.type, "name", spec.type))
            if kind in ("double", "float") and inputs[spec.name].dtype.kind in "iu":
                inputs[spec.name] = inputs[spec.name].astype("float64")
    return inputs


def predict(model: Any, inputs: Any, data: Path) -> Any:
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = model.predict(inputs)
    except Exception as exc:  # noqa: BLE001 - the model rejected the table (schema, a bad value): one line
        message = " ".join(str(exc).split())
        message = message.rpartition("Error: ")[2] if "Error: " in message else message  # not the data
        message = message[:300]
        raise InputError(
            f"{data}: the model could not score the table: {type(exc).__name__}: {message}"
        ) from None
    values = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim not in (1, 2) or values.shape[0] != len(inputs):
        raise InputError(
            f"{data}: the model returned shape {values.shape} for {len(inputs)} rows "
            f"(expected one value or one row of class probabilities per row)"
        )
    return values


def output_frame(values: Any, frame: Any, columns: OutputColumns, data: Path) -> tuple[Any, dict[str, Any]]:
    """The model's outputs as columns of the predictions table, and what the gates must read (their
    `columns` and `classes` overrides)."""
    import numpy as np

    from gates.readers.table import infer_classes

    out = frame.copy()
    taken = [c for c in (columns.score, columns.prediction) if c in out.columns]
    if taken:
        raise InputError(
            f"{data}: the table already has a column {taken[0]!r}, where the model's output would go: "
            f"rename it, or map the output elsewhere (metrics.columns)"
        )
    if columns.label not in out.columns:
        raise InputError(f"{data}: label column {columns.label!r} is missing")
    if values.ndim == 2:
        classes = list(columns.classes) or infer_classes(out, columns.label)
        if len(classes) != values.shape[1]:
            raise InputError(
                f"{data}: the model returned {values.shape[1]} class probabilities, but the labels hold "
                f"{len(classes)} classes ({', '.join(map(str, classes))}): declare them in metrics.classes"
            )
        if len(classes) == 2:
            positive = columns.positive_label if columns.positive_label is not None else classes[-1]
            if positive not in classes:
                raise InputError(f"{data}: positive_label {positive!r} is not one of the classes {classes}")
            negative = classes[1 - classes.index(positive)]
            score = values[:, classes.index(positive)].astype(float)
            out[columns.score] = score
            out[columns.prediction] = np.where(score >= columns.decision_threshold, positive, negative)
            return out, {"columns": {"score": columns.score, "prediction": columns.prediction}}
        names = [f"{columns.score}_{c}" for c in classes]
        for index, name in enumerate(names):
            if name in out.columns:
                raise InputError(f"{data}: the table already has a column {name!r}")
            out[name] = values[:, index].astype(float)
        out[columns.prediction] = np.asarray(classes, dtype=object)[values.argmax(axis=1)]
        mapping = {"scores": names, "prediction": columns.prediction}
        return out, {"columns": mapping, "classes": classes}
    if columns.kind == "score":
        score = values.astype(float)
        classes = list(columns.classes) or infer_classes(out, columns.label)
        if len(classes) != 2:
            raise InputError(
                f"{data}: output 'score' is a binary model's probability, but the labels hold {classes}"
            )
        positive = columns.positive_label if columns.positive_label is not None else classes[-1]
        negative = classes[1 - classes.index(positive)] if positive in classes else classes[0]
        out[columns.score] = score
        out[columns.prediction] = np.where(score >= columns.decision_threshold, positive, negative)
        return out, {"columns": {"score": columns.score, "prediction": columns.prediction}}
    out[columns.prediction] = values
    return out, {"columns": {"prediction": columns.prediction}}


def score_version(
    store: RegistryStore,
    info: VersionInfo,
    side: str,
    table: Any,
    data: Path,
    columns: OutputColumns,
    features: list[str],
    work: Path,
    ctx: GateContext,
    allowed_globals: list[str],
) -> tuple[Scored, dict[str, Any]]:
    """Download, scan, check the loader, load, predict and write `work/<side>_predictions.csv`.

    A scan that does not pass returns the scan's checks and no predictions file (`Scored.predictions` does
    not exist): nothing was loaded."""
    folder = store.download_model(info, work / f"{side}-model")
    checks = scan_model(folder, side, ctx, allowed_globals)
    target = work / f"{side}_predictions.csv"
    evidence: dict[str, Any] = {
        **info.evidence(),
        "model_files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
    }
    if any(c.status is not Status.PASS for c in checks):
        checks.append(
            Check(
                name=f"{side}:load",
                status=Status.ERROR,
                why=f"{info.uri} was not loaded: its files did not pass the artifact scan",
            )
        )
        return Scored(target, checks, evidence), {}
    scanned = {Path(c.location.path).resolve() for c in checks if c.location is not None}
    pyfunc = check_loader(folder, scanned)
    model = load_scanned(folder)
    values = predict(model, model_inputs(model, table, features, data), data)
    frame, overrides = output_frame(values, table, columns, data)
    frame.to_csv(target, index=False, lineterminator="\n")
    checks.append(
        Check(
            name=f"{side}:score",
            status=Status.PASS,
            value=len(frame),
            why=f"{info.uri} ({pyfunc['loader_module']}, predict_fn {pyfunc.get('predict_fn', 'predict')}) "
            f"scored {len(frame)} rows of {data.name}",
        )
    )
    evidence.update({"predictions": str(target), "predictions_sha256": sha256_file(target)})
    return Scored(target, checks, evidence), overrides
