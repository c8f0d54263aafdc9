"""End-to-end check of the cluster harness: real control plane + FakeNode.

A Deployment whose "image" is tests/cluster/podserver.py becomes real local
processes; the real deployment and endpoints controllers react to the
readiness the FakeNode reports.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

PODSERVER = str(Path(__file__).resolve().with_name("podserver.py"))
IMG = "mlgate.test/echo"
APP = "echo"


@pytest.fixture(scope="module")
def fake_images():
    py = sys.executable
    return {
        f"{IMG}:v1": [py, PODSERVER, "--version", "v1"],
        f"{IMG}:v2": [py, PODSERVER, "--version", "v2"],
        f"{IMG}:unready": [py, PODSERVER, "--version", "unready", "--fail-ready"],
    }


def _http_get(url: str, timeout: float = 2.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
    with opener.open(url, timeout=timeout) as r:
        return r.status, r.read()


def _try_get(url: str):
    try:
        return _http_get(url, timeout=1)[0]
    except (urllib.error.URLError, OSError):
        return None


def _wait(what: str, fn, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _deployment(image: str) -> dict:
    probe = {"periodSeconds": 1, "timeoutSeconds": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": APP}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {
                    "terminationGracePeriodSeconds": 3,
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "env": [
                                {"name": "PORT", "value": "8080"},
                                {
                                    "name": "APP_LABEL",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
                                },
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "failureThreshold": 1,
                                **probe,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/health", "port": 8080},
                                "initialDelaySeconds": 3,
                                "failureThreshold": 3,
                                **probe,
                            },
                        }
                    ],
                },
            },
        },
    }


def test_deployment_rollout_on_fake_node(kube):
    if kube.real:
        pytest.skip("exercises the FakeNode (pods as local processes); not for a real cluster")
    from kubernetes import client

    ns = f"harness-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(ns)
    api = kube.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)

    def pods(image=None):
        items = core.list_namespaced_pod(ns, label_selector=f"app={APP}").items
        return [p for p in items if image is None or p.spec.containers[0].image == image]

    def ready(p) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])

    def dep_status():
        return apps.read_namespaced_deployment_status(APP, ns)

    def rolled_out(image):
        def check():
            d = dep_status()
            s = d.status
            live = pods()
            return (
                (s.observed_generation or 0) >= d.metadata.generation
                and s.updated_replicas == 2
                and s.replicas == 2
                and s.available_replicas == 2
                and not s.unavailable_replicas
                and len(live) == 2
                and all(p.spec.containers[0].image == image for p in live)
            )

        return check

    def endpoint_ips():
        """(ready IPs, not-ready IPs) of the Service, from its EndpointSlices.

        The core/v1 Endpoints object cannot carry FakeNode pod IPs: API
        validation rejects loopback addresses there ("may not be in the loopback
        range") and the endpoints controller gives up with a
        FailedToUpdateEndpoint event.  EndpointSlices (discovery.k8s.io/v1beta1
        in 1.20, written by the endpointslice controller) have no such rule.
        """
        slices = custom.list_namespaced_custom_object(
            "discovery.k8s.io",
            "v1beta1",
            ns,
            "endpointslices",
            label_selector=f"kubernetes.io/service-name={APP}",
        )["items"]
        ips, not_ready = set(), set()
        for sl in slices:
            assert sl["addressType"] == "IPv4"
            assert [p["port"] for p in sl.get("ports") or []] in ([], [8080])
            for ep in sl.get("endpoints") or []:
                target = ips if ep.get("conditions", {}).get("ready") else not_ready
                target.update(ep["addresses"])
        return ips, not_ready

    try:
        # --- v1: 2 replicas become available, the Service's EndpointSlice gets both pod IPs
        apps.create_namespaced_deployment(ns, _deployment(f"{IMG}:v1"))
        core.create_namespaced_service(
            ns,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": APP},
                "spec": {
                    "selector": {"app": APP},
                    "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
                },
            },
        )
        _wait("2 available v1 replicas", rolled_out(f"{IMG}:v1"), 60)

        v1_pods = pods()
        v1_ips = {p.status.pod_ip for p in v1_pods}
        assert len(v1_ips) == 2 and all(ip.startswith("127.") for ip in v1_ips)
        assert all(ready(p) and p.status.phase == "Running" for p in v1_pods)
        assert all(p.status.host_ip == "127.0.0.1" for p in v1_pods)
        _wait("endpoints listing the v1 pod IPs", lambda: endpoint_ips() == (v1_ips, set()), 20)

        p0 = v1_pods[0]
        status, body = _http_get(f"http://{p0.status.pod_ip}:8080/")
        info = json.loads(body)
        assert status == 200
        assert info == {
            "version": "v1",
            "pod": p0.metadata.name,
            "namespace": ns,
            "ip": p0.status.pod_ip,
            "pid": info["pid"],
        }

        node_view = {k: v for k, v in kube.node.pods().items() if k.startswith(ns + "/")}
        v1_pids = [pid for v in node_view.values() for pid in v["pids"].values()]
        assert len(v1_pids) == 2 and info["pid"] in v1_pids
        log = kube.node.log_path(ns, p0.metadata.name)
        assert "podserver v1 listening" in log.read_text()

        # --- v2: the rolling update completes and the old processes are gone
        apps.patch_namespaced_deployment(
            APP, ns, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"{IMG}:v2"}]}}}}
        )
        _wait("rollout to v2", rolled_out(f"{IMG}:v2"), 60)
        v2_pods = pods()
        v2_ips = {p.status.pod_ip for p in v2_pods}
        assert not v2_ips & v1_ips, "pod IPs must not be reused while the old pods lived"
        for pid in v1_pids:
            _wait(f"old process {pid} to exit", lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10)
        for ip in v1_ips:
            with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
                _http_get(f"http://{ip}:8080/", timeout=1)
        for p in v2_pods:
            assert json.loads(_http_get(f"http://{p.status.pod_ip}:8080/")[1])["version"] == "v2"
        _wait("endpoints listing the v2 pod IPs", lambda: endpoint_ips() == (v2_ips, set()), 20)

        # --- an image that never becomes ready: the rollout must not complete
        apps.patch_namespaced_deployment(
            APP,
            ns,
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"{IMG}:unready"}]}}}},
        )
        bad = _wait(
            "the unready pod to run",
            lambda: [
                p
                for p in pods(f"{IMG}:unready")
                if p.status.phase == "Running"
                and p.status.container_statuses
                and p.status.container_statuses[0].state.running
            ],
            30,
        )[0]
        assert not ready(bad) and not bad.status.container_statuses[0].ready
        bad_ip = bad.status.pod_ip
        _wait(
            "the unready pod's server to answer",  # the process runs, only /ready says 503
            lambda: _try_get(f"http://{bad_ip}:8080/") == 200,
            15,
        )
        _wait("the unready pod IP in notReadyAddresses", lambda: endpoint_ips() == (v2_ips, {bad_ip}), 20)

        def stuck():
            s = dep_status().status
            return s.updated_replicas == 1 and s.available_replicas == 2 and s.unavailable_replicas == 1

        _wait("the deployment to report the unready replica", stuck, 20)
        # give the deployment controller several seconds to (not) make progress
        end = time.monotonic() + 4
        while time.monotonic() < end:
            s = dep_status().status
            assert s.available_replicas == 2 and s.unavailable_replicas == 1, s
            assert s.updated_replicas == 1, s
            time.sleep(0.5)
        assert {p.status.pod_ip for p in pods(f"{IMG}:v2")} == v2_ips
        assert all(ready(p) for p in pods(f"{IMG}:v2"))
    finally:
        api.close()
        kube.delete_namespace(ns)


ENV_DUMP_AND_EXIT = (
    "import json, os, sys, time\n"
    "keys = ['GREETING', 'MSG', 'APP', 'MY_IP', 'NS', 'FROM_CM', 'POD_IP', 'POD_NAME',"
    " 'POD_NAMESPACE']\n"
    "print('ENV ' + json.dumps({k: os.environ.get(k) for k in keys}), flush=True)\n"
    "time.sleep(0.5)\n"
    "sys.exit(3)\n"
)


def test_fake_node_pod_lifecycle(kube):
    """Env from the pod spec, restarts, liveness, ErrImagePull, late images, deletion."""
    if kube.real:
        pytest.skip("exercises the FakeNode (pods as local processes); not for a real cluster")
    from kubernetes import client

    py = sys.executable
    ns = f"lifecycle-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(ns)
    kube.add_images(
        {
            "mlgate.test/crashy:1": [py, "-c", ENV_DUMP_AND_EXIT],
            "mlgate.test/sick:1": [py, PODSERVER, "--fail-health"],
        }
    )
    api = kube.api_client()
    core = client.CoreV1Api(api)

    def pod(name, image, **container):
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "main", "image": image, **container}],
            },
        }

    def status(name):
        return core.read_namespaced_pod_status(name, ns).status

    try:
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": "cfg"}, "data": {"key": "from-configmap"}}
        )
        core.create_namespaced_pod(
            ns,
            pod(
                "crashy",
                "mlgate.test/crashy:1",
                env=[
                    {"name": "GREETING", "value": "hello"},
                    {"name": "MSG", "value": "$(GREETING) world"},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "key"}}},
                ],
            ),
        )
        core.create_namespaced_pod(
            ns,
            pod(
                "sick",
                "mlgate.test/sick:1",
                env=[{"name": "PORT", "value": "8080"}],
                livenessProbe={
                    "httpGet": {"path": "/health", "port": 8080},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                    "initialDelaySeconds": 1,
                },
            ),
        )
        core.create_namespaced_pod(ns, pod("late", "mlgate.test/late:1"))

        def restarted(name):
            st = status(name)
            cs = st.container_statuses
            return st if cs and cs[0].restart_count >= 1 else None

        def waiting_for_image(name):
            st = status(name)
            cs = st.container_statuses
            return st if cs and cs[0].state.waiting and cs[0].state.waiting.reason == "ErrImagePull" else None

        def running_and_ready(name):
            st = status(name)
            return st.phase == "Running" and bool(st.container_statuses) and st.container_statuses[0].ready

        # a process that exits is restarted with a growing restartCount
        st = _wait("crashy to be restarted", lambda: restarted("crashy"), 20)
        last = st.container_statuses[0].last_state.terminated
        assert last is not None and last.exit_code == 3
        env_line = next(
            line
            for line in kube.node.log_path(ns, "crashy").read_text().splitlines()
            if line.startswith("ENV ")
        )
        env = json.loads(env_line[4:])
        assert env == {
            "GREETING": "hello",
            "MSG": "hello world",
            "APP": "crashy",
            "MY_IP": st.pod_ip,
            "NS": ns,
            "FROM_CM": "from-configmap",
            "POD_IP": st.pod_ip,
            "POD_NAME": "crashy",
            "POD_NAMESPACE": ns,
        }

        # an image missing from the catalog: ErrImagePull, pod Pending and not ready
        st = _wait("late to report ErrImagePull", lambda: waiting_for_image("late"), 20)
        assert st.phase == "Pending" and not st.container_statuses[0].ready
        # ... until the image shows up in the catalog (no probes: ready once running)
        kube.add_images({"mlgate.test/late:1": [py, "-c", "import time; time.sleep(120)"]})
        _wait("late to run", lambda: running_and_ready("late"), 20)

        # a failing liveness probe gets the container restarted
        _wait("sick to be restarted by its liveness probe", lambda: restarted("sick"), 20)

        pids = [
            pid for k, v in kube.node.pods().items() if k.startswith(ns + "/") for pid in v["pids"].values()
        ]
        core.delete_collection_namespaced_pod(ns)
        _wait("the pods to be gone", lambda: not core.list_namespaced_pod(ns).items, 20)
        _wait(
            "their processes to be gone", lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), 10
        )
    finally:
        api.close()
        kube.delete_namespace(ns)
