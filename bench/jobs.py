"""One measured job per process, for bench/metrics_fairness.py: `python bench/jobs.py JOB FILE [options]`.

Jobs (each prints one JSON line of results, so the runner can check that the answers agree):
  floor            read the five columns with pyarrow and sum them (the cost of reading, nothing else)
  mlgate           the metrics gate and the bias gate (gates.metrics.run, gates.bias.run), 1000
                   resamples each, as `mlgate run` calls them, without pictures
  sklearn          scikit-learn accuracy, F1 and ROC AUC once (pandas.read_parquet)
  fairlearn        fairlearn MetricFrame (accuracy, selection rate, TPR, FPR) by sex x age_band, plus
                   demographic parity and equalized odds differences, no intervals
  fairlearn-boot   the same MetricFrame with n_boot resamples (fairlearn's own bootstrap)
  naive-boot       ROC AUC bootstrap by fancy indexing with scikit-learn, N resamples
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

COLUMNS = ["label", "score", "prediction", "sex", "age_band"]
SENSITIVE = ["sex", "age_band"]


def floor(path: Path) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=COLUMNS)
    out = {}
    for name in COLUMNS:  # numbers are summed; text (the sensitive features) is counted
        column = table.column(name)
        out[name] = (
            float(pc.sum(column).as_py()) if column.type != "string" else int(pc.count(column).as_py())
        )
    return out


def mlgate(path: Path, resamples: int) -> dict:
    import tempfile

    from gates import bias as fairness
    from gates import metrics as metrics_gate
    from gates.core.context import GateContext

    boot = {"resamples": resamples, "seed": 0, "confidence": 0.95}
    columns = {"label": "label", "score": "score", "prediction": "prediction"}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = GateContext(base_dir=path.parent, report_dir=Path(tmp))
        metrics = metrics_gate.run(
            {
                "predictions": str(path),
                "columns": columns,
                "bootstrap": boot,
                "thresholds": {"accuracy": {"min": 0.5}, "f1": {"min": 0.1}, "roc_auc": {"min": 0.5}},
            },
            ctx,
        )
        bias = fairness.run(
            {
                "predictions": str(path),
                "columns": columns,
                "sensitive": SENSITIVE,
                "metrics": ["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"],
                "rules": [
                    {"metric": "demographic_parity", "disparity": "difference", "max": 0.5},
                    {"metric": "equalized_odds", "disparity": "difference", "max": 0.5},
                ],
                "plots": False,
                "bootstrap": boot,
            },
            ctx,
        )
    values = {c.name: c.value for c in metrics.checks + bias.checks if isinstance(c.value, float)}
    values["intervals"] = {c.name: list(c.ci) for c in metrics.checks + bias.checks if c.ci}
    return values


def sklearn(path: Path) -> dict:
    import pandas as pd
    from sklearn import metrics as sk

    frame = pd.read_parquet(path, columns=["label", "score", "prediction"])
    return {
        "accuracy": sk.accuracy_score(frame.label, frame.prediction),
        "f1": sk.f1_score(frame.label, frame.prediction),
        "roc_auc": sk.roc_auc_score(frame.label, frame.score),
    }


def _metric_frame(frame, n_boot: int | None):
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score

    functions = {
        "accuracy": accuracy_score,
        "selection_rate": fm.selection_rate,
        "true_positive_rate": fm.true_positive_rate,
        "false_positive_rate": fm.false_positive_rate,
    }
    extra = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0} if n_boot else {}
    return fm.MetricFrame(
        metrics=functions,
        y_true=frame.label,
        y_pred=frame.prediction,
        sensitive_features=frame[SENSITIVE],
        **extra,
    )


def fairlearn(path: Path) -> dict:
    import pandas as pd
    from fairlearn import metrics as fm

    frame = pd.read_parquet(path, columns=COLUMNS)
    mf = _metric_frame(frame, None)
    dp = fm.demographic_parity_difference(frame.label, frame.prediction, sensitive_features=frame[SENSITIVE])
    eo = fm.equalized_odds_difference(frame.label, frame.prediction, sensitive_features=frame[SENSITIVE])
    return {
        "demographic_parity_difference": float(dp),
        "equalized_odds_difference": float(eo),
        "by_group": {" x ".join(map(str, k)): v for k, v in mf.by_group.to_dict(orient="index").items()},
    }


def fairlearn_boot(path: Path, n_boot: int) -> dict:
    import pandas as pd

    frame = pd.read_parquet(path, columns=COLUMNS)
    mf = _metric_frame(frame, n_boot)
    ci = mf.by_group_ci if hasattr(mf, "by_group_ci") else None
    return {"n_boot": n_boot, "has_ci": ci is not None}


def naive_boot(path: Path, resamples: int) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    frame = pd.read_parquet(path, columns=["label", "score"])
    y, score = frame.label.to_numpy(), frame.score.to_numpy()
    rng = np.random.default_rng(0)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, y.size, y.size)
        values.append(roc_auc_score(y[rows], score[rows]))
    low, high = np.quantile(values, [0.025, 0.975])
    return {"resamples": resamples, "roc_auc_interval": [float(low), float(high)]}


def main(argv: list[str]) -> None:
    job, path = argv[0], Path(argv[1])
    count = int(argv[2]) if len(argv) > 2 else 1000
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    if job == "floor":
        out = floor(path)
    elif job == "mlgate":
        out = mlgate(path, count)
    elif job == "sklearn":
        out = sklearn(path)
    elif job == "fairlearn":
        out = fairlearn(path)
    elif job == "fairlearn-boot":
        out = fairlearn_boot(path, count)
    elif job == "naive-boot":
        out = naive_boot(path, count)
    else:
        raise SystemExit(f"unknown job {job!r}")
    out["_inner_seconds"] = time.perf_counter() - start
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main(sys.argv[1:])
