"""Calibration of mlgate's intervals and verdicts against known truths (issue 14; drift: calibration_drift.py).

    nice python bench/calibration.py [--quick]

Every repetition draws fresh data from a known model, so the truth is known and each verdict is right or
wrong. Cells:
- disparity: equal group rates (the true difference is 0): coverage of the 95% disparity interval, and how
  often a point-mode rule 'max gap <= 0.1' fails (a false alarm); a true gap of 0.2 for power;
- latency: coverage of the p95 / p99 order-statistic intervals on lognormal samples, and the share of runs
  where n is too small for a bound;
- non-inferiority: two equally good models (same signal, independent noise) on the same rows: how often the
  candidate passes at margin m (bound decides), beside the power the report states;
- rare positives: ROC AUC coverage at prevalence 3%: percentile bootstrap, DeLong (logit scale) and the
  gate's studentized bootstrap (within labels, DeLong standard errors); log loss of a calibrated model at
  about 2.3% prevalence: percentile beside studentized.
Results: bench/results/calibration.md and .json (calibration_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gates.core.thresholds import Threshold, decide
from gates.metrics import point_and_samples
from gates.metrics_guards import studentized_samples
from gates.readers.predictions import Predictions
from gates.stats import metrics as m
from gates.stats.bootstrap import binary_cells, bootstrap, percentile_interval
from gates.stats.intervals import (
    RateFamily,
    auc_interval,
    delong,
    disparity_interval,
    noninferiority_power,
    quantile_interval,
)

RESULTS = Path(__file__).resolve().parent / "results"


def disparity_cell(
    groups: int, n: int, rate: float, components: int, gap: float, reps: int, rng: np.random.Generator
) -> dict:
    """Coverage of the true max gap, and the point-mode verdict of 'gap <= 0.1' (fail share)."""
    rates = np.full(groups, rate)
    rates[-1] += gap
    truth = gap
    covered = fails = 0
    for _ in range(reps):
        ks = [rng.binomial(n, rates) for _ in range(components)]
        ns = [np.full(groups, n) for _ in range(components)]
        family = RateFamily(ks, ns, [float(k.sum()) for k in ks], [float(groups * n)] * components)
        low, high, _ = disparity_interval(family, "difference", "between_groups", 0.95)
        covered += low <= truth <= high
        point = max(float((k / n).max() - (k / n).min()) for k in ks)
        check = decide("d", point, (low, high), Threshold(max=0.1), 0.95, biased_point=True)
        fails += check.status.value == "fail"
    return {
        "groups": groups,
        "n_per_group": n,
        "components": components,
        "true_gap": gap,
        "coverage": covered / reps,
        "fails_at_0.1": fails / reps,
    }


def latency_cell(n: int, q: float, reps: int, rng: np.random.Generator) -> dict:
    truth = float(np.exp(3 + 0.4 * stats.norm.ppf(q)))
    covered = unbounded = 0
    for _ in range(reps):
        low, high = quantile_interval(rng.lognormal(3, 0.4, n), q, 0.95)
        unbounded += not np.isfinite(high)
        covered += low <= truth <= high
    return {"n": n, "quantile": q, "coverage": covered / reps, "no_upper_bound": unbounded / reps}


def equal_models(n: int, prevalence: float, rng: np.random.Generator) -> tuple[Predictions, Predictions]:
    """Two models of the same quality: one latent signal, independent noise of the same size."""
    y = (rng.random(n) < prevalence).astype(np.int64)
    signal = y * 1.0
    models = []
    for _ in range(2):
        logit = 1.5 * signal - 1.0 + rng.standard_normal(n)
        score = 1 / (1 + np.exp(-logit))
        models.append(Predictions(Path("-"), "binary", y, (score >= 0.5).astype(np.int64), score, [0, 1]))
    return models[0], models[1]


def noninferiority_cell(n: int, margin: float, reps: int, resamples: int, rng: np.random.Generator) -> dict:
    passes, powers = [], []
    for r in range(reps):
        cand, base = equal_models(n, 0.3, rng)
        _, samples, _ = point_and_samples(cand, base, resamples, r)
        d = samples["d:roc_auc"]
        found = percentile_interval(d, 0.95)
        passes.append(found is not None and found.low >= -margin)
        powers.append(noninferiority_power(float(np.nanstd(d, ddof=1)), margin, 0.95, "bound"))
    stated = np.array([p.equal_model_passes for p in powers])
    passed = np.array(passes)
    confident = stated >= 0.8
    return {
        "n": n,
        "margin": margin,
        "equal_model_passes": float(passed.mean()),
        "stated_power_mean": float(stated.mean()),
        "runs_stating_80pct": int(confident.sum()),
        "passes_when_stating_80pct": float(passed[confident].mean()) if confident.any() else None,
        "mdd_median": float(np.median([p.minimum_detectable_difference for p in powers])),
    }


def rare_auc_cell(n: int, prevalence: float, reps: int, resamples: int, rng: np.random.Generator) -> dict:
    """ROC AUC coverage of the percentile bootstrap, of DeLong on the logit scale and of the gate's interval
    (studentized, within labels); the truth is Phi(1.5 / sqrt(2)) for this binormal model."""
    truth = float(stats.norm.cdf(1.5 / np.sqrt(2)))
    covered = {"percentile": 0, "delong_logit": 0, "studentized_gate": 0}
    defined = 0
    for r in range(reps):
        y = (rng.random(n) < prevalence).astype(np.int64)
        if y.sum() < 2 or y.sum() > n - 2:
            continue
        score = 1 / (1 + np.exp(-(1.5 * y + rng.standard_normal(n))))
        cells = binary_cells(y, (score >= 0.5).astype(np.int64), score)
        plain = bootstrap(
            cells,
            lambda w, c=cells: m.ranking_metrics(w, c.columns["y"] == 1, c.columns["score"]),
            resamples,
            r,
        )
        found = percentile_interval(plain["roc_auc"], 0.95)
        gate = percentile_interval(studentized_samples(cells, resamples, r)["c:roc_auc"], 0.95)
        low, high = auc_interval(*delong(score, y == 1, np.ones(n)), 0.95)
        defined += 1
        covered["percentile"] += found is not None and found.low <= truth <= found.high
        covered["delong_logit"] += low <= truth <= high
        covered["studentized_gate"] += gate is not None and gate.low <= truth <= gate.high
    return {
        "n": n,
        "prevalence": prevalence,
        "positives_expected": round(n * prevalence),
        **{k: v / max(defined, 1) for k, v in covered.items()},
        "runs": defined,
    }


def rare_log_loss_cell(n: int, reps: int, resamples: int, rng: np.random.Generator) -> dict:
    """Log loss coverage for a calibrated model, P(y=1 | x) = expit(-4.2 + x), x ~ N(0, 1) (prevalence about
    2.3%): the truth is the expected loss, from two million draws."""

    def draw(size: int) -> tuple[np.ndarray, np.ndarray]:
        p = 1 / (1 + np.exp(-(-4.2 + rng.standard_normal(size))))
        return (rng.random(size) < p).astype(np.int64), p

    y, p = draw(2_000_000)
    truth = float(np.mean(np.where(y == 1, -np.log(p), -np.log1p(-p))))
    covered = {"percentile": 0, "studentized_gate": 0}
    for r in range(reps):
        y, p = draw(n)
        cells = binary_cells(y, (p >= 0.5).astype(np.int64), p)
        loss = m.binary_losses(cells.columns["y"], cells.columns["score"])["log_loss"]
        plain = bootstrap(cells, lambda w, v=loss: {"log_loss": w @ v / n}, resamples, r)["log_loss"]
        found = percentile_interval(plain, 0.95)
        gate = percentile_interval(studentized_samples(cells, resamples, r)["c:log_loss"], 0.95)
        covered["percentile"] += found is not None and found.low <= truth <= found.high
        covered["studentized_gate"] += gate is not None and gate.low <= truth <= gate.high
    return {
        "n": n,
        "prevalence": round(float(y.mean()), 4),
        **{k: v / reps for k, v in covered.items()},
        "runs": reps,
    }


def table(rows: list[dict]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append(
            "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 100 if args.quick else 400
    rng = np.random.default_rng(2026)
    started = time.time()
    results = {
        "disparity": [
            disparity_cell(2, 500, 0.3, 1, 0.0, reps, rng),
            disparity_cell(4, 200, 0.2, 2, 0.0, reps, rng),
            disparity_cell(4, 200, 0.2, 2, 0.2, reps, rng),
            disparity_cell(60, 60, 0.3, 1, 0.0, max(50, reps // 4), rng),
        ],
        "latency": [latency_cell(n, q, reps * 5, rng) for n in (200, 400, 1000) for q in (0.95, 0.99)],
        "noninferiority": [
            noninferiority_cell(n, margin, reps // 2, 400, rng)
            for n in (1000, 3000)
            for margin in (0.01, 0.03)
        ],
        "rare_auc": [
            rare_auc_cell(200, 0.03, reps, 400, rng),
            rare_auc_cell(2000, 0.03, reps // 2, 400, rng),
            rare_auc_cell(1000, 0.3, reps // 2, 400, rng),
        ],
        "rare_log_loss": [rare_log_loss_cell(n, reps // 2, 400, rng) for n in (200, 2000)],
    }
    results["seconds"] = round(time.time() - started, 1)
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"calibration{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = [f"# Interval calibration ({'quick, ' if args.quick else ''}{reps} repetitions per cell)", ""]
    for name in ("disparity", "latency", "noninferiority", "rare_auc", "rare_log_loss"):
        text += [f"## {name}", "", table(results[name]), ""]
    (RESULTS / f"calibration{suffix}.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
