"""Server-side apply of rendered objects with field manager ``mlgate``.

Each object is sent as a raw ``PATCH`` with ``Content-Type: application/apply-patch+yaml`` (JSON is YAML),
``fieldManager=mlgate`` and ``force=true``:

- server-side apply merges on the server, so fields other managers own and mlgate's manifests do not name
  (the HorizontalPodAutoscaler's ``replicas``, annotations a controller adds) are left alone;
- ``force=true`` is the conflicts policy: when another manager (for example a ``kubectl edit`` or
  ``kubectl set image`` by hand) owns a field that the manifests set, mlgate takes it over, because the
  manifests in the repository are the source of truth for what a deploy sets. The previous owner is
  recorded in the object's ``managedFields``; without force the apply would stop with a 409 listing them.

Before anything changes, every object is applied with ``dryRun=All`` so the API server validates the whole
set against its schema (unknown fields, wrong types, admission) and nothing is half-applied because the
fifth object was invalid. Namespaces are created for real first, since namespaced objects cannot be
dry-run into a namespace that does not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gates.deploy.kube import FIELD_MANAGER, Kube, describe
from gates.deploy.render import CLUSTER_SCOPED

REVISION = "deployment.kubernetes.io/revision"
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")


@dataclass
class Applied:
    """What one apply did to one object."""

    kind: str
    name: str
    namespace: str | None
    api_version: str
    action: str  # created, configured, unchanged (with " (dry run)" when nothing was changed on purpose)
    generation_before: int | None = None
    generation_after: int | None = None
    revision_before: int | None = None
    live: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        return describe(self.kind, self.name, self.namespace)

    @property
    def template_changed(self) -> bool:
        return self.action == "created" or (self.generation_before != self.generation_after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "apiVersion": self.api_version,
            "action": self.action,
            "generation": [self.generation_before, self.generation_after],
            "revision_before": self.revision_before,
        }


def _revision(obj: dict[str, Any] | None) -> int | None:
    raw = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(REVISION)
    return int(raw) if raw and str(raw).isdigit() else None


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_METADATA}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def apply_objects(
    kube: Kube,
    objects: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    field_manager: str = FIELD_MANAGER,
    progress: Callable[[str], None] | None = None,
) -> list[Applied]:
    """Validate every object with a server-side dry run, then apply them in order (unless ``dry_run``)."""
    say = progress or (lambda _message: None)
    cluster_scoped = [o for o in objects if o.get("kind") in CLUSTER_SCOPED]
    namespaced = [o for o in objects if o.get("kind") not in CLUSTER_SCOPED]
    results: list[Applied] = []

    # 1. cluster-scoped objects (Namespaces) first, for real unless this is a dry run
    for obj in cluster_scoped:
        results.append(_apply_one(kube, obj, dry_run, field_manager))
        say(f"{results[-1].ref}: {results[-1].action}")
    # 2. validate the namespaced objects together (a missing namespace in a dry run is reported, not fatal)
    missing_namespaces = set()
    if dry_run:
        for namespace in {o["metadata"].get("namespace") for o in namespaced}:
            if namespace and kube.get("v1", "Namespace", namespace) is None:
                missing_namespaces.add(namespace)
    for obj in namespaced:
        if obj["metadata"].get("namespace") in missing_namespaces:
            continue
        kube.apply(obj, field_manager=field_manager, dry_run=True)
    # 3. apply
    for obj in namespaced:
        if obj["metadata"].get("namespace") in missing_namespaces:
            results.append(
                Applied(
                    obj["kind"],
                    obj["metadata"]["name"],
                    obj["metadata"].get("namespace"),
                    obj["apiVersion"],
                    "created (dry run; namespace does not exist yet, not validated by the server)",
                )
            )
        else:
            results.append(_apply_one(kube, obj, dry_run, field_manager))
        say(f"{results[-1].ref}: {results[-1].action}")
    return results


def _apply_one(kube: Kube, obj: dict[str, Any], dry_run: bool, field_manager: str) -> Applied:
    meta = obj["metadata"]
    before = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
    after = kube.apply(obj, field_manager=field_manager, dry_run=dry_run)
    if before is None:
        action = "created"
    elif dry_run:
        action = "unchanged" if _comparable(before) == _comparable(after) else "configured"
    else:
        same = (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get(
            "resourceVersion"
        )
        action = "unchanged" if same or _comparable(before) == _comparable(after) else "configured"
    if dry_run:
        action += " (dry run)"
    return Applied(
        kind=obj["kind"],
        name=meta["name"],
        namespace=meta.get("namespace"),
        api_version=after.get("apiVersion", obj["apiVersion"]),
        action=action,
        generation_before=(before or {}).get("metadata", {}).get("generation"),
        generation_after=(after or {}).get("metadata", {}).get("generation"),
        revision_before=_revision(before),
        live=after,
    )
