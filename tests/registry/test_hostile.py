"""Never load an unscanned artifact: a registered version whose pickle runs a command (a tampered artifact store)
is refused by the artifact scan before MLflow sees it, and the same files do run the command under MLflow's own
loader, so the refusal is what kept it from running. MLmodel files that would make MLflow import code from
elsewhere are refused too."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
from pathlib import Path

import pytest

from gates.core.errors import InputError
from gates.registry.scoring import check_loader


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tampered(sqlite_registry, tmp_path_factory: pytest.TempPathFactory):
    """Version 1 of `credit-tampered`: the weak pipeline saved as a plain pickle, whose bytes are then replaced."""
    import mlflow
    import mlflow.sklearn
    from sklearn.dummy import DummyClassifier

    root = tmp_path_factory.mktemp("tampered")
    mlflow.set_tracking_uri(sqlite_registry.uri)
    mlflow.set_registry_uri(sqlite_registry.uri)
    client = mlflow.MlflowClient(sqlite_registry.uri)
    experiment = client.create_experiment("tampered", artifact_location=(root / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(
            DummyClassifier().fit([[0], [1]], [0, 1]),
            name="model",
            serialization_format="pickle",
            pip_requirements=["scikit-learn"],
            registered_model_name="credit-tampered",
        )
    stored = next((root / "artifacts").rglob("model.pkl"))
    return sqlite_registry, stored


def test_a_pickle_that_runs_code_is_refused_before_loading(tampered, cli, tmp_path: Path) -> None:
    registry, stored = tampered
    marker = tmp_path / "ran"
    stored.write_bytes(pickle.dumps(_Payload(marker)))
    (tmp_path / "eval.csv").write_bytes(registry.eval_table.read_bytes())
    result = cli(
        "registry", "evaluate", "--tracking-uri", registry.uri, "--candidate", "models:/credit-tampered/1",
        "--data", "eval.csv", "--label-column", "default",
    )  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr
    assert "candidate:load" in result.stdout and not marker.exists()
    assert "metrics" not in result.stdout.split("verdict:")[1]  # no predictions, no metrics verdict

    import mlflow.pyfunc  # the proof: MLflow's loader runs the payload in these very files

    copy = tmp_path / "copy"
    shutil.copytree(stored.parent, copy)
    with contextlib.suppress(Exception):  # os.system's return value is no model; the command ran by then
        mlflow.pyfunc.load_model(str(copy))
    assert marker.exists()


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        ({"loader_module": "mlflow.pyfunc.model", "model_path": "model.pkl"}, "loader_module"),
        ({"loader_module": "mlflow.sklearn", "model_path": "model.pkl", "code": "code"}, "'code'"),
        (
            {"loader_module": "mlflow.sklearn", "model_path": "model.pkl", "model_code_path": "m.py"},
            "model_code",
        ),
        ({"loader_module": "mlflow.sklearn", "model_path": "../elsewhere.pkl"}, "not a scanned model file"),
        (
            {"loader_module": "mlflow.sklearn", "model_path": "model.pkl", "data": "../x.pkl"},
            "data '../x.pkl'",
        ),
        ({"loader_module": "mlflow.sklearn", "model_path": "MLmodel"}, "not a scanned model file"),
        ({"loader_module": "mlflow.sklearn"}, "names no model_path"),
    ],
)
def test_mlmodel_that_would_load_unscanned_code_is_refused(
    tmp_path: Path, flavor: dict, message: str
) -> None:
    import yaml

    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": flavor}}))
    with pytest.raises(InputError, match=message):
        check_loader(tmp_path, {(tmp_path / "model.pkl").resolve()})


def test_an_mlmodel_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    """MLflow's yaml.safe_load keeps the last of two equal keys; mlgate reads none of them rather than guess."""
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
        "    loader_module: evil.module\n"
    )
    with pytest.raises(InputError, match="not a readable MLmodel"):
        check_loader(tmp_path, {(tmp_path / "model.pkl").resolve()})
