"""gates.deploy.shadow: the mirror configurations in the shapes the Gateway API (HTTPRoute RequestMirror filter)
and ingress-nginx (mirror annotations) define, the tee's environment, and the comparison on simulated mirrored
traffic with known truths (false alarms over many looks, and power)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gates.core.errors import InputError
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.judges import Observation
from gates.deploy.sequential import SequentialSettings
from gates.deploy.shadow import (
    NGINX_MIRROR,
    ShadowLimits,
    candidate_url,
    gateway_mirror,
    gateway_unmirror,
    judge_shadow,
    nginx_mirror,
    shadow_specs,
    tee_env,
    tee_queries,
)

ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "model", "namespace": "prod"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]},
                    }
                ],
                "backendRefs": [{"name": "model", "port": 80}],
            }
        ],
    },
}


def test_gateway_mirror_adds_one_request_mirror_filter_with_a_percent():
    mirrored = gateway_mirror(ROUTE, 0, "model-shadow", 80, 20)
    filters = mirrored["spec"]["rules"][0]["filters"]
    assert filters[0] == ROUTE["spec"]["rules"][0]["filters"][0]  # kept
    assert filters[1] == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "model-shadow", "port": 80}, "percent": 20},
    }
    assert mirrored["spec"]["rules"][0]["backendRefs"] == [{"name": "model", "port": 80}]  # traffic unchanged
    again = gateway_mirror(mirrored, 0, "model-shadow", 80, 50)  # replaced, not doubled
    assert [f["type"] for f in again["spec"]["rules"][0]["filters"]] == [
        "RequestHeaderModifier",
        "RequestMirror",
    ]
    assert gateway_unmirror(again, 0, "model-shadow") == ROUTE
    assert "filters" not in ROUTE["spec"]["rules"][0] or len(ROUTE["spec"]["rules"][0]["filters"]) == 1


@pytest.mark.parametrize(("rule", "percent"), [(1, 20), (0, 0), (0, 120), (0, 12.5)])
def test_gateway_mirror_refuses_a_missing_rule_or_a_bad_share(rule, percent):
    with pytest.raises(InputError, match="shadow"):
        gateway_mirror(ROUTE, rule, "model-shadow", 80, percent)


def test_nginx_mirror_annotates_the_ingress_and_mirrors_everything_or_refuses():
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "model"},
        "spec": {},
    }
    url = candidate_url("model-shadow", "prod", 80)
    out = nginx_mirror(ingress, url)
    assert out["metadata"]["annotations"] == {
        NGINX_MIRROR: "http://model-shadow.prod.svc.cluster.local:80$request_uri",
        "nginx.ingress.kubernetes.io/mirror-request-body": "on",
    }
    assert "annotations" not in ingress["metadata"]  # the input is left alone
    with pytest.raises(InputError, match="no sampling"):
        nginx_mirror(ingress, url, 50)


def test_tee_environment_and_queries():
    assert tee_env("http://c:80", 25, 500) == {
        "SHADOW_URL": "http://c:80",
        "SHADOW_PERCENT": "25",
        "SHADOW_TIMEOUT_MS": "500",
    }
    q = tee_queries("prod", "model", "300s")
    assert 'side="{side}"' in q["errors"] and 'outcome="error"' in q["errors"] and "[300s]" in q["latency"]


# -- the comparison on simulated mirrored traffic --------------------------------------------------------------
BOUNDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf)
SCORES = tuple(round(0.05 * i, 2) for i in range(1, 21))
SPECS = {s.name: s for s in shadow_specs(ShadowLimits())}


def _latency(rng, n: int, factor: float) -> np.ndarray:
    values = np.exp(np.log(0.05 * factor) + 0.5 * rng.standard_normal(n))
    return np.bincount(np.searchsorted(np.array(BOUNDS), values), minlength=len(BOUNDS)).astype(float)


def _scores(rng, n: int, shift: float) -> np.ndarray:
    values = np.clip(rng.beta(2, 5, n) + shift, 0, 1 - 1e-9)
    return np.bincount(np.searchsorted(np.array(SCORES), values), minlength=len(SCORES)).astype(float)


def simulate(rng, looks: int, error_factor: float, latency_factor: float, disagree: float, shift: float):
    """A shadow over ``looks`` looks of 300 mirrored requests each: the outcome of the last look judged, or
    the first fail."""
    totals = {"n": 0.0, "ec": 0.0, "es": 0.0, "d": 0.0, "lc": 0.0, "ls": 0.0, "sc": 0.0, "ss": 0.0}
    previous: dict[str, list] = {}
    outcome = "undecided"
    for look in range(looks):
        n = 300
        totals["n"] += n
        totals["ec"] += rng.binomial(n, 0.01 * error_factor)
        totals["es"] += rng.binomial(n, 0.01)
        totals["d"] += rng.binomial(n, disagree)
        totals["lc"] = totals["lc"] + _latency(rng, n, latency_factor)
        totals["ls"] = totals["ls"] + _latency(rng, n, 1.0)
        totals["sc"] = totals["sc"] + _scores(rng, n, shift)
        totals["ss"] = totals["ss"] + _scores(rng, n, 0.0)
        obs = [
            Observation(
                SPECS["shadow_errors"],
                canary_sample=Counts(totals["ec"], totals["n"]),
                stable_sample=Counts(totals["es"], totals["n"]),
            ),
            Observation(
                SPECS["shadow_latency_p95"],
                canary_sample=Histogram(BOUNDS, tuple(np.cumsum(totals["lc"]))),
                stable_sample=Histogram(BOUNDS, tuple(np.cumsum(totals["ls"]))),
            ),
            Observation(
                SPECS["shadow_disagreement"],
                canary_sample=Counts(totals["d"], totals["n"]),
                stable_sample=Counts(0, totals["n"]),
            ),
            Observation(
                SPECS["shadow_score_shift"],
                canary_sample=Histogram(SCORES, tuple(np.cumsum(totals["sc"]))),
                stable_sample=Histogram(SCORES, tuple(np.cumsum(totals["ss"]))),
            ),
        ]
        outcome, verdicts = judge_shadow(obs, SequentialSettings(final=look == looks - 1), previous)
        for v in verdicts:
            for m in v.metrics:
                if "look" in m.details:
                    previous.setdefault(m.metric, []).append(m.details["look"])
        if outcome == "fail":
            return "fail", verdicts
    return outcome, verdicts


def test_a_candidate_like_stable_is_never_stopped_over_many_looks():
    rng = np.random.default_rng(0)
    outcomes = [simulate(rng, 12, 1.0, 1.0, 0.0, 0.0)[0] for _ in range(60)]
    assert outcomes.count("fail") == 0 and outcomes.count("pass") >= 15  # 3600 requests at 1 % errors


@pytest.mark.parametrize(
    ("error_factor", "latency_factor", "disagree", "shift", "metric"),
    [
        (3.0, 1.0, 0.0, 0.0, "shadow_errors"),
        (1.0, 1.5, 0.0, 0.0, "shadow_latency_p95"),
        (1.0, 1.0, 0.08, 0.0, "shadow_disagreement"),
        (1.0, 1.0, 0.0, 0.3, "shadow_score_shift"),
    ],
)
def test_a_regressed_candidate_is_stopped_on_the_metric_that_regressed(
    error_factor, latency_factor, disagree, shift, metric
):
    rng = np.random.default_rng(1)
    stopped = 0
    for _ in range(20):
        outcome, verdicts = simulate(rng, 12, error_factor, latency_factor, disagree, shift)
        failed = {m.metric for v in verdicts for m in v.metrics if m.passed is False}
        stopped += outcome == "fail" and metric in failed
    assert stopped >= 18
