"""The metrics gate on files: thresholds, the paired baseline comparison, alignment, degenerate data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from gates import metrics as metrics_gate
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.stats.intervals import delong

FAST = {"resamples": 200, "seed": 0}


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def write_binary(path: Path, n: int = 400, seed: int = 0, strength: float = 0.35, ids=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score = np.round(np.clip(strength * label + rng.uniform(0, 1 - strength, n), 0, 1), 3)
    frame = pd.DataFrame({"id": np.arange(n) if ids is None else ids, "label": label, "score": score})
    frame.to_csv(path, index=False)
    return frame


def checks(result) -> dict:
    return {c.name: c for c in result.checks}


def test_thresholds_pass_with_sklearn_values_and_intervals(tmp_path):
    frame = write_binary(tmp_path / "cand.csv")
    section = {
        "predictions": "cand.csv",
        "thresholds": {"roc_auc": {"min": 0.6}, "brier": {"max": 0.3}, "accuracy": {"min": 0.55}},
        "bootstrap": FAST,
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    by_name = checks(result)
    assert result.status is Status.PASS, [c.why for c in result.checks]
    assert by_name["roc_auc"].value == pytest.approx(sk.roc_auc_score(frame.label, frame.score))
    assert by_name["brier"].value == pytest.approx(sk.brier_score_loss(frame.label, frame.score))
    assert by_name["accuracy"].value == pytest.approx(sk.accuracy_score(frame.label, frame.score >= 0.5))
    low, high = by_name["roc_auc"].ci
    assert low < by_name["roc_auc"].value < high
    assert result.summary["roc_auc"] == pytest.approx(by_name["roc_auc"].value, abs=1e-6)
    assert result.evidence["rows"] == 400 and result.evidence["bootstrap"]["resamples"] == 200
    assert "All metrics" in result.evidence["tables"]
    assert np.asarray(result.evidence["confusion_matrix"]).sum() == 400


def test_decision_threshold_and_explicit_prediction_column(tmp_path):
    frame = write_binary(tmp_path / "c.csv")
    section = {
        "predictions": "c.csv",
        "decision_threshold": 0.7,
        "thresholds": {"recall": {"min": 0}},
        "bootstrap": {"resamples": 0},
    }
    recall = checks(metrics_gate.run(section, ctx(tmp_path)))["recall"]
    assert recall.value == pytest.approx(sk.recall_score(frame.label, frame.score >= 0.7))
    assert recall.ci is None  # resamples 0 turns intervals off
    frame["prediction"] = 1 - frame.label  # an explicit prediction column wins over the score
    frame.to_csv(tmp_path / "c.csv", index=False)
    recall = checks(metrics_gate.run(section, ctx(tmp_path)))["recall"]
    assert recall.value == 0.0 and recall.status is Status.PASS


def test_string_labels_with_positive_label(tmp_path):
    frame = write_binary(tmp_path / "raw.csv")
    frame["label"] = np.where(frame.label == 1, "default", "repaid")
    frame.to_csv(tmp_path / "s.csv", index=False)
    section = {
        "predictions": "s.csv",
        "positive_label": "default",
        "thresholds": {"roc_auc": {"min": 0.5}},
        "bootstrap": FAST,
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    assert checks(result)["roc_auc"].value == pytest.approx(
        sk.roc_auc_score(frame.label == "default", frame.score)
    )
    assert result.evidence["classes"] == ["repaid", "default"]


def test_baseline_regression_beyond_margin_fails_and_within_passes(tmp_path):
    write_binary(tmp_path / "base.csv", strength=0.35)
    good = write_binary(tmp_path / "same.csv", strength=0.35)
    bad = good.copy()
    rng = np.random.default_rng(5)
    bad["score"] = np.round(np.clip(0.6 * good.score + 0.4 * rng.uniform(size=len(good)), 0, 1), 3)  # noisier
    bad.to_csv(tmp_path / "worse.csv", index=False)
    section = {
        "predictions": "worse.csv",
        "columns": {"id": "id"},
        "bootstrap": FAST,
        "baseline": {
            "predictions": "base.csv",
            "margins": {"roc_auc": {"absolute": 0.01}, "brier": {"relative": 0.05}},
        },
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    auc = checks(result)["roc_auc_vs_baseline"]
    assert result.status is Status.FAIL
    assert auc.status is Status.FAIL
    assert auc.details["difference"] == pytest.approx(auc.details["candidate"] - auc.details["baseline"])
    assert auc.details["difference"] < -0.01
    assert auc.threshold == ">= -0.01 (CI bound)"
    assert checks(result)["brier_vs_baseline"].threshold.startswith("<= ")

    section["predictions"] = "same.csv"  # identical to the baseline: the paired difference is exactly 0
    result = metrics_gate.run(section, ctx(tmp_path))
    auc = checks(result)["roc_auc_vs_baseline"]
    assert result.status is Status.PASS
    assert auc.value == 0 and auc.ci == (0, 0)


def test_baseline_joined_by_id_in_any_order(tmp_path):
    frame = write_binary(tmp_path / "cand.csv")
    frame.sample(frac=1, random_state=3).to_csv(tmp_path / "base.csv", index=False)
    section = {
        "predictions": "cand.csv",
        "columns": {"id": "id"},
        "bootstrap": FAST,
        "baseline": {"predictions": "base.csv", "margins": {"roc_auc": {"absolute": 0.0}}},
    }
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["roc_auc_vs_baseline"]
    assert check.value == 0 and check.status is Status.PASS
    assert check.threshold == ">= 0 (CI bound)"  # not "-0"


def test_baseline_join_on_names_the_join_column(tmp_path):
    """join_on alone is enough, and it wins over columns.id (a different column here)."""
    frame = write_binary(tmp_path / "c.csv")
    frame["row"] = np.arange(len(frame))
    frame.to_csv(tmp_path / "cand.csv", index=False)
    base = frame.sample(frac=1, random_state=4)
    base["row"] = np.arange(len(base))  # joining on this column would pair different rows
    base.to_csv(tmp_path / "base.csv", index=False)
    for columns in ({}, {"id": "row"}):
        section = {
            "predictions": "cand.csv",
            "columns": columns,
            "bootstrap": FAST,
            "baseline": {"predictions": "base.csv", "join_on": "id", "margins": {"f1": {"absolute": 0}}},
        }
        check = checks(metrics_gate.run(section, ctx(tmp_path)))["f1_vs_baseline"]
        assert check.value == 0 and check.status is Status.PASS


def test_baseline_without_margins_is_a_policy_error_when_the_bound_decides(tmp_path):
    """A zero margin decided on the bound fails an equally good model about 97% of the time."""
    write_binary(tmp_path / "cand.csv")
    write_binary(tmp_path / "base.csv")
    section = {
        "predictions": "cand.csv",
        "thresholds": {"accuracy": {"min": 0.1}},
        "bootstrap": FAST,
        "baseline": {"predictions": "base.csv", "join_on": None},
    }
    with pytest.raises(InputError, match=r"^metrics\.baseline\.margins: decide_on bound needs") as caught:
        metrics_gate.run(section, ctx(tmp_path))
    assert "\n" not in str(caught.value)
    section["baseline"]["decide_on"] = "point"  # point decisions keep the thresholds' metrics, margin 0
    assert set(checks(metrics_gate.run(section, ctx(tmp_path)))) == {"accuracy", "accuracy_vs_baseline"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("short", "150 rows, but the candidate has 400"),
        ("labels", "label differs from the candidate's at row 1"),
        ("ids", "ids do not match the candidate's"),
        ("duplicate", "id column has duplicates (for example '1')"),
    ],
)
def test_baseline_alignment_errors(tmp_path, change, message):
    frame = write_binary(tmp_path / "cand.csv")
    base = frame.copy()
    join = "id"
    if change == "short":
        base, join = base.iloc[:150], None
    elif change == "labels":
        base.loc[0, "label"], join = 1 - base.loc[0, "label"], None
    elif change == "ids":
        base.loc[5, "id"] = 10_000
    else:
        base.loc[0, "id"] = 1
    base.to_csv(tmp_path / "base.csv", index=False)
    section = {
        "predictions": "cand.csv",
        "bootstrap": FAST,
        "baseline": {"predictions": "base.csv", "join_on": join, "margins": {"roc_auc": {"absolute": 0}}},
    }
    with pytest.raises(InputError, match="base.csv") as raised:
        metrics_gate.run(section, ctx(tmp_path))
    assert message in str(raised.value)


def test_one_class_labels_make_roc_auc_an_error_with_the_reason(tmp_path):
    pd.DataFrame({"label": np.zeros(50, int), "score": np.linspace(0, 1, 50)}).to_csv(
        tmp_path / "one.csv", index=False
    )
    section = {
        "predictions": "one.csv",
        "bootstrap": FAST,
        "thresholds": {"roc_auc": {"min": 0.5}, "average_precision": {"min": 0.1}, "accuracy": {"min": 0.1}},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    by_name = checks(result)
    assert result.status is Status.ERROR
    assert by_name["roc_auc"].status is Status.ERROR and by_name["roc_auc"].value is None
    assert "only the negative class" in by_name["roc_auc"].why
    assert by_name["average_precision"].status is Status.ERROR
    assert by_name["accuracy"].status is Status.PASS
    assert "roc_auc" not in result.summary  # no NaN in step outputs


def test_no_positive_predictions_makes_precision_an_error(tmp_path):
    pd.DataFrame({"label": [0, 1] * 20, "score": [0.1, 0.2] * 20}).to_csv(tmp_path / "p.csv", index=False)
    section = {"predictions": "p.csv", "bootstrap": FAST, "thresholds": {"precision": {"min": 0.5}}}
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["precision"]
    assert check.status is Status.ERROR and "predicts no positives" in check.why


def test_constant_regression_labels_make_r2_an_error(tmp_path):
    rng = np.random.default_rng(1)
    pd.DataFrame({"label": np.full(60, 3.5), "prediction": rng.normal(3.5, 1, 60)}).to_csv(
        tmp_path / "r.csv", index=False
    )
    section = {
        "task": "regression",
        "predictions": "r.csv",
        "bootstrap": FAST,
        "thresholds": {"r2": {"min": 0.1}, "rmse": {"max": 5}},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    assert checks(result)["r2"].status is Status.ERROR
    assert "labels are constant" in checks(result)["r2"].why
    assert checks(result)["rmse"].status is Status.PASS


def test_zero_label_makes_mape_an_error(tmp_path):
    rng = np.random.default_rng(2)
    y = rng.normal(5, 1, 80)
    y[10] = 0
    pd.DataFrame({"label": y, "prediction": y + 0.1}).to_csv(tmp_path / "z.csv", index=False)
    section = {
        "task": "regression",
        "predictions": "z.csv",
        "bootstrap": FAST,
        "thresholds": {"mape": {"max": 0.5}, "mae": {"max": 1}},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    assert checks(result)["mape"].status is Status.ERROR
    assert "1 label is 0" in checks(result)["mape"].why
    assert checks(result)["mae"].value == pytest.approx(0.1)


def test_multiclass_with_string_classes_and_missing_class(tmp_path):
    rng = np.random.default_rng(3)
    n = 300
    label = rng.choice(["cat", "dog"], n)  # "eel" is declared but absent
    proba = rng.dirichlet([1, 1, 1], n)
    frame = pd.DataFrame({"label": label, "p_cat": proba[:, 0], "p_dog": proba[:, 1], "p_eel": proba[:, 2]})
    frame.to_parquet(tmp_path / "mc.parquet")
    section = {
        "task": "multiclass",
        "predictions": "mc.parquet",
        "classes": ["cat", "dog", "eel"],
        "columns": {"scores": ["p_cat", "p_dog", "p_eel"]},
        "bootstrap": FAST,
        "thresholds": {"accuracy": {"min": 0.1}, "roc_auc": {"min": 0.1}, "log_loss": {"max": 5}},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    by_name = checks(result)
    codes = frame.label.map({"cat": 0, "dog": 1}).to_numpy()
    assert by_name["accuracy"].value == pytest.approx(np.mean(proba.argmax(axis=1) == codes))
    assert by_name["log_loss"].value == pytest.approx(sk.log_loss(codes, proba, labels=[0, 1, 2]))
    assert by_name["roc_auc"].status is Status.ERROR and "class eel has no rows" in by_name["roc_auc"].why
    assert by_name["class_support"].status is Status.WARN


def test_threshold_not_available_for_task_is_an_input_error(tmp_path):
    write_binary(tmp_path / "c.csv")
    with pytest.raises(InputError, match="metrics.thresholds.rmse: not available for task binary"):
        metrics_gate.run(
            {"predictions": "c.csv", "thresholds": {"rmse": {"max": 1}}, "bootstrap": FAST}, ctx(tmp_path)
        )
    with pytest.raises(InputError, match="margins.r2: unknown metric"):
        metrics_gate.run(
            {
                "predictions": "c.csv",
                "bootstrap": FAST,
                "baseline": {"predictions": "c.csv", "margins": {"r2": {"absolute": 0.1}}},
            },
            ctx(tmp_path),
        )


def test_nothing_configured_is_an_error_not_a_pass(tmp_path):
    write_binary(tmp_path / "c.csv")
    result = metrics_gate.run({"predictions": "c.csv", "bootstrap": FAST}, ctx(tmp_path))
    assert result.status is Status.ERROR
    assert "nothing was decided" in result.checks[0].why


def test_same_seed_same_intervals_other_seed_different(tmp_path):
    write_binary(tmp_path / "c.csv")

    def interval(seed):
        section = {
            "predictions": "c.csv",
            "thresholds": {"brier": {"max": 0.5}, "roc_auc": {"min": 0.5}},
            "bootstrap": {"resamples": 200, "seed": seed},
        }
        found = checks(metrics_gate.run(section, ctx(tmp_path)))
        return found["brier"].ci, found["roc_auc"].ci

    assert interval(1) == interval(1)
    assert interval(1)[0] != interval(2)[0]
    assert interval(1)[1] != interval(2)[1]  # ROC AUC: studentized bootstrap, resampled too


def test_roc_auc_interval_is_the_studentized_bootstrap_with_delong_errors(tmp_path):
    """DeLong's variance from the sort-based placements equals the direct O(m n) computation, and the gate's
    ROC AUC interval is the bootstrap-t interval around it: near the DeLong logit interval at this n."""
    frame = write_binary(tmp_path / "c.csv")
    y, s = frame.label.to_numpy() == 1, frame.score.to_numpy()
    psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
    auc = psi.mean()
    variance = psi.mean(axis=1).var(ddof=1) / y.sum() + psi.mean(axis=0).var(ddof=1) / (~y).sum()
    half = 1.959963984540054 * np.sqrt(variance) / (auc * (1 - auc))
    logit = np.log(auc / (1 - auc))
    expected = (1 / (1 + np.exp(-(logit - half))), 1 / (1 + np.exp(-(logit + half))))
    assert delong(s, y, np.ones(s.size)) == pytest.approx((auc, variance))
    section = {"predictions": "c.csv", "thresholds": {"roc_auc": {"min": 0.5}}, "bootstrap": FAST}
    found = checks(metrics_gate.run(section, ctx(tmp_path)))["roc_auc"].ci
    assert found == pytest.approx(expected, abs=0.02)


def test_inputs_are_recorded_for_the_audit_trail(tmp_path):
    write_binary(tmp_path / "c.csv")
    context = ctx(tmp_path)
    metrics_gate.run({"predictions": "c.csv", "thresholds": {"f1": {"min": 0}}, "bootstrap": FAST}, context)
    assert list(context.inputs) == [str(tmp_path / "c.csv")]
    assert len(next(iter(context.inputs.values()))) == 64


@pytest.mark.parametrize(
    ("task", "frame", "metric", "reason"),
    [
        ("binary", {"label": [1] * 30, "score": np.linspace(0, 1, 30)}, "roc_auc", "only the positive class"),
        (
            "regression",
            {"label": [2.0] * 30, "prediction": np.linspace(0, 4, 30)},
            "r2",
            "labels are constant",
        ),
        (
            "regression",
            {"label": [0.0] + [1.0] * 29, "prediction": np.linspace(0, 4, 30)},
            "mape",
            "1 label is 0",
        ),
    ],
)
def test_degenerate_data_from_the_cli_is_an_error_with_its_reason(cli, tmp_path, task, frame, metric, reason):
    pd.DataFrame(frame).to_csv(tmp_path / "d.csv", index=False)
    limit = "--max" if metric == "mape" else "--min"
    result = cli(
        "metrics", "--task", task, "--predictions", "d.csv", limit, f"{metric}=0.5", "--resamples", "100"
    )
    assert result.code == 1 and result.stderr == ""  # undecided is a failed gate, not bad input, not a crash
    assert f"metrics/{metric} error: {metric} is undefined: " in result.stdout and reason in result.stdout
    text = (tmp_path / "mlgate-reports" / "metrics.json").read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))
    check = report["gates"][0]["checks"][0]
    assert check["status"] == "error" and check["value"] is None and reason in check["why"]
    assert report["gates"][0]["status"] == "error"


def write_multiclass(path: Path, n: int = 300, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), codes] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {
            "label": np.array(["cat", "dog", "eel"])[codes],
            "p_cat": proba[:, 0],
            "p_dog": proba[:, 1],
            "p_eel": proba[:, 2],
        }
    )
    frame.to_csv(path, index=False)
    return frame, codes, proba


def report_checks(tmp_path: Path) -> dict:
    report = json.loads((tmp_path / "mlgate-reports" / "metrics.json").read_text())
    return {c["name"]: c for c in report["gates"][0]["checks"]}


@pytest.mark.parametrize(
    "scores",
    [
        ["p_cat", "p_dog", "p_eel"],  # in the order of --classes, as the policy's columns.scores
        ["eel=p_eel", "cat=p_cat", "dog=p_dog"],  # by class, in any order
    ],
)
def test_multiclass_flags_without_a_policy(cli, tmp_path, scores):
    from sklearn.preprocessing import label_binarize

    _, codes, proba = write_multiclass(tmp_path / "mc.csv")
    flags = [x for column in scores for x in ("--scores-column", column)]
    classes = [x for c in ("cat", "dog", "eel") for x in ("--classes", c)]
    limits = [
        x
        for name in ("roc_auc", "average_precision", "precision_weighted", "recall_weighted")
        for x in ("--min", f"{name}=0.3")
    ]
    result = cli(
        "metrics",
        "--predictions",
        "mc.csv",
        *flags,
        *classes,
        *limits,
        "--max",
        "log_loss=2",
        "--max",
        "brier=1",
        "--resamples",
        "50",
    )
    assert result.code == 0, result.stdout + result.stderr
    got = {name: c["value"] for name, c in report_checks(tmp_path).items()}
    pred = proba.argmax(axis=1)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(codes, proba, multi_class="ovr", average="macro"))
    assert got["average_precision"] == pytest.approx(
        sk.average_precision_score(label_binarize(codes, classes=[0, 1, 2]), proba, average="macro")
    )
    assert got["log_loss"] == pytest.approx(sk.log_loss(codes, proba))
    assert got["brier"] == pytest.approx(sk.brier_score_loss(codes, proba, labels=[0, 1, 2]))
    assert got["precision_weighted"] == pytest.approx(sk.precision_score(codes, pred, average="weighted"))
    assert got["recall_weighted"] == pytest.approx(sk.recall_score(codes, pred, average="weighted"))


def test_classes_flag_declares_the_classes_and_rejects_other_labels(cli, tmp_path):
    write_multiclass(tmp_path / "mc.csv")
    result = cli(
        "metrics",
        "--predictions",
        "mc.csv",
        "--scores-column",
        "cat=p_cat",
        "--scores-column",
        "dog=p_dog",
        "--min",
        "accuracy=0.1",
        "--resamples",
        "0",
    )
    assert result.code == 2  # the pairs declare cat and dog: eel is outside them
    assert "label 'eel' is not one of the declared classes 'cat', 'dog'" in result.stderr
    result = cli(
        "metrics",
        "--predictions",
        "mc.csv",
        "--scores-column",
        "cat=p_cat",
        "--scores-column",
        "p_dog",
        "--min",
        "accuracy=0.1",
    )
    assert result.code == 2 and "not a mix" in result.stderr
    result = cli(
        "metrics",
        "--predictions",
        "mc.csv",
        "--scores-column",
        "cat=p_cat",
        "--scores-column",
        "dog=p_dog",
        "--classes",
        "cat",
        "--classes",
        "eel",
        "--min",
        "accuracy=0.1",
    )
    assert result.code == 2 and "--classes declares cat, eel" in result.stderr
    # with a policy that declares the classes, pairs follow the policy's order
    (tmp_path / "gates.yml").write_text(
        "version: 1\nmetrics:\n  predictions: mc.csv\n  task: multiclass\n  classes: [eel, dog, cat]\n"
    )
    result = cli(
        "--policy",
        "gates.yml",
        "metrics",
        "--scores-column",
        "cat=p_cat",
        "--scores-column",
        "dog=p_dog",
        "--scores-column",
        "eel=p_eel",
        "--min",
        "roc_auc=0.5",
        "--resamples",
        "0",
    )
    assert result.code == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "mlgate-reports" / "metrics.json").read_text())["gates"][0]
    assert report["evidence"]["classes"] == ["eel", "dog", "cat"]


def test_decision_threshold_flag(cli, tmp_path):
    frame = write_binary(tmp_path / "c.csv")
    result = cli(
        "metrics",
        "--predictions",
        "c.csv",
        "--decision-threshold",
        "0.7",
        "--min",
        "recall=0",
        "--resamples",
        "0",
    )
    assert result.code == 0, result.stdout + result.stderr
    assert report_checks(tmp_path)["recall"]["value"] == pytest.approx(
        sk.recall_score(frame.label, frame.score >= 0.7)
    )
    result = cli("metrics", "--predictions", "c.csv", "--decision-threshold", "1.5", "--min", "recall=0")
    assert (
        result.code == 2
        and "metrics.decision_threshold: expected a number in [0, 1], got 1.5" in result.stderr
    )


def parse_table(markdown: str, title: str) -> tuple[list[str], list[str], np.ndarray]:
    """The <details> table with this title from a Markdown summary: column names, row names and the numbers."""
    block = markdown.split(f"<summary>{title}</summary>", 1)[1].split("</details>", 1)[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in block.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    return rows[0][1:], [r[0] for r in rows[1:]], np.array([[int(v) for v in r[1:]] for r in rows[1:]])


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_confusion_matrix_equals_sklearn_in_evidence_summary_and_html(tmp_path, task):
    from gates.formats import Output, write_all

    if task == "binary":
        frame = write_binary(tmp_path / "p.csv")
        frame["label"] = np.where(frame.label == 1, "default", "repaid")
        frame.to_csv(tmp_path / "p.csv", index=False)
        section = {
            "predictions": "p.csv",
            "positive_label": "default",
            "thresholds": {"accuracy": {"min": 0}},
        }
        truth, guess = frame.label, np.where(frame.score >= 0.5, "default", "repaid")
        classes = ["repaid", "default"]  # negative first, as the evidence lists them
    else:
        frame, _, proba = write_multiclass(tmp_path / "p.csv")
        section = {
            "predictions": "p.csv",
            "task": "multiclass",
            "classes": ["cat", "dog", "eel"],
            "columns": {"scores": ["p_cat", "p_dog", "p_eel"]},
            "thresholds": {"accuracy": {"min": 0}},
        }
        classes = ["cat", "dog", "eel"]
        truth, guess = frame.label, np.array(classes)[proba.argmax(axis=1)]
    result = metrics_gate.run({**section, "bootstrap": {"resamples": 0}}, ctx(tmp_path))
    expected = sk.confusion_matrix(truth, guess, labels=classes)
    assert result.evidence["classes"] == classes
    assert np.array_equal(result.evidence["confusion_matrix"], expected)
    write_all([result], Output(report_dir=tmp_path / "reports", env={}), 0)
    summary = (tmp_path / "reports" / "summary.md").read_text()
    columns, rows, numbers = parse_table(summary, "Confusion matrix")
    assert columns == rows == classes and np.array_equal(numbers, expected)
    html = (tmp_path / "reports" / "report.html").read_text()
    assert "<summary>Confusion matrix</summary>" in html
    assert "".join(f"<td>{v}</td>" for v in expected[-1]) in html


def test_confusion_table_of_many_classes_points_to_the_json():
    table = metrics_gate.confusion_table(np.zeros((25, 25), dtype=int), list(range(25)))
    assert "25 classes" in table and "evidence.confusion_matrix" in table and "|" not in table


def test_baseline_checks_state_their_power_and_warn_when_underpowered(tmp_path):
    """The stated chance that an equal model passes is Phi(margin / se - z); below 80% the check warns."""
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 400)
    for name in ("cand", "base"):  # the same kind of model on the same rows, each with its own noise
        score = np.clip(0.35 * label + rng.uniform(0, 0.65, 400), 0, 1)
        pd.DataFrame({"label": label, "score": score}).to_csv(tmp_path / f"{name}.csv", index=False)
    section = {
        "predictions": "cand.csv",
        "bootstrap": FAST,
        "baseline": {"predictions": "base.csv", "join_on": None, "margins": {"accuracy": {"absolute": 0.01}}},
    }
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["accuracy_vs_baseline"]
    assert 0 < check.details["equal_model_passes"] < 0.8 and "underpowered" in check.why
    assert check.status in (Status.WARN, Status.FAIL)
    mdd = check.details["minimum_detectable_difference"]
    section["baseline"]["margins"] = {"accuracy": {"absolute": round(mdd * 1.3, 4)}}
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["accuracy_vs_baseline"]
    assert check.details["equal_model_passes"] > 0.8 and "underpowered" not in check.why


def test_rare_positives_warn_and_error_when_the_bound_decides(tmp_path):
    rng = np.random.default_rng(4)
    label = (rng.random(300) < 0.03).astype(int)  # about 9 positives
    score = np.clip(0.4 * label + rng.uniform(0, 0.6, 300), 0, 1)
    pd.DataFrame({"label": label, "score": score}).to_csv(tmp_path / "rare.csv", index=False)
    section = {"predictions": "rare.csv", "bootstrap": FAST, "thresholds": {"roc_auc": {"min": 0.5}}}
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["roc_auc"]
    assert check.status is Status.WARN and "below min_class_rows 20" in check.why
    section["decide_on"] = "bound"
    assert checks(metrics_gate.run(section, ctx(tmp_path)))["roc_auc"].status is Status.ERROR
    section["min_class_rows"] = 3  # 4 positives: no guard, and an honest (very wide) studentized interval
    check = checks(metrics_gate.run(section, ctx(tmp_path)))["roc_auc"]
    assert check.status is not Status.ERROR and "min_class_rows" not in check.why
    assert check.ci is not None and check.ci[0] < 0.8


def test_a_bound_near_the_threshold_gives_one_verdict_for_every_seed(tmp_path):
    """A threshold 0.0015 from the bound is within the Monte Carlo error of 200 resamples (the verdict would
    follow the seed) but not of 25,600: adaptive resampling resolves it the same way for every seed."""
    write_binary(tmp_path / "cand.csv", n=600)
    section = {
        "predictions": "cand.csv",
        "decide_on": "bound",
        "bootstrap": {"resamples": 20_000, "seed": 99},
    }
    section["thresholds"] = {"brier": {"max": 0.5}}
    bound = checks(metrics_gate.run(section, ctx(tmp_path)))["brier"].ci[1]
    for offset, expected in ((0.0015, Status.PASS), (-0.0015, Status.FAIL)):
        section["thresholds"] = {"brier": {"max": bound + offset}}
        used = []
        for seed in range(4):
            section["bootstrap"] = {"resamples": 200, "seed": seed}
            result = metrics_gate.run(section, ctx(tmp_path))
            assert checks(result)["brier"].status is expected, (offset, seed)
            used.append(result.evidence["bootstrap"]["resamples_used"])
        assert max(used) > 200  # at least one seed was too close at 200 and drew more
