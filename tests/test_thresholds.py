"""Deciding a value and its interval against min / max thresholds, in point and bound mode."""

from __future__ import annotations

import math

import pytest

from gates.core.result import Status
from gates.core.thresholds import Threshold, decide


@pytest.mark.parametrize(
    ("value", "ci", "mode", "expected"),
    [
        (0.90, (0.85, 0.95), "point", Status.PASS),  # interval clear of the minimum
        (0.90, (0.75, 0.95), "point", Status.WARN),  # passes on the point, interval reaches below
        (0.90, (0.75, 0.95), "bound", Status.FAIL),  # bound mode needs the lower bound to clear it
        (0.70, (0.65, 0.75), "point", Status.FAIL),  # point below the minimum fails in either mode
        (0.70, (0.65, 0.75), "bound", Status.FAIL),
        (0.80, (0.80, 0.90), "bound", Status.PASS),  # the bound may equal the limit
        (0.80, None, "bound", Status.PASS),  # no interval: the point is the bound
    ],
)
def test_min_threshold(value, ci, mode, expected):
    check = decide("auc", value, ci, Threshold(min=0.8, decide_on=mode))
    assert check.status is expected
    assert check.value == value and check.ci == ci


@pytest.mark.parametrize(
    ("value", "ci", "mode", "expected"),
    [
        (0.10, (0.05, 0.15), "point", Status.PASS),
        (0.10, (0.05, 0.25), "point", Status.WARN),
        (0.10, (0.05, 0.25), "bound", Status.FAIL),
        (0.30, (0.25, 0.35), "point", Status.FAIL),
    ],
)
def test_max_threshold(value, ci, mode, expected):
    assert decide("loss", value, ci, Threshold(max=0.2, decide_on=mode)).status is expected


def test_both_limits_and_reasons_name_the_numbers():
    t = Threshold(min=0.2, max=0.4)
    assert decide("x", 0.3, (0.25, 0.35), t).status is Status.PASS
    low = decide("x", 0.1, None, t)
    assert low.status is Status.FAIL and "below the minimum 0.2" in low.why
    high = decide("x", 0.5, None, t)
    assert high.status is Status.FAIL and "above the maximum 0.4" in high.why
    warn = decide("x", 0.3, (0.1, 0.35), t, confidence=0.9)
    assert warn.status is Status.WARN and "90% interval reaches down to 0.1" in warn.why


@pytest.mark.parametrize("value", [None, math.nan])
def test_missing_value_is_an_error(value):
    check = decide("roc_auc", value, None, Threshold(min=0.5))
    assert check.status is Status.ERROR
    assert check.value is None
    assert "could not be computed" in check.why


def test_describe_and_from_policy():
    t = Threshold.from_policy({"min": 0.75}, default_decide_on="bound")
    assert t == Threshold(min=0.75, decide_on="bound")
    assert t.describe() == ">= 0.75 (CI bound)"
    assert Threshold.from_policy({"max": 50, "decide_on": "point"}, "bound").describe() == "<= 50 (point)"
    assert Threshold(min=0, max=1).describe() == ">= 0 and <= 1 (point)"
    assert Threshold().describe() == "none (point)"


def test_no_limit_passes_with_value_in_reason():
    check = decide("n", 3.0, None, Threshold())
    assert check.status is Status.PASS
    assert "n 3 meets" in check.why
