"""Which Kubernetes objects run pods, and where their pod templates are: the built-in workloads (Pod, PodTemplate,
Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob) and the resources models are
deployed with (Argo Rollouts Rollout, Knative Service, KServe InferenceService, Seldon SeldonDeployment).

Why one place: every manifest rule judges pod templates; a kind missing here is a workload nobody checks. Field
access goes through gates.readers.manifests.Place, so a wrong shape is a one-line input error naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gates.readers.manifests import Place
from gates.security.pod_security import PodTemplate, containers_of

_TEMPLATE = ("spec", "template")
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "Deployment": _TEMPLATE,
    "StatefulSet": _TEMPLATE,
    "DaemonSet": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "ReplicationController": _TEMPLATE,
    "Job": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Rollout": _TEMPLATE,  # Argo Rollouts (argoproj.io); a workloadRef Rollout has no template of its own
}
_KNATIVE = "serving.knative.dev/"
_KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
# KServe model-framework fields: each is one container whose image the ServingRuntime may supply.
_KSERVE_FRAMEWORKS = [
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "pmml",
    "lightgbm",
    "paddle",
    "huggingface",
    "alibi",
    "art",
]
WORKLOAD_KINDS = "Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob, Rollout, InferenceService, ..."


@dataclass
class K8sObject:
    """One object of a manifest file (or of a kustomization's rendering), and where findings about it point."""

    path: str
    document: int  # 1-based position of the document in its file
    data: dict[str, Any]
    images: list[dict[str, Any]] = field(default_factory=list)  # kustomize `images:` entries that apply
    rendered_by: str | None = None  # the kustomization whose rendering made it, for rendered objects

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        return str(meta.get("name", "?")) if isinstance(meta, dict) else "?"

    @property
    def namespace(self) -> str | None:
        meta = self.data.get("metadata")
        return meta.get("namespace") if isinstance(meta, dict) else None

    @property
    def label(self) -> str:
        where = f"rendered from {self.rendered_by}" if self.rendered_by else f"document {self.document}"
        return f"{self.kind}/{self.name} ({where})"

    def pod_templates(self) -> list[PodTemplate]:
        """Every pod this object runs; a field of the wrong type is an InputError naming file, line and field."""
        place = Place(self.path, self.label)
        api = str(self.data.get("apiVersion", ""))
        if self.kind == "Service" and api.startswith(_KNATIVE):
            return self._templates(place, _TEMPLATE)
        if self.kind == "InferenceService":
            spec = place.mapping(self.data, "spec")
            found = []
            for component in _KSERVE_COMPONENTS:
                pod = place.at("spec").mapping(spec, component)
                if pod:
                    where = place.at("spec").at(component)
                    extra = [(where.at(f), where.mapping(pod, f)) for f in _KSERVE_FRAMEWORKS if pod.get(f)]
                    found.append(self._template(pod, where, {}, f"{self.label} {component}", extra))
            return found
        if self.kind == "SeldonDeployment":
            spec = place.mapping(self.data, "spec")
            found = []
            for p_place, predictor in place.at("spec").items(spec, "predictors"):
                for c_place, component_spec in p_place.items(predictor, "componentSpecs"):
                    pod = c_place.mapping(component_spec, "spec")
                    name = f"{self.label} predictor {predictor.get('name', '?')} {c_place.field.rsplit('.', 1)[-1]}"
                    found.append(self._template(pod, c_place.at("spec"), {}, name, []))
            return found
        if self.kind in _TEMPLATES:
            return self._templates(place, _TEMPLATES[self.kind])
        return []

    def _templates(self, place: Place, path: tuple[str, ...]) -> list[PodTemplate]:
        node: Any = self.data
        for key in path:
            node, place = place.mapping(node, key), place.at(key)
        if not node:
            return []
        meta = place.mapping(node, "metadata")
        annotations = place.at("metadata").mapping(meta, "annotations")
        spec = place.mapping(node, "spec")
        return [self._template(spec, place.at("spec"), annotations, self.label, [])] if spec else []

    def _template(
        self,
        spec: dict[str, Any],
        place: Place,
        annotations: dict[str, Any],
        subject: str,
        extra: list[tuple[Place, dict[str, Any]]],
    ) -> PodTemplate:
        return PodTemplate(spec, place, containers_of(spec, place, extra), annotations, subject)

    def pod_labels(self) -> dict[str, str]:
        node: Any = self.data
        for key in _TEMPLATES.get(self.kind, _TEMPLATE):
            node = node.get(key) if isinstance(node, dict) else None
        meta = node.get("metadata") if isinstance(node, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        return dict(labels) if isinstance(labels, dict) else {}


def walk_items(data: Any, path: str, document: int) -> Iterator[K8sObject]:
    """The Kubernetes objects in a document: itself, or the items of a List (kubectl unpacks them too)."""
    if not isinstance(data, dict) or "kind" not in data:
        return
    if str(data["kind"]).endswith("List") and isinstance(data.get("items"), list):
        for item in data["items"]:
            yield from walk_items(item, path, document)
    else:
        yield K8sObject(path, document, data)
