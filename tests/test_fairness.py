"""Bias gate: every per-group metric and disparity against fairlearn on the same data, and the degenerate cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")

from gates import bias as fairness
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.readers.predictions import Predictions
from gates.stats.bootstrap import compress, weight_chunks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def generated(n: int = 4000, seed: int = 0):
    """Two sensitive features with different base rates and selection rates per group."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n, p=[0.45, 0.55])
    band = rng.choice(["under_30", "30_to_50", "over_50"], size=n, p=[0.3, 0.5, 0.2])
    base = 0.2 + 0.15 * (sex == "female") + 0.1 * (band == "under_30")
    y = (rng.random(n) < base).astype(np.int8)
    score = np.clip(0.35 * y + 0.1 * (sex == "female") + rng.normal(0.3, 0.18, n), 0, 1)
    pred = (score >= 0.5).astype(np.int8)
    return y, pred, score, {"sex": sex, "age_band": band}


def predictions(y, pred, score=None) -> Predictions:
    return Predictions(Path("generated.csv"), "binary", np.asarray(y), np.asarray(pred), score, [0, 1])


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def error_rate(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))


FAIRLEARN_FUNCTIONS = {
    "selection_rate": fairlearn_metrics.selection_rate,
    "true_positive_rate": fairlearn_metrics.true_positive_rate,
    "false_positive_rate": fairlearn_metrics.false_positive_rate,
    "false_negative_rate": fairlearn_metrics.false_negative_rate,
    "true_negative_rate": fairlearn_metrics.true_negative_rate,
    "error_rate": error_rate,
}


def _rule(metric, disparity, relative_to, bound):
    return {
        "metric": metric,
        "disparity": disparity,
        "relative_to": relative_to,
        ("min" if disparity == "ratio" else "max"): bound,
    }


@pytest.mark.parametrize("features", [["sex"], ["sex", "age_band"]])
def test_group_metrics_and_every_disparity_equal_fairlearn(tmp_path, features):
    from sklearn.metrics import accuracy_score, precision_score

    y, pred, _, sensitive = generated()
    sens = {f: sensitive[f] for f in features}
    frame = pd.DataFrame(sens)
    functions = {**FAIRLEARN_FUNCTIONS, "accuracy": accuracy_score, "precision": precision_score}
    rules = []
    for metric in functions:
        for disparity in ("difference", "ratio"):
            for relative_to in ("between_groups", "to_overall"):
                rules.append(_rule(metric, disparity, relative_to, 0.5))
    for criterion in ("demographic_parity", "equal_opportunity", "equalized_odds"):
        for disparity in ("difference", "ratio"):
            for relative_to in ("between_groups", "to_overall"):
                rules.append(_rule(criterion, disparity, relative_to, 0.5))
    section = {
        "sensitive": features,
        "min_group_size": 1,
        "rules": rules,
        "metrics": list(functions),
        "bootstrap": {"resamples": 0},
    }
    result = fairness.evaluate(predictions(y, pred), sens, section, ctx(tmp_path))

    mf = fairlearn_metrics.MetricFrame(metrics=functions, y_true=y, y_pred=pred, sensitive_features=frame)
    key = " × ".join(features)
    groups = result.evidence["groups"][key]
    for metric in functions:
        for labels, expected in mf.by_group[metric].items():
            label = " × ".join(labels) if isinstance(labels, tuple) else labels
            assert_allclose(groups[label][metric]["value"], expected, rtol=1e-12, err_msg=f"{metric} {label}")
        assert_allclose(groups["overall"][metric], mf.overall[metric], rtol=1e-12)
    values = {c.name: c.value for c in result.checks}
    for metric in functions:
        for method in ("between_groups", "to_overall"):
            suffix = "" if method == "between_groups" else "_to_overall"
            assert_allclose(
                values[f"{metric}_difference{suffix}"], mf.difference(method=method)[metric], rtol=1e-12
            )
            assert_allclose(values[f"{metric}_ratio{suffix}"], mf.ratio(method=method)[metric], rtol=1e-12)
    named = {
        "demographic_parity": (
            fairlearn_metrics.demographic_parity_difference,
            fairlearn_metrics.demographic_parity_ratio,
        ),
        "equal_opportunity": (
            fairlearn_metrics.equal_opportunity_difference,
            fairlearn_metrics.equal_opportunity_ratio,
        ),
        "equalized_odds": (
            fairlearn_metrics.equalized_odds_difference,
            fairlearn_metrics.equalized_odds_ratio,
        ),
    }
    if len(features) == 1:
        return  # the named functions are checked once, on the intersections (each costs a MetricFrame)
    for criterion, (difference, ratio) in named.items():
        for method in ("between_groups", "to_overall"):
            suffix = "" if method == "between_groups" else "_to_overall"
            assert_allclose(
                values[f"{criterion}_difference{suffix}"],
                difference(y, pred, sensitive_features=frame, method=method),
                rtol=1e-12,
            )
            assert_allclose(
                values[f"{criterion}_ratio{suffix}"],
                ratio(y, pred, sensitive_features=frame, method=method),
                rtol=1e-12,
            )


def test_metrics_gate_metrics_per_group_equal_scikit_learn(tmp_path):
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    y, pred, score, sensitive = generated(3000, seed=1)
    section = {
        "sensitive": ["sex"],
        "min_group_size": 1,
        "metrics": ["roc_auc", "average_precision", "f1"],
        "rules": [{"metric": "roc_auc", "disparity": "difference", "max": 0.2}],
        "bootstrap": {"resamples": 50},
    }
    result = fairness.evaluate(predictions(y, pred, score), {"sex": sensitive["sex"]}, section, ctx(tmp_path))
    mf = fairlearn_metrics.MetricFrame(
        metrics={"roc_auc": roc_auc_score, "average_precision": average_precision_score},
        y_true=y,
        y_pred=score,
        sensitive_features=sensitive["sex"],
    )
    groups = result.evidence["groups"]["sex"]
    for metric in ("roc_auc", "average_precision"):
        for label, expected in mf.by_group[metric].items():
            assert_allclose(groups[label][metric]["value"], expected, rtol=1e-10)
    f1 = fairlearn_metrics.MetricFrame(
        metrics=f1_score, y_true=y, y_pred=pred, sensitive_features=sensitive["sex"]
    )
    for label, expected in f1.by_group.items():
        assert_allclose(groups[label]["f1"]["value"], expected, rtol=1e-12)
    check = next(c for c in result.checks if c.name == "roc_auc_difference")
    assert_allclose(check.value, mf.difference()["roc_auc"], rtol=1e-10)


def test_intervals_resample_within_groups_and_cover_the_point(tmp_path):
    y, pred, _, sensitive = generated(2000, seed=2)
    codes = fairness.make_groups(sensitive).full_code
    cells = compress({"y": y, "pred": pred, "g": codes}, strata_column="g")
    sizes = np.bincount(codes)
    for weights in weight_chunks(cells, 20, seed=0):
        per_group = np.stack([weights[:, cells.strata == g].sum(axis=1) for g in range(sizes.size)], axis=1)
        assert_allclose(per_group, np.broadcast_to(sizes, per_group.shape))  # every group keeps its size
    section = {"sensitive": ["sex"], "four_fifths": True, "bootstrap": {"resamples": 400, "seed": 3}}
    result = fairness.evaluate(predictions(y, pred), {"sex": sensitive["sex"]}, section, ctx(tmp_path))
    check = next(c for c in result.checks if c.name == "four_fifths")
    assert check.ci is not None and check.ci[0] <= check.value <= check.ci[1]
    again = fairness.evaluate(predictions(y, pred), {"sex": sensitive["sex"]}, section, ctx(tmp_path))
    assert next(c for c in again.checks if c.name == "four_fifths").ci == check.ci  # same seed, same numbers


def test_group_without_positives_has_undefined_tpr_not_zero(tmp_path):
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0] * 5)
    pred = np.array([1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0] * 5)
    group = np.array(["a"] * 4 + ["b"] * 2 + ["c"] * 6 + (["a"] * 4 + ["b"] * 2 + ["c"] * 6) * 4)
    assert y[group == "c"].sum() == 0
    section = {
        "sensitive": ["g"],
        "min_group_size": 5,
        "bootstrap": {"resamples": 50},
        "rules": [
            {"metric": "tpr", "disparity": "difference", "max": 0.5},
            {"metric": "selection_rate", "disparity": "difference", "max": 0.9},
        ],
    }
    result = fairness.evaluate(predictions(y, pred), {"g": group}, section, ctx(tmp_path))
    groups = result.evidence["groups"]["g"]
    assert groups["c"]["true_positive_rate"]["value"] is None  # undefined ...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fairlearn_tpr = fairlearn_metrics.MetricFrame(
            metrics=fairlearn_metrics.true_positive_rate, y_true=y, y_pred=pred, sensitive_features=group
        ).by_group["c"]
    assert fairlearn_tpr == 0  # ... where fairlearn says 0
    assert "undefined" in result.evidence["tables"]["Groups by g"].split("| c |")[1].split("\n")[0]
    tpr = next(c for c in result.checks if c.name == "true_positive_rate_difference")
    assert "c (true_positive_rate undefined (no positive labels))" in tpr.why
    assert tpr.details["judged_groups"] == ["a", "b"]
    selection = next(c for c in result.checks if c.name == "selection_rate_difference")
    assert selection.details["judged_groups"] == ["a", "b", "c"]


def test_small_groups_and_empty_intersections_are_reported_not_judged(tmp_path):
    rng = np.random.default_rng(4)
    n = 600
    sex = np.where(np.arange(n) < 300, "female", "male")
    band = np.where(np.arange(n) % 2 == 0, "young", "old")
    band[(sex == "male")] = "old"  # male × young is empty
    band[:10] = "mid"  # female × mid has 10 rows; male × mid is empty
    y = (rng.random(n) < 0.4).astype(int)
    pred = (rng.random(n) < 0.3).astype(int)
    section = {
        "sensitive": ["sex", "band"],
        "min_group_size": 30,
        "four_fifths": True,
        "bootstrap": {"resamples": 50},
    }
    result = fairness.evaluate(predictions(y, pred), {"sex": sex, "band": band}, section, ctx(tmp_path))
    sizes = next(c for c in result.checks if c.name == "group_sizes[sex × band]")
    assert sizes.status is Status.WARN
    assert "female × mid (n=10)" in sizes.why
    assert "male × young (n=0, empty intersection)" in sizes.why and "male × mid (n=0" in sizes.why
    rule = next(c for c in result.checks if c.name == "four_fifths")
    assert "female × mid (n=10 < min_group_size 30)" in rule.why
    assert "male × young (empty intersection (no rows))" in rule.why
    assert set(rule.details["judged_groups"]) == {"female × old", "female × young", "male × old"}
    table = result.evidence["tables"]["Groups by sex × band"]
    assert "| male × young | 0 | 0 |" in table and "empty intersection" in table
    judged = [g for g in ("female × old", "female × young", "male × old")]
    rates = [result.evidence["groups"]["sex × band"][g]["selection_rate"]["value"] for g in judged]
    assert_allclose(rule.value, min(rates) / max(rates), rtol=1e-12)


def test_fewer_than_two_judged_groups_is_an_error(tmp_path):
    y = np.array([0, 1] * 40)
    pred = np.array([1, 1, 0, 0] * 20)
    group = np.array(["a"] * 75 + ["b"] * 5)
    section = {"sensitive": "g", "min_group_size": 30, "four_fifths": True, "bootstrap": {"resamples": 0}}
    result = fairness.evaluate(predictions(y, pred), {"g": group}, section, ctx(tmp_path))
    rule = next(c for c in result.checks if c.name == "four_fifths")
    assert rule.status is Status.ERROR and "at least two judged groups" in rule.why and "b: n=5" in rule.why
    assert result.status is Status.ERROR


def test_no_rules_is_an_error_not_a_pass(tmp_path):
    y, pred, _, sensitive = generated(500)
    result = fairness.evaluate(
        predictions(y, pred), {"sex": sensitive["sex"]}, {"sensitive": ["sex"]}, ctx(tmp_path)
    )
    assert result.status is Status.ERROR


def test_missing_sensitive_values_are_an_error_unless_a_group_is_named(tmp_path):
    frame = pd.DataFrame(
        {
            "label": [0, 1, 1, 0, 1, 0] * 10,
            "prediction": [0, 1, 0, 0, 1, 1] * 10,
            "sex": ["f", "m", None, "f", "m", None] * 10,
        }
    )
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    section = {
        "predictions": "preds.csv",
        "sensitive": ["sex"],
        "four_fifths": True,
        "min_group_size": 5,
        "bootstrap": {"resamples": 0},
    }
    with pytest.raises(
        InputError, match=r"sensitive column 'sex': 20 rows without a value \(first at row 3\)"
    ):
        fairness.run(section, ctx(tmp_path))
    result = fairness.run({**section, "missing_group": "unknown"}, ctx(tmp_path))
    groups = result.evidence["groups"]["sex"]
    assert groups["unknown"]["n"] == 20 and groups["f"]["n"] == 20


def test_shorthands_and_the_seeds_simple_rule(tmp_path):
    y, pred, _, sensitive = generated(3000, seed=5)
    section = {"sensitive": ["sex"], "four_fifths": True, "max_disparity": 0.1, "bootstrap": {"resamples": 0}}
    result = fairness.evaluate(predictions(y, pred), {"sex": sensitive["sex"]}, section, ctx(tmp_path))
    values = {c.name: c for c in result.checks}
    assert_allclose(
        values["four_fifths"].value,
        fairlearn_metrics.demographic_parity_ratio(y, pred, sensitive_features=sensitive["sex"]),
    )
    mf = fairlearn_metrics.MetricFrame(
        metrics=error_rate, y_true=y, y_pred=pred, sensitive_features=sensitive["sex"]
    )
    assert_allclose(values["error_rate_difference"].value, mf.difference())
    assert values["error_rate_difference"].threshold.startswith("<= 0.1")


def test_rule_validation_names_the_rule(tmp_path):
    y, pred, _, sensitive = generated(300)
    base = {"sensitive": ["sex"], "bootstrap": {"resamples": 0}}
    with pytest.raises(InputError, match=r"bias.rules\[0\]: a difference needs 'max'"):
        fairness.evaluate(
            predictions(y, pred),
            {"sex": sensitive["sex"]},
            {**base, "rules": [{"metric": "tpr", "disparity": "difference", "min": 0.1}]},
            ctx(tmp_path),
        )
    with pytest.raises(InputError, match=r"bias.rules\[0\].sensitive: 'age' not in bias.sensitive"):
        fairness.evaluate(
            predictions(y, pred),
            {"sex": sensitive["sex"]},
            {**base, "rules": [{"metric": "tpr", "max": 0.1, "sensitive": ["age"]}]},
            ctx(tmp_path),
        )


def test_a_million_rows_with_a_thousand_resamples_is_quick(tmp_path):
    import time

    y, pred, _, sensitive = generated(1_000_000, seed=6)
    section = {
        "sensitive": ["sex", "age_band"],
        "four_fifths": True,
        "rules": [{"metric": "equalized_odds", "disparity": "difference", "max": 0.2}],
        "bootstrap": {"resamples": 1000},
    }
    start = time.process_time()
    result = fairness.evaluate(predictions(y, pred), sensitive, section, ctx(tmp_path))
    assert time.process_time() - start < 20  # CPU seconds; about 2 on an idle laptop
    assert next(c for c in result.checks if c.name == "four_fifths").ci is not None


@pytest.mark.skipif(
    not (EXAMPLES / "mitigated_predictions.csv").exists(), reason="example data not generated"
)
def test_example_candidate_fails_and_mitigated_passes(tmp_path):
    section = {
        "predictions": str(EXAMPLES / "candidate_predictions.csv"),
        "columns": {"label": "default", "score": "score", "prediction": "prediction"},
        "sensitive": ["sex"],
        "min_group_size": 30,
        "four_fifths": True,
        "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 0.1}],
        "bootstrap": {"resamples": 200},
    }
    candidate = fairness.run(section, ctx(tmp_path))
    mitigated = fairness.run(
        {**section, "predictions": str(EXAMPLES / "mitigated_predictions.csv")}, ctx(tmp_path)
    )
    assert candidate.status is Status.FAIL
    assert mitigated.status is Status.PASS
    assert_allclose(candidate.summary["four_fifths"], 0.4159, atol=1e-4)
    assert_allclose(mitigated.summary["four_fifths"], 0.9801, atol=1e-4)
