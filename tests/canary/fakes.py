"""Stand-ins for the canary tests: an in-memory cluster and a scripted Prometheus behind the interfaces
gates.deploy.canary.Run talks to (the loop, the shadow stage and the report tests share them)."""

from __future__ import annotations

import copy
import math
import re
from types import SimpleNamespace

from gates.deploy.canary import CanaryConfig
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


def state_of(cluster) -> CanaryState:
    return CanaryState.from_annotations(cluster.deployments["model-canary"]["metadata"]["annotations"])
