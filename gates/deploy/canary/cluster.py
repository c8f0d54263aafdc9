"""The Kubernetes calls the canary makes, behind one small class so the loop can run against the real API
server or an in-memory stand-in (tests/canary)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# -- the cluster ------------------------------------------------------------------------------------------------
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "Ingress": "networking.k8s.io/v1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
}
FIELD_MANAGER = "mlgate-canary"


class Cluster:
    """The few cluster operations the canary needs, on :class:`gates.deploy.kube.Kube` (the delivery commands'
    client: retries, discovery, one-line errors -- a rejection is InputError, exit 2; an unreachable API server
    is InfraError, exit 3). Rollout waits and the stable Deployment's undo come from :mod:`gates.deploy.rollout`."""

    def __init__(self, kube: Any):
        self.kube = kube

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        from gates.deploy.kube import connect

        return cls(connect(kubeconfig, context))

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get("apps/v1", "Deployment", name, namespace)

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> None:
        resource = self.kube.resource("apps/v1", "Deployment")
        self.kube.request(
            "POST",
            self.kube.object_path(resource, None, namespace),
            query={"fieldManager": FIELD_MANAGER},
            body=body,
            what=f"creating deployment/{body['metadata']['name']}",
        )

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> None:
        self.kube.put({"apiVersion": "apps/v1", "kind": "Deployment", **body}, field_manager=FIELD_MANAGER)

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """A strategic merge patch (containers and env merge by name, as kubectl patch does)."""
        from gates.deploy.kube import STRATEGIC_PATCH

        self.kube.patch(
            "apps/v1",
            "Deployment",
            name,
            namespace,
            patch,
            content_type=STRATEGIC_PATCH,
            field_manager=FIELD_MANAGER,
        )

    def delete_deployment(self, namespace: str, name: str) -> None:
        self.kube.delete("apps/v1", "Deployment", name, namespace)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.patch_deployment(namespace, name, {"spec": {"replicas": int(replicas)}})

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get("v1", "Service", name, namespace)

    def autoscaler_for(self, namespace: str, deployment: str) -> str | None:
        """The HorizontalPodAutoscaler that scales this Deployment, if any (autoscaling/v1: served everywhere)."""
        for hpa in self.kube.list("autoscaling/v1", "HorizontalPodAutoscaler", namespace):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
                return str(hpa["metadata"]["name"])
        return None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(API_VERSIONS[kind], kind, name, namespace)

    def apply(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        """Server-side apply, field manager ``mlgate-canary`` (forced: the canary owns the weights)."""
        obj = {"apiVersion": API_VERSIONS[kind], "kind": kind, **body}
        obj.setdefault("metadata", {}).setdefault("namespace", namespace)
        obj["metadata"].setdefault("name", name)
        self.kube.apply(obj, field_manager=FIELD_MANAGER, force=True)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.kube.delete(API_VERSIONS[kind], kind, name, namespace)

    def wait(
        self,
        name: str,
        namespace: str,
        timeout: float,
        sleep: Callable[[float], None],
        progress: Callable[[str], None],
        changed_at: str | None = None,
    ) -> Any:
        """``kubectl rollout status`` semantics (gates.deploy.rollout.wait_for_rollout), bounded by ``timeout``;
        ``changed_at``: a progress-deadline condition from before that write is stale (after an undo)."""
        from gates.deploy.rollout import wait_for_rollout

        return wait_for_rollout(
            self.kube,
            name,
            namespace,
            timeout=timeout,
            poll=0.5,
            sleep=sleep,
            progress=progress,
            heartbeat=15.0,
            changed_at=changed_at,
        )

    def undo(self, name: str, namespace: str, cause: str) -> Any:
        """``kubectl rollout undo``: the stable Deployment back to its previous revision's template."""
        from gates.deploy.rollout import rollback

        return rollback(self.kube, name, namespace, cause=cause)
