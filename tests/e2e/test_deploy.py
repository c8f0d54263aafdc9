"""`mlgate deploy`, `validate-deployment` and `rollback` end to end on a real control plane.

The local harness (tests/cluster) runs kube-apiserver, controller-manager and scheduler, and a fake node that
runs each pod's container as a local process: the image catalog below maps the example's image references to
the model service (`python -m examples.service`), so the real deployment controller rolls out real processes
that answer real HTTP on 127.0.x.y pod IPs. With KUBECONFIG set, the same tests run against that cluster (the
images must exist there, e.g. `kind load docker-image`; traffic then goes through `kubectl port-forward`).

The steps build on each other, in file order: deploy 1.0.0, validate it live, re-deploy (no-op), deploy a
broken image that never gets ready (rolled back after its 15 s deadline), deploy 1.1.0, roll back by hand to a
chosen revision, refuse a paused Deployment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.cluster.images import service_image

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlgate/credit-model"
DEADLINE = 15
GOOD_DEADLINE = 90


@pytest.fixture(scope="module")
def fake_images():
    return {
        f"{IMAGE}:1.0.0": service_image("1.0.0"),
        f"{IMAGE}:1.1.0": service_image("1.1.0"),
        f"{IMAGE}:broken": service_image("broken", FAULT_NOT_READY="1"),
    }


class Env:
    """One namespace, an overlay of the staging overlay that points there, and helpers to run mlgate."""

    def __init__(self, kube, tmp: Path):
        self.kube = kube
        self.ns = f"e2e-deploy-{uuid.uuid4().hex[:6]}"
        self.tmp = tmp
        self.reports = tmp / "reports"
        # Good versions get a generous deadline (a loaded CI machine may take a while to start Python and
        # scikit-learn); the broken one the short deadline the rollback test waits out.
        self.overlay = self._overlay("overlay", GOOD_DEADLINE)
        self.short_overlay = self._overlay("overlay-short", DEADLINE)

    def _overlay(self, name: str, deadline: int) -> Path:
        directory = self.tmp / name
        directory.mkdir()
        staging = os.path.relpath(ROOT / "k8s/overlays/staging", directory)
        (directory / "kustomization.yaml").write_text(
            f"resources: [{staging}]\nnamespace: {self.ns}\npatches:\n"
            "- target: {kind: Deployment, name: credit-model}\n  patch: |\n"
            f"    - op: replace\n      path: /spec/progressDeadlineSeconds\n      value: {deadline}\n"
        )
        return directory

    def mlgate(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and not k.startswith("MLGATE_")
        }
        env["KUBECONFIG"] = self.kube.kubeconfig
        return subprocess.run(
            [sys.executable, "-m", "gates.cli", "--report-dir", str(self.reports), *map(str, args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def deploy(self, tag: str, short: bool = False) -> subprocess.CompletedProcess:
        return self.mlgate(
            "deploy",
            "--manifests",
            self.short_overlay if short else self.overlay,
            "--image",
            f"{IMAGE}={IMAGE}:{tag}",
        )

    def report(self) -> dict:
        return json.loads((self.reports / "mlgate.json").read_text())["gates"][0]

    def apps(self):
        from kubernetes import client

        return client.AppsV1Api(self.kube.api_client())

    def deployment(self):
        return self.apps().read_namespaced_deployment("credit-model", self.ns)

    def image(self) -> str:
        return self.deployment().spec.template.spec.containers[0].image

    def revision(self) -> int:
        return int(self.deployment().metadata.annotations["deployment.kubernetes.io/revision"])


@pytest.fixture(scope="module")
def env(kube, tmp_path_factory):
    world = Env(kube, tmp_path_factory.mktemp("deploy"))
    yield world
    kube.delete_namespace(world.ns)


def checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_deploy_staging_applies_and_waits_for_the_rollout(env):
    started = time.monotonic()
    result = env.deploy("1.0.0")
    assert result.returncode == 0, explain(result)
    report = env.report()
    assert report["gate"] == "deploy" and report["status"] in ("pass", "warn")
    found = checks(report)
    assert found["apply"]["status"] == "pass" and "7 created" in found["apply"]["why"]
    assert found["rollout"]["status"] == "pass" and found["rollout"]["value"] == 1
    assert "rolled out: 1 of 1 replicas updated and available" in result.stderr  # progress while waiting
    deployment = env.deployment()
    assert deployment.status.available_replicas == 1 and env.image() == f"{IMAGE}:1.0.0"
    managers = {(m.manager, m.operation) for m in deployment.metadata.managed_fields}
    assert ("mlgate", "Apply") in managers
    audit = [json.loads(line) for line in (env.reports / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["gate"] == "deploy" and audit[-1]["status"] in ("pass", "warn")
    assert any(path.endswith("deployment.yaml") for path in audit[-1]["inputs"])
    assert time.monotonic() - started < 120


def _service_url(env: Env) -> tuple[str, subprocess.Popen | None]:
    """The Service's first ready endpoint (a 127.x pod IP on the local harness), or a port-forward."""
    from gates.deploy.kube import connect

    kube = connect(env.kube.kubeconfig)
    deadline = time.monotonic() + 60
    while True:
        # EndpointSlices, not Endpoints: the API server refuses loopback addresses in Endpoints, and the local
        # harness's pod IPs are 127.x (its slices carry them; a real cluster has both).
        slices = kube.list(
            "discovery.k8s.io/v1", "EndpointSlice", env.ns, "kubernetes.io/service-name=credit-model"
        )
        addresses = [
            a
            for s in slices
            for e in (s.get("endpoints") or [])
            if (e.get("conditions") or {}).get("ready")
            for a in e.get("addresses") or []
        ]
        if addresses:
            break
        assert time.monotonic() < deadline, "the Service never got a ready endpoint"
        time.sleep(0.5)
    if not env.kube.real:
        assert addresses[0].startswith("127."), addresses
        return f"http://{addresses[0]}:8080", None
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("live traffic on a real cluster needs kubectl port-forward")
    proc = subprocess.Popen(
        [
            kubectl,
            "--kubeconfig",
            env.kube.kubeconfig,
            "-n",
            env.ns,
            "port-forward",
            "svc/credit-model",
            "0:80",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    assert match, line
    return f"http://127.0.0.1:{match.group(1)}", proc


def test_validate_deployment_with_live_traffic(env):
    url, forward = _service_url(env)
    try:
        result = env.mlgate(
            "validate-deployment",
            "--url",
            url,
            "--golden",
            ROOT / "examples/service/golden.jsonl",
            "--requests",
            "300",
            "--max-error-rate",
            "0.05",
            "--resamples",
            "300",
        )
    finally:
        if forward:
            forward.terminate()
    assert result.returncode == 0, explain(result)
    found = checks(env.report())
    assert [found[n]["status"] for n in ("health", "ready", "golden", "error_rate", "bad_requests")] == [
        "pass"
    ] * 5
    assert found["golden"]["value"] == 24 and found["error_rate"]["value"] == 0


def test_re_running_the_same_deploy_changes_nothing(env):
    before = env.deployment().metadata
    result = env.deploy("1.0.0")
    assert result.returncode == 0, explain(result)
    found = checks(env.report())
    assert "7 unchanged" in found["apply"]["why"] and found["apply"]["value"] == 0
    after = env.deployment().metadata
    assert (after.generation, after.resource_version) == (before.generation, before.resource_version)
    assert env.revision() == 1


def test_a_broken_image_misses_its_deadline_and_is_rolled_back(env):
    started = time.monotonic()
    result = env.deploy("broken", short=True)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, explain(result)
    report = env.report()
    found = checks(report)
    assert found["rollout"]["status"] == "fail" and found["rollout"]["value"] == "deadline"
    assert f"exceeded its progress deadline of {DEADLINE} s" in found["rollout"]["why"]
    assert "not ready" in found["rollout"]["why"]  # says why the new pod never became ready
    assert found["rollback"]["status"] == "pass" and found["rollback"]["value"] == 1
    assert report["summary"]["rolled-back"] is True
    assert (
        env.image() == f"{IMAGE}:1.0.0" and env.revision() == 3
    )  # revision 1's template, renumbered like kubectl
    assert env.deployment().status.available_replicas == 1
    assert "rolling back to revision 1" in result.stderr
    audit = [json.loads(line) for line in (env.reports / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["gate"] == "deploy" and audit[-1]["status"] == "fail"
    assert elapsed < DEADLINE + 90


def test_deploy_a_new_version_then_roll_back_by_hand_to_a_chosen_revision(env):
    result = env.deploy("1.1.0")
    assert result.returncode == 0, explain(result)
    assert env.image() == f"{IMAGE}:1.1.0" and env.revision() == 4
    result = env.mlgate("rollback", "credit-model", "-n", env.ns, "--to-revision", "3")
    assert result.returncode == 0, explain(result)
    found = checks(env.report())
    assert (
        found["rollback"]["status"] == "pass"
        and "from revision 4 to the template of revision 3" in found["rollback"]["why"]
    )
    assert found["rollout"]["status"] == "pass"
    assert env.image() == f"{IMAGE}:1.0.0" and env.revision() == 5
    missing = env.mlgate("rollback", "deployment/credit-model", "-n", env.ns, "--to-revision", "3")
    assert missing.returncode == 2 and "revision 3 not found (revisions: 2, 4, 5)" in missing.stderr


def test_rollback_refuses_a_paused_deployment(env):
    env.apps().patch_namespaced_deployment("credit-model", env.ns, {"spec": {"paused": True}})
    try:
        result = env.mlgate("rollback", "credit-model", "-n", env.ns)
        assert result.returncode == 2, explain(result)
        assert "is paused; resume it first (kubectl rollout resume deployment/credit-model" in result.stderr
        assert env.revision() == 5
    finally:
        env.apps().patch_namespaced_deployment("credit-model", env.ns, {"spec": {"paused": False}})
