"""The shadow stage before the canary on the real parts: control plane + FakeNode running the example service,
a real Prometheus, bounded load (the harness of tests/e2e/test_canary.py), and cluster DNS + a Service proxy for
the pods (tests/cluster/servicenet.py), so the stable pods' tee reaches the candidate by its Service name as it
would on a real node.

- ``mlgate canary --shadow`` with a healthy candidate: the candidate gets mirrored requests through the stable
  pods' tee while every answer through the live Service comes from stable; then the canary; then promotion.
  Stable restarts exactly twice for the tee (on, off), once more for the promotion, and keeps nothing of it.
- a candidate with shifted scores (``canary.shadow.enabled`` in the policy), the first run killed (SIGKILL) with
  the tee on: the re-run converges (reuses the tee, no third restart), stops the candidate at the shadow stage
  before any canary exists, and the report and the audit trail record the shadow verdict with its bounds.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gates.deploy.canary.shadow_stage import TEE_RESTORE
from tests.cluster.images import service_image
from tests.cluster.servicenet import ServiceNet, with_cluster_dns
from tests.e2e.test_canary import GOLDEN, IMAGE, World
from tests.prom.harness import available

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.prometheus,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not available(), reason="needs the prometheus binary (apt-get install prometheus)"),
]

REVISION = "deployment.kubernetes.io/revision"
SHIFTED = "v5"  # scores +0.4: the KS distance of the golden inputs' scores moves to about 0.54
# every stable request mirrored: with no errors on either side, a pass needs the candidate's error rate bounded
# under 0.5 % (the shadow's min_effect for errors), about 2600 mirrored requests at about 100 a second; a look
# every 5 s (anytime-valid: looking often costs no false stops), the last one at about 40 s
SHADOW = {"percent": 100, "duration": "45s", "interval": "5s", "min_effect": 0.02}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dns") / "hosts"


@pytest.fixture(scope="module")
def fake_images(hosts):
    images = {f"{IMAGE}:{tag}": service_image(tag) for tag in ("v1", "v2")}
    images[f"{IMAGE}:{SHIFTED}"] = service_image(SHIFTED, FAULT_SCORE_SHIFT="0.4")
    return {ref: with_cluster_dns(argv, hosts) for ref, argv in images.items()}


class ShadowWorld(World):
    """The canary World plus Service names and forwarding for the pods, and a run with extra CLI arguments."""

    def __init__(self, kube, tmp: Path, hosts: Path):
        super().__init__(kube, tmp)
        self.net = ServiceNet(self.api, self.ns, hosts)

    def setup(self) -> ShadowWorld:
        super().setup()
        self.net.start()
        # one stable pod: each of the tee's rolling restarts starts one process, not two, on the busy node
        self.apps.patch_namespaced_deployment_scale("model", self.ns, {"spec": {"replicas": 1}})
        return self

    def close(self) -> None:
        self.net.close()
        super().close()

    def start(self, policy: Path, *args: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env["KUBECONFIG"] = self.kube.kubeconfig
        command = [sys.executable, "-m", "gates.cli", "--policy", str(policy)]
        command += ["--report-dir", str(self.tmp / "reports"), "canary", *args]
        return subprocess.Popen(
            command, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def shadow_policy(self, image: str, enabled: bool) -> Path:
        path = self.policy(image, {}, steps=(50,), interval="6s")
        data = yaml.safe_load(path.read_text())
        data["canary"]["shadow"] = {"enabled": enabled, **SHADOW}
        path.write_text(yaml.safe_dump(data))
        return path

    def stable(self):
        return self.deployment("model")

    def stable_env(self) -> dict[str, str]:
        return {e.name: e.value for e in self.stable().spec.template.spec.containers[0].env or []}

    def revision(self) -> int:
        return int(self.stable().metadata.annotations[REVISION])

    def gone(self, name: str) -> bool:
        dep = self.deployment(name)
        return dep is None or dep.metadata.deletion_timestamp is not None

    def report(self) -> dict:
        path = self.tmp / "reports" / "mlgate.json"
        return next(g for g in json.loads(path.read_text())["gates"] if g["gate"] == "canary")

    def audit(self) -> list[dict]:
        lines = (self.tmp / "reports" / "audit.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def world(kube, fake_images, hosts, tmp_path_factory):
    if kube.real:
        pytest.skip("pods reached by their 127.x IPs and a local Service proxy: local harness only")
    kube.add_images(fake_images)  # module-scoped: set up before the autouse per-test hook adds them
    w = ShadowWorld(kube, tmp_path_factory.mktemp("shadow"), hosts)
    try:
        yield w.setup()
    finally:
        w.close()


def _live_answers(world, n: int = 6) -> list[str]:
    """The model versions of up to ``n`` answers through the live Service (a new connection each)."""
    versions = []
    for i in range(n):
        try:
            status, answer = world.net.post("model", 80, "/predict", GOLDEN[i % len(GOLDEN)])
        except (OSError, http.client.HTTPException):
            continue  # a pod leaving the endpoints (the proxy lags by up to 0.5 s, as kube-proxy lags)
        assert status == 200, answer
        versions.append(answer["model_version"])
    return versions


def _settle_stable(world) -> None:
    """Stable rolled out with two ready endpoints (what each test starts from)."""

    def settled() -> bool:
        dep = world.stable()
        s = dep.status
        return (
            s.observed_generation == dep.metadata.generation
            and s.updated_replicas == s.available_replicas == (s.replicas or 0) == 1
            and len(world.addresses) == 1
        )

    world.wait_synced(settled, 90, "stable rolled out")


def test_healthy_candidate_is_shadowed_then_canaried_then_promoted(world):
    _settle_stable(world)
    revision = world.revision()
    proc = world.start(world.shadow_policy(f"{IMAGE}:v2", enabled=False), "--shadow")
    answers: list[str] = []
    canary_during_shadow = False
    deadline = time.monotonic() + 200
    while proc.poll() is None and time.monotonic() < deadline:
        teeing = "SHADOW_URL" in world.stable_env() and not world.gone("model-shadow")
        if teeing and world.stable().status.updated_replicas == 1:
            canary_during_shadow |= world.deployment("model-canary") is not None
            answers += _live_answers(world)
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=60)
    print(out)
    assert proc.returncode == 0, out
    # while the candidate was shadowed, users got stable's answers only, and no canary existed
    assert answers and set(answers) == {"v1"}, answers
    assert not canary_during_shadow
    report = world.report()
    shadow = report["evidence"]["shadow"]
    assert shadow["summary"]["verdict"] == "pass"
    mirrored = [
        q["value"]
        for look in shadow["looks"]
        for q in look["queries"]
        if q.get("side") == "canary" and "outcome=~" in q["query"] and q["value"]
    ]
    assert mirrored and max(mirrored) >= 20, shadow["looks"][-1]  # the candidate answered mirrored requests
    actions = [a["action"] for a in report["evidence"]["actions"]]
    order = [
        "shadow start",
        "tee on",
        "tee off",
        "shadow",
        "canary created",
        "promote",
    ]  # verdict after clean-up
    assert [a for a in actions if a in order] == order, actions
    # promoted; the tee and the shadow objects are gone; stable restarted for tee on, tee off, promotion
    assert world.stable_image() == f"{IMAGE}:v2" and world.canary_removed()
    assert world.gone("model-shadow")
    assert not any(k.startswith("SHADOW_") for k in world.stable_env())
    assert TEE_RESTORE not in (world.stable().metadata.annotations or {})
    assert world.revision() == revision + 3


def test_shifted_scores_stop_at_the_shadow_and_a_killed_run_converges(world):
    _settle_stable(world)
    before, revision = world.stable_image(), world.revision()
    policy = world.shadow_policy(f"{IMAGE}:{SHIFTED}", enabled=True)
    proc = world.start(policy)

    def teeing() -> bool:  # the tee is on and stable has rolled out with it
        dep = world.stable()
        s = dep.status
        return (
            proc.poll() is None
            and TEE_RESTORE in (dep.metadata.annotations or {})
            and s.observed_generation == dep.metadata.generation
            and s.updated_replicas == s.available_replicas == (s.replicas or 0) == 1
        )

    try:
        world.wait(teeing, 90, "stable teeing")
    finally:
        proc.kill()  # like a lost runner: no clean-up
        print(proc.communicate(timeout=30)[0])
    assert "SHADOW_URL" in world.stable_env() and not world.gone("model-shadow")

    proc = world.start(policy)
    canary_seen = False
    deadline = time.monotonic() + 150
    while proc.poll() is None and time.monotonic() < deadline:
        canary_seen |= world.deployment("model-canary") is not None
        time.sleep(0.3)
    out, _ = proc.communicate(timeout=60)
    print(out)
    assert proc.returncode == 1, out
    assert "tee left on" in out
    # stopped before any live traffic reached the candidate: no canary ever existed, nothing rolled back
    assert not canary_seen and world.deployment("model-canary") is None
    assert world.stable_image() == before
    report = world.report()
    assert report["summary"]["decision"] == "shadow-failed", report["summary"]
    assert "never took live traffic" in report["summary"]["reason"]
    shadow = report["evidence"]["shadow"]
    assert shadow["summary"]["verdict"] == "fail"
    failed = {
        c["name"]: c
        for c in report["checks"]
        if c["status"] == "fail" and c["name"].startswith("shadow shadow_")
    }
    assert {"shadow shadow_score_shift", "shadow shadow_disagreement"} & set(failed), report["checks"]
    for check in failed.values():
        assert check.get("details") or check.get("ci"), check  # the bounds behind the verdict
    if "shadow shadow_disagreement" in failed:  # its anytime bounds lie above the policy's maximum
        assert failed["shadow shadow_disagreement"]["details"]["look"]["rate_lower"] > 0.02
    audit = world.audit()[-1]
    assert audit["gate"] == "canary" and audit["status"] == "fail"
    assert audit["summary"]["decision"] == "shadow-failed"
    # converged: the tee switched off once, the candidate removed; two restarts over both runs, not three
    world.wait(lambda: world.gone("model-shadow"), 30, "shadow Deployment removed")
    assert not any(k.startswith("SHADOW_") for k in world.stable_env())
    assert TEE_RESTORE not in (world.stable().metadata.annotations or {})
    assert world.revision() == revision + 2
