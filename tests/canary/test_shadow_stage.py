"""The shadow stage wired into the canary (canary.shadow.enabled): on the in-memory cluster and scripted
Prometheus of the canary loop tests, a healthy candidate passes the shadow and goes on to the canary; a
regressing one stops before the canary exists (nothing rolled back, stable untouched); the tee and the shadow
objects are removed whatever happens; the report and state carry the shadow's evidence."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest

from gates.core.errors import InfraError, InputError
from gates.core.result import Status
from gates.core.settings.canary import Shadow
from gates.deploy.canary import Interrupted, Run, Stop
from gates.deploy.canary.report import result_of
from gates.deploy.canary.shadow_stage import (
    SHADOW_LABEL,
    TEE_RESTORE,
    leftover_tee,
    shadow_name,
    tee_patch,
)
from gates.deploy.prometheus import Series
from tests.canary.fakes import HEALTHY, FakeCluster, FakeProm, config, state_of

BUCKETS = (0.05, 0.1, 0.2, 0.5, math.inf)


class ShadowCluster(FakeCluster):
    """FakeCluster plus Services, applied objects, deletes and env patches merged by name (strategic merge)."""

    def __init__(self) -> None:
        super().__init__()
        self.services = {"model": {"metadata": {"name": "model"}, "spec": {"ports": [{"port": 8080}]}}}
        self.applied: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str]] = []
        self.env_history: list[dict[str, str]] = []

    def service(self, namespace, name):
        return copy.deepcopy(self.services.get(name))

    def apply(self, kind, namespace, name, body):
        self.applied.append((kind, name))
        (self.deployments if kind == "Deployment" else self.services)[name] = copy.deepcopy(body)

    def delete(self, kind, namespace, name):
        self.deleted.append((kind, name))
        self.services.pop(name, None)

    def delete_deployment(self, namespace, name):
        self.deleted.append(("Deployment", name))
        super().delete_deployment(namespace, name)

    def patch_deployment(self, namespace, name, patch):
        containers = patch.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        env_patches = [c for c in containers if "env" in c and set(c) == {"name", "env"}]
        if not env_patches:
            return super().patch_deployment(namespace, name, patch)
        annotations = self.deployments[name]["metadata"].setdefault("annotations", {})
        for key, value in (patch.get("metadata") or {}).get("annotations", {}).items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        for c in env_patches:
            target = next(
                x
                for x in self.deployments[name]["spec"]["template"]["spec"]["containers"]
                if x["name"] == c["name"]
            )
            env = {e["name"]: e["value"] for e in target.get("env") or []}
            for e in c["env"]:
                if e.get("$patch") == "delete":
                    env.pop(e["name"], None)
                else:
                    env[e["name"]] = e["value"]
            target["env"] = [{"name": k, "value": v} for k, v in env.items()]
            self.env_history.append(dict(env))


class TeeProm(FakeProm):
    """FakeProm for the canary's queries; the tee's (model_shadow_*) from per-second rates per side, scaled by
    the query's lookback, so counts grow as a real counter's increase does."""

    def __init__(self, candidate: dict, primary: dict, disagree: float = 0.0, down: bool = False):
        super().__init__(dict(HEALTHY), dict(HEALTHY))
        self.sides = {"candidate": candidate, "primary": primary}
        self.disagree = disagree
        self.down = down

    @staticmethod
    def _seconds(query: str) -> float:
        return float(re.search(r"\[(\d+)s\]", query).group(1))

    def value(self, query, at=None):
        if "model_shadow_" not in query:
            return super().value(query, at)
        if self.down:
            raise InfraError("Prometheus at http://prometheus.test unreachable")
        t = self._seconds(query)
        if "model_shadow_agreement_total" in query:
            compared = self.sides["primary"]["rps"] * t
            return compared * self.disagree if 'agree="false"' in query else compared
        if 'outcome!~"ok|error"' in query:
            return 0.0
        side = self.sides[re.search(r'side="(\w+)"', query).group(1)]
        if 'outcome="error"' in query:
            return side["rps"] * side["errors"] * t
        return side["rps"] * t

    def query(self, query, at=None):
        if "model_shadow_" not in query:
            return super().query(query, at)
        t = self._seconds(query)
        side = self.sides[re.search(r'side="(\w+)"', query).group(1)]
        shares = side["latency"] if "latency" in query else side["score"]
        cumulative, total = [], 0.0
        for share in shares:
            total += share * side["rps"] * t
            cumulative.append(total)
        return [
            Series({"le": "+Inf" if math.isinf(b) else str(b)}, [(0.0, c)])
            for b, c in zip(BUCKETS, cumulative)
        ]


SIDE = {"rps": 20.0, "errors": 0.01, "latency": [0.5, 0.4, 0.09, 0.01, 0], "score": [0.2, 0.3, 0.3, 0.2, 0]}
SHADOW = Shadow(enabled=True, duration="10m", interval="30s", percent=50)


class FastStop(Stop):
    """A stop whose sleeps advance a fake clock (the shadow's looks take no real time)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0

    def sleep(self, seconds: float) -> bool:
        self.now += seconds
        return bool(self)


class SigtermOnSecondLook(FastStop):
    """A fast stop that receives SIGTERM during its second sleep (between two looks of the shadow)."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def sleep(self, seconds: float) -> bool:
        self.looks += 1
        if self.looks == 2:
            self.set("SIGTERM")
        return super().sleep(seconds)


def shadow_run(cluster, prom, shadow=SHADOW) -> tuple[Run, str]:
    stop = FastStop()
    r = Run(config(), cluster, prom, stop=stop, clock=lambda: stop.now, log=lambda line: None, shadow=shadow)
    return r, r.execute()


def stable_env(cluster) -> dict[str, str]:
    container = cluster.deployments["model"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_a_healthy_shadow_goes_on_to_the_canary_and_leaves_nothing_behind():
    cluster = ShadowCluster()
    r, verdict = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    assert verdict == "promoted"
    assert r.shadow_result is not None and r.shadow_result.summary["verdict"] == "pass"
    # the candidate ran behind its own Service with labels no live Service selects, 50% of 4 stable pods
    assert ("Service", "model-shadow") in cluster.applied and (
        "Deployment",
        "model-shadow",
    ) in cluster.applied
    assert ("Deployment", "model-shadow") in cluster.deleted and (
        "Service",
        "model-shadow",
    ) in cluster.deleted
    assert "model-shadow" not in cluster.deployments and "model-shadow" not in cluster.services
    # the tee was on during the shadow (pointing at the shadow Service), and off afterwards
    assert cluster.env_history[0]["SHADOW_URL"] == "http://model-shadow.ns.svc.cluster.local:8080"
    assert cluster.env_history[0]["SHADOW_PERCENT"] == "50"
    assert not any(k.startswith("SHADOW_") for k in cluster.env_history[-1])
    assert [a["outcome"] for a in r.analyses] == ["pass", "pass"]
    result = result_of(r, verdict)
    assert result.status == Status.PASS
    assert any(c.name == "shadow verdict" and c.status == Status.PASS for c in result.checks)
    assert result.evidence["shadow"]["summary"]["verdict"] == "pass" and result.evidence["shadow"]["looks"]
    assert any(a["action"] == "shadow" and a["verdict"] == "pass" for a in result.evidence["actions"])


def test_the_shadow_pods_are_not_selected_by_the_stable_service():
    cluster = ShadowCluster()
    created: dict = {}
    original = cluster.apply

    def spy(kind, namespace, name, body):
        created[kind] = copy.deepcopy(body)
        original(kind, namespace, name, body)

    cluster.apply = spy
    shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    pod_labels = created["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {SHADOW_LABEL: "model", "track": "shadow"}  # not app: model
    assert created["Deployment"]["spec"]["replicas"] == 2
    assert created["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == "model:v2"
    assert created["Service"]["spec"]["selector"] == pod_labels


def test_a_regressing_candidate_stops_before_the_canary_with_nothing_to_roll_back():
    cluster = ShadowCluster()
    r, verdict = shadow_run(cluster, TeeProm({**SIDE, "errors": 0.3}, dict(SIDE)))
    assert verdict == "shadow_failed"
    assert "model-canary" not in cluster.deployments  # the canary was never created
    assert cluster.deployments["model"]["spec"]["replicas"] == 4
    assert stable_env(cluster) == {"MODEL_VERSION": "v1"}  # tee off, stable as before
    assert r.analyses == [] and not any(a["action"] == "rollback" for a in r.actions)
    assert r.shadow_result.summary["verdict"] == "fail"
    assert len(r.shadow_result.evidence["looks"]) < 6  # stopped at the first certain regression
    result = result_of(r, verdict)
    assert result.status == Status.FAIL and result.summary["decision"] == "shadow-failed"
    assert "never took live traffic" in result.summary["reason"]
    assert any(c.name == "shadow shadow_errors" and c.status == Status.FAIL for c in result.checks)


def test_a_disagreeing_candidate_fails_the_shadow():
    cluster = ShadowCluster()
    _, verdict = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE), disagree=0.2))
    assert verdict == "shadow_failed" and "model-canary" not in cluster.deployments


def test_prometheus_down_during_the_shadow_is_an_infra_error_and_cleans_up():
    cluster = ShadowCluster()
    with pytest.raises(InfraError):
        shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE), down=True))
    assert "model-shadow" not in cluster.deployments and stable_env(cluster) == {"MODEL_VERSION": "v1"}
    assert "model-canary" not in cluster.deployments


def test_a_candidate_that_never_gets_ready_fails_the_shadow_without_teeing():
    cluster = ShadowCluster()
    cluster.fail_rollout.add("model-shadow")
    r, verdict = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    assert verdict == "shadow_failed" and "did not become ready" in r.state.reason
    assert cluster.env_history == [] and "model-shadow" not in cluster.deployments


def test_a_resumed_canary_does_not_run_the_shadow_again():
    cluster = ShadowCluster()
    _, first = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    assert first == "promoted"
    cluster.applied.clear()
    _, again = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    assert again == "promoted" and not cluster.applied  # already promoted: nothing to shadow


def test_the_shadow_verdict_is_recorded_in_the_canary_state():
    cluster = ShadowCluster()
    prom = TeeProm(dict(SIDE), dict(SIDE))
    prom.tracks["canary"] = {
        **HEALTHY,
        "errors": 300,
    }  # rolled back: the canary Deployment and its state stay
    _, verdict = shadow_run(cluster, prom)
    assert verdict == "rolled_back"
    history = state_of(cluster).history
    assert history[0]["event"] == "shadow" and history[0]["verdict"] == "pass"
    assert [e["event"] for e in history].index("start") == 1


def test_tee_patch_restores_previous_values_and_deletes_new_names():
    patch = tee_patch(
        "model", {"SHADOW_URL": "http://old"}, {"SHADOW_URL": "http://old", "SHADOW_PERCENT": None}
    )
    env = patch["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "SHADOW_URL", "value": "http://old"},
        {"name": "SHADOW_PERCENT", "$patch": "delete"},
    ]
    assert patch["metadata"]["annotations"] == {TEE_RESTORE: None}  # switching off removes the record


def test_shadow_name():
    assert shadow_name("model") == "model-shadow"


def test_run_canary_passes_the_policy_shadow_only_when_enabled(monkeypatch, tmp_path):
    from gates.deploy.canary import machine

    seen = {}

    def fake_execute(self):
        seen["shadow"] = self.shadow
        return "held"

    monkeypatch.setattr(machine.Run, "execute", fake_execute)
    section = {
        "namespace": "ns",
        "deployment": "model",
        "image": "model:v2",
        "prometheus": {"url": "http://p:9090"},
    }
    machine.run_canary(section, kube=ShadowCluster(), prom=TeeProm(SIDE, SIDE))
    assert seen["shadow"] is None
    machine.run_canary(
        {**section, "shadow": {"enabled": True, "duration": "2m"}},
        kube=ShadowCluster(),
        prom=TeeProm(SIDE, SIDE),
    )
    assert seen["shadow"].duration == "2m"


def test_cli_shadow_flag_runs_the_stage_and_a_regression_exits_1(cli, monkeypatch, tmp_path):
    """`mlgate canary --shadow` over the policy's shadow settings; the report says shadow-failed."""
    import json

    from gates.deploy.canary import machine
    from gates.deploy.canary.cluster import Cluster

    cluster = ShadowCluster()
    prom = TeeProm({**SIDE, "errors": 0.3}, dict(SIDE))
    monkeypatch.setattr(Cluster, "connect", classmethod(lambda cls, *a, **k: cluster))
    monkeypatch.setattr(machine, "PrometheusClient", lambda *a, **k: prom)
    monkeypatch.setattr(machine, "Stop", FastStop)
    (tmp_path / "gates.yml").write_text(
        "version: 1\ncanary:\n  namespace: ns\n  deployment: model\n  image: model:v2\n"
        "  prometheus: {url: 'http://prometheus.test'}\n  shadow: {duration: 2m, interval: 10s}\n"
    )
    result = cli("--policy", tmp_path / "gates.yml", "canary", "--shadow")
    assert result.code == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "mlgate-reports" / "mlgate.json").read_text())["gates"][0]
    assert report["summary"]["decision"] == "shadow-failed"
    assert report["evidence"]["shadow"]["summary"]["verdict"] == "fail"
    assert "model-canary" not in cluster.deployments


def test_a_tee_left_on_by_a_killed_run_is_reused_and_switched_off_without_a_third_restart():
    """A run killed with the tee on leaves SHADOW_* and the restore annotation on stable; the re-run takes
    stable's own values from the annotation, builds the candidate and the canary without the tee, and its
    tee patch changes nothing in the pod template (no extra rolling restart)."""
    cluster = ShadowCluster()
    url = "http://model-shadow.ns.svc.cluster.local:8080"
    left = {"SHADOW_URL": url, "SHADOW_PERCENT": "50", "SHADOW_TIMEOUT_MS": "1000"}
    stable = cluster.deployments["model"]
    stable["metadata"]["annotations"] = {
        TEE_RESTORE: json.dumps({"SHADOW_URL": None, "SHADOW_PERCENT": None, "SHADOW_TIMEOUT_MS": None})
    }
    stable["spec"]["template"]["spec"]["containers"][0]["env"] += [
        {"name": k, "value": v} for k, v in left.items()
    ]
    created: dict = {}
    original = cluster.apply

    def spy(kind, namespace, name, body):
        created[kind] = copy.deepcopy(body)
        original(kind, namespace, name, body)

    cluster.apply = spy
    r, verdict = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)))
    assert verdict == "promoted"
    assert cluster.env_history[0] == {"MODEL_VERSION": "v1", **left}  # the tee as the killed run left it
    assert stable_env(cluster) == {"MODEL_VERSION": "v2"}  # promoted, tee off, nothing of it kept
    assert TEE_RESTORE not in cluster.deployments["model"]["metadata"].get("annotations", {})
    shadow_env = created["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not any(e["name"].startswith("SHADOW_") for e in shadow_env)
    assert any(a["action"] == "tee left on" for a in r.actions)


def test_leftover_tee_reads_the_annotation_and_rejects_a_damaged_one():
    dep = {"metadata": {"name": "model", "annotations": {TEE_RESTORE: '{"SHADOW_URL": "http://x"}'}}}
    assert leftover_tee(dep) == {"SHADOW_URL": "http://x"}
    assert leftover_tee({"metadata": {}}) is None
    dep["metadata"]["annotations"][TEE_RESTORE] = "[1]"
    with pytest.raises(InputError, match=TEE_RESTORE):
        leftover_tee(dep)


def test_sigterm_during_the_shadow_switches_the_tee_off_and_removes_the_candidate():
    """SIGTERM between two looks: the tee is switched off (no wait for stable's rollout, the run is stopping)
    and the shadow objects are deleted before Interrupted leaves the stage; no canary exists."""
    cluster = ShadowCluster()
    stop = SigtermOnSecondLook()
    r = Run(config(), cluster, TeeProm(dict(SIDE), dict(SIDE)), stop=stop, clock=lambda: stop.now,
            log=lambda line: None, shadow=SHADOW)  # fmt: skip
    with pytest.raises(Interrupted, match="SIGTERM during the shadow stage"):
        r.execute()
    assert stable_env(cluster) == {"MODEL_VERSION": "v1"}
    assert TEE_RESTORE not in cluster.deployments["model"]["metadata"].get("annotations", {})
    assert "model-shadow" not in cluster.deployments and "model-shadow" not in cluster.services
    assert "model-canary" not in cluster.deployments


def test_a_run_without_the_shadow_switches_off_a_tee_a_killed_shadow_left_on():
    """The shadow was switched off in the policy after a killed shadow stage: the canary must not measure a
    teeing stable, so the tee goes off (one restart) before the canary is created, from the annotation."""
    cluster = ShadowCluster()
    stable = cluster.deployments["model"]
    stable["metadata"]["annotations"] = {
        TEE_RESTORE: json.dumps({"SHADOW_URL": None, "SHADOW_PERCENT": None})
    }
    stable["spec"]["template"]["spec"]["containers"][0]["env"] += [
        {"name": "SHADOW_URL", "value": "http://model-shadow.ns.svc.cluster.local:8080"},
        {"name": "SHADOW_PERCENT", "value": "50"},
    ]
    r, verdict = shadow_run(cluster, TeeProm(dict(SIDE), dict(SIDE)), shadow=None)
    assert verdict == "promoted"
    actions = [a["action"] for a in r.actions]
    assert actions.index("tee off") < actions.index("canary created")
    assert stable_env(cluster) == {"MODEL_VERSION": "v2"}
    assert TEE_RESTORE not in cluster.deployments["model"]["metadata"].get("annotations", {})


def test_sigterm_during_the_shadow_is_reported_without_a_state_to_save(monkeypatch):
    """Interrupted before the canary exists, there is no Deployment to save the state on: the result says
    interrupted and nothing about a failed save."""
    import functools

    from gates.deploy.canary import machine

    stop = SigtermOnSecondLook()
    monkeypatch.setattr(machine, "Run", functools.partial(machine.Run, clock=lambda: stop.now))
    section = {
        "namespace": "ns",
        "deployment": "model",
        "image": "model:v2",
        "prometheus": {"url": "http://p:9090"},
        "shadow": {"enabled": True, "duration": "10m", "interval": "30s", "percent": 50},
    }
    result = machine.run_canary(
        section, kube=ShadowCluster(), prom=TeeProm(dict(SIDE), dict(SIDE)), stop=stop, log=lambda line: None
    )
    text = json.dumps(result.summary) + " ".join(c.why or "" for c in result.checks)
    assert "interrupted" in text
    assert "saving the state failed" not in text
