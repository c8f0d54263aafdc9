"""The detectors' stated numbers checked by simulation with fixed seeds: in-control ARL0 (false alarms) and the
detection delay after a known shift. The target ARL0s are small so the simulation stays quick; the bench
(bench/monitor_arl.py) covers the production sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.monitor import changepoint as cp
from gates.monitor.run import _blocks
from gates.monitor.simulate import run_lengths

PATHS = 2000


@pytest.mark.parametrize("k,arl0", [(0.5, 100), (0.25, 200), (1.0, 300)])
def test_cusum_arl0_by_simulation_meets_the_target(k, arl0):
    h = cp.cusum_threshold(k, arl0)
    lengths = run_lengths("cusum", k, h, paths=PATHS, horizon=30 * arl0, seed=11)
    assert (lengths <= 30 * arl0).all()
    mean = lengths.mean()
    # the stated ARL0 is a floor (Siegmund's approximation plus a 5 % margin), and not a loose one
    se = lengths.std() / np.sqrt(PATHS)
    assert arl0 - 3 * se <= mean <= 1.15 * arl0 + 3 * se, (mean, arl0)


def test_cusum_detection_delay_matches_the_approximation():
    k, arl0 = 0.5, 500
    h = cp.cusum_threshold(k, arl0)
    predicted = cp.cusum_arl(k, h, shift=1.0)
    lengths = run_lengths("cusum", k, h, shift=1.0, paths=PATHS, horizon=2000, seed=12)
    assert abs(lengths.mean() - predicted) / predicted < 0.15, (lengths.mean(), predicted)
    assert 8 < predicted < 13  # about ten blocks for a shift of one standard error of a block mean


@pytest.mark.parametrize("delta,arl0", [(0.5, 100), (0.25, 300)])
def test_page_hinkley_arl0_by_simulation_meets_the_target(delta, arl0):
    lam = cp.page_hinkley_threshold(delta, arl0)
    lengths = run_lengths("page_hinkley", delta, lam, paths=PATHS, horizon=30 * arl0, seed=13)
    mean, se = lengths.mean(), lengths.std() / np.sqrt(PATHS)
    assert arl0 - 3 * se <= mean <= 1.25 * arl0 + 3 * se, (mean, arl0)


def test_page_hinkley_detects_a_change_after_a_quiet_start():
    delta, arl0, change = 0.5, 500, 200
    lam = cp.page_hinkley_threshold(delta, arl0)
    lengths = run_lengths(
        "page_hinkley", delta, lam, shift=1.0, paths=PATHS, horizon=3000, seed=14, change_at=change
    )
    survived = lengths > change
    assert survived.mean() > 0.6  # ARL0 500: most paths have no false alarm in the first 200 blocks
    delays = lengths[survived] - change
    assert np.median(delays) < 20 and (delays <= 3000 - change).mean() > 0.99


def test_threshold_is_deterministic_and_rises_with_arl0():
    assert cp.page_hinkley_threshold(0.5, 200) == cp.page_hinkley_threshold(0.5, 200)
    assert cp.cusum_threshold(0.5, 1000) > cp.cusum_threshold(0.5, 100)
    with pytest.raises(ValueError):
        cp.cusum_threshold(0.5, 1)


def test_detector_state_round_trips_and_resets_after_alarm():
    detector = cp.Cusum(k=0.5, h=4.0)
    assert not any(detector.update(0.6) for _ in range(5))
    again = cp.detector_from_dict(detector.to_dict())
    assert again == detector
    fired = [detector.update(3.0) for _ in range(3)]
    assert fired[-1] or fired[-2]
    assert detector.statistic < 4.0  # reset after the alarm
    ph = cp.PageHinkley(delta=0.5, lam=5.0)
    for z in (0.1, -0.3, 0.2):
        ph.update(z)
    assert cp.detector_from_dict(ph.to_dict()) == ph
    with pytest.raises(ValueError):
        cp.detector_from_dict({"kind": "ewma"})


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=0, max_size=60),
    st.lists(st.integers(0, 60), max_size=4),
    st.integers(1, 9),
)
def test_blocks_do_not_depend_on_where_runs_split_the_stream(values, cuts, size):
    """A run boundary anywhere gives the same blocks as one run over everything (restarts change nothing)."""
    stream = np.array(values)
    whole, whole_pending = _blocks(stream, {}, size)
    pieces, pending = [], {"n": 0, "sum": 0.0}
    edges = sorted({0, len(values), *[min(c, len(values)) for c in cuts]})
    for a, b in itertools.pairwise(edges):
        blocks, pending = _blocks(stream[a:b], pending, size)
        pieces += blocks
    assert len(pieces) == len(whole)
    assert np.allclose([m for m, _ in pieces], [m for m, _ in whole])
    assert pending["n"] == whole_pending["n"] and np.isclose(pending["sum"], whole_pending["sum"])
