"""The streaming path: chunked reading into mergeable cells gives the in-memory answers, with bounded memory.

- exact mode: the same point values and the same intervals as the in-memory gate (Parquet, CSV, JSON Lines),
  for the metrics gate and for the bias gate;
- past `max_cells` scores go onto a grid: counts and losses stay exact, ROC AUC stays within the stated bound;
- errors name the row of the file, not of the chunk; what is not streamed says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from gates import bias as fairness
from gates import metrics as metrics_gate
from gates.bias import Coded
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.engine import local as streaming

BOOT = {"resamples": 200, "seed": 3}
COLUMNS = {"label": "label", "score": "score", "prediction": "prediction"}


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def frame(n: int = 30_000, seed: int = 0, decimals: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n)
    band = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    label = (rng.random(n) < 0.25 + 0.1 * (sex == "female")).astype(int)
    score = 1 / (1 + np.exp(-(-1.2 + 2.0 * label + rng.normal(0, 1.0, n))))
    if decimals is not None:
        score = np.round(score, decimals)
    return pd.DataFrame(
        {
            "label": label,
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "sex": sex,
            "age_band": band,
        }
    )


def write(data: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        data.to_parquet(path, index=False, row_group_size=7000)
    elif path.suffix == ".jsonl":
        data.to_json(path, orient="records", lines=True)
    else:
        data.to_csv(path, index=False)
    return path


def metrics_section(path: Path, stream) -> dict:
    thresholds = {
        name: {"min": 0.0} for name in ("accuracy", "f1", "roc_auc", "average_precision", "precision")
    }
    thresholds.update(log_loss={"max": 5.0}, brier={"max": 1.0})
    return {
        "predictions": str(path),
        "columns": COLUMNS,
        "bootstrap": BOOT,
        "thresholds": thresholds,
        "streaming": stream,
    }


def bias_section(path: Path, stream, metrics=("selection_rate", "accuracy", "true_positive_rate")) -> dict:
    return {
        "predictions": str(path),
        "columns": COLUMNS,
        "sensitive": ["sex", "age_band"],
        "plots": False,
        "metrics": list(metrics),
        "bootstrap": BOOT,
        "streaming": stream,
        "rules": [{"metric": "demographic_parity", "max": 1.0}, {"metric": "equalized_odds", "max": 1.0}],
    }


def outcome(result) -> dict:
    return {c.name: (c.value, c.ci, c.status) for c in result.checks}


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_streamed_metrics_equal_in_memory_exactly(tmp_path, suffix):
    data = frame()
    path = write(data, tmp_path / f"p{suffix}")
    in_memory = metrics_gate.run(metrics_section(path, False), ctx(tmp_path))
    streamed = metrics_gate.run(metrics_section(path, {"enabled": True, "batch_rows": 4000}), ctx(tmp_path))
    assert outcome(streamed) == outcome(in_memory)  # same values, same intervals, bit for bit
    assert streamed.evidence["streaming"]["exact"] and streamed.evidence["streaming"]["batches"] == 8
    assert streamed.evidence["confusion_matrix"] == in_memory.evidence["confusion_matrix"]
    assert outcome(streamed)["roc_auc"][0] == pytest.approx(
        sk.roc_auc_score(data.label, data.score), rel=1e-12
    )


@pytest.mark.parametrize("with_score", [False, True])
def test_streamed_bias_equals_in_memory_exactly(tmp_path, with_score):
    path = write(frame(seed=1), tmp_path / "p.parquet")
    metrics = ("selection_rate", "accuracy", "roc_auc") if with_score else ("selection_rate", "accuracy")
    in_memory = fairness.run(bias_section(path, False, metrics), ctx(tmp_path))
    streamed = fairness.run(bias_section(path, {"enabled": True, "batch_rows": 5000}, metrics), ctx(tmp_path))
    assert outcome(streamed) == outcome(in_memory)
    assert streamed.evidence["groups"] == in_memory.evidence["groups"]
    assert streamed.evidence["levels"] == in_memory.evidence["levels"]


def test_past_max_cells_scores_go_on_a_grid_with_exact_counts_and_losses(tmp_path):
    data = frame(n=40_000, seed=2)
    path = write(data, tmp_path / "p.parquet")
    result = metrics_gate.run(
        metrics_section(path, {"enabled": True, "batch_rows": 5000, "max_cells": 4096}), ctx(tmp_path)
    )
    info = result.evidence["streaming"]
    assert not info["exact"] and info["score_grid"].startswith("2^-") and info["cells"] <= 4096
    values = {c.name: c.value for c in result.checks}
    assert values["accuracy"] == pytest.approx(sk.accuracy_score(data.label, data.prediction), rel=1e-12)
    assert values["f1"] == pytest.approx(sk.f1_score(data.label, data.prediction), rel=1e-12)
    assert values["log_loss"] == pytest.approx(sk.log_loss(data.label, data.score), rel=1e-9)
    assert values["brier"] == pytest.approx(sk.brier_score_loss(data.label, data.score), rel=1e-9)
    exact_auc = sk.roc_auc_score(data.label, data.score)
    assert abs(values["roc_auc"] - exact_auc) <= info["roc_auc_bound"] + 1e-12
    assert 0 < info["roc_auc_bound"] < 0.01 and "grid" in info["note"]


def test_the_table_stays_bounded_while_chunks_arrive(monkeypatch):
    rng = np.random.default_rng(4)
    max_cells, n = 3000, 2000
    accumulator = streaming.Accumulator(["g"], max_cells=max_cells)
    merged_sizes = []
    merge = streaming.Accumulator._merge

    def watched(self):
        merge(self)
        merged_sizes.append(sum(p.size for p in self.parts))

    monkeypatch.setattr(streaming.Accumulator, "_merge", watched)
    for _ in range(30):
        y = rng.integers(0, 2, n)
        score = rng.random(n)
        accumulator.add(y, (score > 0.5).astype(int), score, [Coded(rng.integers(0, 3, n), ["x", "y", "z"])])
        assert sum(p.size for p in accumulator.parts) <= max_cells + n  # the table and at most one batch
    cells, levels = accumulator.finish()
    assert merged_sizes and max(merged_sizes) <= max_cells  # every merge, the last one in finish() too
    assert cells.counts.sum() == 60_000 and levels == {"g": ["x", "y", "z"]}
    assert accumulator.grid is not None and cells.size <= max_cells


@pytest.mark.parametrize("gate", ["metrics", "bias"])
def test_the_cells_never_pass_max_cells_and_the_report_then_says_approximate(tmp_path, gate):
    """5000 distinct scores read 1000 rows at a time with max_cells 4000: the held cells pass max_cells only at
    the last batch (before, a table of up to 1.5 x max_cells was kept as is, even at the end, and called
    exact). With max_cells 5000 every cell fits and the answer is exact."""
    data = frame(n=5000, seed=5)
    path = write(data, tmp_path / "p.parquet")

    def run(max_cells):
        stream = {"enabled": True, "batch_rows": 1000, "max_cells": max_cells}
        if gate == "metrics":
            return metrics_gate.run(metrics_section(path, stream), ctx(tmp_path))
        return fairness.run(bias_section(path, stream), ctx(tmp_path))

    approximate = run(4000)
    info = approximate.evidence["streaming"]
    assert info["cells"] <= 4000 and info["exact"] is False and info["score_grid"].startswith("2^-")
    if gate == "metrics":
        auc = {c.name: c.value for c in approximate.checks}["roc_auc"]
        exact_auc = sk.roc_auc_score(data.label, data.score)
        assert 0 < info["roc_auc_bound"] < 0.01 and abs(auc - exact_auc) <= info["roc_auc_bound"] + 1e-12
        assert "grid" in info["note"] and "ROC AUC within" in info["note"]
    fits = run(5000).evidence["streaming"]
    assert fits["exact"] is True and fits["cells"] <= 5000 and "score_grid" not in fits


def test_errors_name_the_row_of_the_file_not_of_the_chunk(tmp_path):
    data = frame(n=3000)
    data["score"] = data["score"].astype(object)
    data.loc[2499, "score"] = "high"
    path = write(data, tmp_path / "p.csv")
    with pytest.raises(InputError, match=r"column 'score' row 2500: expected a number, got 'high'"):
        metrics_gate.run(metrics_section(path, {"enabled": True, "batch_rows": 1000}), ctx(tmp_path))
    data = frame(n=3000)
    data["sex"] = data["sex"].astype(object)
    data.loc[1700, "sex"] = None
    path = write(data, tmp_path / "q.parquet")
    with pytest.raises(
        InputError, match=r"sensitive column 'sex': 1 row without a value \(first at row 1701\)"
    ):
        fairness.run(bias_section(path, {"enabled": True, "batch_rows": 1000}), ctx(tmp_path))


def test_classes_and_positive_label_are_found_across_chunks(tmp_path):
    data = frame(n=4000)
    data["label"] = np.where(data.label == 1, "default", "paid")
    data["prediction"] = np.where(data.prediction == 1, "default", "paid")
    path = write(data, tmp_path / "p.csv")
    section = {**metrics_section(path, {"enabled": True, "batch_rows": 1000}), "positive_label": "default"}
    streamed = metrics_gate.run(section, ctx(tmp_path))
    in_memory = metrics_gate.run({**section, "streaming": False}, ctx(tmp_path))
    assert outcome(streamed) == outcome(in_memory)
    assert streamed.evidence["classes"] == ["paid", "default"]


def test_what_is_not_streamed_says_so(tmp_path):
    path = write(frame(n=500), tmp_path / "p.csv")
    with pytest.raises(InputError, match=r"metrics.streaming: only binary predictions"):
        metrics_gate.run(
            {**metrics_section(path, True), "task": "multiclass", "thresholds": {}}, ctx(tmp_path)
        )
    with pytest.raises(InputError, match=r"baseline comparison needs both files"):
        metrics_gate.run(
            {**metrics_section(path, True), "baseline": {"predictions": str(path)}}, ctx(tmp_path)
        )
    # auto leaves small files, other tasks and the baseline to the in-memory path
    assert not streaming.wanted({"streaming": "auto"}, path)
    assert not streaming.wanted({"task": "regression"}, path)


def test_auto_streams_large_parquet_files(tmp_path, monkeypatch):
    path = write(frame(n=3000), tmp_path / "p.parquet")
    assert not streaming.wanted({}, path)
    monkeypatch.setattr(streaming, "AUTO_ROWS", 1000)
    assert streaming.wanted({}, path) and not streaming.wanted({"streaming": False}, path)
    result = metrics_gate.run(metrics_section(path, "auto"), ctx(tmp_path))
    assert result.evidence["streaming"]["exact"]


def test_policy_and_command_line_turn_streaming_on(tmp_path, cli):
    path = write(frame(n=2000), tmp_path / "p.parquet")
    policy = tmp_path / "gates.yml"
    policy.write_text(
        "version: 1\nmetrics:\n  predictions: p.parquet\n  streaming: {enabled: true, batch_rows: 1000}\n"
        "  thresholds: {roc_auc: {min: 0.5}}\n  bootstrap: {resamples: 50}\n"
    )
    assert cli("--policy", policy, "--no-audit", "run").code == 0
    report = json.loads((tmp_path / "mlgate-reports" / "metrics.json").read_text())["gates"][0]
    assert report["evidence"]["streaming"]["batches"] == 2
    result = cli(
        "--no-audit",
        "bias",
        "--predictions",
        path,
        "--sensitive",
        "sex",
        "--four-fifths",
        "--streaming",
        "--resamples",
        "50",
        "--no-plots",
    )
    assert result.code in (0, 1), result.stderr
    report = json.loads((tmp_path / "mlgate-reports" / "bias.json").read_text())["gates"][0]
    assert report["evidence"]["streaming"]["exact"]
