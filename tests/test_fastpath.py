"""The fast paths give the same answers as scikit-learn, fairlearn and a direct row bootstrap.

- binary_cells (one sort of packed keys, no row-wise unique) finds exactly the cells compress() finds;
- point values through the gates equal scikit-learn / fairlearn on data with ~every score distinct, where the
  bootstrap runs on score-bin cells (gates.stats.bootstrap.coarsen);
- the binned bootstrap of ROC AUC and of average precision matches a direct row-resampling bootstrap in
  distribution; binning moves any resample's AUC by no more than the stated bound, and after the shift each
  resample's AUC and AP are within the stated share of the bootstrap standard deviation of their exact values;
- the bias gate's within-group bootstrap (a per-group rate, demographic parity difference) matches a direct
  bootstrap that redraws rows within each group;
- the vectorised label coding, the column cache and the cached hashing give what the slow paths gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn import metrics as sk

from gates import bias as fairness
from gates import metrics as metrics_gate
from gates.core.context import GateContext, sha256_file
from gates.readers.predictions import Predictions
from gates.readers.table import label_codes, read_table
from gates.stats import metrics as m
from gates.stats.bootstrap import (
    EXACT_CELLS,
    Cells,
    binary_cells,
    bootstrap,
    coarsen,
    compress,
    merge_binary_cells,
    percentile_interval,
    weight_chunks,
)

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def workload(n: int, seed: int = 0, decimals: int | None = None):
    """The benchmark's shape: binary labels, continuous scores, decisions, 2 x 6 intersectional groups."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(2, size=n, p=[0.46, 0.54])
    band = rng.choice(6, size=n, p=[0.12, 0.22, 0.21, 0.19, 0.15, 0.11])
    y = (rng.random(n) < 0.18 + 0.06 * sex + 0.03 * (band == 0)).astype(np.int8)
    score = 1 / (1 + np.exp(-(-1.6 + 2.2 * y + 0.25 * sex - 0.05 * band + rng.normal(0, 1.1, n))))
    if decimals is not None:
        score = np.round(score, decimals)
    pred = (score >= 0.5).astype(np.int8)
    names = {"sex": np.array(["female", "male"])[sex], "age_band": np.array(list("abcdef"))[band]}
    return y, pred, score, names


def sorted_cells(cells: Cells, names: list[str]) -> np.ndarray:
    table = np.column_stack([np.asarray(cells.columns[k], dtype=float) for k in names] + [cells.counts])
    return table[np.lexsort(table.T[::-1])]


# ------------------------------------------------------------------------------------------ tabulation
@pytest.mark.parametrize("decimals", [2, None])
def test_binary_cells_are_the_cells_compress_finds(decimals):
    y, pred, score, names = workload(20_000, seed=1, decimals=decimals)
    pred[::7] = 1 - pred[::7]  # decisions that disagree with the score's side
    group = pd.factorize(names["sex"])[0] * 6 + pd.factorize(names["age_band"])[0]
    fast = binary_cells(y, pred, score, group=group, strata=True)
    slow = compress({"g": group, "score": score, "y": y, "pred": pred}, strata_column="g")
    np.testing.assert_array_equal(
        sorted_cells(fast, ["g", "score", "y", "pred"]), sorted_cells(slow, ["g", "score", "y", "pred"])
    )
    assert fast.order == "g,score" and fast.row_cell is None and fast.rows == 20_000
    for k in np.unique(fast.columns["g"]):  # each group's cells are one run sorted by score
        s = fast.columns["score"][fast.columns["g"] == k]
        assert np.all(np.diff(s) >= 0)
    np.testing.assert_array_equal(fast.strata, fast.columns["g"])
    without_score = binary_cells(y, pred, group=group)
    assert without_score.size <= 48 and without_score.counts.sum() == 20_000


def test_binary_cells_handle_scores_outside_zero_one_and_negative_zero():
    score = np.array([-0.0, 0.0, 2.5, -1.0, 2.5, 0.3])
    y = np.array([1, 0, 1, 0, 1, 0])
    cells = binary_cells(y, y, score)
    assert list(cells.columns["score"]) == [-1.0, 0.0, 0.0, 0.3, 2.5]  # -0.0 and 0.0 are one value
    assert list(cells.counts) == [1, 1, 1, 1, 2]


def test_merged_chunks_equal_cells_of_all_rows():
    y, pred, score, _ = workload(9000, seed=2, decimals=3)
    group = np.arange(9000) % 5
    whole = binary_cells(y, pred, score, group=group, sums={"s": score})
    parts = [
        binary_cells(
            y[a : a + 2000],
            pred[a : a + 2000],
            score[a : a + 2000],
            group=group[a : a + 2000],
            sums={"s": score[a : a + 2000]},
        )
        for a in range(0, 9000, 2000)
    ]
    merged = merge_binary_cells(parts, sums=("s",))
    for name in ("g", "score", "y", "pred"):
        np.testing.assert_array_equal(merged.columns[name], whole.columns[name])
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.columns["s"], whole.columns["s"], rtol=1e-12)


# ---------------------------------------------------------------------------------- point values
def test_metrics_gate_fast_path_equals_sklearn_on_continuous_scores(tmp_path):
    y, pred, score, _ = workload(60_000, seed=3)
    p = Predictions(Path("p.parquet"), "binary", y, pred, score, [0, 1])
    thresholds = {
        k: {"min": 0.0}
        for k in (
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "average_precision",
        )
    }
    thresholds.update(log_loss={"max": 10.0}, brier={"max": 1.0})
    result = metrics_gate.evaluate(
        p, None, {"thresholds": thresholds, "bootstrap": {"resamples": 300}}, ctx(tmp_path)
    )
    values = {c.name: c.value for c in result.checks}
    expected = {
        "accuracy": sk.accuracy_score(y, pred),
        "balanced_accuracy": sk.balanced_accuracy_score(y, pred),
        "precision": sk.precision_score(y, pred),
        "recall": sk.recall_score(y, pred),
        "f1": sk.f1_score(y, pred),
        "roc_auc": sk.roc_auc_score(y, score),
        "average_precision": sk.average_precision_score(y, score),
        "log_loss": sk.log_loss(y, score),
        "brier": sk.brier_score_loss(y, score),
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, rel=1e-10, abs=1e-12), name
    method = result.evidence["bootstrap"]
    assert method["binned"] and method["exact_cells"] > EXACT_CELLS and method["cells"] <= 4 * method["bins"]
    assert method["auc_bound"]["c:roc_auc"] < 2e-3
    assert "score bins" in method["method"]
    for name in expected:  # every interval holds its point value
        check = next(c for c in result.checks if c.name == name)
        assert check.ci[0] <= check.value <= check.ci[1], name


@pytest.mark.parametrize("block", [7, 1 << 18])
def test_point_ranking_in_blocks_of_levels_equals_sklearn(monkeypatch, block):
    monkeypatch.setattr(m, "LEVEL_BLOCK", block)
    for decimals in (2, None):  # tied levels (reduced per block) and one cell per level
        y, pred, score, _ = workload(3000, seed=9, decimals=decimals)
        cells = binary_cells(y, pred, score)
        out = m.ranking_metrics(
            cells.counts[None, :], cells.columns["y"].astype(bool), cells.columns["score"]
        )
        assert out["roc_auc"][0] == pytest.approx(sk.roc_auc_score(y, score), rel=1e-12)
        assert out["average_precision"][0] == pytest.approx(sk.average_precision_score(y, score), rel=1e-12)


def test_bias_fast_path_equals_fairlearn_with_twelve_groups(tmp_path):
    y, pred, score, names = workload(40_000, seed=4)
    frame = pd.DataFrame(names)
    functions = {
        "selection_rate": fairlearn_metrics.selection_rate,
        "accuracy": sk.accuracy_score,
        "true_positive_rate": fairlearn_metrics.true_positive_rate,
        "false_positive_rate": fairlearn_metrics.false_positive_rate,
    }
    section = {
        "sensitive": ["sex", "age_band"],
        "metrics": list(functions) + ["roc_auc"],
        "rules": [
            {"metric": "demographic_parity", "disparity": "difference", "max": 1.0},
            {"metric": "equalized_odds", "disparity": "difference", "max": 1.0},
            {"metric": "roc_auc", "disparity": "difference", "max": 1.0},
        ],
        "bootstrap": {"resamples": 200},
        "min_group_size": 1,
    }
    p = Predictions(Path("p.parquet"), "binary", y, pred, score, [0, 1])
    result = fairness.evaluate(p, names, section, ctx(tmp_path))
    groups = result.evidence["groups"]["sex × age_band"]
    mf = fairlearn_metrics.MetricFrame(
        metrics={**functions, "roc_auc": lambda t, s: sk.roc_auc_score(t, s)},
        y_true=y,
        y_pred=pred,
        sensitive_features=frame,
    )
    mf_score = fairlearn_metrics.MetricFrame(
        metrics=sk.roc_auc_score, y_true=y, y_pred=score, sensitive_features=frame
    )
    assert len([k for k in groups if k != "overall"]) == 12
    for (sex, band), row in mf.by_group.iterrows():
        entry = groups[f"{sex} × {band}"]
        for name in functions:
            assert entry[name]["value"] == pytest.approx(row[name], rel=1e-12), (sex, band, name)
        assert entry["roc_auc"]["value"] == pytest.approx(mf_score.by_group[(sex, band)], rel=1e-12)
    checks = {c.name: c for c in result.checks}
    assert checks["demographic_parity_difference"].value == pytest.approx(
        fairlearn_metrics.demographic_parity_difference(y, pred, sensitive_features=frame), rel=1e-12
    )
    assert checks["equalized_odds_difference"].value == pytest.approx(
        fairlearn_metrics.equalized_odds_difference(y, pred, sensitive_features=frame), rel=1e-12
    )
    assert checks["roc_auc_difference"].value == pytest.approx(mf_score.difference(), rel=1e-12)
    assert "score bins" in result.evidence["bootstrap"]["method"]


# ---------------------------------------------------------------------- the binned bootstrap itself
def test_binned_auc_moves_no_resample_further_than_the_bound():
    y, pred, score, _ = workload(30_000, seed=5)
    exact = binary_cells(y, pred, score)
    coarse, binning = coarsen(exact, bins=64)
    assert binning.bins <= 64 and coarse.size <= 4 * 64
    # map each exact cell to its coarse cell, so one draw over the exact cells weighs both
    nb = binning.bins
    bin_of = np.searchsorted(binning.edges, exact.columns["score"], side="left")
    code = (bin_of * 2 + exact.columns["y"]) * 2 + exact.columns["pred"]
    coarse_code = (coarse.columns["score"].astype(int) * 2 + coarse.columns["y"]) * 2 + coarse.columns["pred"]
    position = {int(c): i for i, c in enumerate(coarse_code)}
    to_coarse = np.array([position[int(c)] for c in code])
    assert nb == binning.bins
    weights = next(weight_chunks(exact, 40, seed=9))
    coarse_weights = np.stack([np.bincount(to_coarse, weights=w, minlength=coarse.size) for w in weights])
    exact_auc = m.ranking_metrics(weights, exact.columns["y"].astype(bool), exact.columns["score"])["roc_auc"]
    binned_auc = m.ranking_metrics(coarse_weights, coarse.columns["y"].astype(bool), coarse.columns["score"])[
        "roc_auc"
    ]
    for b in range(weights.shape[0]):
        pos = np.bincount(
            coarse.columns["score"].astype(int), weights=coarse_weights[b] * coarse.columns["y"], minlength=nb
        )
        neg = np.bincount(
            coarse.columns["score"].astype(int),
            weights=coarse_weights[b] * (1 - coarse.columns["y"]),
            minlength=nb,
        )
        bound = 0.5 * (pos * neg).sum() / (pos.sum() * neg.sum())
        assert abs(exact_auc[b] - binned_auc[b]) <= bound + 1e-12
    # and the offset hardly changes from resample to resample: shifting by the point's offset is enough
    point_exact = m.ranking_metrics(
        exact.counts[None, :], exact.columns["y"].astype(bool), exact.columns["score"]
    )
    point_binned = m.ranking_metrics(
        coarse.counts[None, :], coarse.columns["y"].astype(bool), coarse.columns["score"]
    )
    offset = point_exact["roc_auc"][0] - point_binned["roc_auc"][0]
    assert np.max(np.abs((exact_auc - binned_auc) - offset)) < 2e-4


def direct_row_bootstrap(
    y: np.ndarray, score: np.ndarray, resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """ROC AUC and average precision of `resamples` draws of n rows with replacement, computed on the drawn
    rows' counts (independently of mlgate's code; the first draws are checked against scikit-learn)."""
    n = y.size
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(resamples, n))
    counts = np.stack([np.bincount(r, minlength=n) for r in rows]).astype(np.float64)
    levels, level = np.unique(-score, return_inverse=True)  # descending scores; ties share a level
    pos = np.stack([np.bincount(level, weights=c * y, minlength=levels.size) for c in counts])
    neg = np.stack([np.bincount(level, weights=c * (1 - y), minlength=levels.size) for c in counts])
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    p_total, n_total = tp[:, -1:], fp[:, -1:]
    auc = ((pos * (n_total - fp)).sum(axis=1) + 0.5 * (pos * neg).sum(axis=1)) / (p_total * n_total)[:, 0]
    drawn = tp + fp
    precision = np.divide(tp, drawn, out=np.zeros_like(tp), where=drawn > 0)  # 0 where no row is drawn yet
    ap = (pos / p_total * precision).sum(axis=1)
    for b in range(3):
        assert auc[b] == pytest.approx(sk.roc_auc_score(y[rows[b]], score[rows[b]]), rel=1e-12)
        assert ap[b] == pytest.approx(sk.average_precision_score(y[rows[b]], score[rows[b]]), rel=1e-12)
    return {"roc_auc": auc, "average_precision": ap}


def same_distribution(ours: np.ndarray, direct: np.ndarray) -> None:
    """Quantiles within 0.35 standard deviations, spreads within 12 %, and a KS test that does not reject."""
    qs = [0.025, 0.25, 0.5, 0.75, 0.975]
    spread = direct.std()
    np.testing.assert_allclose(np.quantile(ours, qs), np.quantile(direct, qs), atol=0.35 * spread)
    assert abs(ours.std() - spread) < 0.12 * spread
    assert scipy_stats.ks_2samp(ours, direct).pvalue > 0.01


@pytest.mark.parametrize("paired", [False, True])
def test_binned_bootstrap_matches_direct_row_resampling_in_distribution(tmp_path, paired):
    """Gate intervals (score bins, shifted) of ROC AUC and average precision against the same metrics of rows
    drawn with replacement; paired: the candidate - baseline difference on the same drawn rows."""
    n, resamples = 12_000, 600
    y, pred, score, _ = workload(n, seed=6)
    rng = np.random.default_rng(7)
    base_score = np.clip(score + rng.normal(0, 0.15, n), 0, 1)
    candidate = Predictions(Path("c.csv"), "binary", y, pred, score, [0, 1])
    baseline = (
        Predictions(Path("b.csv"), "binary", y, (base_score >= 0.5).astype(np.int8), base_score, [0, 1])
        if paired
        else None
    )
    point, samples, info = metrics_gate.point_and_samples(candidate, baseline, resamples, seed=11)
    assert info["binned"]
    direct = direct_row_bootstrap(y, score, resamples, seed=12)
    if paired:  # the same draws (same seed) for the baseline
        base = direct_row_bootstrap(y, base_score, resamples, seed=12)
        direct = {k: v - base[k] for k, v in direct.items()}
    for name, exact in (("roc_auc", sk.roc_auc_score), ("average_precision", sk.average_precision_score)):
        key = f"{'d' if paired else 'c'}:{name}"
        assert point[key] == pytest.approx(
            exact(y, score) - (exact(y, base_score) if paired else 0), rel=1e-12
        )
        same_distribution(samples[key], direct[name])


def test_after_the_shift_each_resample_is_within_the_stated_share_of_the_spread():
    """The README's statement: with the gate's 512 bins, a shifted resample's ROC AUC and average precision are
    within a few per cent of the bootstrap standard deviation of the exact values of the same draw
    (bench/results/binning_error.md, 1e6 rows, 1000 resamples: at most 1.2 % for AUC, 3.3 % for AP; here
    30,000 rows, ~60 rows a bin, 100 resamples: 1.2 % and 3.1 %)."""
    y, pred, score, _ = workload(30_000, seed=5)
    exact = binary_cells(y, pred, score)
    coarse, binning = coarsen(exact)
    assert binning.bins == 512
    code = (
        np.searchsorted(binning.edges, exact.columns["score"], side="left") * 2 + exact.columns["y"]
    ) * 2 + exact.columns["pred"]
    coarse_code = (coarse.columns["score"].astype(np.int64) * 2 + coarse.columns["y"]) * 2 + coarse.columns[
        "pred"
    ]
    order = np.argsort(coarse_code)
    to_coarse = order[np.searchsorted(coarse_code[order], code)]
    assert np.array_equal(coarse_code[to_coarse], code)
    weights = next(weight_chunks(exact, 100, seed=9))  # one draw over the exact cells weighs both
    coarse_weights = np.stack([np.bincount(to_coarse, weights=w, minlength=coarse.size) for w in weights])

    def ranking(w, cells):
        return m.ranking_metrics(w, cells.columns["y"].astype(bool), cells.columns["score"])

    exact_values, binned_values = ranking(weights, exact), ranking(coarse_weights, coarse)
    point_exact, point_binned = ranking(exact.counts[None, :], exact), ranking(coarse.counts[None, :], coarse)
    for name, share in (("roc_auc", 0.02), ("average_precision", 0.05)):
        shifted = binned_values[name] + (point_exact[name][0] - point_binned[name][0])
        error = np.abs(shifted - exact_values[name])
        assert error.max() <= share * exact_values[name].std(), name
        assert error.max() < np.abs(binned_values[name] - exact_values[name]).max()  # the shift is what helps


def test_bias_within_group_intervals_match_direct_within_group_resampling(tmp_path, monkeypatch):
    """The bias gate redraws rows within each of the 12 groups (multinomial over its cells); a direct bootstrap
    draws each group's rows with replacement. Compared: the smallest group's selection rate and true positive
    rate, and the demographic parity difference (max - min selection rate over the groups)."""
    n, resamples = 20_000, 500
    y, pred, score, names = workload(n, seed=13)
    captured: dict[str, np.ndarray] = {}
    gate_bootstrap = fairness.bootstrap

    def capture(*args, **kwargs):
        captured.update(gate_bootstrap(*args, **kwargs))
        return captured

    monkeypatch.setattr(fairness, "bootstrap", capture)
    section = {
        "sensitive": ["sex", "age_band"],
        "metrics": ["selection_rate", "true_positive_rate"],
        "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 1.0}],
        "bootstrap": {"resamples": resamples, "seed": 1},
        "min_group_size": 1,
        "plots": False,
    }
    p = Predictions(Path("p.parquet"), "binary", y, pred, score, [0, 1])
    result = fairness.evaluate(p, names, section, ctx(tmp_path))
    labels = [k for k in result.evidence["groups"]["sex × age_band"] if k != "overall"]
    assert labels == [f"{s} × {b}" for s in ("female", "male") for b in "abcdef"]
    code = pd.factorize(names["sex"], sort=True)[0] * 6 + pd.factorize(names["age_band"], sort=True)[0]

    rng = np.random.default_rng(21)
    selection = np.empty((resamples, 12))
    tpr = np.empty((resamples, 12))
    for g in range(12):
        rows = np.flatnonzero(code == g)
        drawn = rows[rng.integers(0, rows.size, size=(resamples, rows.size))]
        selection[:, g] = pred[drawn].mean(axis=1)
        tpr[:, g] = (y[drawn] & pred[drawn]).sum(axis=1) / y[drawn].sum(axis=1)
    smallest = int(np.argmin(np.bincount(code)))
    point = result.evidence["groups"]["sex × age_band"][labels[smallest]]
    assert point["selection_rate"]["value"] == pytest.approx(pred[code == smallest].mean(), rel=1e-12)

    same_distribution(captured["g|sex|age_band|selection_rate"][:, smallest], selection[:, smallest])
    same_distribution(captured["g|sex|age_band|true_positive_rate"][:, smallest], tpr[:, smallest])
    direct_dp = selection.max(axis=1) - selection.min(axis=1)
    same_distribution(captured["r|demographic_parity_difference"], direct_dp)
    # The verdict's interval is not the percentile interval of max - min (biased upward, see
    # tests/stats/test_intervals.py) but the simultaneous one, which holds the point value.
    check = next(c for c in result.checks if c.name == "demographic_parity_difference")
    assert check.details["interval_method"].startswith("simultaneous pairwise intervals")
    assert check.ci[0] <= check.value <= check.ci[1]


def test_exact_cells_are_used_when_few(tmp_path):
    y, pred, score, _ = workload(5000, seed=8, decimals=2)
    p = Predictions(Path("p.csv"), "binary", y, pred, score, [0, 1])
    _, samples, info = metrics_gate.point_and_samples(p, None, 50, seed=0)
    assert not info["binned"] and info["cells"] <= EXACT_CELLS
    cells = compress({"y": y, "pred": pred, "score": score})
    direct = bootstrap(
        cells,
        lambda w: {
            "auc": m.binary(w, cells.columns["y"], cells.columns["pred"], cells.columns["score"])["roc_auc"]
        },
        50,
        seed=0,
    )
    assert percentile_interval(samples["c:roc_auc"], 0.9).low == pytest.approx(
        percentile_interval(direct["auc"], 0.9).low, abs=0.01
    )


# ------------------------------------------------------------------------------------ reading fast
@pytest.mark.parametrize(
    "values",
    [
        [1, 0, 1, 1],
        [True, False, True, True],
        ["1", "0", "1", "1"],
        [1.0, 0.0, 1.0, 1.0],
        np.array([1, 0, 1, 1], dtype=np.int8),
    ],
)
def test_label_codes_fast_path_agrees_with_text_comparison(tmp_path, values):
    frame = pd.DataFrame({"y": values})
    np.testing.assert_array_equal(label_codes(frame, "y", tmp_path / "f.csv", [0, 1]), [1, 0, 1, 1])


def test_column_cache_reads_only_new_columns_and_notices_changes(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25], "c": ["x", "y"]}).to_parquet(path)
    first = read_table(path, ["a", "b"])
    second = read_table(path, ["b", "c"], categorical=["c"])
    assert list(second.columns) == ["b", "c"] and second["c"].dtype == "category"
    np.testing.assert_array_equal(first["b"], second["b"])
    pd.DataFrame({"a": [7, 8, 9], "b": [0.1, 0.2, 0.3], "c": ["x", "y", "z"]}).to_parquet(path)
    assert list(read_table(path, ["a"])["a"]) == [7, 8, 9]


def test_file_hash_is_remembered_until_the_file_changes(tmp_path):
    import hashlib

    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    assert sha256_file(path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two!")
    assert sha256_file(path) == hashlib.sha256(b"two!").hexdigest()
