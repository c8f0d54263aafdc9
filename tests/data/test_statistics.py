"""Column statistics judged with intervals, checked by simulation against known truths (coverage, false
alarms, power), and the binned bootstrap against the exact one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gates.core.result import Status
from gates.data.statistics import Judging, _bootstrap, column_statistics, value_cells
from gates.stats.bootstrap import percentile_interval

SIMULATIONS = 300


def interval(values: np.ndarray, spec: dict, resamples: int = 300, seed: int = 0):
    check = column_statistics(pd.Series(values), spec, "x", Judging(resamples=resamples, seed=seed))[0]
    return check


@pytest.mark.parametrize(
    ("stat", "draw", "truth", "low", "high"),
    [
        (
            "mean",
            lambda rng: rng.exponential(2.0, 200),
            2.0,
            0.90,
            0.98,
        ),  # skewed: percentile bootstrap ~0.93
        ("std", lambda rng: rng.normal(0, 3.0, 300), 3.0, 0.90, 0.98),
        ("median", lambda rng: rng.lognormal(0, 1, 101), 1.0, 0.95, 0.995),  # exact order statistics: >= 95%
    ],
)
def test_interval_coverage_by_simulation(stat, draw, truth, low, high):
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(SIMULATIONS):
        check = interval(draw(rng), {stat: {"max": 1e9}}, seed=i)
        covered += check.ci[0] <= truth <= check.ci[1]
    assert low <= covered / SIMULATIONS <= high, covered / SIMULATIONS


def test_quantile_interval_covers_and_says_when_n_is_too_small():
    rng = np.random.default_rng(2)
    truth = -np.log(1 - 0.9)  # 0.9 quantile of Exp(1)
    hits = 0
    for _ in range(SIMULATIONS):
        check = column_statistics(
            pd.Series(rng.exponential(1, 200)), {"quantiles": [{"q": 0.9, "max": 9}]}, "x", Judging()
        )[0]
        hits += check.ci[0] <= truth <= check.ci[1]
    assert 0.95 <= hits / SIMULATIONS <= 0.995
    small = column_statistics(
        pd.Series(np.arange(20.0)), {"quantiles": [{"q": 0.9, "max": 100}]}, "x", Judging()
    )[0]
    assert small.status is Status.WARN and small.ci[1] == np.inf  # 20 rows cannot bound the 0.9 quantile


def test_share_in_set_uses_a_wilson_interval():
    check = column_statistics(
        pd.Series(["a"] * 90 + ["b"] * 10 + [None] * 5),
        {"in_set": {"values": ["a"], "min_share": 0.8}},
        "x",
        Judging(),
    )[0]
    assert check.value == pytest.approx(0.9) and check.details["values"] == 100
    assert check.ci == pytest.approx((0.8256, 0.9448), abs=1e-3) and check.status is Status.PASS


def test_false_alarms_and_power_of_point_and_bound():
    """True mean exactly at the maximum: deciding on the point fails about half the time, on the bound about
    97.5%. True mean four standard errors inside: the point never fails and the bound passes nearly always."""
    rng = np.random.default_rng(3)
    n, sigma = 400, 1.0
    se = sigma / np.sqrt(n)

    def fail_rate(mean: float, decide_on: str) -> float:
        fails = 0
        for i in range(200):
            values = rng.normal(mean, sigma, n)
            check = column_statistics(
                pd.Series(values),
                {"mean": {"max": 0.0, "decide_on": decide_on}},
                "x",
                Judging(resamples=300, seed=i),
            )[0]
            fails += check.status is Status.FAIL
        return fails / 200

    assert 0.4 <= fail_rate(0.0, "point") <= 0.6
    assert fail_rate(0.0, "bound") >= 0.95
    assert fail_rate(-4 * se, "point") == 0.0
    assert fail_rate(-4 * se, "bound") <= 0.05


def test_binned_cells_keep_point_values_exact_and_intervals_close():
    rng = np.random.default_rng(4)
    values = rng.gamma(2.0, 3.0, 200_000)  # every value distinct: past EXACT_CELLS, so quantile bins
    cells = value_cells(values)
    assert cells.size <= 4096
    assert float(cells.counts @ cells.columns["m"] / cells.counts.sum()) == pytest.approx(
        values.mean(), rel=1e-12
    )
    second = float(cells.counts @ cells.columns["q"] / cells.counts.sum())
    assert second - values.mean() ** 2 == pytest.approx(values.var(), rel=1e-9)
    samples = _bootstrap(values, ["mean", "std"], Judging(resamples=300, seed=0))
    mean_ci = percentile_interval(samples["mean"], 0.95)
    std_ci = percentile_interval(samples["std"], 0.95)
    se_mean = values.std(ddof=1) / np.sqrt(values.size)
    assert (mean_ci.high - mean_ci.low) / (2 * 1.96 * se_mean) == pytest.approx(1.0, abs=0.12)
    assert std_ci.low < values.std(ddof=1) < std_ci.high


def test_no_values_is_an_error_never_a_pass():
    checks = column_statistics(
        pd.Series([None, "x"], dtype=object), {"mean": {"min": 0}, "largest": {"max": 3}}, "x", Judging()
    )
    assert [c.status for c in checks] == [Status.ERROR, Status.ERROR]
