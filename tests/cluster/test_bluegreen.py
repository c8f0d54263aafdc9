"""`mlgate deploy --strategy blue-green` on the real control plane (tests/cluster: kube-apiserver, controllers and
a fake node that runs each pod's container as a local process, here the example model service).

The steps build on each other, in file order: the first blue/green deploy (no colour live yet) creates blue
and points the Service at it; a re-run changes nothing; 1.1.0 goes to green (validated, then judged against
blue on the same test requests) and the Service switches, blue kept scaled; switch back (and its re-run); a
version with shifted scores fails validation and is never switched to; a version 40 ms slower passes
validation but the sequential judge blocks it; a version that never gets ready fails its rollout; a deploy
killed after its validation converges when run again. Every step is audited. Last, an HTTPRoute (under a
small Gateway API CRD, gateway-httproute-crd.yaml) and an Ingress are the switch target: the deploy points
their backends at green, the switch back at blue, and the Service is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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
        f"{IMAGE}:slow": service_image("slow", FAULT_LATENCY_MS="40"),
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
        # the judge: an error rate of 3 % or less needs no comparison (about 370 requests with no errors)
        self.policy = self.write_policy(
            "gates.yml",
            "{keep_seconds: 3600, judge: {requests: 1500, look_every: 100, concurrency: 2, "
            "error_rate_min_effect: 0.03}}",
        )

    def write_policy(self, name: str, blue_green: str) -> Path:
        path = self.tmp / name
        path.write_text(
            f"version: 1\n"
            f"deploy:\n  paths: [overlay]\n  blue_green: {blue_green}\n"
            f"validate_deployment:\n  golden: {ROOT / 'examples/service/golden.jsonl'}\n  requests: 60\n"
            "  concurrency: 2\n  max_error_rate: 0.1\n  max_p95_ms: 3000\n  max_p99_ms: 6000\n  wait_seconds: 60\n"
            "  bootstrap: {resamples: 200}\n"
        )
        return path

    def command(self, *args: str, policy: Path | None = None) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLGATE_"))}
        env["KUBECONFIG"] = self.kube.kubeconfig
        argv = [sys.executable, "-m", "gates.cli", "--policy", str(policy or self.policy)]
        return [*argv, "--report-dir", str(self.reports), *args], env

    def mlgate(
        self, *args: str, policy: Path | None = None, timeout: float = 200
    ) -> subprocess.CompletedProcess:
        argv, env = self.command(*args, policy=policy)
        return subprocess.run(
            argv, cwd=self.tmp, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )

    def deploy(self, tag: str, *extra: str, policy: Path | None = None) -> subprocess.CompletedProcess:
        image = ("--image", f"{IMAGE}={IMAGE}:{tag}")
        return self.mlgate("deploy", "--strategy", "blue-green", *image, *extra, policy=policy)

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
    assert found["judge"]["status"] == "warn" and "no live version" in found["judge"]["why"]
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
    judge = {c["name"]: c for c in report["checks"]}["judge"]
    assert judge["status"] == "pass", judge["why"]
    assert report["evidence"]["judge"]["looks"][-1]["new"]["errors"] == 0
    audited = world.audit()[-1]["summary"]
    assert audited["judge"] == "pass" and "error_rate new/live ratio" in audited["judge-bounds"]
    assert "p95 new (" in audited["judge-bounds"] and audited["judge-alpha"] == 0.01
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


def test_a_slower_version_passes_validation_but_the_judge_blocks_the_switch(world):
    result = world.deploy("slow")  # 40 ms more per prediction: far inside validation's p95 limit of 3 s
    assert result.returncode == 1, explain(result)
    report = world.report()
    found = {c["name"]: c for c in report["checks"]}
    assert found["validate"]["status"] in ("pass", "warn"), found["validate"]["why"]
    assert found["judge"]["status"] == "fail" and "latency_p95" in found["judge"]["why"], found["judge"][
        "why"
    ]
    assert report["summary"]["verdict"] == "not_switched" and report["summary"]["judge"] == "fail"
    assert report["evidence"]["judge"]["requests"] < 1500  # it stopped once it was sure
    assert world.audit()[-1]["summary"]["judge"] == "fail"
    assert world.service().spec.selector["mlgate.io/color"] == "blue"
    assert world.colour("green").spec.replicas == 0


def test_a_version_that_never_gets_ready_fails_its_rollout(world):
    result = world.deploy("broken")
    assert result.returncode == 1, explain(result)
    found = {c["name"]: c for c in world.report()["checks"]}
    assert found["rollout"]["status"] == "fail" and "live stays blue" in found["rollout"]["why"]
    assert world.service().spec.selector["mlgate.io/color"] == "blue"


def test_a_deploy_killed_after_validation_converges_when_run_again(world):
    argv, env = world.command("deploy", "--strategy", "blue-green", "--image", f"{IMAGE}={IMAGE}:1.1.0")
    with subprocess.Popen(argv, cwd=world.tmp, env=env, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # killed once validated, while the judge compares (before the switch)
            seen.append(line)
            if "blue-green: comparing green" in line:
                proc.kill()
                break
        proc.wait(30)
    assert any("comparing green" in line for line in seen), "".join(seen)
    assert world.service().spec.selector["mlgate.io/color"] == "blue"  # nothing switched
    green = world.colour("green")
    assert green.spec.replicas == 1 and "mlgate.io/scale-down-after" not in (green.metadata.annotations or {})
    result = world.deploy("1.1.0")
    assert result.returncode == 0, explain(result)
    assert world.report()["summary"]["verdict"] == "switched"
    assert world.service().spec.selector["mlgate.io/color"] == "green"
    assert "mlgate.io/scale-down-after" in world.colour("blue").metadata.annotations
    again = world.deploy("1.1.0")
    assert again.returncode == 0 and world.report()["summary"]["verdict"] == "unchanged"


HTTPROUTE_CRD = Path(__file__).with_name("gateway-httproute-crd.yaml")


def kubectl(world: World, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", world.kube.kubeconfig, "-n", world.ns, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def route_manifest(kind: str) -> dict:
    """The route as a team would have it, serving the blue colour's Service."""
    if kind == "HTTPRoute":
        rule = {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": "credit-model-blue", "port": 80}],
        }
        spec = {"parentRefs": [{"name": "public"}], "rules": [rule]}
        api = "gateway.networking.k8s.io/v1"
    else:
        backend = {"service": {"name": "credit-model-blue", "port": {"number": 80}}}
        path = {"path": "/", "pathType": "Prefix", "backend": backend}
        spec = {"rules": [{"host": "credit.example", "http": {"paths": [path]}}]}
        api = "networking.k8s.io/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "credit-model"}, "spec": spec}


def backends(world: World, kind: str) -> tuple[list[dict], dict]:
    """(every backend the route names, its annotations), as the API server holds them."""
    route = json.loads(kubectl(world, "get", kind.lower(), "credit-model", "-o", "json"))
    rules = route["spec"]["rules"]
    if kind == "HTTPRoute":
        found = [ref for rule in rules for ref in rule["backendRefs"]]
    else:
        found = [path["backend"]["service"] for rule in rules for path in rule["http"]["paths"]]
    return found, route["metadata"].get("annotations") or {}


@pytest.mark.parametrize("kind", ["HTTPRoute", "Ingress"])
def test_a_route_is_the_switch_target_and_switch_back_restores_blue(world, kind):
    from gates.deploy.bluegreen import COLOR
    from gates.deploy.bluegreen_route import colour_service

    started = time.monotonic()
    if kind == "HTTPRoute":
        kubectl(world, "apply", "-f", str(HTTPROUTE_CRD))
        kubectl(
            world,
            "wait",
            "--for",
            "condition=established",
            "--timeout=30s",
            "crd/httproutes.gateway.networking.k8s.io",
        )
    service = json.loads(kubectl(world, "get", "service", "credit-model", "-o", "json"))
    selector = service["spec"]["selector"]
    # blue is the live colour as far as the route goes: its Service (what a route-mode deploy applies) and the route
    kubectl(world, "apply", "-f", "-", stdin=json.dumps(colour_service(service, "blue", COLOR)))
    kubectl(world, "apply", "-f", "-", stdin=json.dumps(route_manifest(kind)))
    policy = world.write_policy(
        f"route-{kind}.yml",
        f"{{keep_seconds: 3600, route: {{kind: {kind}, name: credit-model}}, judge: {{enabled: false}}}}",
    )

    result = world.deploy("1.1.0", policy=policy)
    assert result.returncode == 0, explain(result)
    report = world.report()
    assert report["summary"]["verdict"] == "switched"
    assert report["evidence"]["switch"]["object"] == f"{kind} credit-model"
    assert report["evidence"]["switch"]["from"] == "blue" and report["evidence"]["switch"]["to"] == "green"
    found, annotations = backends(world, kind)
    assert [b["name"] for b in found] == ["credit-model-green"]
    assert annotations["mlgate.io/bluegreen-live"] == "green"
    if kind == "HTTPRoute":  # the API server's defaults and the port survived the merge patch
        assert found[0]["port"] == 80 and found[0]["weight"] == 1 and found[0]["kind"] == "Service"
    green = json.loads(kubectl(world, "get", "service", "credit-model-green", "-o", "json"))
    assert green["spec"]["selector"][COLOR] == "green"

    back = world.mlgate("deploy", "--switch-back", policy=policy)
    assert back.returncode == 0, explain(back)
    assert world.report()["summary"]["verdict"] == "switched_back"
    found, annotations = backends(world, kind)
    assert [b["name"] for b in found] == ["credit-model-blue"]
    assert annotations["mlgate.io/bluegreen-switched-back"] == "true"
    assert world.audit()[-1]["summary"]["verdict"] == "switched_back"
    assert world.service().spec.selector == selector  # the Service itself was never touched
    assert time.monotonic() - started < 120
