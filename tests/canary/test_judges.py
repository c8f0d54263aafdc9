import numpy as np

from gates.deploy.judges import CompareSettings, Observation, combine, compare_judge, threshold_judge
from gates.deploy.queries import MetricSpec

ERR = MetricSpec("error_rate", "q", max=0.05, critical=True)
LAT = MetricSpec("latency_p95", "q", max=0.5)
ACC = MetricSpec("accuracy", "q", min=0.8, direction="decrease")


def test_threshold_pass_and_fail():
    v = threshold_judge([Observation(ERR, canary=0.01), Observation(LAT, canary=0.9)])
    assert v.outcome == "fail" and [m.classification for m in v.metrics] == ["pass", "fail"]
    assert "above the maximum" in v.metrics[1].why


def test_threshold_min():
    assert threshold_judge([Observation(ACC, canary=0.7)]).outcome == "fail"
    assert threshold_judge([Observation(ACC, canary=0.9)]).outcome == "pass"


def test_threshold_no_data_is_never_pass():
    fail = threshold_judge([Observation(ERR, canary=None, missing={"canary": "empty"})], no_data="fail")
    assert fail.outcome == "fail"
    hold = threshold_judge([Observation(ERR, canary=None)], no_data="inconclusive")
    assert hold.outcome == "inconclusive" and hold.metrics[0].passed is None


def test_threshold_max_increase_against_stable():
    spec = MetricSpec("error_rate", "q", max_increase=0.01)
    assert threshold_judge([Observation(spec, canary=0.03, stable=0.01)]).outcome == "fail"
    assert threshold_judge([Observation(spec, canary=0.015, stable=0.01)]).outcome == "pass"
    assert threshold_judge([Observation(spec, canary=0.015, stable=None)]).outcome == "fail"


def test_threshold_none_when_no_limits():
    assert threshold_judge([Observation(MetricSpec("x", "q"), canary=1)]) is None


def _obs(spec, c, s):
    return Observation(spec, canary_points=list(c), stable_points=list(s))


def test_compare_same_distribution_passes():
    rng = np.random.default_rng(1)
    v = compare_judge([_obs(LAT, rng.normal(0.2, 0.02, 60), rng.normal(0.2, 0.02, 60))])
    assert v.outcome == "pass" and v.score == 100 and v.metrics[0].classification == "pass"


def test_compare_high_latency_fails():
    rng = np.random.default_rng(2)
    v = compare_judge([_obs(LAT, rng.normal(0.3, 0.02, 60), rng.normal(0.2, 0.02, 60))])
    m = v.metrics[0]
    assert m.classification == "high" and m.passed is False and v.outcome == "fail"
    assert m.details["p_value"] < 0.02


def test_compare_significant_but_within_tolerance_passes():
    rng = np.random.default_rng(3)
    v = compare_judge([_obs(LAT, rng.normal(0.21, 0.002, 200), rng.normal(0.2, 0.002, 200))])
    assert v.metrics[0].classification == "pass" and "within tolerance" in v.metrics[0].why


def test_compare_allowed_direction():
    rng = np.random.default_rng(4)
    v = compare_judge([_obs(ACC, rng.normal(0.95, 0.01, 60), rng.normal(0.7, 0.01, 60))])
    assert v.metrics[0].classification == "high" and v.metrics[0].passed is True and v.outcome == "pass"


def test_compare_critical_zeroes_score():
    rng = np.random.default_rng(5)
    good = [_obs(MetricSpec(f"m{i}", "q"), rng.normal(1, 0.1, 60), rng.normal(1, 0.1, 60)) for i in range(9)]
    bad = _obs(ERR, rng.normal(0.2, 0.01, 60), rng.normal(0.01, 0.005, 60))
    v = compare_judge(good + [bad])
    assert v.score == 0 and v.outcome == "fail" and "critical" in v.why


def test_compare_marginal_and_final_step():
    rng = np.random.default_rng(6)
    obs = [_obs(MetricSpec(f"m{i}", "q"), rng.normal(1, 0.1, 60), rng.normal(1, 0.1, 60)) for i in range(4)]
    obs.append(_obs(MetricSpec("lat", "q"), rng.normal(2, 0.1, 60), rng.normal(1, 0.1, 60)))
    assert compare_judge(obs, CompareSettings(marginal_score=75)).outcome == "marginal"  # score 80
    assert compare_judge(obs, CompareSettings(marginal_score=75, final=True)).outcome == "fail"


def test_compare_no_data_modes_and_warning():
    v = compare_judge([_obs(LAT, [], [0.2] * 10)], CompareSettings(no_data="inconclusive"))
    assert v.outcome == "inconclusive" and v.metrics[0].classification == "nodata"
    v = compare_judge([_obs(LAT, [], [0.2] * 10)], CompareSettings(no_data="fail"))
    assert v.outcome == "fail" and v.score == 0
    v = compare_judge([_obs(LAT, [0.2] * 5, [0.2] * 5)])
    assert v.outcome == "pass" and v.warnings and "fewer than 50" in v.warnings[0]


def test_compare_zero_stable_error_rate():
    v = compare_judge([_obs(ERR, [0.1, 0.12, 0.09, 0.11] * 15, [0.0] * 60)])
    assert v.metrics[0].classification == "high" and v.outcome == "fail"
    v = compare_judge([_obs(ERR, [0.0] * 60, [0.0] * 60)])
    assert v.outcome == "pass"


def test_mean_ratio_effect():
    rng = np.random.default_rng(7)
    c, s = rng.normal(1.5, 0.05, 60), rng.normal(1.0, 0.05, 60)
    v = compare_judge([_obs(LAT, c, s)], CompareSettings(effect="mean_ratio"))
    assert v.metrics[0].classification == "high" and "mean ratio" in v.metrics[0].why


def test_combine():
    assert combine(["pass", "marginal"]) == "marginal"
    assert combine(["pass", "inconclusive", "fail"]) == "fail"
    assert combine([]) == "inconclusive"


# -- counted kinds: request-level evidence ------------------------------------------------------------------------
import math

from gates.deploy.canary.state import CanaryState, Limits, next_move
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.queries import metric_specs

SPECS = {
    s.name: s
    for s in metric_specs(
        [
            {"name": "error_rate", "max": 0.05, "critical": True},
            {"name": "latency_p95", "max": 0.3},
            {"name": "score_shift", "max": 0.2},
        ]
    )
}
BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, math.inf)


def errors(c_events, c_trials, s_events, s_trials, **kw):
    return Observation(
        SPECS["error_rate"],
        canary_sample=Counts(c_events, c_trials),
        stable_sample=Counts(s_events, s_trials),
        **kw,
    )


def latency(rng, n_c, n_s, factor=1.0, spec=None):
    def h(n, f):
        x = 0.05 * f * np.exp(0.5 * rng.standard_normal(n))
        return Histogram.from_buckets({b: float((x <= b).sum()) for b in BUCKETS})

    return Observation(spec or SPECS["latency_p95"], canary_sample=h(n_c, factor), stable_sample=h(n_s, 1.0))


def test_threshold_ratio_fails_only_on_evidence():
    clear = threshold_judge([errors(40, 400, 0, 0)])
    assert clear.outcome == "fail" and "above the maximum" in clear.metrics[0].why
    noisy = threshold_judge([errors(2, 30, 0, 0)])  # 6.7% on 30 requests: could be 1%
    assert noisy.metrics[0].classification == "inconclusive" and noisy.outcome == "marginal"
    assert threshold_judge([errors(2, 30, 0, 0)], final=True).outcome == "inconclusive"
    assert threshold_judge([errors(3, 1000, 0, 0)]).outcome == "pass"


def test_compare_ratio_detects_a_doubling_with_enough_requests():
    v = compare_judge([errors(60, 3000, 30, 3000)])
    m = v.metrics[0]
    assert m.classification == "high" and v.outcome == "fail" and v.score == 0 and "critical" in v.why
    assert m.details["p_value"] < 0.01 and m.details["canary"] == {"events": 60, "trials": 3000}


def test_compare_ratio_with_little_evidence_is_not_a_pass():
    thin_evidence = errors(2, 60, 5, 540)  # 3% vs 1%, but on 60 requests
    v = compare_judge([thin_evidence])
    assert v.metrics[0].classification == "inconclusive" and v.metrics[0].passed is None
    assert v.outcome == "marginal" and "not enough evidence" in v.why
    assert compare_judge([thin_evidence], CompareSettings(final=True)).outcome == "inconclusive"


def test_compare_ratio_zero_errors_pass_once_a_regression_is_ruled_out():
    assert compare_judge([errors(0, 200, 0, 2000)]).metrics[0].classification == "inconclusive"
    assert compare_judge([errors(0, 2000, 0, 2000)]).outcome == "pass"


def test_compare_ratio_small_significant_difference_within_tolerance_passes():
    v = compare_judge([errors(1100, 100000, 1000, 100000)])  # 1.1% vs 1.0%: real, but within 25%
    assert v.outcome == "pass", v.why


def test_too_little_traffic_is_inconclusive_even_when_no_data_fails():
    obs = errors(0, 12, 1, 100, thin={"canary": "too little traffic (12 requests)"})
    for judge in (
        threshold_judge([obs], no_data="fail"),
        compare_judge([obs], CompareSettings(no_data="fail")),
    ):
        assert judge.outcome == "inconclusive" and "too little traffic" in judge.metrics[0].why


def test_compare_quantile_latency():
    rng = np.random.default_rng(11)
    slow = compare_judge([latency(rng, 1500, 1500, 1.3)])
    assert slow.metrics[0].classification == "high" and slow.outcome == "fail"
    assert slow.metrics[0].details["test"] == "mann-whitney on histogram buckets"
    same = compare_judge([latency(rng, 1500, 1500, 1.0)])
    assert same.outcome == "pass", same.why
    few = compare_judge([latency(rng, 40, 400, 1.0)])
    assert few.metrics[0].classification == "inconclusive"


def test_threshold_quantile_latency():
    rng = np.random.default_rng(12)
    spec = metric_specs([{"name": "latency_p95", "max": 0.2}])[0]
    assert threshold_judge([latency(rng, 2000, 10, 2.5, spec)]).outcome == "fail"
    assert threshold_judge([latency(rng, 2000, 10, 1.0, spec)]).outcome == "pass"


def test_distribution_threshold():
    bounds = tuple(round(0.05 * i, 2) for i in range(1, 21)) + (math.inf,)
    rng = np.random.default_rng(13)

    def h(x):
        return Histogram.from_buckets({b: float((x <= b).sum()) for b in bounds})

    base = rng.beta(2, 5, 3000)
    shifted = Observation(
        SPECS["score_shift"],
        canary_sample=h(np.clip(rng.beta(2, 5, 3000) + 0.4, 0, 1)),
        stable_sample=h(base),
    )
    assert threshold_judge([shifted]).outcome == "fail"
    same = Observation(SPECS["score_shift"], canary_sample=h(rng.beta(2, 5, 3000)), stable_sample=h(base))
    assert threshold_judge([same]).outcome == "pass"


def test_series_with_too_few_points_is_inconclusive():
    v = compare_judge([_obs(LAT, [0.2, 0.3], [0.2, 0.25])])
    assert v.metrics[0].classification == "inconclusive" and v.outcome == "marginal"


def test_healthy_canary_rarely_fails_on_noise():
    """The benchmark's promise in small: 300 healthy canaries at 10 req/s (10% weight, 60 s), one analysis of
    both judges each: at most 3% fail."""
    rng = np.random.default_rng(14)
    fails = 0
    for _ in range(300):
        nc, ns = rng.poisson(60), rng.poisson(540)
        obs = [errors(rng.binomial(nc, 0.01), nc, rng.binomial(ns, 0.01), ns), latency(rng, nc, ns)]
        outcome = combine([threshold_judge(obs).outcome, compare_judge(obs).outcome])
        fails += outcome == "fail"
    assert fails / 300 <= 0.03


def test_next_move_counts_failures_in_a_row():
    state = CanaryState(target="t", image="i", steps=[10, 50, 100], stable_replicas=2)
    limits = Limits(failure_limit=2, inconclusive_limit=2, error_limit=2, on_inconclusive_limit="hold")
    assert next_move(state, "fail", limits, last=False) == "again" and state.failed_checks == 1
    assert next_move(state, "pass", limits, last=False) == "advance" and state.failed_checks == 0
    assert state.step == 1
    assert next_move(state, "fail", limits, last=False) == "again"
    assert (
        next_move(state, "inconclusive", limits, last=False) == "again"
    )  # does not break the run of failures
    assert next_move(state, "fail", limits, last=False) == "rollback"
    state = CanaryState(target="t", image="i", steps=[10, 100], stable_replicas=2)
    assert next_move(state, "marginal", limits, last=False) == "advance"
    assert next_move(state, "inconclusive", limits, last=True) == "again"
    assert next_move(state, "inconclusive", limits, last=True) == "hold"
    assert next_move(state, "error", limits, last=True) == "again"
    assert next_move(state, "error", limits, last=True) == "rollback_error"
    state.errors = 0
    assert next_move(state, "pass", limits, last=True) == "promote"


def test_a_metric_without_data_is_never_outvoted_by_the_score():
    """19 metrics pass, one has no data: the score would be 95 (a pass); missing evidence fails the judge."""
    rng = np.random.default_rng(21)
    specs = [MetricSpec(f"m{i}", "q") for i in range(20)]
    observations = [_obs(spec, rng.normal(0.2, 0.02, 60), rng.normal(0.2, 0.02, 60)) for spec in specs[:19]]
    observations.append(_obs(specs[19], [], []))
    v = compare_judge(observations)
    assert v.score == 95 and v.outcome == "fail" and "no data for m19" in v.why
    held = compare_judge(observations, CompareSettings(no_data="inconclusive"))
    assert held.outcome == "inconclusive"
