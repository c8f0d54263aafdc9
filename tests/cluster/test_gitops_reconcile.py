"""GitOps promotion on the real control plane: `mlgate deploy --strategy gitops` commits the image to a local
bare repository, and a reconciler standing in for Flux (a thread that pulls the branch and runs the real
`kubectl apply -k` against the control plane every second) makes the cluster follow; mlgate waits until the
Deployment runs the new image with its rollout complete. Without a reconciler, the wait ends at its bound
(exit 1), never as a pass."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not (shutil.which("git") and shutil.which("kubectl")), reason="needs git and kubectl"),
]
DIGEST = "sha256:" + "cd" * 32
SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]


@pytest.fixture(scope="module")
def fake_images():
    return {"example/app:v1": SLEEPER, f"ghcr.io/acme/app@{DIGEST}": SLEEPER}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


class Reconciler(threading.Thread):
    """Pull the branch, `kubectl apply -k` the folder, every second, until stopped (Flux's job, in small)."""

    def __init__(self, bare: Path, work: Path, kubeconfig: str):
        super().__init__(daemon=True)
        self.bare, self.work, self.kubeconfig = bare, work, kubeconfig
        self.stopped = threading.Event()
        self.applied = 0

    def run(self) -> None:
        git(self.work.parent, "clone", "--quiet", str(self.bare), str(self.work))
        while not self.stopped.wait(1.0):
            git(self.work, "pull", "--quiet", "--ff-only")
            done = subprocess.run(
                ["kubectl", "--kubeconfig", self.kubeconfig, "apply", "-k", str(self.work / "apps/prod")],
                capture_output=True,
                text=True,
                check=False,
            )
            self.applied += done.returncode == 0


@pytest.fixture
def gitops_world(kube, tmp_path):
    ns = f"gitops-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(ns)
    bare = tmp_path / "gitops.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "apps/prod").mkdir(parents=True)
    (seed / "apps/prod/kustomization.yaml").write_text(
        f"namespace: {ns}\nresources: [deployment.yaml]\nimages:\n  - name: example/app\n    newTag: v1\n"
    )
    (seed / "apps/prod/deployment.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: app}
        spec:
          replicas: 1
          selector: {matchLabels: {app: app}}
          template:
            metadata: {labels: {app: app}}
            spec:
              containers:
                - name: app
                  image: example/app
        """)
    )
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    policy = tmp_path / "gates.yml"
    policy.write_text(
        f"version: 1\ndeploy:\n  strategy: gitops\n  gitops:\n    repository: {bare}\n    path: apps/prod\n"
        f"    wait: {{deployment: app, namespace: {ns}, timeout_seconds: 60}}\n"
    )
    yield bare, policy, tmp_path
    kube.delete_namespace(ns)


def checks(folder: Path) -> dict[str, dict]:
    report = json.loads((folder / "reports" / "mlgate.json").read_text())["gates"][0]
    return {c["name"]: c for c in report["checks"]}


def mlgate(kube, policy: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLGATE_"))}
    env["KUBECONFIG"] = kube.kubeconfig
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gates.cli",
            "--policy",
            str(policy),
            "--report-dir",
            str(cwd / "reports"),
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def test_promotion_commits_and_waits_for_the_reconciled_deployment(kube, gitops_world):
    bare, policy, tmp = gitops_world
    reconciler = Reconciler(bare, tmp / "reconciler", kube.kubeconfig)
    reconciler.start()
    try:
        result = mlgate(kube, policy, tmp, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
        assert result.returncode == 0, result.stdout + result.stderr
        found = checks(tmp)
        assert (
            found["reconciled"]["status"] == "pass"
            and "the cluster runs ghcr.io/acme/app@" in found["reconciled"]["why"]
        )
        assert git(bare, "log", "-1", "--format=%s").startswith("mlgate: promote example/app=")
        again = mlgate(kube, policy, tmp, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
        assert again.returncode == 0 and checks(tmp)["commit"]["why"].startswith("already in")
        assert git(bare, "rev-list", "--count", "main") == "2"
    finally:
        reconciler.stopped.set()
        reconciler.join(10)
    assert reconciler.applied >= 1


def test_without_a_reconciler_the_wait_ends_at_its_bound(kube, gitops_world):
    _bare, policy, tmp = gitops_world
    policy.write_text(policy.read_text().replace("timeout_seconds: 60", "timeout_seconds: 5"))
    result = mlgate(kube, policy, tmp, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert checks(tmp)["reconciled"]["why"].startswith("not reconciled within 5 s")


# -- Argo CD: the Application's status, read through the Kubernetes API ------------------------------------------
ARGOCD_CRD = Path(__file__).with_name("argocd-application-crd.yaml")


def kubectl(kube, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", kube.kubeconfig, *args], capture_output=True, text=True, check=True
    ).stdout


class ArgoStandIn(threading.Thread):
    """What Argo CD's controller does to the Application's status, in small: once the branch moves to a new
    commit, report it Synced at that revision but Progressing, then (a second later) the final status: Healthy,
    or whatever `final` says (a Degraded health, a failed sync operation), Argo's message included."""

    def __init__(self, kube, bare: Path, namespace: str, final=None):
        super().__init__(daemon=True)
        self.kube, self.bare, self.namespace = kube, bare, namespace
        self.seed = git(bare, "rev-parse", "main")
        self.final = final or (lambda _head: {"health": {"status": "Healthy"}})
        self.stopped = threading.Event()

    def status(self, status: dict) -> None:
        kubectl(
            self.kube,
            "-n",
            self.namespace,
            "patch",
            "applications.argoproj.io",
            "app",
            "--type",
            "merge",
            "-p",
            json.dumps({"status": status}),
        )

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            head = git(self.bare, "rev-parse", "main")
            if head != self.seed:
                synced = {"sync": {"status": "Synced", "revision": head}}
                self.status({**synced, "health": {"status": "Progressing"}})
                self.stopped.wait(1.0)
                self.status({**synced, **self.final(head)})
                return


@pytest.fixture
def argocd_world(kube, gitops_world):
    bare, policy, tmp = gitops_world
    kubectl(kube, "apply", "-f", str(ARGOCD_CRD))
    kubectl(kube, "wait", "--for", "condition=established", "--timeout=30s", "crd/applications.argoproj.io")
    ns = policy.read_text().split("namespace: ")[1].split(",")[0]
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {"source": {"repoURL": str(bare), "path": "apps/prod"}},
        "status": {
            "sync": {"status": "Synced", "revision": git(bare, "rev-parse", "main")},
            "health": {"status": "Healthy"},
        },
    }
    (tmp / "application.json").write_text(json.dumps(application))
    kubectl(kube, "apply", "-f", str(tmp / "application.json"))
    policy.write_text(
        f"version: 1\ndeploy:\n  strategy: gitops\n  gitops:\n    repository: {bare}\n    path: apps/prod\n"
        f"    wait: {{argocd_application: app, argocd_namespace: {ns}, timeout_seconds: 60}}\n"
    )
    return bare, policy, tmp, ns


def deploy_under_argo(kube, bare, ns, policy, tmp, final=None):
    """`mlgate deploy` of the digest while the Argo CD stand-in reconciles (``final``: the status it settles on)."""
    argo = ArgoStandIn(kube, bare, ns, final)
    argo.start()
    try:
        return mlgate(kube, policy, tmp, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
    finally:
        argo.stopped.set()
        argo.join(10)


def test_promotion_waits_for_the_argocd_application_synced_at_the_commit_and_healthy(kube, argocd_world):
    bare, policy, tmp, ns = argocd_world
    result = deploy_under_argo(kube, bare, ns, policy, tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    found = checks(tmp)
    head = git(bare, "rev-parse", "main")
    assert (
        found["argocd"]["status"] == "pass" and f"Synced at {head[:12]} and Healthy" in found["argocd"]["why"]
    )
    assert "health Progressing" in result.stderr or "not " in result.stderr  # it waited, it did not guess


def test_an_argocd_application_that_never_syncs_the_commit_fails_at_the_bound(kube, argocd_world):
    _bare, policy, tmp, _ns = argocd_world
    policy.write_text(policy.read_text().replace("timeout_seconds: 60", "timeout_seconds: 4"))
    result = mlgate(kube, policy, tmp, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
    assert result.returncode == 1, result.stdout + result.stderr
    why = checks(tmp)["argocd"]["why"]
    assert "not Synced and Healthy within 4 s" in why and "not " in why


def degraded(head: str) -> dict:
    return {
        "health": {
            "status": "Degraded",
            "message": "Deployment app: progress deadline exceeded\n(ReplicaSet app-7d9 has timed out)",
        }
    }


def sync_failed(head: str) -> dict:
    return {
        "sync": {"status": "OutOfSync", "revision": head},
        "health": {"status": "Missing"},
        "operationState": {
            "phase": "Failed",
            "message": 'one or more objects failed to apply, reason: Deployment.apps "app" is invalid',
            "operation": {"sync": {"revision": head}},
            "syncResult": {"revision": head},
        },
    }


@pytest.mark.parametrize(
    ("final", "reason"),
    [
        (degraded, "Degraded at {head}: Deployment app: progress deadline exceeded (ReplicaSet app-7d9"),
        (sync_failed, "sync Failed at {head}: one or more objects failed to apply, reason: Deployment.apps"),
    ],
)
def test_an_argocd_application_that_fails_at_the_commit_ends_the_wait_at_once(
    kube, argocd_world, final, reason
):
    """Degraded, or a failed sync operation, at the pushed commit: exit 1 long before the 60 s bound, one line
    naming the Application and carrying Argo's message; the Deployment wait is not started."""
    bare, policy, tmp, ns = argocd_world
    policy.write_text(
        policy.read_text().replace("timeout_seconds: 60", "deployment: app, timeout_seconds: 60")
    )
    started = time.monotonic()
    result = deploy_under_argo(kube, bare, ns, policy, tmp, final)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    found = checks(tmp)
    head = git(bare, "rev-parse", "main")
    why = found["argocd"]["why"]
    assert found["argocd"]["status"] == "fail" and "\n" not in why
    assert why.startswith(f"Argo CD Application {ns}/app: " + reason.format(head=head[:12])), why
    assert "reconciled" not in found
    assert elapsed < 40, elapsed


def test_a_degraded_status_left_by_the_previous_revision_does_not_fail_the_new_one(kube, argocd_world):
    """Before Argo compares the pushed commit, the Application still shows the old revision Degraded: that is
    no verdict on the new one, which then becomes Healthy (exit 0)."""
    bare, policy, tmp, ns = argocd_world
    seed = git(bare, "rev-parse", "main")
    kubectl(
        kube,
        "-n",
        ns,
        "patch",
        "applications.argoproj.io",
        "app",
        "--type",
        "merge",
        "-p",
        json.dumps(
            {
                "status": {
                    "sync": {"status": "Synced", "revision": seed},
                    "health": {"status": "Degraded", "message": "old pods crash"},
                    "operationState": {"phase": "Failed", "message": "old", "syncResult": {"revision": seed}},
                }
            }
        ),
    )
    result = deploy_under_argo(kube, bare, ns, policy, tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert checks(tmp)["argocd"]["status"] == "pass"


def test_an_unreachable_cluster_is_an_infrastructure_fault(kube, argocd_world):
    """The Application cannot be read at all (the API server's port is closed): exit 3, not a gate failure."""
    _bare, policy, tmp, _ns = argocd_world
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    config = yaml.safe_load(Path(kube.kubeconfig).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    broken = tmp / "unreachable.kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    result = mlgate(
        kube,
        policy,
        tmp,
        "deploy",
        "--kubeconfig",
        str(broken),
        "--image",
        f"example/app=ghcr.io/acme/app@{DIGEST}",
    )
    assert result.returncode == 3, result.stdout + result.stderr
