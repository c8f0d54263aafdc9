"""A fake kubelet: a Node whose pods run as local processes on loopback IPs.

    images = {"example/web:v1": [sys.executable, "server.py"]}
    with FakeNode(kubeconfig, "fake-node-1", images) as node:
        ...  # Deployments scheduled to it become real processes

What it does (all talking through the official ``kubernetes`` client):

* registers the Node (Ready; cpu 8, memory 16Gi, pods 110), renews its Lease in
  ``kube-node-lease`` and patches the node status every ``heartbeat_interval``;
* watches the pods bound to it (``spec.nodeName``); for each pod it allocates a
  pod IP 127.0.X.Y (distinct, never reused while the pod lives), and runs every
  container as a local process: ``argv = images[container.image] +
  container.args`` (``command`` is ignored; a catalog value may also be a
  callable ``(pod: dict, container: dict) -> list[str]``; the working directory
  is a fresh per-pod directory, so use absolute paths).  The environment is
  ``os.environ`` + the container's ``envFrom``/``env`` (literal values, ``$(VAR)``
  expansion, ``fieldRef``, ``configMapKeyRef``, ``secretKeyRef``) + ``POD_IP``,
  ``POD_NAME``, ``POD_NAMESPACE``.  An image not in the catalog leaves the
  container waiting with reason ``ErrImagePull`` (re-checked, so images added
  later are picked up);
* runs startup/readiness/liveness probes (httpGet, tcpSocket, exec) and patches
  the pod status (phase, podIP(s), hostIP, containerStatuses, conditions);
* restarts exited processes with exponential backoff (``restartPolicy``
  Always/OnFailure/Never honoured);
* for pods with a deletionTimestamp: SIGTERM, bounded grace, SIGKILL, then
  deletes the pod with ``grace_period_seconds=0``.

Process output goes to ``<log_dir>/<namespace>_<pod>_<container>.log``; the node's
own diagnostics go to ``<dir>/fakenode.log``.  Everything binds to 127.x.

Not modelled: init containers (reported Initialized), volumes, resource limits,
image pull policies, ``command`` (see above), readiness gates, ephemeral
containers.  Note that the core/v1 Endpoints API rejects loopback IPs, so
Services only get EndpointSlices for FakeNode pods.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import datetime as _dt
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ImageEntry = Sequence[str] | Callable[[dict, dict], Sequence[str]]

HOST_IP = "127.0.0.1"
LEASE_NS = "kube-node-lease"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _deathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


# ----------------------------------------------------------------- pod IP pool
class _IPPool:
    """Process-wide allocator of 127.0.X.Y addresses (X in 16..254, Y in 2..254)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_use: set = set()
        self._addrs = [f"127.0.{x}.{y}" for x in range(16, 255) for y in range(2, 255)]
        # start somewhere random so parallel test processes rarely collide
        self._next = random.randrange(len(self._addrs))

    def allocate(self) -> str:
        with self._lock:
            for _ in range(len(self._addrs)):
                ip = self._addrs[self._next]
                self._next = (self._next + 1) % len(self._addrs)
                if ip not in self._in_use:
                    self._in_use.add(ip)
                    return ip
        raise RuntimeError("pod IP pool exhausted")

    def release(self, ip: str | None) -> None:
        with self._lock:
            self._in_use.discard(ip)


IP_POOL = _IPPool()


# ----------------------------------------------------------------- raw API access
class ApiError(Exception):
    def __init__(self, status: int, body: bytes, what: str = ""):
        self.status = status
        self.body = body
        super().__init__(f"{what}: HTTP {status}: {body[:300]!r}")


class _Api:
    """JSON-in/JSON-out requests through a kubernetes ApiClient (auth, TLS from kubeconfig)."""

    def __init__(self, kubeconfig: str):
        from kubernetes import config

        self.client = config.new_client_from_config(config_file=kubeconfig)

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout=(5, 15),
        stream: bool = False,
    ):
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = self.client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query or []),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            resp = self.client.call_api(*params, _request_timeout=timeout)
        except ApiException as e:  # pragma: no cover - depends on client version
            raise ApiError(
                e.status or 0,
                (e.body or b"") if isinstance(e.body, bytes) else str(e.body).encode(),
                f"{method} {path}",
            ) from None
        if stream:
            if not 200 <= resp.status < 300:
                raise ApiError(resp.status, resp.read(), f"{method} {path}")
            return resp.response
        data = resp.read()
        if not 200 <= resp.status < 300:
            raise ApiError(resp.status, data, f"{method} {path}")
        return json.loads(data) if data else None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001, S110 - best-effort close
            pass


# ----------------------------------------------------------------- state
@dataclass
class _ProbeState:
    spec: dict
    next_due: float
    successes: int = 0
    failures: int = 0
    future: concurrent.futures.Future | None = None


@dataclass
class _Container:
    name: str
    spec: dict
    proc: subprocess.Popen | None = None
    log: Any = None
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str = ""
    started_mono: float = 0.0
    finished_at: str = ""
    exit_code: int | None = None
    last_state: dict = field(default_factory=dict)
    restart_count: int = 0
    ever_started: bool = False
    next_start: float = 0.0
    backoff: float = 0.0
    kill_deadline: float | None = None
    killing_reason: str = ""
    ready: bool = False
    started: bool = False
    done: bool = False  # terminated and will not be restarted
    probes: dict[str, _ProbeState] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return self.spec.get("image", "")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class _Pod:
    uid: str
    namespace: str
    name: str
    obj: dict
    ip: str
    workdir: Path
    start_time: str = field(default_factory=_now_iso)
    containers: dict[str, _Container] = field(default_factory=dict)
    deleting: bool = False
    delete_deadline: float = 0.0
    deleted_in_api: bool = False
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)
    last_sent: dict | None = None
    next_patch_retry: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class _ConfigError(Exception):
    pass


# ----------------------------------------------------------------- FakeNode
class FakeNode:
    """Fake kubelet that runs pods bound to node ``name`` as local processes."""

    def __init__(
        self,
        kubeconfig: str,
        name: str = "fake-node-1",
        images: Mapping[str, ImageEntry] | None = None,
        *,
        log_dir: os.PathLike | None = None,
        heartbeat_interval: float = 5.0,
        max_grace_seconds: float = 5.0,
        restart_backoff: tuple[float, float] = (1.0, 10.0),
        probe_timeout_cap: float = 2.0,
        capacity: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        keep_dir: bool = False,
    ):
        self.kubeconfig = str(kubeconfig)
        self.name = name
        self.images: dict[str, ImageEntry] = dict(images or {})
        self.heartbeat_interval = heartbeat_interval
        self.max_grace_seconds = max_grace_seconds
        self.restart_backoff = restart_backoff
        self.probe_timeout_cap = probe_timeout_cap
        self.capacity = capacity or {"cpu": "8", "memory": "16Gi", "pods": "110"}
        self.labels = labels or {}
        self.keep_dir = keep_dir
        self._own_dir = log_dir is None
        self.dir = (
            Path(tempfile.mkdtemp(prefix=f"mlgate-fakenode-{name}-")) if log_dir is None else Path(log_dir)
        )
        self.log_dir = self.dir / "pods" if log_dir is None else Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._node_log = open(self.dir / "fakenode.log", "a", buffering=1)  # noqa: SIM115 - closed in stop()
        self._stop = threading.Event()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._pods: dict[str, _Pod] = {}
        # uids of pods this node has finished with (late watch events are ignored)
        self._gone: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._pods_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._watch_resp = None
        self._probe_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._api: _Api | None = None
        self._node_uid: str | None = None
        self.started = False

    # ------------------------------------------------------------ public API
    def __enter__(self) -> FakeNode:  # noqa: PYI034 - py3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_images(self, images: Mapping[str, ImageEntry]) -> None:
        """Add/replace catalog entries (pods waiting in ErrImagePull retry them)."""
        self.images.update(images)

    def log(self, msg: str) -> None:
        try:
            self._node_log.write(f"{_now_micro()} {msg}\n")
        except (ValueError, OSError):
            pass

    def log_path(self, namespace: str, pod: str, container: str | None = None) -> Path:
        """Log file of a pod's container (the first container if not named)."""
        if container is None:
            matches = sorted(self.log_dir.glob(f"{namespace}_{pod}_*.log"))
            if matches:
                return matches[0]
            container = "unknown"
        return self.log_dir / f"{namespace}_{pod}_{container}.log"

    def pods(self) -> dict[str, dict]:
        """Snapshot of the pods this node runs: ``{"ns/name": {ip, uid, pids, ready}}``."""
        with self._pods_lock:
            out = {}
            for p in self._pods.values():
                out[p.key] = {
                    "ip": p.ip,
                    "uid": p.uid,
                    "deleting": p.deleting,
                    "pids": {c.name: c.proc.pid for c in p.containers.values() if c.alive()},
                    "ready": all(c.ready for c in p.containers.values()),
                    "restarts": {c.name: c.restart_count for c in p.containers.values()},
                }
            return out

    def pod_ip(self, namespace: str, name: str) -> str | None:
        info = self.pods().get(f"{namespace}/{name}")
        return info["ip"] if info else None

    def log_tails(self, lines: int = 20) -> str:
        from .controlplane import _tail

        node_log = self.dir / "fakenode.log"
        parts = [f"----- fakenode ({node_log}) -----\n{_tail(node_log, lines)}"]
        for p in sorted(self.log_dir.glob("*.log"))[-10:]:
            parts.append(f"----- {p.name} -----\n{_tail(p, lines)}")
        return "\n".join(parts)

    def start(self, timeout: float = 20.0) -> FakeNode:
        self._api = _Api(self.kubeconfig)
        self._probe_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix=f"fakenode-{self.name}-probe"
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._register_node()
                break
            except Exception as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"FakeNode {self.name}: cannot register node: {e}") from e
                self.log(f"register node failed, retrying: {e}")
                time.sleep(0.5)
        for target, tname in (
            (self._heartbeat_loop, "heartbeat"),
            (self._watch_loop, "watch"),
            (self._supervise_loop, "supervisor"),
        ):
            t = threading.Thread(
                target=self._guard(target), name=f"fakenode-{self.name}-{tname}", daemon=True
            )
            t.start()
            self._threads.append(t)
        self.started = True
        self.log(f"node {self.name} started")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Kill every pod process, stop the threads (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        resp = self._watch_resp
        if resp is not None:
            try:
                resp.shutdown()
            except Exception:  # noqa: BLE001, S110 - best effort: the response may be gone
                pass
        for t in self._threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        # supervisor normally kills everything on its way out; make sure anyway
        with self._pods_lock:
            pods = list(self._pods.values())
        for p in pods:
            self._kill_pod_processes(p, grace=1.0)
            IP_POOL.release(p.ip)
        with self._pods_lock:
            self._pods.clear()
        if self._probe_pool:
            self._probe_pool.shutdown(wait=False, cancel_futures=True)
        if self._api:
            self._api.close()
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            self.log(f"threads still alive after stop: {alive}")
        self.log("node stopped")
        try:
            self._node_log.close()
        except OSError:
            pass
        if self._own_dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ threads
    def _guard(self, fn):
        def run():
            while not self._stop.is_set():
                try:
                    fn()
                    return
                except Exception:  # noqa: BLE001 - a loop must survive anything; logged
                    self.log(f"{fn.__name__} crashed, restarting:\n{traceback.format_exc()}")
                    self._stop.wait(1.0)

        return run

    # --- node + lease
    def _node_status(self) -> dict:
        now = _now_iso()
        conds = [
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID"),
        ]
        if not hasattr(self, "_cond_since"):
            self._cond_since = now
        return {
            "capacity": dict(self.capacity),
            "allocatable": dict(self.capacity),
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": self._cond_since,
                }
                for t, s, r, m in conds
            ],
            "addresses": [
                {"type": "InternalIP", "address": HOST_IP},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "fake",
                "systemUUID": "fake",
                "bootID": "fake",
                "kernelVersion": os.uname().release,
                "osImage": "mlgate fake node",
                "containerRuntimeVersion": "fake://0.1",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def _register_node(self) -> None:
        api = self._api
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "mlgate.dev/fake-node": "true",
            **self.labels,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {},
            "status": self._node_status(),
        }
        try:
            node = api.request("POST", "/api/v1/nodes", body=body)
        except ApiError as e:
            if e.status != 409:
                raise
            node = api.request(
                "PATCH",
                f"/api/v1/nodes/{self.name}",
                body={"metadata": {"labels": labels}},
                content_type=STRATEGIC,
            )
        self._node_uid = node["metadata"]["uid"]
        self._heartbeat(api)

    def _heartbeat(self, api: _Api) -> None:
        node = api.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            body={"status": self._node_status()},
            content_type=STRATEGIC,
        )
        # Like a kubelet that just became Ready, don't wait for the node lifecycle
        # controller to lift the not-ready taint added at registration.
        taints = node.get("spec", {}).get("taints") or []
        keep = [
            t
            for t in taints
            if t.get("key") not in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
        ]
        if len(keep) != len(taints):
            api.request(
                "PATCH",
                f"/api/v1/nodes/{self.name}",
                body={"spec": {"taints": keep or None}},
                content_type=STRATEGIC,
            )
        self._renew_lease(api)

    def _renew_lease(self, api: _Api) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases/{self.name}"
        try:
            api.request(
                "PATCH",
                path,
                body={"spec": {"renewTime": _now_micro(), "holderIdentity": self.name}},
                content_type=MERGE,
            )
        except ApiError as e:
            if e.status != 404:
                raise
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "namespace": LEASE_NS,
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self._node_uid}
                    ],
                },
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": _now_micro()},
            }
            try:
                api.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases", body=lease)
            except ApiError as e2:
                if e2.status not in (404, 409):  # namespace not created yet / race
                    raise

    def _heartbeat_loop(self) -> None:
        api = _Api(self.kubeconfig)
        try:
            while not self._stop.wait(self.heartbeat_interval):
                try:
                    self._heartbeat(api)
                except Exception as e:  # noqa: BLE001 - retried on the next beat; logged
                    self.log(f"heartbeat failed: {e}")
        finally:
            api.close()

    # --- pod watch
    def _watch_loop(self) -> None:
        api = _Api(self.kubeconfig)
        selector = f"spec.nodeName={self.name}"
        try:
            while not self._stop.is_set():
                try:
                    lst = api.request("GET", "/api/v1/pods", query=[("fieldSelector", selector)])
                    self._events.put(("SYNC", lst.get("items", [])))
                    rv = lst["metadata"]["resourceVersion"]
                    while not self._stop.is_set():
                        rv = self._watch_once(api, selector, rv)
                        if rv is None:
                            break  # relist
                except Exception as e:  # noqa: BLE001 - relisted after a pause; logged
                    if not self._stop.is_set():
                        self.log(f"pod watch error: {e}")
                        self._stop.wait(1.0)
        finally:
            api.close()

    def _watch_once(self, api: _Api, selector: str, rv: str) -> str | None:
        resp = api.request(
            "GET",
            "/api/v1/pods",
            query=[
                ("fieldSelector", selector),
                ("watch", "true"),
                ("resourceVersion", rv),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", "30"),
            ],
            timeout=(5, 45),
            stream=True,
        )
        self._watch_resp = resp
        buf = b""
        try:
            for chunk in resp.stream(amt=None, decode_content=False):
                if self._stop.is_set():
                    return rv
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    typ, obj = ev.get("type"), ev.get("object") or {}
                    if typ == "ERROR":
                        self.log(f"watch ERROR event: {obj.get('message')}")
                        return None  # 410 Gone etc. -> relist
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if typ in ("ADDED", "MODIFIED", "DELETED"):
                        self._events.put((typ, obj))
        finally:
            self._watch_resp = None
            resp.release_conn()
        return rv

    # --- supervisor
    def _supervise_loop(self) -> None:
        api = _Api(self.kubeconfig)
        try:
            while not self._stop.is_set():
                try:
                    typ, obj = self._events.get(timeout=0.2)
                    self._handle_event(api, typ, obj)
                    while True:  # drain
                        typ, obj = self._events.get_nowait()
                        self._handle_event(api, typ, obj)
                except queue.Empty:
                    pass
                with self._pods_lock:
                    pods = list(self._pods.values())
                for pod in pods:
                    if self._stop.is_set():
                        break
                    try:
                        self._step(api, pod)
                    except Exception:  # noqa: BLE001 - one pod must not stop the others; logged
                        self.log(f"step {pod.key} failed:\n{traceback.format_exc()}")
        finally:
            with self._pods_lock:
                pods = list(self._pods.values())
            deadline = time.monotonic() + 3.0
            for p in pods:
                for c in p.containers.values():
                    self._signal(c, signal.SIGTERM)
            for p in pods:
                for c in p.containers.values():
                    self._reap(c, deadline)
            api.close()

    def _handle_event(self, api: _Api, typ: str, obj: Any) -> None:
        if typ == "SYNC":
            seen = set()
            for item in obj:
                seen.add(item["metadata"]["uid"])
                self._upsert(item)
            with self._pods_lock:
                gone = [p for uid, p in self._pods.items() if uid not in seen]
            for p in gone:
                self._forget(p, "pod vanished from the API")
        elif typ == "DELETED":
            with self._pods_lock:
                p = self._pods.get(obj["metadata"]["uid"])
            if p:
                self._forget(p, "pod deleted in the API")
        else:
            self._upsert(obj)

    def _upsert(self, obj: dict) -> None:
        md = obj["metadata"]
        uid = md["uid"]
        with self._pods_lock:
            pod = self._pods.get(uid)
            if pod is None and uid in self._gone:
                return
        if pod is None:
            phase = obj.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return
            pod = self._new_pod(obj)
            self.log(f"pod {pod.key} ({uid}) added, ip {pod.ip}")
        pod.obj = obj
        if md.get("deletionTimestamp") and not pod.deleting:
            grace = md.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            grace = max(0.0, min(float(grace), self.max_grace_seconds))
            self.log(f"pod {pod.key} terminating (grace {grace:.1f}s)")
            pod.deleting = True
            pod.delete_deadline = time.monotonic() + grace
            for c in pod.containers.values():
                self._signal(c, signal.SIGTERM)
        elif pod.last_sent is not None and not pod.deleting:
            # someone else (e.g. the node lifecycle controller) changed the status
            st = obj.get("status", {})
            sent = pod.last_sent
            ready_obs = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
            ready_sent = {c["type"]: c["status"] for c in sent["conditions"]}
            if (
                st.get("phase") != sent["phase"]
                or st.get("podIP") != sent["podIP"]
                or ready_obs.get("Ready") != ready_sent.get("Ready")
            ):
                pod.last_sent = None

    def _new_pod(self, obj: dict) -> _Pod:
        md = obj["metadata"]
        wd = self.dir / "work" / f"{md['namespace']}_{md['name']}_{md['uid'][:8]}"
        wd.mkdir(parents=True, exist_ok=True)
        pod = _Pod(
            uid=md["uid"],
            namespace=md["namespace"],
            name=md["name"],
            obj=obj,
            ip=IP_POOL.allocate(),
            workdir=wd,
        )
        restart_policy = obj.get("spec", {}).get("restartPolicy", "Always")
        for cs in obj.get("spec", {}).get("containers", []):
            c = _Container(name=cs["name"], spec=cs)
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if cs.get(kind):
                    c.probes[kind] = _ProbeState(spec=cs[kind], next_due=0.0)
            pod.containers[c.name] = c
        pod.obj.setdefault("spec", {})["restartPolicy"] = restart_policy
        with self._pods_lock:
            self._pods[pod.uid] = pod
        return pod

    def _forget(self, pod: _Pod, why: str) -> None:
        if any(c.alive() for c in pod.containers.values()):
            self.log(f"pod {pod.key}: {why}; stopping its processes")
        self._kill_pod_processes(pod, grace=min(1.0, self.max_grace_seconds))
        self._remove(pod)

    def _remove(self, pod: _Pod) -> None:
        with self._pods_lock:
            self._pods.pop(pod.uid, None)
            self._gone[pod.uid] = None
            while len(self._gone) > 5000:
                self._gone.popitem(last=False)
        IP_POOL.release(pod.ip)

    # ------------------------------------------------------------ processes
    def _signal(self, c: _Container, sig: int) -> None:
        if c.alive():
            try:
                os.killpg(c.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _reap(self, c: _Container, deadline: float) -> None:
        if c.proc is None:
            return
        try:
            c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal(c, signal.SIGKILL)
            try:
                c.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.log(f"process {c.proc.pid} did not die")
        if c.log:
            c.log.close()
            c.log = None

    def _kill_pod_processes(self, pod: _Pod, grace: float) -> None:
        for c in pod.containers.values():
            self._signal(c, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in pod.containers.values():
            self._reap(c, deadline)

    def _argv(self, pod: _Pod, c: _Container) -> list[str] | None:
        entry = self.images.get(c.image)
        if entry is None:
            return None
        base = list(entry(pod.obj, c.spec)) if callable(entry) else list(entry)
        return base + [str(a) for a in (c.spec.get("args") or [])]

    def _field_ref(self, pod: _Pod, path: str) -> str:
        md = pod.obj.get("metadata", {})
        m = re.fullmatch(r"metadata\.(labels|annotations)\[['\"](.+)['\"]\]", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        simple = {
            "metadata.name": pod.name,
            "metadata.namespace": pod.namespace,
            "metadata.uid": pod.uid,
            "status.podIP": pod.ip,
            "status.podIPs": pod.ip,
            "status.hostIP": HOST_IP,
            "spec.nodeName": self.name,
            "spec.serviceAccountName": pod.obj.get("spec", {}).get("serviceAccountName", ""),
        }
        if path not in simple:
            raise _ConfigError(f"unsupported fieldRef {path!r}")
        return simple[path]

    def _lookup(self, api: _Api, pod: _Pod, kind: str, name: str) -> dict | None:
        try:
            obj = api.request("GET", f"/api/v1/namespaces/{pod.namespace}/{kind}/{name}")
        except ApiError as e:
            if e.status == 404:
                return None
            raise
        data = dict(obj.get("data") or {})
        if kind == "secrets":
            data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
        return data

    @staticmethod
    def _expand(value: str, env: dict[str, str]) -> str:
        def sub(m):
            if m.group(0) == "$$":
                return "$"
            return env.get(m.group(1), m.group(0))

        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, value)

    def _build_env(self, api: _Api, pod: _Pod, c: _Container) -> dict[str, str]:
        cenv: dict[str, str] = {}
        for src in c.spec.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
                ref = src.get(key)
                if not ref:
                    continue
                data = self._lookup(api, pod, kind, ref["name"])
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise _ConfigError(f"{kind[:-1]} {ref['name']!r} not found")
                cenv.update({prefix + k: v for k, v in data.items()})
        for e in c.spec.get("env") or []:
            name = e["name"]
            vf = e.get("valueFrom")
            if vf is None:
                cenv[name] = self._expand(e.get("value", ""), cenv)
            elif vf.get("fieldRef"):
                cenv[name] = self._field_ref(pod, vf["fieldRef"]["fieldPath"])
            elif vf.get("configMapKeyRef") or vf.get("secretKeyRef"):
                kind, ref = (
                    ("configmaps", vf["configMapKeyRef"])
                    if vf.get("configMapKeyRef")
                    else ("secrets", vf["secretKeyRef"])
                )
                data = self._lookup(api, pod, kind, ref["name"])
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise _ConfigError(f"{kind[:-1]} {ref['name']}/{ref['key']} not found")
                cenv[name] = data[ref["key"]]
            elif vf.get("resourceFieldRef"):
                res = vf["resourceFieldRef"]["resource"]  # e.g. limits.cpu
                group, _, rname = res.partition(".")
                val = (c.spec.get("resources", {}).get(group) or {}).get(rname)
                cenv[name] = str(val if val is not None else self.capacity.get(rname, ""))
            else:
                raise _ConfigError(f"unsupported valueFrom in env {name!r}")
        env = dict(os.environ)
        env.update(cenv)
        env.update(POD_IP=pod.ip, POD_NAME=pod.name, POD_NAMESPACE=pod.namespace)
        return env

    def _start_container(self, api: _Api, pod: _Pod, c: _Container, now: float) -> None:
        argv = self._argv(pod, c)
        if argv is None:
            c.state, c.reason = "waiting", "ErrImagePull"
            c.message = f"image {c.image!r} is not in the FakeNode catalog"
            c.next_start = now + 1.0
            return
        try:
            env = self._build_env(api, pod, c)
        except _ConfigError as e:
            c.state, c.reason, c.message = "waiting", "CreateContainerConfigError", str(e)
            c.next_start = now + 1.0
            return
        if c.ever_started:
            c.restart_count += 1
            c.last_state = {
                "terminated": {
                    "exitCode": c.exit_code,
                    "reason": "Completed" if c.exit_code == 0 else "Error",
                    "startedAt": c.started_at,
                    "finishedAt": c.finished_at,
                    "containerID": self._container_id(pod, c),
                }
            }
        log_path = self.log_dir / f"{pod.namespace}_{pod.name}_{c.name}.log"
        if c.log is None:
            c.log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed when the pod goes
        c.log.write(f"=== {_now_micro()} start #{c.restart_count}: {argv!r}\n".encode())
        try:
            c.proc = subprocess.Popen(
                _deathsig_prefix() + argv,
                env=env,
                cwd=str(pod.workdir),
                stdin=subprocess.DEVNULL,
                stdout=c.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            c.state, c.reason, c.message = "waiting", "RunContainerError", str(e)
            c.next_start = now + max(1.0, c.backoff)
            return
        self.log(f"pod {pod.key} container {c.name} started pid {c.proc.pid} ip {pod.ip}")
        c.env = env
        c.state, c.reason, c.message = "running", "", ""
        c.started_at, c.started_mono, c.ever_started = _now_iso(), now, True
        c.kill_deadline, c.killing_reason = None, ""
        c.ready = False
        c.started = "startupProbe" not in c.probes
        for ps in c.probes.values():
            ps.successes = ps.failures = 0
            ps.future = None
            ps.next_due = now + float(ps.spec.get("initialDelaySeconds", 0) or 0)

    def _container_id(self, pod: _Pod, c: _Container) -> str:
        return f"fake://{pod.uid[:8]}-{c.name}-{c.restart_count}"

    # ------------------------------------------------------------ probes
    def _resolve_port(self, c: _Container, port: Any) -> int:
        if isinstance(port, int):
            return port
        if str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError(f"unknown named port {port!r}")

    def _run_probe(self, pod: _Pod, c: _Container, spec: dict) -> tuple[bool, str]:
        timeout = min(max(float(spec.get("timeoutSeconds", 1) or 1), 0.2), self.probe_timeout_cap)
        try:
            if spec.get("httpGet"):
                hg = spec["httpGet"]
                host = hg.get("host") or pod.ip
                port = self._resolve_port(c, hg.get("port", 80))
                if hg.get("scheme", "HTTP").upper() == "HTTPS":
                    ctx = ssl._create_unverified_context()
                    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                try:
                    headers = {h["name"]: h["value"] for h in hg.get("httpHeaders") or []}
                    headers.setdefault("User-Agent", "kube-probe/1.20")
                    conn.request("GET", hg.get("path") or "/", headers=headers)
                    r = conn.getresponse()
                    r.read(4096)
                    return 200 <= r.status < 400, f"HTTP {r.status}"
                finally:
                    conn.close()
            if spec.get("tcpSocket"):
                ts = spec["tcpSocket"]
                port = self._resolve_port(c, ts.get("port"))
                with socket.create_connection((ts.get("host") or pod.ip, port), timeout=timeout):
                    return True, "connected"
            if spec.get("exec"):
                r = subprocess.run(
                    spec["exec"].get("command") or ["false"],
                    env=c.env,
                    cwd=str(pod.workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=timeout,
                    check=False,
                )
                return r.returncode == 0, f"exit {r.returncode}"
            return False, "unsupported probe handler"
        except Exception as e:  # noqa: BLE001 - any error is a failed probe
            return False, f"{type(e).__name__}: {e}"

    def _update_probes(self, pod: _Pod, c: _Container, now: float) -> None:
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            ps = c.probes.get(kind)
            if ps is None:
                continue
            if kind != "startupProbe" and not c.started:
                continue
            if kind == "startupProbe" and c.started:
                continue
            if ps.future is not None:
                if not ps.future.done():
                    continue
                ok, msg = ps.future.result()
                ps.future = None
                period = max(1.0, float(ps.spec.get("periodSeconds", 10) or 10))
                ps.next_due = now + period
                if ok:
                    ps.successes, ps.failures = ps.successes + 1, 0
                else:
                    ps.successes, ps.failures = 0, ps.failures + 1
                threshold_ok = int(ps.spec.get("successThreshold", 1) or 1)
                threshold_fail = int(ps.spec.get("failureThreshold", 3) or 3)
                if kind == "startupProbe":
                    if ok:
                        c.started = True
                    elif ps.failures >= threshold_fail:
                        self._kill_for_restart(pod, c, f"startup probe failed: {msg}")
                elif kind == "readinessProbe":
                    if ok and ps.successes >= threshold_ok:
                        c.ready = True
                    elif not ok and ps.failures >= threshold_fail:
                        c.ready = False
                elif kind == "livenessProbe" and not ok and ps.failures >= threshold_fail:
                    self._kill_for_restart(pod, c, f"liveness probe failed: {msg}")
                if not ok:
                    self.log(f"pod {pod.key} {c.name} {kind} failed: {msg}")
            elif now >= ps.next_due and c.kill_deadline is None and self._probe_pool:
                try:
                    ps.future = self._probe_pool.submit(self._run_probe, pod, c, ps.spec)
                except RuntimeError:  # pool shut down
                    return
        if "readinessProbe" not in c.probes:
            c.ready = c.started

    def _kill_for_restart(self, pod: _Pod, c: _Container, why: str) -> None:
        if c.kill_deadline is not None:
            return
        self.log(f"pod {pod.key} {c.name}: {why}; killing for restart")
        grace = pod.obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        c.kill_deadline = time.monotonic() + min(float(grace), self.max_grace_seconds)
        c.killing_reason = why
        c.ready = False
        self._signal(c, signal.SIGTERM)

    # ------------------------------------------------------------ per-pod step
    def _step(self, api: _Api, pod: _Pod) -> None:
        now = time.monotonic()
        if pod.deleting:
            self._step_deleting(api, pod, now)
            return
        policy = pod.obj["spec"].get("restartPolicy", "Always")
        for c in pod.containers.values():
            if c.state == "running":
                if c.kill_deadline is not None and now > c.kill_deadline:
                    self._signal(c, signal.SIGKILL)
                rc = c.proc.poll()
                if rc is None:
                    self._update_probes(pod, c, now)
                    continue
                c.exit_code = rc if rc >= 0 else 128 - rc
                c.finished_at = _now_iso()
                c.state, c.ready, c.started = "terminated", False, False
                c.kill_deadline = None
                self.log(f"pod {pod.key} container {c.name} exited with {c.exit_code}")
                restart = policy == "Always" or (policy == "OnFailure" and c.exit_code != 0)
                if restart:
                    base, cap = self.restart_backoff
                    ran = now - c.started_mono
                    c.backoff = base if (c.backoff == 0 or ran > 2 * cap) else min(c.backoff * 2, cap)
                    c.next_start = now + c.backoff
                else:
                    c.done = True
            elif c.state == "terminated":
                if not c.done and now >= c.next_start:
                    self._start_container(api, pod, c, now)
            elif c.state == "waiting" and now >= c.next_start:
                self._start_container(api, pod, c, now)
        self._sync_status(api, pod, now)

    def _step_deleting(self, api: _Api, pod: _Pod, now: float) -> None:
        alive = [c for c in pod.containers.values() if c.alive()]
        if alive and now < pod.delete_deadline:
            return
        for c in alive:
            self._signal(c, signal.SIGKILL)
        for c in pod.containers.values():
            self._reap(c, time.monotonic() + 2.0)
        if not pod.deleted_in_api:
            try:
                api.request(
                    "DELETE",
                    f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}",
                    body={
                        "apiVersion": "v1",
                        "kind": "DeleteOptions",
                        "gracePeriodSeconds": 0,
                        "preconditions": {"uid": pod.uid},
                    },
                )
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
            pod.deleted_in_api = True
            self.log(f"pod {pod.key} deleted")
        self._remove(pod)

    def _container_status(self, pod: _Pod, c: _Container) -> dict:
        if c.state == "running":
            state = {"running": {"startedAt": c.started_at}}
        elif c.state == "terminated":
            state = {
                "terminated": {
                    "exitCode": c.exit_code,
                    "reason": "Completed" if c.exit_code == 0 else "Error",
                    "startedAt": c.started_at,
                    "finishedAt": c.finished_at,
                    "containerID": self._container_id(pod, c),
                }
            }
        else:
            state = {"waiting": {"reason": c.reason, **({"message": c.message} if c.message else {})}}
        st = {
            "name": c.name,
            "image": c.image,
            "imageID": f"fake://{c.image}",
            "ready": c.ready,
            "started": c.state == "running" and c.started,
            "restartCount": c.restart_count,
            "state": state,
            "lastState": c.last_state,
        }
        if c.ever_started:
            st["containerID"] = self._container_id(pod, c)
        return st

    def _sync_status(self, api: _Api, pod: _Pod, now: float) -> None:
        cs = list(pod.containers.values())
        all_ready = bool(cs) and all(c.ready for c in cs)
        policy = pod.obj["spec"].get("restartPolicy", "Always")
        if cs and all(c.done for c in cs):
            phase = "Succeeded" if all(c.exit_code == 0 for c in cs) else "Failed"
        elif cs and all(c.ever_started for c in cs):
            phase = "Running"
        else:
            phase = "Pending"
        if policy == "Always" and phase in ("Succeeded", "Failed"):
            phase = "Running"
        conds = []
        for ctype, ok, reason in (
            ("Initialized", True, ""),
            ("Ready", all_ready, "ContainersNotReady"),
            ("ContainersReady", all_ready, "ContainersNotReady"),
            ("PodScheduled", True, ""),
        ):
            status = "True" if ok else "False"
            prev = pod.transitions.get(ctype)
            if prev is None or prev[0] != status:
                pod.transitions[ctype] = (status, _now_iso())
            cond = {
                "type": ctype,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": pod.transitions[ctype][1],
            }
            if not ok:
                notready = [c.name for c in cs if not c.ready]
                cond["reason"] = reason
                cond["message"] = f"containers with unready status: [{' '.join(notready)}]"
            conds.append(cond)
        status = {
            "phase": phase,
            "hostIP": HOST_IP,
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "startTime": pod.start_time,
            "conditions": conds,
            "containerStatuses": [self._container_status(pod, c) for c in cs],
        }
        if status == pod.last_sent or now < pod.next_patch_retry:
            return
        try:
            api.request(
                "PATCH",
                f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status",
                body={"metadata": {"uid": pod.uid}, "status": status},
                content_type=STRATEGIC,
            )
        except ApiError as e:
            if e.status == 404:
                return  # gone; the watch will tell
            pod.next_patch_retry = now + 1.0
            raise
        pod.last_sent = status
        if phase in ("Succeeded", "Failed"):
            for c in cs:
                if c.log:
                    c.log.close()
                    c.log = None
