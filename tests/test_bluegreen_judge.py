"""The sequential judge on blue/green test traffic (gates.deploy.bluegreen_judge).

Two halves: the decision, by simulation with known truth (each colour's errors and latencies drawn from known
distributions, fed through the judge's own tallies, looks and stopping rule), and the traffic, against the
example model service running on loopback (healthy, 40 ms slower, one request in ten failing)."""

from __future__ import annotations

import numpy as np
import pytest

from gates.core.settings.delivery import BlueGreenJudge, EndpointPaths
from gates.deploy.bluegreen_judge import LATENCY_BOUNDS, Tally, judge_colours, judge_specs, observations
from gates.deploy.endpoint_traffic import load_golden
from tests.test_validate_deployment import GOLDEN, services  # noqa: F401 - the running example services

URLS = {"new": "http://new.invalid", "live": "http://live.invalid"}


class Simulated:
    """PairedTraffic's interface over known truth: per colour an error probability and a lognormal latency
    (median, sd 0.5 of the log)."""

    def __init__(self, rng: np.random.Generator, errors=(0.0, 0.0), medians=(0.01, 0.01)):
        self.rng, self.truth = rng, {"new": (errors[0], medians[0]), "live": (errors[1], medians[1])}
        self.tallies = {side: Tally() for side in self.truth}
        self.sent = 0

    def send(self, pairs, concurrency, deadline, clock):
        for side, (error, median) in self.truth.items():
            ok = self.rng.random(pairs) >= error
            seconds = median * np.exp(0.5 * self.rng.standard_normal(pairs))
            for good, s in zip(ok, seconds):
                self.tallies[side].add("200" if good else "500", bool(good), float(s))
        self.sent += pairs
        return pairs


def run(rng, settings, **truth):
    check, evidence = judge_colours(
        URLS, [], settings, EndpointPaths(), {}, 1.0, traffic=Simulated(rng, **truth)
    )
    return check, evidence


SMALL = {"requests": 1500, "look_every": 100, "error_rate_min_effect": 0.02}


def outcomes(truth: dict, runs: int, seed: int, settings=SMALL) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    found = [run(rng, settings, **truth)[0].value for _ in range(runs)]
    return {o: found.count(o) / runs for o in ("pass", "fail", "inconclusive")}


def test_identical_colours_pass_and_are_almost_never_blocked_as_a_regression():
    # alpha 0.01: the chance of a false "worse" over every look is at most 1 %; 150 runs see 1.5 such blocks on
    # average, so more than 6 would be a broken guarantee (binomial tail below 0.1 %)
    shares = outcomes({"errors": (0.0, 0.0)}, runs=150, seed=1)
    assert shares["fail"] <= 6 / 150, shares
    assert shares["pass"] >= 0.95, shares  # no errors: the error bound reaches 2 % within the budget


def test_a_regression_is_blocked_early_and_a_large_one_is_never_passed():
    rng = np.random.default_rng(2)
    for truth in ({"medians": (0.02, 0.01)}, {"errors": (0.05, 0.0)}):
        results = [run(rng, SMALL, **truth) for _ in range(30)]
        assert all(check.status.value == "fail" for check, _ in results), truth
        assert all(ev["looks"][-1]["outcome"] == "fail" for _, ev in results), truth  # certain, not undecided
        assert np.median([ev["requests"] for _, ev in results]) <= 500, truth  # it stopped early
    # three times the live error rate (1.5 % against 0.5 %): a pass would wave through a regression beyond the
    # margin (2x); its chance is at most alpha / 2 per metric
    shares = outcomes({"errors": (0.015, 0.005)}, runs=25, seed=3, settings={**SMALL, "requests": 1000})
    assert shares["pass"] == 0.0, shares


def test_not_enough_evidence_blocks_with_the_budget_named():
    rng = np.random.default_rng(4)
    check, evidence = run(rng, {**SMALL, "requests": 100}, errors=(0.01, 0.01))
    assert check.status.value == "fail" and check.value == "inconclusive"
    assert "not enough evidence after 100" in check.why and "requests budget" in check.why
    assert evidence["requests"] == 100 and len(evidence["looks"]) == 1


def test_tallies_become_the_judge_observations_and_bounds():
    new, live = Tally(), Tally()
    new.add("200", True, 0.0123)
    new.add("500", False, 0.002)
    new.add("timeout", False, None)
    live.add("200", True, 100.0)  # beyond the last finite bound: the +Inf bucket
    ratio, latency = observations(judge_specs(BlueGreenJudge()), new, live)
    assert (ratio.canary_sample.events, ratio.canary_sample.trials) == (2.0, 3.0)
    assert latency.canary_sample.total == 1.0 and latency.stable_sample.cumulative[-1] == 1.0
    assert latency.canary_sample.bounds == LATENCY_BOUNDS and LATENCY_BOUNDS[-1] == float("inf")
    first = next(i for i, b in enumerate(LATENCY_BOUNDS) if b >= 0.0123)
    assert latency.canary_sample.counts[first] == 1.0
    assert latency.metric.min_effect == 0.005 and ratio.metric.min_effect == 0.005
    empty = observations(judge_specs(BlueGreenJudge()), Tally(), live)[1]
    assert "canary" in empty.missing


def test_settings_are_checked_and_unset_keys_may_come_as_none():
    check, _ = run(np.random.default_rng(5), {**SMALL, "live_url": None}, errors=(0.0, 0.0))
    assert check.value in ("pass", "inconclusive", "fail")
    with pytest.raises(Exception, match="look_every"):
        run(np.random.default_rng(5), {"look_every": 0})


# -- against the example service ---------------------------------------------------------------------------
def judge_live(services, new: str, **settings):  # noqa: F811 - the imported fixture
    payloads = [row["input"] for row in load_golden(GOLDEN) if isinstance(row["input"], dict)]
    opts = {"requests": 1500, "look_every": 100, "error_rate_min_effect": 0.03, "concurrency": 2, **settings}
    return judge_colours(
        {"new": services[new], "live": services["healthy"]}, payloads, opts, EndpointPaths(), {}, 5.0
    )


def test_the_example_service_against_itself_passes(services):  # noqa: F811 - the imported fixture
    check, evidence = judge_live(services, "healthy")
    assert check.status.value == "pass", check.why
    assert evidence["target"] == "predict (golden inputs)" and evidence["looks"][-1]["new"]["errors"] == 0
    assert "error_rate new/live ratio" in check.details["bounds"] and "p95 new (" in check.details["bounds"]


@pytest.mark.parametrize(("new", "metric"), [("slow", "latency_p95"), ("failing", "error_rate")])
def test_a_slower_or_failing_service_is_blocked_before_the_budget(services, new, metric):  # noqa: F811
    check, evidence = judge_live(services, new)
    assert check.status.value == "fail" and check.value == "fail", check.why
    assert metric in check.why and evidence["requests"] < 1500


def test_a_live_colour_that_never_answers_is_an_error_not_a_pass():
    check, evidence = judge_colours(
        {"new": "http://127.0.0.1:9", "live": "http://127.0.0.1:9"},  # the discard port: refused
        [],
        {**SMALL, "look_every": 10},
        EndpointPaths(),
        {},
        1.0,
    )
    assert check.status.value == "error" and "answered none of 10 requests" in check.why
    assert len(evidence["looks"]) == 1
