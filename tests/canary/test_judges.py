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
