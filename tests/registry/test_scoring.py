"""How a model's output becomes the predictions table the metrics and bias gates read (no MLflow needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates.core.errors import InputError
from gates.readers.predictions import load_predictions
from gates.registry.scoring import OutputColumns, output_frame

DATA = Path("eval.csv")


def test_binary_probabilities_give_score_and_the_gates_own_prediction(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [0, 1, 1, 0], "g": ["a", "b", "a", "b"]})
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5], [0.6, 0.4]])
    out, overrides = output_frame(proba, frame, OutputColumns(label="y", decision_threshold=0.5), DATA)
    assert out["score"].tolist() == [0.1, 0.7, 0.5, 0.4]
    assert out["prediction"].tolist() == [0, 1, 1, 0]  # score >= threshold, as the metrics gate decides
    assert list(out["g"]) == ["a", "b", "a", "b"]  # sensitive columns stay for the bias gate
    path = tmp_path / "p.csv"
    out.to_csv(path, index=False)
    read = load_predictions(path, {"task": "binary", "columns": {"label": "y", **overrides["columns"]}})
    assert read.rows == 4 and np.allclose(read.score, [0.1, 0.7, 0.5, 0.4])


def test_positive_label_picks_its_own_column() -> None:
    frame = pd.DataFrame({"y": ["bad", "good"]})
    proba = np.array([[0.8, 0.2], [0.1, 0.9]])
    columns = OutputColumns(label="y", positive_label="bad")
    out, _ = output_frame(proba, frame, columns, DATA)
    assert out["score"].tolist() == [0.8, 0.1]
    assert out["prediction"].tolist() == ["bad", "good"]


def test_multiclass_writes_one_score_column_per_class_in_class_order() -> None:
    frame = pd.DataFrame({"y": ["c", "a", "b"]})
    proba = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    out, overrides = output_frame(proba, frame, OutputColumns(label="y"), DATA)
    assert overrides == {
        "columns": {"scores": ["score_a", "score_b", "score_c"], "prediction": "prediction"},
        "classes": ["a", "b", "c"],
    }
    assert out["prediction"].tolist() == ["c", "a", "b"]


def test_one_value_per_row_is_a_prediction_unless_declared_a_score() -> None:
    frame = pd.DataFrame({"y": [0, 1]})
    out, overrides = output_frame(np.array([0.2, 0.8]), frame, OutputColumns(label="y"), DATA)
    assert overrides == {"columns": {"prediction": "prediction"}} and "score" not in out
    out, overrides = output_frame(np.array([0.2, 0.8]), frame, OutputColumns(label="y", kind="score"), DATA)
    assert out["score"].tolist() == [0.2, 0.8] and out["prediction"].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("frame", "values", "message"),
    [
        (
            pd.DataFrame({"y": [0, 1], "score": [1, 2]}),
            np.array([[0.5, 0.5]] * 2),
            "already has a column 'score'",
        ),
        (pd.DataFrame({"y": [0, 0]}), np.array([[0.5, 0.5]] * 2), "metrics.classes"),
        (pd.DataFrame({"x": [0, 1]}), np.array([0, 1]), "label column 'y' is missing"),
    ],
)
def test_what_cannot_be_written_faithfully_is_bad_input(frame, values, message: str) -> None:
    with pytest.raises(InputError, match=message):
        output_frame(values, frame, OutputColumns(label="y"), DATA)
