"""Decision quality of the canary judges on simulated traffic (no real time, no Prometheus, no cluster).

Scenarios: healthy, 2x error rate, +30% latency (every request 1.3x slower, so p95 +30%). Each runs the canary
loop's own decision rule (gates.deploy.canary.state.next_move) for at most three analyses, 60 s apart, over the
steps 10, 25, 50 % (the last step is 50 %): an analysis that fails rolls back (failure_limit 1), a pass or
marginal moves to the next step, an inconclusive one measures the same step again. Requests per interval are
Poisson(rate * weight * 60 s) per track; errors are binomial (baseline 1 %); latencies are lognormal (median
50 ms, sigma 0.5, p95 114 ms), counted into the example service's histogram buckets -- what the judges get from
Prometheus as increase() of the counters and buckets, canary and stable over the same window.

Judged metrics, as a policy would say it:
    - {name: error_rate, max: 0.015, critical: true}     # 1.5x the baseline
    - {name: latency_p95, max: 0.131}                     # 1.15x the healthy p95
Judges: threshold, compare, and both (the default), at the defaults (confidence 0.98; tolerance 0.25, for
latency_p95 0.1; error_rate min_effect 0.005; margin 1.0), min_requests 20, lookback "growing" (everything since
the canary started) or "window" (the last 60 s); and both judges with limits that have headroom (error_rate max
5 %, latency_p95 max 250 ms), as a policy would more often say.

Each cell counts, out of N scenarios, how many were rolled back (a fail), promoted (the last step passed), or left
undecided after three analyses (marginal / inconclusive: "too little evidence"). For the faulty scenarios
"detected" is the share rolled back; for healthy ones "false rollback" is the share rolled back.

The sequential judge (gates.deploy.sequential at its defaults: alpha 0.01 for any false rollback over the whole
canary, tolerance 0, margin 1.0, scale 0.3; ``sequential@10 alpha 0.05`` gives it the false-rollback budget the
fixed judges spend, for a comparison at equal noise) runs
the same loop with continuous looks: an analysis every ``LOOK`` seconds (``sequential@10``: every 10 s; also
``sequential@60``, the fixed judges' pace) over the same three minutes, so "within 3 steps" means within the
same 180 s of canary time; each look continues the sequences of the one before (growing lookback). A healthy
canary undecided at the last step is measured again until the three minutes are up. The median time to a
decision is over the scenarios that were decided (rolled back or promoted).

``sequential@N terminal 0.5`` is the canary's default: half of alpha on one fixed-horizon test per comparison at
the last look (the 180 s one; the canary loop's terminal look, gates.deploy.canary.state.is_terminal_look); the
plain ``sequential@N`` rows are the sequences alone.

The fixed judges can look every 10 s too (``compare@10``, ``both@10``: the false rollbacks looking as often costs
them). ``--oracle 60,10`` adds, per traffic level, the detection of the most powerful single test at exactly 1 %
false rollbacks on the traffic of a loop looking every 60 / 10 s (:func:`oracle_power`): the bound for any judge
at 1 %. ``--kinds healthy`` runs only healthy canaries (a validity run over a long ``--horizon``).

    python bench/canary_judge.py [--scenarios 1000] [--seed 0] [--lookback growing] [--judges both,sequential@10]
        [--oracle 60,10] [--kinds healthy] [--horizon 600]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

from gates.deploy.canary.state import CanaryState, Limits, next_move
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.judges import (
    CompareSettings,
    JudgeVerdict,
    Observation,
    combine,
    compare_judge,
    threshold_judge,
)
from gates.deploy.queries import metric_specs
from gates.deploy.sequential import SequentialSettings, sequential_judge

BASE_ERROR = 0.01
MEDIAN_S, SIGMA = 0.05, 0.5
HEALTHY_P95 = MEDIAN_S * float(np.exp(1.6449 * SIGMA))
STEPS, INTERVAL, ANALYSES = (10, 25, 50), 60, 3
# examples/service/metrics.py LATENCY_BUCKETS, and +Inf
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf)
KINDS = {"healthy": (1.0, 1.0), "2x error rate": (2.0, 1.0), "+30% p95": (1.0, 1.3)}
SPECS = metric_specs(
    [
        {"name": "error_rate", "max": BASE_ERROR * 1.5, "critical": True},
        {"name": "latency_p95", "max": round(HEALTHY_P95 * 1.15, 4)},
    ]
)
LOOSE = metric_specs(
    [{"name": "error_rate", "max": 0.05, "critical": True}, {"name": "latency_p95", "max": 0.25}]
)
JUDGES = {
    "threshold": (("threshold",), SPECS),
    "compare": (("compare",), SPECS),
    "both": (("threshold", "compare"), SPECS),
    "both, limits 5 % / 250 ms": (("threshold", "compare"), LOOSE),
    "compare@10": (("compare",), SPECS),
    "both@10": (("threshold", "compare"), SPECS),
    "sequential@60": (("sequential",), SPECS),
    "sequential@10": (("sequential",), SPECS),
    "sequential@10 alpha 0.05": (("sequential",), SPECS),
    "sequential@10 terminal 0.5": (("sequential",), SPECS),
    "sequential@60 terminal 0.5": (("sequential",), SPECS),
}
HORIZON = INTERVAL * ANALYSES  # seconds of canary time every judge gets
MIN_REQUESTS = 20


def bucket_probabilities(latency_factor: float) -> np.ndarray:
    from scipy.stats import norm

    finite = np.array(BUCKETS[:-1])
    cdf = norm.cdf(np.log(finite / (MEDIAN_S * latency_factor)) / SIGMA)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


PROBS = {f: bucket_probabilities(f) for f in {lf for _, lf in KINDS.values()}}


def interval_counts(
    rng, rps: float, error_factor: float, latency_factor: float, seconds: float = INTERVAL
) -> np.ndarray:
    """[requests, errors, bucket counts...] of one track over ``seconds``."""
    n = int(rng.poisson(rps * seconds))
    errors = int(rng.binomial(n, min(1.0, BASE_ERROR * error_factor)))
    bins = rng.multinomial(n, PROBS[latency_factor])
    return np.concatenate([[n, errors], bins])


def observations(canary: np.ndarray, stable: np.ndarray, specs) -> list[Observation]:
    out = []
    for spec in specs:
        obs = Observation(spec)
        for side, data in (("canary", canary), ("stable", stable)):
            if data[0] < MIN_REQUESTS:
                obs.thin[side] = f"too little traffic ({data[0]:.0f} requests, min_requests {MIN_REQUESTS})"
            sample: Counts | Histogram
            if spec.kind == "ratio":
                sample = Counts(float(data[1]), float(data[0]))
            else:
                sample = Histogram(BUCKETS, tuple(np.cumsum(data[2:]).astype(float)))
            setattr(obs, f"{side}_sample", sample)
        out.append(obs)
    return out


def scenario(
    rng, total_rps: float, kind: str, judge: str, specs, lookback: str, horizon: int = HORIZON
) -> tuple[str, str, float]:
    """(result, why, seconds to the result): result rolled_back, promoted or undecided after ``horizon`` s."""
    ef, lf = KINDS[kind]
    judges = JUDGES[judge][0]
    look = int(judge.split("@")[1].split()[0]) if "@" in judge else INTERVAL
    alpha = float(judge.split("alpha ")[1]) if "alpha " in judge else SequentialSettings.alpha
    share = float(judge.split("terminal ")[1]) if "terminal " in judge else 0.0
    analyses = horizon // look
    state = CanaryState(target="t", image="i", steps=list(STEPS), stable_replicas=1)
    limits = Limits(failure_limit=1, inconclusive_limit=analyses + 1)
    settings = CompareSettings(confidence=0.98, tolerance=0.25, margin=1.0, no_data="fail")
    totals_c = totals_s = None
    why = ""
    previous: dict[str, list] = {}
    for index in range(analyses):
        weight = STEPS[state.step]
        c = interval_counts(rng, total_rps * weight / 100, ef, lf, look)
        s = interval_counts(rng, total_rps * (100 - weight) / 100, 1.0, 1.0, look)
        if lookback == "growing":
            totals_c = c if totals_c is None else totals_c + c
            totals_s = s if totals_s is None else totals_s + s
        else:
            totals_c, totals_s = c, s
        obs = observations(totals_c, totals_s, specs)
        last = state.step == len(STEPS) - 1
        verdicts: list[JudgeVerdict | None] = []
        if "sequential" in judges:
            terminal = index == analyses - 1  # the last allowed look: fixed in advance
            look_settings = SequentialSettings(
                alpha=alpha, final=last, terminal_share=share, terminal=terminal
            )
            v = sequential_judge(obs, look_settings, previous)
            for m in v.metrics if v else []:
                if "look" in m.details:
                    previous.setdefault(m.metric, []).append(m.details["look"])
            verdicts.append(v)
        if "threshold" in judges:
            verdicts.append(threshold_judge(obs, "fail", settings.confidence, final=last))
        if "compare" in judges:
            verdicts.append(compare_judge(obs, CompareSettings(**{**settings.__dict__, "final": last})))
        outcome = combine([v.outcome for v in verdicts if v])
        why = "; ".join(v.why for v in verdicts if v)
        move = next_move(state, outcome, limits, last)
        if move.startswith("rollback"):
            return "rolled_back", why, (index + 1) * look
        if move == "promote":
            return "promoted", why, (index + 1) * look
    return "undecided", why, horizon


def oracle_power(
    rng, total_rps: float, kind: str, look: int, horizon: int, scenarios: int
) -> tuple[float, float]:
    """The detection of the most powerful test at 1 % false rollbacks that looks once, at ``horizon``, on all the
    canary's requests, knowing the baseline and the alternative (Neyman-Pearson, randomised to exactly 1 %): an
    upper bound for any judge with at most 1 % false rollbacks on the same traffic. The canary's traffic follows
    the loop of a judge that looks every ``look`` s and moves a step at every look until the last (10, 25, then
    50 %). 2x errors: the canary's error count given its requests (exact binomial tails); +30 % p95: the
    log-likelihood ratio of its bucket counts (critical value from simulated healthy canaries). The second
    number: the same without knowing the baseline error rate, the test a comparison with stable can at best do
    (the canary's share of all errors given the total, binomial, randomised to exactly 1 %; NaN for latency)."""
    from scipy.stats import binom

    shares = [STEPS[min(k, len(STEPS) - 1)] / 100 for k in range(horizon // look)]
    requests = rng.poisson(total_rps * look * np.asarray(shares), size=(scenarios, len(shares))).sum(axis=1)
    stable = rng.poisson(total_rps * look * (1 - np.asarray(shares)), size=(scenarios, len(shares))).sum(
        axis=1
    )
    ef, lf = KINDS[kind]

    def randomised(n, p0, p1) -> np.ndarray:  # power of the level-1 % test for a binomial count of n
        k = binom.isf(0.01, n, p0)  # smallest k with P0(X > k) <= 1 %
        gamma = (0.01 - binom.sf(k, n, p0)) / np.maximum(binom.pmf(k, n, p0), 1e-300)
        return np.asarray(binom.sf(k, n, p1) + gamma * binom.pmf(k, n, p1))

    if kind == "2x error rate":
        known = float(np.mean(randomised(requests, BASE_ERROR, BASE_ERROR * ef)))
        errors = rng.binomial(requests, BASE_ERROR * ef) + rng.binomial(stable, BASE_ERROR)
        rho = requests / (requests + stable)
        return known, float(np.mean(randomised(errors, rho, ef * rho / (ef * rho + 1 - rho))))
    weights = np.log(np.maximum(PROBS[lf], 1e-300) / np.maximum(PROBS[1.0], 1e-300))  # 0 beyond 5 s
    power = []
    for n in requests:
        null = rng.multinomial(n, PROBS[1.0], size=4000) @ weights
        crit = np.quantile(null, 0.99)
        power.append(float(rng.multinomial(n, PROBS[lf]) @ weights > crit))
    return float(np.mean(power)), math.nan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traffic", default="2,10,50,200", help="total requests per second, comma separated")
    parser.add_argument("--lookback", choices=["growing", "window"], default="growing")
    parser.add_argument("--horizon", type=int, default=HORIZON, help="seconds of canary time per scenario")
    parser.add_argument(
        "--judges", default=",".join(JUDGES), help=f"comma separated, of: {', '.join(JUDGES)}"
    )
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma separated scenarios (healthy only: a validity run)"
    )
    parser.add_argument(
        "--oracle", default="", help="comma separated look intervals (s) for oracle rows, e.g. 60,10"
    )
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "canary_judge.md"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.time()
    rows = []
    for rps in [float(x) for x in args.traffic.split(",")]:
        for judge in args.judges.split(","):
            missing = {"rolled_back": math.nan, "promoted": math.nan, "undecided": math.nan}
            cells, minutes = {k: missing for k in KINDS}, {k: "-" for k in KINDS}
            for kind in args.kinds.split(","):
                results = {"rolled_back": 0, "promoted": 0, "undecided": 0}
                decided = []
                for _ in range(args.scenarios):
                    result, _, seconds = scenario(
                        rng, rps, kind, judge, JUDGES[judge][1], args.lookback, args.horizon
                    )
                    results[result] += 1
                    if result != "undecided":
                        decided.append(seconds / 60)
                cells[kind] = {k: v / args.scenarios for k, v in results.items()}
                minutes[kind] = f"{np.median(decided):.2g}" if decided else "-"
            h = cells["healthy"]

            def share(x: float, digits: int = 0) -> str:
                return "-" if math.isnan(x) else f"{x:.{digits}%}"

            rows.append(
                f"| {rps:g} | {judge} | {share(cells['2x error rate']['rolled_back'])} "
                f"| {share(cells['+30% p95']['rolled_back'])} | {share(h['rolled_back'], 1)} "
                f"| {share(h['promoted'])} | {share(h['undecided'])} | {' / '.join(minutes[k] for k in KINDS)} |"
            )
            print(rows[-1], flush=True)
        for look in [int(x) for x in args.oracle.split(",") if x]:
            (known, unknown), (slow, _) = (
                oracle_power(rng, rps, k, look, args.horizon, args.scenarios) for k in KINDS if k != "healthy"
            )
            rows.append(
                f"| {rps:g} | oracle@{look} (one Neyman-Pearson test at {args.horizon} s, 1 %; in brackets: "
                f"not knowing the baseline) | {known:.0%} ({unknown:.0%}) | {slow:.0%} | 1.0% | - | - | - |"
            )
            print(rows[-1], flush=True)
    header = (
        f"| traffic (req/s, total) | judge | detects 2x error rate within {args.horizon} s | "
        f"detects +30% p95 within {args.horizon} s | false rollback (healthy) | healthy promoted | "
        "healthy undecided (too little evidence) | median minutes to a decision (healthy / 2x errors / +30% p95) |"
    )
    table = "\n".join([header, "|---|---|---|---|---|---|---|---|", *rows])
    text = (
        f"# canary judge benchmark\n\n{args.scenarios} scenarios per cell, seed {args.seed}; steps "
        f"{', '.join(map(str, STEPS))} %, {INTERVAL} s per step, {args.horizon} s of canary time (fixed judges: one analysis a step), lookback "
        f"`{args.lookback}`; baseline error rate {BASE_ERROR:.0%}, baseline p95 {HEALTHY_P95 * 1000:.0f} ms; "
        f"error_rate max {BASE_ERROR * 1.5:.1%} (critical), latency_p95 max {HEALTHY_P95 * 1.15 * 1000:.0f} ms; "
        f"defaults: confidence 0.98, tolerance 0.25 (latency_p95 0.1), error_rate min_effect 0.005, margin 1.0; "
        f"min_requests {MIN_REQUESTS}, failure_limit 1; sequential: alpha 0.01 (rollback evidence averaged, weight 1 per comparison and 0.25 per metric's limits), tolerance 0, margin 1.0, scale 0.3, "
        f"judge@N: an analysis every N s "
        f"(simulated request counts; `python bench/canary_judge.py --lookback {args.lookback} --judges '{args.judges}' --scenarios {args.scenarios} --horizon {args.horizon} --traffic {args.traffic} --seed {args.seed}"
        + (f" --kinds {args.kinds}" if args.kinds != ",".join(KINDS) else "")
        + (f" --oracle {args.oracle}" if args.oracle else "")
        + f"`, load {os.getloadavg()[0]:.1f}, "
        f"{time.time() - started:.0f} s).\n\n{table}\n"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
