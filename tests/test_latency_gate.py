"""The latency gate: percentiles equal numpy's inverted-CDF percentiles, intervals, limits and bad samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gates import latency
from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.stats import intervals
from gates.stats.bootstrap import compress

FAST = Bootstrap(confidence=0.95, resamples=200, seed=0)


def samples(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.lognormal(3, 0.4, n), 1)  # rounded: repeated values, like real timings


@pytest.mark.parametrize("n", [1, 7, 37, 100, 140, 999, 1000, 2500])
def test_point_percentiles_equal_numpy_inverted_cdf(n):
    values = samples(n, seed=n)
    cells = compress({"latency": values})
    stats = latency.latency_statistics(cells.columns["latency"], cells.counts[None, :])
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert stats[name][0] == np.percentile(values, q, method="inverted_cdf"), (name, n)
    assert stats["mean"][0] == pytest.approx(values.mean())


def test_weighted_quantile_equals_numpy_on_repeated_rows():
    rng = np.random.default_rng(3)
    values = np.sort(rng.uniform(1, 100, 40))
    weights = rng.integers(0, 5, size=(20, 40)).astype(float)
    weights[:, 0] += 1  # never an all-zero resample
    for q in (1, 25, 50, 90, 95, 99, 100):
        ours = latency.weighted_quantile(values, weights, q)
        expected = [
            np.percentile(np.repeat(values, w.astype(int)), q, method="inverted_cdf") for w in weights
        ]
        np.testing.assert_array_equal(ours, expected)


def test_gate_values_intervals_and_limits(tmp_path):
    values = samples(800)
    pd.DataFrame({"latency_ms": values}).to_csv(tmp_path / "lat.csv", index=False)
    p95 = np.percentile(values, 95, method="inverted_cdf")
    section = {"samples": "lat.csv", "max_p95": float(p95) + 20, "max_p99": float(p95) - 1, "max_mean": 1000}
    result = latency.run(
        section,
        GateContext(base_dir=tmp_path, report_dir=tmp_path, defaults={"bootstrap": {"resamples": 200}}),
    )
    by_name = {c.name: c for c in result.checks}
    assert by_name["p95"].value == p95 and by_name["p95"].status is Status.PASS
    low, high = by_name["p95"].ci
    assert low <= p95 <= high
    assert by_name["p99"].value == np.percentile(values, 99, method="inverted_cdf")
    assert by_name["p99"].status is Status.FAIL and "p99 latency (ms)" in by_name["p99"].why
    assert by_name["mean"].value == pytest.approx(values.mean())
    assert "p50" not in by_name  # no limit, no check
    assert result.summary["p50"] == round(float(np.percentile(values, 50, method="inverted_cdf")), 3)
    assert result.evidence["samples"] == 800
    assert result.status is Status.FAIL


def test_bound_mode_fails_when_the_interval_reaches_over():
    values = samples(300)
    p95 = float(np.percentile(values, 95, method="inverted_cdf"))
    section = {"max_p95": p95 + 0.5}
    assert latency.evaluate(values, section, FAST, "point").checks[0].status is Status.WARN
    assert latency.evaluate(values, section, FAST, "bound").checks[0].status is Status.FAIL


def test_percentiles_from_too_few_samples_warn_and_error_when_the_bound_decides():
    """The minimum n is the order-statistic one: p95 needs 72 samples, p99 368 (95% two-sided)."""
    values = samples(100)
    limits = {"max_p99": 10_000, "max_p95": 10_000}
    by_name = {c.name: c for c in latency.evaluate(values, limits, FAST, "point").checks}
    assert by_name["p99"].status is Status.WARN and "only 100 samples" in by_name["p99"].why
    assert by_name["p99"].details["min_samples"] == 368 and by_name["p99"].ci is None
    assert by_name["p95"].status is Status.PASS
    bound = {c.name: c for c in latency.evaluate(values, limits, FAST, "bound").checks}
    assert bound["p99"].status is Status.ERROR and bound["p95"].status is Status.PASS
    assert latency.evaluate(samples(368), {"max_p99": 10_000}, FAST, "bound").status is Status.PASS


@pytest.mark.parametrize(("q", "confidence"), [(0.99, 0.95), (0.95, 0.95), (0.5, 0.9), (0.99, 0.9)])
def test_minimum_samples_is_where_an_upper_order_statistic_first_exists(q, confidence):
    need = intervals.quantile_min_samples(q, confidence)
    assert intervals.quantile_ranks(need, q, confidence)[1] == need  # the maximum bounds it
    assert intervals.quantile_ranks(need - 1, q, confidence)[1] is None
    assert scipy_stats.binom.sf(need - 1, need, q) <= (1 - confidence) / 2  # P(all n below xi_q)


def test_order_statistic_intervals_cover_the_true_percentile():
    """Known truth: lognormal percentiles; coverage within 93-97% over 2000 samples of n in {400, 1000}."""
    rng = np.random.default_rng(11)
    for n in (400, 1000):
        for q in (0.5, 0.95, 0.99):
            truth = float(np.exp(3 + 0.4 * scipy_stats.norm.ppf(q)))
            hits = 0
            for _ in range(2000):
                low, high = intervals.quantile_interval(rng.lognormal(3, 0.4, n), q, 0.95)
                hits += low <= truth <= high
            assert 0.93 <= hits / 2000 <= 0.975, (n, q, hits / 2000)


def test_reproducible_intervals():
    values = samples(500)
    first = latency.evaluate(values, {"max_p95": 1000, "max_mean": 1000}, FAST, "point").checks
    again = latency.evaluate(values, {"max_p95": 1000, "max_mean": 1000}, FAST, "point").checks
    assert [c.ci for c in first] == [c.ci for c in again]
    other = Bootstrap(confidence=0.95, resamples=200, seed=1)
    moved = latency.evaluate(values, {"max_p95": 1000, "max_mean": 1000}, other, "point").checks
    assert first[0].ci == moved[0].ci  # order statistics: no resampling, no seed
    assert first[1].ci != moved[1].ci  # the mean's bootstrap follows the seed


def test_no_limits_is_an_error():
    result = latency.evaluate(samples(50), {}, FAST, "point")
    assert result.status is Status.ERROR and "no latency limits" in result.checks[0].why


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("latency_ms\n12\n-3\n", "lat.csv: column 'latency_ms' row 2: latency is negative (-3)"),
        ("latency_ms\n12\nslow\n", "lat.csv: column 'latency_ms' row 2: expected a number, got 'slow'"),
        ("latency_ms\n12\n\n4\nnan\n", "lat.csv: column 'latency_ms': 1 row NaN or infinite"),
        ("ms\n12\n", "lat.csv: missing column 'latency_ms' (columns: ms)"),
    ],
)
def test_bad_samples(tmp_path, content, fragment):
    (tmp_path / "lat.csv").write_text(content)
    with pytest.raises(InputError) as raised:
        latency.run(
            {"samples": "lat.csv", "max_p95": 10}, GateContext(base_dir=tmp_path, report_dir=tmp_path)
        )
    assert fragment in str(raised.value)


def test_latency_cli(cli, tmp_path):
    values = samples(400)
    pd.DataFrame({"t": values / 1000}).to_csv(tmp_path / "load.csv", index=False)
    p95 = np.percentile(values / 1000, 95, method="inverted_cdf")
    result = cli(
        "latency",
        "--samples",
        "load.csv",
        "--column",
        "t",
        "--unit",
        "s",
        "--max-p95",
        str(p95 * 2),
        "--resamples",
        "100",
    )
    assert result.code == 0, result.stderr
    assert "p95 latency (s)" not in result.stdout  # passes are not spelled out below the table
    result = cli(
        "latency",
        "--samples",
        "load.csv",
        "--column",
        "t",
        "--unit",
        "s",
        "--max-p95",
        str(p95 / 2),
        "--resamples",
        "100",
    )
    assert result.code == 1 and "latency/p95 fail: p95 latency (s)" in result.stdout
