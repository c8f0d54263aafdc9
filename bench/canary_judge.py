"""Decision quality of the canary judges on simulated series (no real time, no Prometheus).

For each traffic level, N scenarios of each kind -- healthy, 2x error rate, +30% p95 latency -- run three canary
steps (weights 10, 25, 50 %). Per second, requests split by weight; errors are Bernoulli, latencies lognormal.
The series each judge sees are what Prometheus would return: at every second of a 60 s step interval, the error
rate and the p95 over a trailing 30 s window (rate(...[30s]) and histogram_quantile over the same window).
- threshold judge: the canary's window value at the end of the step against error_rate max 0.015 (baseline 0.01)
  and latency_p95 max 1.15x the healthy p95; failure limit 1.
- compare judge: the 60 canary points vs the 60 stable points of the step (Mann-Whitney, confidence 0.98,
  Hodges-Lehmann tolerance 25%, error_rate critical).
A scenario is rolled back when any of its three analyses fails. Output: bench/results/canary_judge.md.

    python bench/canary_judge.py [--scenarios 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from gates.deploy.judges import CompareSettings, Observation, compare_judge, threshold_judge
from gates.deploy.queries import MetricSpec

BASE_ERROR = 0.01
MEDIAN_S, SIGMA = 0.05, 0.5
HEALTHY_P95 = MEDIAN_S * float(np.exp(1.6449 * SIGMA))
STEPS, INTERVAL, WINDOW = (10, 25, 50), 60, 30
KINDS = {"healthy": (1.0, 1.0), "2x error rate": (2.0, 1.0), "+30% p95": (1.0, 1.3)}


def side_series(rng, rps: float, error_factor: float, latency_factor: float, seconds: int):
    """Per-second error-rate and p95 series over a trailing window (NaN while the window has no requests)."""
    counts = rng.poisson(rps, seconds + WINDOW)
    errors = rng.binomial(counts, min(1.0, BASE_ERROR * error_factor))
    lat = [MEDIAN_S * latency_factor * np.exp(SIGMA * rng.standard_normal(c)) for c in counts]
    err_series, p95_series = [], []
    for t in range(WINDOW, WINDOW + seconds):
        n = counts[t - WINDOW:t].sum()
        err_series.append(errors[t - WINDOW:t].sum() / n if n else np.nan)
        window = np.concatenate(lat[t - WINDOW:t]) if n else np.empty(0)
        p95_series.append(float(np.quantile(window, 0.95)) if window.size else np.nan)
    return np.array(err_series), np.array(p95_series)


ERR = MetricSpec("error_rate", "-", max=0.015, critical=True)
LAT = MetricSpec("latency_p95", "-", max=HEALTHY_P95 * 1.15)
SETTINGS = CompareSettings(min_points=50, no_data="fail")


def scenario(rng, total_rps: float, kind: str) -> dict[str, int | None]:
    ef, lf = KINDS[kind]
    first = {"threshold": None, "compare": None}
    for step, weight in enumerate(STEPS, start=1):
        c_err, c_p95 = side_series(rng, total_rps * weight / 100, ef, lf, INTERVAL)
        s_err, s_p95 = side_series(rng, total_rps * (100 - weight) / 100, 1.0, 1.0, INTERVAL)
        obs = [Observation(ERR, canary=_last(c_err), stable=_last(s_err),
                           canary_points=_finite(c_err), stable_points=_finite(s_err)),
               Observation(LAT, canary=_last(c_p95), stable=_last(s_p95),
                           canary_points=_finite(c_p95), stable_points=_finite(s_p95))]
        if first["threshold"] is None and threshold_judge(obs, "fail").outcome == "fail":
            first["threshold"] = step
        if first["compare"] is None and compare_judge(obs, SETTINGS).outcome == "fail":
            first["compare"] = step
    return first


def _last(x):
    return float(x[-1]) if np.isfinite(x[-1]) else None


def _finite(x):
    return [float(v) for v in x if np.isfinite(v)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traffic", default="2,10,50", help="total requests per second, comma separated")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "canary_judge.md"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.time()
    rows = []
    for rps in [float(x) for x in args.traffic.split(",")]:
        rates = {}
        for kind in KINDS:
            hits = {"threshold": 0, "compare": 0}
            for _ in range(args.scenarios):
                first = scenario(rng, rps, kind)
                for judge in hits:
                    hits[judge] += first[judge] is not None
            rates[kind] = {j: hits[j] / args.scenarios for j in hits}
        for judge in ("threshold", "compare"):
            rows.append(f"| {rps:g} | {judge} | {rates['2x error rate'][judge]:.0%} | {rates['+30% p95'][judge]:.0%} "
                        f"| {rates['healthy'][judge]:.0%} |")
    table = "\n".join(["| traffic (req/s, total) | judge | detects 2x error rate within 3 steps | "
                       "detects +30% p95 within 3 steps | false rollback (healthy) |",
                       "|---|---|---|---|---|", *rows])
    text = (f"# canary judge benchmark\n\n{args.scenarios} scenarios per cell, seed {args.seed}, steps "
            f"{', '.join(map(str, STEPS))} %, {INTERVAL} s per step, {WINDOW} s windows, baseline error rate "
            f"{BASE_ERROR:.0%}, baseline p95 {HEALTHY_P95 * 1000:.0f} ms (simulated series; "
            f"`python bench/canary_judge.py`, {time.time() - started:.0f} s).\n\n{table}\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
