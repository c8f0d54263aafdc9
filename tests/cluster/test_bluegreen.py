"""`mlgate deploy --strategy blue-green` on the real control plane (tests/cluster: kube-apiserver, controllers and
a fake node that runs each pod's container as a local process, here the example model service).

The steps build on each other, in file order: the first blue/green deploy (no colour live yet) creates blue
and points the Service at it; a re-run changes nothing; 1.1.0 goes to green and the Service switches, blue
kept scaled; switch back (and its re-run); a version with shifted scores fails validation and is never
switched to; a version that never gets ready fails its rollout. Every step is audited. Last, an Ingress
(built in, unlike the Gateway API's HTTPRoute, whose patch is tested without a cluster) is switched between the
colours' Services and back, one merge patch each, by the API server itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.cluster.images import service_image

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlgate/credit-model"


@pytest.fixture(scope="module")
def fake_images():
    return {
        f"{IMAGE}:1.0.0": service_image("1.0.0"),
        f"{IMAGE}:1.1.0": service_image("1.1.0"),
        f"{IMAGE}:shifted": service_image("shifted", FAULT_SCORE_SHIFT="0.2"),
        f"{IMAGE}:broken": service_image("broken", FAULT_NOT_READY="1"),
    }


class World:
    def __init__(self, kube, tmp: Path):
        self.kube = kube
        self.ns = f"bluegreen-{uuid.uuid4().hex[:6]}"
        self.tmp = tmp
        self.reports = tmp / "reports"
        overlay = tmp / "overlay"
        overlay.mkdir()
        staging = os.path.relpath(ROOT / "k8s/overlays/staging", overlay)
        (overlay / "kustomization.yaml").write_text(
            f"resources: [{staging}]\nnamespace: {self.ns}\npatches:\n"
            "- target: {kind: Deployment, name: credit-model}\n  patch: |\n"
            "    - op: replace\n      path: /spec/progressDeadlineSeconds\n      value: 25\n"
        )
        self.policy = tmp / "gates.yml"
        self.policy.write_text(
            f"version: 1\n"
            f"deploy:\n  paths: [overlay]\n  blue_green: {{keep_seconds: 3600}}\n"
            f"validate_deployment:\n  golden: {ROOT / 'examples/service/golden.jsonl'}\n  requests: 60\n"
            "  concurrency: 2\n  max_error_rate: 0.1\n  max_p95_ms: 3000\n  max_p99_ms: 6000\n  wait_seconds: 60\n"
            "  bootstrap: {resamples: 200}\n"
        )

    def mlgate(self, *args: str, timeout: float = 200) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLGATE_"))}
        env["KUBECONFIG"] = self.kube.kubeconfig
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "gates.cli",
                "--policy",
                str(self.policy),
                "--report-dir",
                str(self.reports),
                *args,
            ],
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def deploy(self, tag: str, *extra: str) -> subprocess.CompletedProcess:
        return self.mlgate("deploy", "--strategy", "blue-green", "--image", f"{IMAGE}={IMAGE}:{tag}", *extra)

    def report(self) -> dict:
        return json.loads((self.reports / "mlgate.json").read_text())["gates"][0]

    def service(self):
        from kubernetes import client

        return client.CoreV1Api(self.kube.api_client()).read_namespaced_service("credit-model", self.ns)

    def colour(self, name: str):
        from kubernetes import client

        return client.AppsV1Api(self.kube.api_client()).read_namespaced_deployment(
            f"credit-model-{name}", self.ns
        )

    def audit(self) -> list[dict]:
        return [json.loads(line) for line in (self.reports / "audit.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def world(kube, tmp_path_factory):
    made = World(kube, tmp_path_factory.mktemp("bluegreen"))
    kube.create_namespace(made.ns)
    yield made
    kube.delete_namespace(made.ns)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_first_blue_green_deploy_creates_blue_and_switches_the_service(world):
    result = world.deploy("1.0.0")
    assert result.returncode == 0, explain(result)
    report = world.report()
    assert report["summary"]["verdict"] == "switched" and report["summary"]["live"] == "blue"
    found = {c["name"]: c for c in report["checks"]}
    assert found["validate"]["status"] in ("pass", "warn") and found["switch"]["status"] == "pass"
    assert world.service().spec.selector == {"app": "credit-model", "mlgate.io/color": "blue"}
    assert world.colour("blue").status.available_replicas == 1
    assert world.audit()[-1]["gate"] == "deploy"


def test_a_rerun_converges_without_changes(world):
    generation = world.colour("blue").metadata.generation
    result = world.deploy("1.0.0")
    assert result.returncode == 0, explain(result)
    assert world.report()["summary"]["verdict"] == "unchanged"
    assert world.colour("blue").metadata.generation == generation


def test_new_version_goes_to_green_and_blue_stays_for_a_switch_back(world):
    result = world.deploy("1.1.0")
    assert result.returncode == 0, explain(result)
    report = world.report()
    assert report["summary"]["verdict"] == "switched" and report["evidence"]["switch"] == {
        "from": "blue",
        "to": "green",
        "images": f"model={IMAGE}:1.1.0",
        "back": False,
        "object": "Service credit-model",
    }
    service = world.service()
    assert service.spec.selector["mlgate.io/color"] == "green"
    assert service.metadata.annotations["mlgate.io/bluegreen-previous"] == "blue"
    blue = world.colour("blue")
    assert blue.spec.replicas == 1 and "mlgate.io/scale-down-after" in blue.metadata.annotations


def test_switch_back_is_instant_audited_and_idempotent(world):
    result = world.mlgate("deploy", "--switch-back")
    assert result.returncode == 0, explain(result)
    assert world.report()["summary"]["verdict"] == "switched_back"
    service = world.service()
    assert service.spec.selector["mlgate.io/color"] == "blue"
    assert service.metadata.annotations["mlgate.io/bluegreen-switched-back"] == "true"
    assert world.audit()[-1]["summary"]["verdict"] == "switched_back"
    again = world.mlgate("deploy", "--switch-back")
    assert again.returncode == 0 and world.report()["summary"]["verdict"] == "unchanged"
    assert world.service().spec.selector["mlgate.io/color"] == "blue"


def test_a_version_that_fails_validation_is_never_switched_to(world):
    result = world.deploy("shifted")
    assert result.returncode == 1, explain(result)
    report = world.report()
    found = {c["name"]: c for c in report["checks"]}
    assert report["summary"]["verdict"] == "not_switched" and found["validate"]["status"] == "fail"
    validation = {c["name"]: c for c in report["evidence"]["validation"]["checks"]}
    assert "golden" in validation, (found["validate"]["why"], sorted(validation))
    assert validation["golden"]["status"] == "fail", found["validate"]["why"]
    assert world.service().spec.selector["mlgate.io/color"] == "blue"
    assert world.colour("green").spec.replicas == 0


def test_a_version_that_never_gets_ready_fails_its_rollout(world):
    result = world.deploy("broken")
    assert result.returncode == 1, explain(result)
    found = {c["name"]: c for c in world.report()["checks"]}
    assert found["rollout"]["status"] == "fail" and "live stays blue" in found["rollout"]["why"]
    assert world.service().spec.selector["mlgate.io/color"] == "blue"


def test_an_ingress_backend_switches_colour_and_back_in_one_write_each(world):
    from kubernetes import client

    from gates.deploy.bluegreen import LIVE, SWITCHED_BACK, BlueGreen
    from gates.deploy.kube import connect

    net = client.NetworkingV1Api(world.kube.api_client())
    backend = {"service": {"name": "credit-model", "port": {"number": 80}}}
    net.create_namespaced_ingress(
        world.ns,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "credit-model"},
            "spec": {
                "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]
            },
        },
    )
    kube = connect(world.kube.kubeconfig)
    service = kube.get("v1", "Service", "credit-model", world.ns)
    deployment = {"metadata": {"name": "credit-model", "namespace": world.ns}, "spec": {}}
    settings = {"route": {"kind": "Ingress", "name": "credit-model"}, "keep_seconds": 3600}
    run = BlueGreen(kube, deployment, service, settings, progress=lambda _: None)
    run.switch("green", "blue", f"model={IMAGE}:1.1.0", back=False)

    def served() -> tuple[str, dict]:
        ingress = net.read_namespaced_ingress("credit-model", world.ns)
        return ingress.spec.rules[0].http.paths[0].backend.service.name, ingress.metadata.annotations

    name, annotations = served()
    assert name == "credit-model-green" and annotations[LIVE] == "green"
    back = BlueGreen(kube, deployment, service, settings, progress=lambda _: None)
    assert back.switch_back() == "switched_back"  # blue is still running
    name, annotations = served()
    assert name == "credit-model-blue" and annotations[SWITCHED_BACK] == "true"
    assert world.service().spec.selector["mlgate.io/color"] == "blue"  # the Service was not touched
