"""Pictures: PNGs in the report folder, listed as artifacts, embedded in HTML and linked from Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from gates import bias as fairness
from gates import drift
from gates.core.context import GateContext
from gates.formats import (
    Output,
    html,
    markdown,
    plots,
)
from gates.readers.predictions import Predictions

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _pictures_on(monkeypatch):
    monkeypatch.delenv("MLGATE_PLOTS", raising=False)


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def test_group_bars_and_switch_off(tmp_path, monkeypatch):
    out = plots.group_bars(
        tmp_path / "r",
        "bias-x",
        "selection by sex",
        ["female", "male", "other"],
        [0.3, 0.1, float("nan")],
        [(0.25, 0.35), (0.08, 0.12), None],
        [True, True, False],
        [(0.24, "0.8 × highest group")],
        overall=0.2,
    )
    path = Path(out["selection by sex"])
    assert path == tmp_path / "r" / "bias-x.png" and path.read_bytes().startswith(PNG)
    monkeypatch.setenv("MLGATE_PLOTS", "0")
    assert plots.group_bars(tmp_path / "r", "y", "t", ["a"], [0.1], [None], [True]) == {}


def test_bias_and_drift_pictures_reach_html_and_markdown(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    sex = rng.choice(["female", "male"], n)
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < np.where(sex == "female", 0.4, 0.2)).astype(int)
    p = Predictions(Path("p.csv"), "binary", y, pred, None, [0, 1])
    section = {
        "sensitive": ["sex"],
        "four_fifths": True,
        "rules": [{"metric": "equalized_odds", "disparity": "difference", "max": 0.1}],
        "bootstrap": {"resamples": 100},
    }
    bias = fairness.evaluate(p, {"sex": sex}, section, ctx(tmp_path))
    names = sorted(Path(v).name for v in bias.artifacts.values())
    assert names == [
        "bias-equalized_odds_difference-false_positive_rate.png",
        "bias-equalized_odds_difference-true_positive_rate.png",
        "bias-four_fifths-selection_rate.png",
    ]
    pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(list("xyz"), 3000)}).to_parquet(
        tmp_path / "r.parquet"
    )
    pd.DataFrame({"a": rng.normal(1, 1, 2000), "b": rng.choice(list("xy"), 2000)}).to_parquet(
        tmp_path / "c.parquet"
    )
    result = drift.run({"reference": "r.parquet", "current": "c.parquet"}, ctx(tmp_path))
    (picture,) = result.artifacts.values()
    assert Path(picture).name == "drift-histograms.png" and Path(picture).read_bytes().startswith(PNG)
    out = Output(report_dir=tmp_path / "reports", env={})
    page = html.render([bias, result], out)
    assert page.count("data:image/png;base64,") == 4
    summary = markdown.render([bias, result])
    assert "[four_fifths: selection_rate by sex](bias-four_fifths-selection_rate.png)" in summary
    assert (
        "(drift-histograms.png)" in summary and "Groups by sex" in summary and "Drift per column" in summary
    )


def test_metrics_gate_draws_roc_and_precision_recall_curves(tmp_path):
    from gates import metrics as metrics_gate

    rng = np.random.default_rng(1)
    n = 500
    y = rng.integers(0, 2, n)
    for name, noise in (("cand.csv", 0.3), ("base.csv", 0.5)):
        score = np.clip(0.5 * y + rng.normal(0.25, noise, n), 0, 1)
        pd.DataFrame({"id": np.arange(n), "label": y, "score": score}).to_csv(tmp_path / name, index=False)
    section = {
        "predictions": "cand.csv",
        "columns": {"id": "id"},
        "thresholds": {"roc_auc": {"min": 0.5}},
        "baseline": {"predictions": "base.csv", "margins": {"roc_auc": {"absolute": 0.05}}},
        "bootstrap": {"resamples": 50},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    assert sorted(Path(v).name for v in result.artifacts.values()) == [
        "metrics-precision-recall.png",
        "metrics-roc.png",
    ]
    one_class = Predictions(
        Path("x"), "binary", np.zeros(10, int), np.zeros(10, int), np.full(10, 0.2), [0, 1]
    )
    assert plots.metric_curves(one_class, None, tmp_path) == {}  # no curve without both classes
