"""The canary loop (gates.deploy.canary.Run) on an in-memory cluster and a scripted Prometheus: what it measures,
and how analyses become promote / roll back / hold."""

from __future__ import annotations

import copy
import math
import re
import time
from types import SimpleNamespace

import pytest

from gates.core.errors import InputError
from gates.deploy.canary import CanaryConfig, Interrupted, Run, Stop, run_canary
from gates.deploy.canary.state import CanaryState
from gates.deploy.prometheus import NoData, Series

BUCKETS = (0.05, 0.1, 0.2, 0.5, math.inf)


class FakeCluster:
    """The Cluster interface over dicts; every rollout is immediately complete unless ``fail_rollout`` names it."""

    def __init__(self, stable_replicas: int = 4):
        self.deployments = {
            "model": {
                "metadata": {"name": "model", "namespace": "ns", "labels": {"app": "model"}},
                "spec": {
                    "replicas": stable_replicas,
                    "selector": {"matchLabels": {"app": "model"}},
                    "template": {
                        "metadata": {"labels": {"app": "model"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "model",
                                    "image": "model:v1",
                                    "env": [{"name": "MODEL_VERSION", "value": "v1"}],
                                }
                            ]
                        },
                    },
                },
            }
        }
        self.fail_rollout: set[str] = set()
        self.undone: list[str] = []
        self.hpa: str | None = None

    def deployment(self, namespace, name):
        return copy.deepcopy(self.deployments.get(name))

    def autoscaler_for(self, namespace, deployment):
        return self.hpa if deployment == "model" else None

    def create_deployment(self, namespace, body):
        self.deployments[body["metadata"]["name"]] = copy.deepcopy(body)

    def replace_deployment(self, namespace, body):
        self.deployments[body["metadata"]["name"]] = copy.deepcopy(body)

    def patch_deployment(self, namespace, name, patch):
        dep = self.deployments[name]
        dep["metadata"].setdefault("annotations", {}).update(patch.get("metadata", {}).get("annotations", {}))
        spec = patch.get("spec", {})
        if "replicas" in spec:
            dep["spec"]["replicas"] = spec["replicas"]
        for c in spec.get("template", {}).get("spec", {}).get("containers", []):
            target = next(x for x in dep["spec"]["template"]["spec"]["containers"] if x["name"] == c["name"])
            target.update(c)

    def delete_deployment(self, namespace, name):
        self.deployments.pop(name, None)

    def scale(self, namespace, name, replicas):
        self.patch_deployment(namespace, name, {"spec": {"replicas": replicas}})

    def wait(self, name, namespace, timeout, sleep, progress, changed_at=None):
        ok = name not in self.fail_rollout
        return SimpleNamespace(
            ok=ok,
            reason="complete" if ok else "deadline",
            problems=[],
            message="rolled out" if ok else f"{name} exceeded its progress deadline",
        )

    def undo(self, name, namespace, cause):
        self.undone.append(name)
        self.fail_rollout.discard(name)
        return SimpleNamespace(message="rolled back to revision 1")


class FakeProm:
    """Answers the canary's queries from per-track numbers: requests, errors, latency bucket counts."""

    url = "http://prometheus.test"

    def __init__(
        self,
        canary: dict,
        stable: dict,
        exported: tuple[str, ...] = ("model_request_errors", "model_requests"),
    ):
        self.tracks = {"canary": canary, "stable": stable}
        self.queries: list[str] = []
        self.exported = exported  # metric families the targets expose (their # TYPE lines)

    def known_metric(self, name):
        return name in self.exported or name.removesuffix("_total") in self.exported

    def _track(self, query: str) -> dict:
        return self.tracks[re.search(r'track="(\w+)"', query).group(1)]

    def value(self, query, at=None):
        self.queries.append(query)
        data = self._track(query)
        if "increase(model_request_errors_total" in query:
            if data.get("errors") is None:
                raise NoData(query)
            return data["errors"]
        if "increase(model_requests_total" in query:
            if "[30s]" in query and "fresh" in data:  # the analysis window, not the growing lookback
                return data["fresh"]
            if not data.get("requests"):
                raise NoData(query)
            return data["requests"]
        raise NoData(query)

    def query(self, query, at=None):
        self.queries.append(query)
        data = self._track(query)
        hist = data.get("latency")
        if "model_request_latency_seconds_bucket" not in query or not hist:
            return []
        cumulative, total = [], 0.0
        for count in hist:
            total += count
            cumulative.append(total)
        return [
            Series({"le": "+Inf" if math.isinf(b) else str(b)}, [(0.0, c)])
            for b, c in zip(BUCKETS, cumulative)
        ]

    def values(self, query, start, end, step):
        self.queries.append(query)
        return []


def config(**analysis) -> CanaryConfig:
    return CanaryConfig.from_section(
        {
            "namespace": "ns",
            "deployment": "model",
            "image": "model:v2",
            "steps": [25, 100],
            "interval": 0,
            "env": {"MODEL_VERSION": "v2"},
            "analysis": {
                "window": "30s",
                "min_requests": 20,
                "metrics": [
                    {"name": "error_rate", "max": 0.05, "critical": True},
                    {"name": "latency_p95", "max": 0.5},
                ],
                **analysis,
            },
        }
    )


HEALTHY = {"requests": 3000, "errors": 0, "latency": [1500, 1200, 270, 30, 0]}


def run(cluster, prom, **analysis) -> tuple[Run, str]:
    r = Run(config(**analysis), cluster, prom, stop=Stop(), log=lambda line: None)
    return r, r.execute()


def state_of(cluster) -> CanaryState:
    return CanaryState.from_annotations(cluster.deployments["model-canary"]["metadata"]["annotations"])


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
