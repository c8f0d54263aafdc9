"""The sequential judge (gates.deploy.sequential) and its place in the decision: verdicts on counts and
histograms, the looks it records and continues from, and the metrics it leaves to the other judges."""

from __future__ import annotations

import math

import numpy as np

from gates.deploy.canary.config import CanaryConfig
from gates.deploy.canary.decision import decide, previous_looks
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.judges import Observation
from gates.deploy.queries import metric_specs
from gates.deploy.sequential import (
    LIMIT_WEIGHT,
    Evidence,
    SequentialSettings,
    rollback_weight,
    sequential_judge,
    weigh,
)
from gates.deploy.sequential_looks import Look, bucket_increments, increments

SPECS = {s.name: s for s in metric_specs([{"name": "error_rate", "max": 0.05}, {"name": "latency_p95"}])}
BOUNDS = (0.05, 0.1, 0.2, 0.5, math.inf)


def ratio(ce: float, cn: float, se: float, sn: float) -> Observation:
    return Observation(SPECS["error_rate"], canary_sample=Counts(ce, cn), stable_sample=Counts(se, sn))


def hist(counts: list[float]) -> Histogram:
    return Histogram(BOUNDS, tuple(float(x) for x in np.cumsum(counts)))


def latency(canary: list[float], stable: list[float]) -> Observation:
    return Observation(SPECS["latency_p95"], canary_sample=hist(canary), stable_sample=hist(stable))


def test_a_doubled_error_rate_fails_with_its_bounds_recorded():
    v = sequential_judge([ratio(200, 10_000, 100, 10_000)])
    m = v.metrics[0]
    assert v.outcome == "fail" and m.passed is False and "certain" in m.why
    look = m.details["look"]
    assert look["ratio_lower"] > 1.1 and look["canary_events"] == 200 and m.details["alpha"] == 0.01
    assert m.details["rollback_evidence"] >= math.log(100) and "all rollback evidence" in m.why


def test_equal_rates_with_plenty_of_requests_pass():
    v = sequential_judge([ratio(100, 10_000, 100, 10_000)])
    assert v.outcome == "pass" and v.metrics[0].details["look"]["ratio_upper"] < 2.0


def test_no_errors_anywhere_pass_on_min_effect_and_few_requests_stay_open():
    assert sequential_judge([ratio(0, 3000, 0, 3000)]).outcome == "pass"  # surely below 0.5 %
    few = sequential_judge([ratio(0, 100, 1, 900)])
    assert few.outcome == "marginal" and few.metrics[0].classification == "inconclusive"
    last = sequential_judge([ratio(0, 100, 1, 900)], SequentialSettings(final=True))
    assert last.outcome == "inconclusive"


def test_a_crossed_absolute_limit_fails_without_a_regression_against_stable():
    v = sequential_judge([ratio(1000, 10_000, 1000, 10_000)])
    assert v.outcome == "fail" and "beyond the limits" in v.metrics[0].why


def test_no_data_and_thin_traffic_are_never_a_pass():
    missing = Observation(SPECS["error_rate"], stable_sample=Counts(1, 100), missing={"canary": "no samples"})
    assert sequential_judge([missing]).outcome == "fail"
    thin = ratio(0, 5, 0, 100)
    thin.thin["canary"] = "too little traffic"
    assert sequential_judge([thin]).outcome == "inconclusive"


def test_slower_canary_fails_on_the_shift_of_its_buckets_and_a_healthy_one_passes():
    healthy = [5000, 4000, 900, 100, 0]
    slow = [3000, 4000, 2400, 600, 0]
    v = sequential_judge([latency(slow, healthy)])
    m = v.metrics[0]
    assert v.outcome == "fail" and "slower than stable" in m.why and "is certain" in m.why
    assert m.details["look"]["log_e_slower"] > math.log(1 / m.details["alpha"])
    ok = sequential_judge([latency(healthy, healthy)])
    assert ok.outcome == "pass" and ok.metrics[0].details["look"]["canary_quantile"] == [0.1, 0.2]


def test_a_faster_canary_is_not_rolled_back():
    v = sequential_judge([latency([5000, 4000, 900, 100, 0], [3000, 4000, 2400, 600, 0])])
    assert v.outcome != "fail"


def test_looks_continue_from_the_earlier_verdicts():
    first = sequential_judge([latency([50, 40, 9, 1, 0], [500, 400, 90, 10, 0])])
    look = first.metrics[0].details["look"]
    assert look["le"][-1] == "+Inf" and look["canary_buckets"] == [50, 90, 99, 100, 100]
    later = sequential_judge(
        [latency([100, 80, 10, 10, 0], [1000, 800, 100, 100, 0])], previous={"latency_p95": [look]}
    )
    again = later.metrics[0].details["look"]
    # the same counts as one look: the evidence differs once the earlier look splits them in two
    alone = sequential_judge([latency([100, 80, 10, 10, 0], [1000, 800, 100, 100, 0])]).metrics[0]
    assert alone.details["look"]["log_e_slower"] != again["log_e_slower"]
    rates = sequential_judge([ratio(2, 100, 5, 900)]).metrics[0].details["look"]
    more = sequential_judge([ratio(6, 200, 10, 1800)], previous={"error_rate": [rates]}).metrics[0]
    assert (
        more.details["look"]["ratio_lower"]
        != sequential_judge([ratio(6, 200, 10, 1800)]).metrics[0].details["look"]["ratio_lower"]
    )


def test_bucket_increments_start_over_when_the_buckets_change():
    a = Look(le=(0.1, math.inf), canary_buckets=(5, 10), stable_buckets=(50, 100))
    b = Look(le=(0.1, math.inf), canary_buckets=(8, 20), stable_buckets=(90, 200))
    c = Look(le=(0.2, math.inf), canary_buckets=(9, 20), stable_buckets=(90, 200))
    canary, stable = bucket_increments([a, b])
    assert canary.tolist() == [[5, 5], [3, 7]] and stable.tolist() == [[50, 50], [40, 60]]
    assert bucket_increments([a, b, c])[0].tolist() == [[9, 11]]
    assert Look.from_dict(b.to_dict()) == b


def test_increments_start_over_when_a_count_goes_down():
    looks = [Look(1, 100, 2, 900), Look(3, 200, 5, 1800), Look(1, 50, 1, 400)]
    assert [(i.canary_events, i.canary_trials) for i in increments(looks)] == [(1, 50)]
    assert [(i.canary_events, i.canary_trials) for i in increments(looks[:2])] == [(1, 100), (2, 100)]


def test_rollback_evidence_is_a_weighted_average_fixed_by_the_policy():
    specs = metric_specs([{"name": "error_rate", "max": 0.05}, {"name": "latency_p95", "max": 0.5}])
    assert rollback_weight(specs) == 2 * (1 + LIMIT_WEIGHT)  # each: the comparison and the limits
    either = metric_specs([{"name": "error_rate", "direction": "either"}])
    assert rollback_weight(either) == 2
    # two comparisons each short of 1 / (share x alpha) alone, together past 1 / alpha: a rollback, named
    # after the larger; one alone at the same evidence is not
    a = Evidence("error_rate", "compare_increase", 1.0, math.log(150), "errors")
    b = Evidence("latency_p95", "compare_increase", 1.0, math.log(120), "latency")
    combined, named = weigh([a, b], 2.0, 0.01)
    assert combined >= math.log(100) and named == [a]
    assert weigh([a], 2.0, 0.01)[1] == []
    # a test past its own share alone is named too, whatever the largest
    big = Evidence("error_rate", "limits", 0.5, math.log(2000), "limit")
    assert {e.claim for e in weigh([a, b, big], 2.5, 0.01)[1]} == {"limit"}
    assert len(weigh([Evidence("x", "t", 1.0, math.log(1e4), "x"), big], 1.5, 0.01)[1]) == 2


def _config(**analysis) -> CanaryConfig:
    section = {"deployment": "model", "image": "model:v2", "analysis": analysis}
    return CanaryConfig.from_section(section)


def test_decision_uses_the_sequential_judge_by_default_and_leaves_it_the_counted_metrics():
    cfg = _config(metrics=[{"name": "error_rate", "max": 0.05}, {"name": "score_shift", "max": 0.2}])
    assert cfg.judges == ["sequential", "threshold"]
    shift = Observation(
        cfg.metrics[1], canary_sample=hist([1, 1, 1, 1, 0]), stable_sample=hist([1, 1, 1, 1, 0])
    )
    entry = decide(cfg, [ratio(100, 10_000, 100, 10_000), shift], [], final=False)
    judged = {j["judge"]: [m["metric"] for m in j["metrics"]] for j in entry["judges"]}
    assert judged == {"sequential": ["error_rate"], "threshold": ["score_shift"]}
    again = decide(cfg, [ratio(200, 20_000, 200, 20_000), shift], [], final=False, history=[entry])
    assert previous_looks([entry, again])["error_rate"] == [
        entry["judges"][0]["metrics"][0]["details"]["look"],
        again["judges"][0]["metrics"][0]["details"]["look"],
    ]


def test_the_old_judges_stay_selectable():
    cfg = _config(judges=["threshold", "compare"], sequential={"alpha": 0.05})
    entry = decide(cfg, [ratio(100, 10_000, 100, 10_000)], [], final=False)
    assert [j["judge"] for j in entry["judges"]] == ["threshold", "compare"]
    assert cfg.sequential.alpha == 0.05


def test_healthy_canaries_analysed_every_10_s_for_10_minutes_stay_within_alpha():
    """Known truth: the canary is the stable build (1 % errors, lognormal latency), analysed every 10 s for ten
    minutes (60 looks) at 50 requests/s, steps 10/25/50 %, both metrics with their limits. alpha is raised to
    0.25 so that a dozen canaries can show a broken guarantee: a test whose evidence drifts under no change
    (a bias that grows with the requests) crosses in nearly every canary, a valid one in at most a quarter."""
    from scipy.stats import norm

    specs = metric_specs([{"name": "error_rate", "max": 0.015}, {"name": "latency_p95", "max": 0.13}])
    bounds = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, math.inf)
    probs = np.diff(np.concatenate([[0.0], norm.cdf(np.log(np.array(bounds[:-1]) / 0.05) / 0.5), [1.0]]))
    rng = np.random.default_rng(7)
    settings = SequentialSettings(alpha=0.25)
    rolled_back = 0
    for _ in range(12):
        totals = {"canary": np.zeros(len(bounds) + 2), "stable": np.zeros(len(bounds) + 2)}
        previous: dict[str, list] = {}
        for k in range(60):
            share = (0.1, 0.25, 0.5)[min(k, 2)]
            for track, rps in (("canary", 50 * share), ("stable", 50 * (1 - share))):
                n = rng.poisson(rps * 10)
                totals[track] += np.concatenate([[n, rng.binomial(n, 0.01)], rng.multinomial(n, probs)])
            observations = []
            for spec in specs:
                samples = {
                    track: Counts(float(t[1]), float(t[0]))
                    if spec.kind == "ratio"
                    else Histogram(bounds, tuple(np.cumsum(t[2:]).astype(float)))
                    for track, t in totals.items()
                }
                observations.append(
                    Observation(spec, canary_sample=samples["canary"], stable_sample=samples["stable"])
                )
            verdict = sequential_judge(observations, settings, previous)
            if verdict.outcome == "fail":
                rolled_back += 1
                break
            for m in verdict.metrics:
                previous.setdefault(m.metric, []).append(m.details["look"])
    assert rolled_back <= 6  # Binomial(12, 0.25) exceeds 6 with chance 1.4 %


def test_the_terminal_look_spends_its_share_on_one_fixed_horizon_test():
    """1.8x the stable error rate on 4,000 requests a track: the sequences are not certain yet, the exact test
    at the terminal look is (p 4.6e-4 against 0.25 %: alpha 0.01, half of it, two comparisons)."""
    obs = [ratio(90, 4000, 50, 4000), latency([50, 30, 15, 5, 0], [50, 30, 15, 5, 0])]
    share = SequentialSettings(terminal_share=0.5)
    before = sequential_judge(obs, share)
    assert before.outcome != "fail" and "p_terminal" not in before.metrics[0].details["look"]
    at_end = sequential_judge(obs, SequentialSettings(terminal_share=0.5, terminal=True, final=True))
    failed = at_end.metrics[0]
    assert at_end.outcome == "fail" and "the last look's fixed-horizon test: p" in failed.why
    assert failed.details["look"]["p_terminal"] < 0.0025
    assert at_end.metrics[1].passed is not False  # same histograms: no latency test rejects
    assert "rolls back at 200" in failed.why  # the sequences keep the other half: 1 / (0.01 x 0.5)
    no_share = sequential_judge(obs, SequentialSettings(terminal=True, final=True))
    assert no_share.outcome != "fail"  # terminal_share 0: no terminal test
