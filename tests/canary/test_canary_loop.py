"""The canary loop (gates.deploy.canary.Run) on an in-memory cluster and a scripted Prometheus: what it measures,
and how analyses become promote / roll back / hold."""

from __future__ import annotations

import re
import time

import pytest

from gates.core.errors import InputError
from gates.deploy.canary import Interrupted, Run, Stop, run_canary
from tests.canary.fakes import HEALTHY, FakeCluster, FakeProm, config, state_of


def run(cluster, prom, **analysis) -> tuple[Run, str]:
    r = Run(config(**analysis), cluster, prom, stop=Stop(), log=lambda line: None)
    return r, r.execute()


def test_healthy_canary_is_promoted_on_counted_evidence():
    cluster, prom = FakeCluster(), FakeProm(dict(HEALTHY), dict(HEALTHY))
    r, verdict = run(cluster, prom)
    assert verdict == "promoted"
    stable = cluster.deployments["model"]
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v2"
    assert stable["spec"]["replicas"] == 4 and "model-canary" not in cluster.deployments
    assert [a["outcome"] for a in r.analyses] == ["pass", "pass"]
    kinds = {m["kind"] for a in r.analyses for m in a["measurements"]}
    assert {"counts", "histogram"} <= kinds
    # the counted queries cover everything since the canary started (at least the window)
    assert any(re.search(r"increase\(model_request_errors_total\{[^}]*\}\[\d+s\]\)", q) for q in prom.queries)
    assert any("sum by (le) (increase(model_request_latency_seconds_bucket" in q for q in prom.queries)


def test_error_regression_rolls_back_at_the_first_step():
    cluster = FakeCluster()
    prom = FakeProm({**HEALTHY, "errors": 300}, dict(HEALTHY))
    _, verdict = run(cluster, prom)
    assert verdict == "rolled_back"
    state = state_of(cluster)
    assert state.phase == "rolled_back" and state.step == 0 and "error_rate" in state.reason
    assert cluster.deployments["model-canary"]["spec"]["replicas"] == 0
    assert cluster.deployments["model"]["spec"]["replicas"] == 4


def test_too_little_traffic_holds_instead_of_deciding():
    thin = {"requests": 8, "errors": 0, "latency": [4, 4, 0, 0, 0]}
    cluster = FakeCluster()
    r, verdict = run(cluster, FakeProm(thin, dict(HEALTHY)), inconclusive_limit=2)
    assert verdict == "held"
    state = state_of(cluster)
    assert state.phase == "held" and "too little traffic" in state.reason and state.step == 0
    assert cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v1"
    assert all(a["outcome"] == "inconclusive" for a in r.analyses)


def test_an_exported_counter_without_series_has_counted_no_errors():
    cluster = FakeCluster()
    r, verdict = run(cluster, FakeProm({**HEALTHY, "errors": None}, {**HEALTHY, "errors": None}))
    assert verdict == "promoted"
    counts = [m for m in r.analyses[0]["measurements"] if m["kind"] == "counts"]
    assert counts and all(m["events"] == 0 for m in counts)


def test_a_counter_no_target_exports_is_no_data_never_zero():
    cluster = FakeCluster()
    prom = FakeProm({**HEALTHY, "errors": None}, {**HEALTHY, "errors": None}, exported=("model_requests",))
    r, verdict = run(cluster, prom)
    assert verdict == "rolled_back"
    why = r.analyses[0]["why"]
    assert "no data for error_rate" in why and "no target exposes model_request_errors_total" in why
    assert cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v1"


def test_failed_promotion_is_undone_and_rolled_back():
    cluster = FakeCluster()
    cluster.fail_rollout.add("model")
    _, verdict = run(cluster, FakeProm(dict(HEALTHY), dict(HEALTHY)))
    assert verdict == "rolled_back" and cluster.undone == ["model"]
    assert "did not roll out" in state_of(cluster).reason


def test_canary_that_never_gets_ready_is_rolled_back():
    cluster = FakeCluster()
    cluster.fail_rollout.add("model-canary")
    r, verdict = run(cluster, FakeProm(dict(HEALTHY), dict(HEALTHY)))
    assert verdict == "rolled_back" and "did not become ready" in state_of(cluster).reason
    assert r.analyses == []


def test_sliding_lookback_and_bad_lookback():
    cluster, prom = FakeCluster(), FakeProm(dict(HEALTHY), dict(HEALTHY))
    run(cluster, prom, lookback="window")
    assert any("[30s]" in q and "increase(" in q for q in prom.queries)
    with pytest.raises(Exception, match="lookback"):
        config(lookback="forever")


def test_a_canary_whose_metrics_stopped_arriving_is_never_promoted():
    """The growing lookback still holds earlier requests; with none in the last window the step has no evidence."""
    cluster = FakeCluster()
    start = int(time.time())
    ticks = iter(range(start, start + 10**9, 100))  # 100 s per reading: the lookback outgrows the window
    r = Run(
        config(inconclusive_limit=2),
        cluster,
        FakeProm({**HEALTHY, "fresh": 0}, dict(HEALTHY)),
        stop=Stop(),
        clock=lambda: float(next(ticks)),
        log=lambda line: None,
    )
    assert r.execute() == "held"
    assert all(
        a["outcome"] == "inconclusive" and "no new canary requests in the last 30s" in a["why"]
        for a in r.analyses
    )
    assert cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v1"


class KilledBeforeCleanup(Exception):
    """Stands for a runner killed between recording the promotion and deleting the canary."""


def test_a_run_killed_after_recording_the_promotion_removes_the_canary_on_rerun():
    cluster = FakeCluster()
    real_delete = cluster.delete_deployment

    def killed(namespace, name):
        raise KilledBeforeCleanup

    cluster.delete_deployment = killed
    with pytest.raises(KilledBeforeCleanup):
        run(cluster, FakeProm(dict(HEALTHY), dict(HEALTHY)))
    assert state_of(cluster).phase == "promoted" and "model-canary" in cluster.deployments
    cluster.delete_deployment = real_delete
    r, verdict = run(cluster, FakeProm(dict(HEALTHY), dict(HEALTHY)))
    assert verdict == "promoted" and "model-canary" not in cluster.deployments
    assert [a["action"] for a in r.actions][-1] == "canary removed"


def test_a_stop_during_the_last_analysis_never_starts_the_promotion():
    cluster, stop = FakeCluster(), Stop()

    class StoppedDuringLastStep(FakeProm):
        def value(self, query, at=None):
            if state_of(cluster).step == 1:  # the last step (100 %)
                stop.set("SIGTERM")
            return super().value(query, at)

    r = Run(
        config(),
        cluster,
        StoppedDuringLastStep(dict(HEALTHY), dict(HEALTHY)),
        stop=stop,
        log=lambda line: None,
    )
    with pytest.raises(Interrupted, match="SIGTERM before the promotion"):
        r.execute()
    assert cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v1"


def test_an_autoscaled_stable_deployment_is_measured_as_it_is():
    """An HPA keeps stable at 4 replicas: the 25 % step really runs 1 canary of 5 (20 %), and says so."""
    cluster = FakeCluster()
    cluster.hpa = "model"
    real_scale = cluster.scale
    cluster.scale = lambda ns, name, n: real_scale(ns, name, max(n, 4) if name == "model" else n)
    r, verdict = run(cluster, FakeProm(dict(HEALTHY), dict(HEALTHY)))
    assert verdict == "promoted"
    first = r.analyses[0]
    assert first["weight"] == 25 and first["effective_weight"] == 20.0
    assert any(a["action"] == "warning" and "HorizontalPodAutoscaler model" in a["why"] for a in r.actions)


def test_a_change_the_cluster_rejects_stops_without_promoting(tmp_path):
    """The API server refuses the 100 % step's scale (e.g. a quota or admission webhook): exit 2, stable untouched."""
    cluster = FakeCluster()
    real_scale = cluster.scale

    def rejecting(namespace, name, replicas):
        if name == "model-canary" and replicas == 4:
            raise InputError('deployments.apps "model-canary" is forbidden: exceeded quota')
        real_scale(namespace, name, replicas)

    cluster.scale = rejecting
    section = {
        "namespace": "ns",
        "deployment": "model",
        "image": "model:v2",
        "steps": [25, 100],
        "interval": 0,
        "analysis": {
            "window": "30s",
            "min_requests": 20,
            "metrics": [{"name": "error_rate", "max": 0.05, "critical": True}],
        },
    }
    result = run_canary(
        section, kube=cluster, prom=FakeProm(dict(HEALTHY), dict(HEALTHY)), log=lambda line: None
    )
    assert result.exit_code_hint == 2 and result.summary["verdict"] == "error"
    assert "exceeded quota" in result.summary["reason"]
    assert cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v1"
    assert state_of(cluster).phase == "progressing"  # a re-run resumes at the recorded step


def test_the_terminal_look_catches_what_the_sequences_leave_open_and_is_recorded_once():
    """2.25x the stable error rate on 3,000 requests a track (45 errors against 20): the anytime bounds still
    include 1, the fixed-horizon test at the terminal look (the only analysis of the last comparing step, 25 %)
    does not; without its share of alpha the same canary is held."""
    canary, stable = {**HEALTHY, "errors": 45}, {**HEALTHY, "errors": 20}
    cluster = FakeCluster()
    r, verdict = run(cluster, FakeProm(canary, stable))
    assert verdict == "rolled_back" and [a.get("terminal") for a in r.analyses] == [True]
    state = state_of(cluster)
    assert state.terminal_tested and "the last look's fixed-horizon test: p" in state.reason
    cluster = FakeCluster()
    r, verdict = run(cluster, FakeProm(canary, stable), sequential={"terminal_share": 0})
    assert verdict == "held" and not any(a.get("terminal") for a in r.analyses)
