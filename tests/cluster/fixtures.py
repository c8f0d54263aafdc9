"""pytest plugin: a Kubernetes cluster for tests.

Enable it once, from the root conftest (tests/conftest.py)::

    pytest_plugins = ["tests.cluster.fixtures"]

(Do not also import the fixtures into a sub-directory conftest: that defines a
second session-scoped ``kube`` and starts a second control plane.)

Fixtures
--------
``kube`` (session)
    A :class:`KubeCluster`.  If ``$KUBECONFIG`` is set, that real cluster is
    used (``kube.real is True``, ``kube.node is None``).  Otherwise a local
    control plane (``tests/cluster/controlplane.py``) and a fake node
    (``tests/cluster/fakenode.py``) are started once per session; the binaries
    must have been built by ``tests/cluster/install.sh``.
``fake_images`` (session, default ``{}``)
    The FakeNode image catalog ``{image reference: argv}``.  Override it in a
    test module or conftest (any scope); before each test that uses ``kube``
    the entries are added to the running node's catalog.

Tests needing the cluster should be marked ``@pytest.mark.cluster``.  When a
test using ``kube`` fails, the tails of the component and pod logs are added
to its report.
"""

from __future__ import annotations

import os
import time

import pytest

from .controlplane import ControlPlane, default_bin_dir, missing_binaries
from .fakenode import FakeNode

INSTALL_HINT = (
    "run `sudo bash tests/cluster/install.sh` (builds kube-apiserver/controller-manager/"
    "scheduler 1.20.2 into ${MLGATE_K8S_CACHE:-~/.cache/mlgate/k8s-1.20.2}/bin, ~7 min once)"
)

_ACTIVE: KubeCluster | None = None


class KubeCluster:
    """What the ``kube`` fixture yields."""

    def __init__(
        self,
        kubeconfig: str,
        real: bool,
        node: FakeNode | None = None,
        controlplane: ControlPlane | None = None,
    ):
        self.kubeconfig = kubeconfig
        self.real = real
        self.node = node
        self.controlplane = controlplane

    def api_client(self):
        """A new ``kubernetes.client.ApiClient`` configured from :attr:`kubeconfig`."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig)

    def add_images(self, images: dict) -> None:
        """Add entries to the fake node's image catalog (no-op on a real cluster)."""
        if self.node is not None:
            self.node.add_images(images)

    def create_namespace(self, name: str, timeout: float = 30.0, labels: dict | None = None):
        """Create a namespace and wait until pods can be created in it.

        Kubernetes < 1.24 (like the local 1.20 control plane) rejects pods until
        the namespace's ``default`` service account has its token secret.
        """
        from kubernetes import client

        with self.api_client() as api:
            v1 = client.CoreV1Api(api)
            v1.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
            minor = int("".join(ch for ch in client.VersionApi(api).get_code().minor if ch.isdigit()))
            deadline = time.monotonic() + timeout
            while True:
                try:
                    sa = v1.read_namespaced_service_account("default", name)
                    if minor >= 24 or sa.secrets:
                        return
                except client.ApiException as e:
                    if e.status != 404:
                        raise
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"namespace {name}: default service account not ready after {timeout}s"
                    )
                time.sleep(0.2)

    def delete_namespace(self, name: str) -> None:
        from kubernetes import client

        with self.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name)
            except client.ApiException as e:
                if e.status != 404:
                    raise

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        if self.controlplane is not None:
            parts.append(f"control plane dir: {self.controlplane.dir}")
            parts.append(self.controlplane.log_tails(lines))
        if self.node is not None:
            parts.append(f"fake node dir: {self.node.dir}")
            parts.append(self.node.log_tails(lines))
        return "\n".join(parts)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cluster: needs a Kubernetes cluster (local control plane from tests/cluster, or $KUBECONFIG)",
    )


@pytest.fixture(scope="session")
def fake_images() -> dict:
    """FakeNode image catalog: {image reference: argv}.  Override in test modules."""
    return {}


@pytest.fixture(scope="session")
def kube():
    global _ACTIVE
    kubeconfig = os.environ.get("KUBECONFIG")
    if kubeconfig:
        first = kubeconfig.split(os.pathsep)[0]
        _ACTIVE = KubeCluster(first, real=True)
        try:
            yield _ACTIVE
        finally:
            _ACTIVE = None
        return

    missing = missing_binaries()
    if missing:
        pytest.skip(f"needs the Kubernetes test binaries ({', '.join(missing)}): {INSTALL_HINT}")
    cp = ControlPlane(default_bin_dir())
    cp.start()
    node = None
    try:
        node = FakeNode(cp.kubeconfig, "fake-node-1")
        node.start()
        _ACTIVE = KubeCluster(cp.kubeconfig, real=False, node=node, controlplane=cp)
        yield _ACTIVE
    finally:
        _ACTIVE = None
        if node is not None:
            node.stop()
        cp.stop()


@pytest.fixture(autouse=True)
def _kube_fake_images(request):
    """Feed ``fake_images`` (as overridden where the test lives) to the fake node."""
    if "kube" in request.fixturenames:
        cluster = request.getfixturevalue("kube")
        cluster.add_images(request.getfixturevalue("fake_images"))
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _ACTIVE is not None and "kube" in getattr(item, "fixturenames", ()):
        try:
            rep.sections.append(("kubernetes harness logs", _ACTIVE.log_tails()))
        except Exception as e:  # noqa: BLE001 - never break reporting
            rep.sections.append(("kubernetes harness logs", f"<could not collect: {e}>"))
