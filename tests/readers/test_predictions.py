"""Predictions reader: a table turned into validated arrays for one task; errors name file, column and row."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from gates.readers.predictions import load_predictions
from tests.readers.test_table import FRAME, expect_error


def test_load_predictions_validates_task(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"label": [0, 1, 2], "score": [0.1, 0.5, 0.9]}).to_csv(path, index=False)
    expect_error(tmp_path, "holds 3 distinct labels; a binary task needs 2", load_predictions, path, {})
    expect_error(
        tmp_path,
        "label 2 is not one of the declared classes 0, 1",
        load_predictions,
        path,
        {"classes": [0, 1]},
    )
    pd.DataFrame({"label": [0, 1], "p0": [0.2, 0.5], "p1": [0.7, 0.5]}).to_csv(path, index=False)
    expect_error(
        tmp_path,
        "row 1: class probabilities sum to 0.9, expected 1",
        load_predictions,
        path,
        {"task": "multiclass", "columns": {"scores": ["p0", "p1"]}},
    )
    expect_error(
        tmp_path,
        "1 score columns for 2 classes",
        load_predictions,
        path,
        {"task": "multiclass", "classes": [0, 1], "columns": {"scores": ["p0"]}},
    )
    expect_error(tmp_path, "missing column 'prediction'", load_predictions, path, {"task": "regression"})
    expect_error(
        tmp_path,
        "positive_label 5 is not one of the classes",
        load_predictions,
        path,
        {"columns": {"score": "p1"}, "positive_label": 5},
    )


def test_load_predictions_from_gzipped_json_lines(tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        FRAME.to_json(handle, orient="records", lines=True)
    p = load_predictions(path, {"columns": {"id": "id"}})
    np.testing.assert_array_equal(p.y, [0, 1, 1])
    np.testing.assert_allclose(p.score, [0.1, 0.8, 0.6])
    np.testing.assert_array_equal(p.ids, [1, 2, 3])


def test_load_predictions_binary_one_class_is_still_binary(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"label": [1, 1, 1], "score": [0.2, 0.6, 0.9]}).to_csv(path, index=False)
    p = load_predictions(path, {})
    assert p.task == "binary" and p.classes == [0, 1]
    np.testing.assert_array_equal(p.y, [1, 1, 1])
    np.testing.assert_array_equal(p.pred, [0, 1, 1])
