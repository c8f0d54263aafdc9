"""Train the example credit-default models and write every artefact the gates read.

    python -m examples.credit.train --out examples/data

All randomness is seeded, so running this twice writes byte-identical CSV,
parquet and JSON files.  ``model.skops`` is the exception: skops names the
arrays inside the zip archive after Python object ids and stamps entries with
the current time, so its bytes differ between runs while the model (and its
predictions) do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skops
import skops.io as sio
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from examples.credit import data, features

MODEL_VERSION = "credit-default-hgb-2.0.0"
BASELINE_VERSION = "credit-default-logreg-1.4.0"
REGRESSED_VERSION = "credit-default-hgb-2.0.1-rc1"
MITIGATED_VERSION = "credit-default-hgb-2.0.0+threshold-dp"

TRAIN_N, TRAIN_SEED = 8000, 1
TEST_N, TEST_SEED = 3000, 2
CURRENT_N, CURRENT_SEED = 3000, 3
CALIBRATION_N, CALIBRATION_SEED = 3000, 4  # fits the fairness post-processor
LATENCY_N, LATENCY_SEED = 2000, 5
REGRESSED_N, REGRESSED_SEED = 800, 6
MODEL_SEED = 0
THRESHOLD = 0.5

#: The production model only knows these (raw, numeric) inputs.
BASELINE_FEATURES = ["age", "income", "debt_ratio", "num_open_accounts"]
PREDICTION_COLUMNS = ["applicant_id", "default", "score", "prediction", "sex", "age_band"]


def _candidate_model() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=MODEL_SEED,
    )


def _regressed_model() -> HistGradientBoostingClassifier:
    # A "release candidate" retrained on a truncated 800-row extract (a broken
    # data pipeline) with the regularisation dropped: it overfits.
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        early_stopping=False,
        random_state=MODEL_SEED,
    )


def _baseline_model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _baseline_matrix(frame: pd.DataFrame) -> np.ndarray:
    names = features.feature_names()
    return features.to_matrix(frame)[:, [names.index(c) for c in BASELINE_FEATURES]]


def _predictions(
    frame: pd.DataFrame, score: np.ndarray, prediction: np.ndarray | None = None
) -> pd.DataFrame:
    score = np.round(np.asarray(score, dtype=float), 6)
    if prediction is None:
        prediction = (score >= THRESHOLD).astype(np.int64)
    out = pd.DataFrame(
        {
            "applicant_id": frame["applicant_id"].to_numpy(),
            "default": frame["default"].to_numpy(),
            "score": score,
            "prediction": np.asarray(prediction, dtype=np.int64),
            "sex": frame["sex"].to_numpy(),
            "age_band": frame["age_band"].to_numpy(),
        },
        columns=PREDICTION_COLUMNS,
    )
    return out


def performance(pred: pd.DataFrame) -> dict[str, float]:
    y, s, p = pred["default"], pred["score"], pred["prediction"]
    return {
        "roc_auc": round(float(roc_auc_score(y, s)), 4),
        "accuracy": round(float(accuracy_score(y, p)), 4),
        "log_loss": round(float(log_loss(y, np.clip(s, 1e-6, 1 - 1e-6))), 4),
        "brier": round(float(brier_score_loss(y, s)), 4),
        "positive_rate": round(float(p.mean()), 4),
    }


def fairness(pred: pd.DataFrame, sensitive: str = "sex") -> dict[str, object]:
    y, p, g = pred["default"], pred["prediction"], pred[sensitive]
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "error_rate": lambda t, q: float(np.mean(np.asarray(t) != np.asarray(q))),
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )
    by_group = {
        metric: {str(k): round(float(v), 4) for k, v in frame.by_group[metric].items()}
        for metric in frame.by_group.columns
    }
    return {
        "sensitive_feature": sensitive,
        "by_group": by_group,
        "demographic_parity_ratio": round(float(demographic_parity_ratio(y, p, sensitive_features=g)), 4),
        "demographic_parity_difference": round(
            float(demographic_parity_difference(y, p, sensitive_features=g)), 4
        ),
        "error_rate_difference": round(float(frame.difference()["error_rate"]), 4),
        "equalized_odds_difference": round(float(equalized_odds_difference(y, p, sensitive_features=g)), 4),
    }


def _write_csv(frame: pd.DataFrame, path: Path, float_format: str = "%.6f") -> None:
    frame.to_csv(path, index=False, float_format=float_format, lineterminator="\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False, engine="pyarrow", compression="snappy")


def simulated_latencies(n: int = LATENCY_N, seed: int = LATENCY_SEED) -> pd.DataFrame:
    """Request latencies of the service: lognormal with a 20 ms median."""
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(mean=np.log(20.0), sigma=0.35, size=n)
    return pd.DataFrame({"latency_ms": np.round(latency, 3)})


def run(out: Path) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)

    train = data.generate(TRAIN_N, TRAIN_SEED)
    test = data.generate(TEST_N, TEST_SEED)
    calibration = data.generate(CALIBRATION_N, CALIBRATION_SEED)
    current = data.generate(CURRENT_N, CURRENT_SEED)
    drifted = data.generate(CURRENT_N, CURRENT_SEED, drift=1.0)
    for frame in (train, test, calibration):
        features.validate(frame, require_label=True)

    x_train, y_train = features.to_matrix(train), train["default"].to_numpy()
    x_test = features.to_matrix(test)

    with threadpool_limits(limits=1):
        candidate = _candidate_model().fit(x_train, y_train)
        candidate_score = candidate.predict_proba(x_test)[:, 1]
        train_score = candidate.predict_proba(x_train)[:, 1]

        baseline = _baseline_model().fit(_baseline_matrix(train), y_train)
        baseline_score = baseline.predict_proba(_baseline_matrix(test))[:, 1]

        rng = np.random.default_rng(REGRESSED_SEED)
        subset = np.sort(rng.choice(TRAIN_N, size=REGRESSED_N, replace=False))
        regressed = _regressed_model().fit(x_train[subset], y_train[subset])
        regressed_score = regressed.predict_proba(x_test)[:, 1]

        mitigator = ThresholdOptimizer(
            estimator=candidate,
            constraints="demographic_parity",
            objective="accuracy_score",
            prefit=True,
            predict_method="predict_proba",
        )
        mitigator.fit(
            features.to_matrix(calibration),
            calibration["default"].to_numpy(),
            sensitive_features=calibration["sex"].to_numpy(),
        )
        mitigated_prediction = mitigator.predict(
            x_test, sensitive_features=test["sex"].to_numpy(), random_state=MODEL_SEED
        )

    predictions = {
        "candidate": _predictions(test, candidate_score),
        "baseline": _predictions(test, baseline_score),
        "regressed": _predictions(test, regressed_score),
        # score stays the model's probability; prediction is the post-processed decision.
        "mitigated": _predictions(test, candidate_score, mitigated_prediction),
    }
    for name, frame in predictions.items():
        _write_csv(frame, out / f"{name}_predictions.csv")

    _write_parquet(train, out / "reference.parquet")
    _write_parquet(current, out / "current.parquet")
    _write_parquet(drifted, out / "current_drifted.parquet")
    _write_csv(simulated_latencies(), out / "latency_ms.csv", float_format="%.3f")

    model_path = out / "model.skops"
    sio.dump(candidate, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    untrusted = sio.get_untrusted_types(file=model_path)

    train_pred = _predictions(train, train_score)
    metrics = {name: performance(frame) for name, frame in predictions.items()}
    bias = {name: fairness(predictions[name]) for name in ("candidate", "baseline", "mitigated")}
    card = {
        "model_name": "credit-default",
        "model_version": MODEL_VERSION,
        "baseline_version": BASELINE_VERSION,
        "description": (
            "Probability that a credit applicant defaults (label `default`), "
            "HistGradientBoostingClassifier on synthetic data from examples.credit.data."
        ),
        "estimator": type(candidate).__name__,
        "framework": {"scikit-learn": sklearn.__version__, "skops": skops.__version__},
        "artifact": "model.skops",
        "skops_trusted_types": untrusted,
        "label": features.LABEL,
        "positive_class": 1,
        "input_columns": list(features.FEATURES),
        "feature_names": features.feature_names(),
        "sensitive_features_excluded": list(features.SENSITIVE_FEATURES),
        "decision_threshold": THRESHOLD,
        "training_data": {"generator": "examples.credit.data.generate", "n": TRAIN_N, "seed": TRAIN_SEED},
        "evaluation_data": {"generator": "examples.credit.data.generate", "n": TEST_N, "seed": TEST_SEED},
        "hyperparameters": {
            k: v for k, v in sorted(candidate.get_params().items()) if isinstance(v, (int, float, str, bool))
        },
        "metrics": {"train": performance(train_pred), "test": metrics["candidate"]},
        "fairness": {"test": bias["candidate"]},
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")

    drift_summary = {}
    for column in ("income", "debt_ratio", "num_open_accounts", "age", "credit_history_years"):
        drift_summary[column] = {
            "reference_mean": round(float(train[column].mean()), 4),
            "current_mean": round(float(current[column].mean()), 4),
            "drifted_mean": round(float(drifted[column].mean()), 4),
        }
    for column in ("employment", "region"):
        drift_summary[column] = {
            "reference_share": {
                k: round(float(v), 4)
                for k, v in train[column].value_counts(normalize=True).sort_index().items()
            },
            "current_share": {
                k: round(float(v), 4)
                for k, v in current[column].value_counts(normalize=True).sort_index().items()
            },
            "drifted_share": {
                k: round(float(v), 4)
                for k, v in drifted[column].value_counts(normalize=True).sort_index().items()
            },
        }
    lat = simulated_latencies()["latency_ms"]
    return {
        "metrics": metrics,
        "fairness": bias,
        "drift": drift_summary,
        "label_rate": {
            "reference": round(float(train["default"].mean()), 4),
            "current": round(float(current["default"].mean()), 4),
            "drifted": round(float(drifted["default"].mean()), 4),
        },
        "latency_ms": {
            q: round(float(lat.quantile(v)), 3) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
        "skops_untrusted_types": untrusted,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "data",
        help="output directory (default: examples/data)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = run(args.out)
    summary["runtime_s"] = round(time.perf_counter() - started, 2)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
