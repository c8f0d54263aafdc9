"""Render a kustomize directory into a list of Kubernetes objects, without kustomize.

mlgate renders manifests itself by default, so a deploy needs no kubectl. ``renderer="kubectl"`` runs
``kubectl kustomize DIR`` instead (only when asked, and it must be on PATH); the built-in renderer's output is
checked against kubectl's in tests/test_render.py whenever kubectl is installed.

The built-in renderer supports this subset of ``kustomization.yaml`` (any other key is an error, never
silently ignored):

- ``resources`` (and the legacy ``bases``): YAML files (several documents allowed) and directories holding a
  kustomization, rendered recursively; the outer directory's transformations apply after the inner ones.
- ``namespace``: set on every namespaced object; Namespace objects are renamed to it (as kustomize does).
- ``namePrefix`` / ``nameSuffix``: on every object but Namespaces, with the references kustomize fixes for the
  kinds used here: HPA ``scaleTargetRef``, pod ``serviceAccountName``, ConfigMap and Secret references in
  volumes, ``env`` and ``envFrom``.
- ``commonLabels`` (added to metadata, selectors and pod templates) and ``labels`` (``pairs``,
  ``includeSelectors``, ``includeTemplates``); ``commonAnnotations``.
- ``images``: ``name`` with ``newName``, ``newTag`` and / or ``digest``, in containers and initContainers.
- ``patches`` (``path`` or inline ``patch``, optional ``target`` by ``kind`` / ``name`` / ``namespace``) and the
  legacy ``patchesStrategicMerge``. A patch that is an object is a strategic-merge patch, a list is a JSON 6902
  patch (``add``, ``replace``, ``remove``).

Strategic merge, minimal: mappings merge key by key, ``null`` deletes a key, ``$patch: replace`` /
``$patch: delete`` on a mapping replace or delete it. Lists of objects with a merge key (containers,
initContainers, volumes, env, imagePullSecrets by ``name``; container ports by ``containerPort``; Service
ports by ``port``; volumeMounts by ``mountPath``) merge item by item: the patch's items first, in its order,
then the original items it does not name (kustomize's order). Every other list is replaced.

Output order is kustomize's legacy order (Namespace, ServiceAccount, ... Service, Deployment, ..., then the
other kinds by group, version and kind), so ``--dry-run`` output diffs cleanly against ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gates.errors import InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "bases",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "patches",
    "patchesStrategicMerge",
}

CLUSTER_SCOPED = {
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "PodSecurityPolicy",
}
ORDER_FIRST = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
}
IMAGE_REF = re.compile(
    r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9_+.-]+:[0-9a-fA-F]+))?$"
)
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass
class Rendered:
    """The objects of one render and every file it read (with sha256, for the audit trail)."""

    objects: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)
    renderer: str = "builtin"

    def yaml(self) -> str:
        return "---\n".join(
            yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) for obj in self.objects
        )


def render(
    path: str | Path,
    images: dict[str, str] | None = None,
    namespace: str | None = None,
    renderer: str = "builtin",
) -> Rendered:
    """Render the kustomization at ``path``; ``images`` ({name: new reference}) and ``namespace`` are laid on
    top, like ``kustomize edit set image`` / ``set namespace`` in a wrapping overlay."""
    root = Path(path)
    if not root.exists():
        raise InputError(f"{path}: manifest directory not found")
    if renderer == "kubectl":
        result = _render_kubectl(root)
    elif renderer == "builtin":
        files: dict[str, str] = {}
        result = Rendered(_render_dir(root, files, stack=()), files)
    else:
        raise InputError(f"renderer {renderer!r}: expected 'builtin' or 'kubectl'")
    if images:
        entries = [image_override(name, ref) for name, ref in images.items()]
        used = _set_images(result.objects, entries)
        unused = [e["name"] for e in entries if e["name"] not in used]
        if unused:
            raise InputError(
                f"--image {unused[0]}=...: no container in {path} uses an image named {unused[0]!r}"
            )
    if namespace:
        _set_namespace(result.objects, namespace)
    result.objects = sort_objects(result.objects)
    return result


# ----------------------------------------------------------------------------------------- kubectl
def _render_kubectl(root: Path) -> Rendered:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise InputError("renderer 'kubectl' was asked for, but kubectl is not on PATH")
    try:
        proc = subprocess.run(
            [kubectl, "kustomize", str(root)], capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"{root}: kubectl kustomize did not finish in 120 s") from None
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"{root}: kubectl kustomize failed: {message}")
    files = {str(p): _sha256(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}
    return Rendered([d for d in yaml.safe_load_all(proc.stdout) if d], files, renderer="kubectl")


# ----------------------------------------------------------------------------------------- builtin
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_yaml_docs(path: Path, files: dict[str, str]) -> list[Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    files[str(path)] = _sha256(data)
    try:
        return [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    raise InputError(f"{directory}: no kustomization.yaml in this directory")


def _render_dir(directory: Path, files: dict[str, str], stack: tuple[Path, ...]) -> list[dict[str, Any]]:
    directory = directory.resolve()
    if directory in stack:
        raise InputError(
            f"{directory}: kustomization cycle ({' -> '.join(str(p) for p in (*stack, directory))})"
        )
    kfile = _kustomization_file(directory)
    docs = _read_yaml_docs(kfile, files)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise InputError(f"{kfile}: expected one mapping")
    spec = docs[0]
    unknown = sorted(set(spec) - SUPPORTED_KEYS)
    if unknown:
        raise InputError(
            f"{kfile}: key {unknown[0]!r} is not supported by mlgate's built-in renderer "
            f"(supported: {', '.join(sorted(SUPPORTED_KEYS - {'apiVersion', 'kind'}))}); "
            "use --renderer kubectl"
        )
    objects: list[dict[str, Any]] = []
    for entry in _string_list(spec, "resources", kfile) + _string_list(spec, "bases", kfile):
        target = directory / entry
        if "://" in entry or entry.startswith("git@"):
            raise InputError(f"{kfile}: resources: remote resource {entry!r} is not supported")
        if target.is_dir():
            objects += _render_dir(target, files, (*stack, directory))
        elif target.is_file():
            for index, doc in enumerate(_read_yaml_docs(target, files)):
                objects += _objects_from(doc, target, index)
        else:
            raise InputError(f"{kfile}: resources: {entry!r} not found")
    _check_unique(objects, kfile)

    for patch_entry in _patch_entries(spec, kfile):
        _apply_patch(objects, patch_entry, directory, files, kfile)
    if spec.get("namespace"):
        _set_namespace(objects, _string(spec, "namespace", kfile))
    if spec.get("namePrefix") or spec.get("nameSuffix"):
        _rename(objects, str(spec.get("namePrefix") or ""), str(spec.get("nameSuffix") or ""))
    if spec.get("commonLabels"):
        _add_labels(objects, _string_map(spec, "commonLabels", kfile), selectors=True, templates=True)
    for index, entry in enumerate(spec.get("labels") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("pairs"), dict):
            raise InputError(f"{kfile}: labels[{index}]: expected a mapping with 'pairs'")
        extra = sorted(set(entry) - {"pairs", "includeSelectors", "includeTemplates"})
        if extra:
            raise InputError(f"{kfile}: labels[{index}]: key {extra[0]!r} is not supported")
        selectors = bool(entry.get("includeSelectors", False))
        _add_labels(
            objects,
            {str(k): str(v) for k, v in entry["pairs"].items()},
            selectors=selectors,
            templates=selectors or bool(entry.get("includeTemplates", False)),
        )
    if spec.get("commonAnnotations"):
        annotations = _string_map(spec, "commonAnnotations", kfile)
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
            if obj.get("kind") in WORKLOADS:
                template = obj.get("spec", {}).get("template")
                if isinstance(template, dict):
                    template.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
    if spec.get("images"):
        entries = spec["images"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") for e in entries):
            raise InputError(f"{kfile}: images: expected a list of mappings with 'name'")
        for index, entry in enumerate(entries):
            extra = sorted(set(entry) - {"name", "newName", "newTag", "digest"})
            if extra:
                raise InputError(f"{kfile}: images[{index}]: key {extra[0]!r} is not supported")
        _set_images(objects, entries)
    return objects


def _string_list(spec: dict[str, Any], key: str, kfile: Path) -> list[str]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{kfile}: {key}: expected a list of paths")
    return value


def _string(spec: dict[str, Any], key: str, kfile: Path) -> str:
    value = spec.get(key)
    if not isinstance(value, str):
        raise InputError(f"{kfile}: {key}: expected a string")
    return value


def _string_map(spec: dict[str, Any], key: str, kfile: Path) -> dict[str, str]:
    value = spec.get(key)
    if not isinstance(value, dict):
        raise InputError(f"{kfile}: {key}: expected a mapping")
    return {str(k): str(v) for k, v in value.items()}


def _objects_from(doc: Any, source: Path, index: int) -> list[dict[str, Any]]:
    where = f"{source} (document {index + 1})"
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a Kubernetes object (a mapping)")
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        out = []
        for item in doc["items"]:
            out += _objects_from(item, source, index)
        return out
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise InputError(f"{where}: missing '{key}'")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: {doc['kind']} has no metadata.name")
    return [doc]


def object_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')}/{meta.get('name')}" + (f" (namespace {namespace})" if namespace else "")


def _check_unique(objects: list[dict[str, Any]], kfile: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        key = (
            _group(obj.get("apiVersion", "")),
            obj.get("kind", ""),
            meta.get("namespace") or "",
            meta["name"],
        )
        if key in seen:
            raise InputError(f"{kfile}: {object_id(obj)} is defined twice")
        seen.add(key)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


# --------------------------------------------------------------------------------------- transformers
def _set_namespace(objects: list[dict[str, Any]], namespace: str) -> None:
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace":
            meta["name"] = namespace
        elif obj.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        for subject in (
            obj.get("subjects") or [] if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding") else []
        ):
            if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace


def _rename(objects: list[dict[str, Any]], prefix: str, suffix: str) -> None:
    renamed: dict[tuple[str, str], str] = {}
    for obj in objects:
        if obj.get("kind") == "Namespace":
            continue
        meta = obj["metadata"]
        new = f"{prefix}{meta['name']}{suffix}"
        renamed[(obj["kind"], meta["name"])] = new
        meta["name"] = new

    def ref(kind: str, name: Any) -> Any:
        return renamed.get((kind, name), name) if isinstance(name, str) else name

    for obj in objects:
        spec = obj.get("spec") or {}
        if obj.get("kind") == "HorizontalPodAutoscaler" and isinstance(spec.get("scaleTargetRef"), dict):
            target = spec["scaleTargetRef"]
            target["name"] = ref(target.get("kind", ""), target.get("name"))
        for pod in _pod_specs(obj):
            if "serviceAccountName" in pod:
                pod["serviceAccountName"] = ref("ServiceAccount", pod["serviceAccountName"])
            for volume in pod.get("volumes") or []:
                if isinstance(volume.get("configMap"), dict):
                    volume["configMap"]["name"] = ref("ConfigMap", volume["configMap"].get("name"))
                if isinstance(volume.get("secret"), dict):
                    volume["secret"]["secretName"] = ref("Secret", volume["secret"].get("secretName"))
            for container in _containers(pod):
                for source in container.get("envFrom") or []:
                    for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                        if isinstance(source.get(key), dict):
                            source[key]["name"] = ref(kind, source[key].get("name"))
                for var in container.get("env") or []:
                    value_from = var.get("valueFrom") or {}
                    for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                        if isinstance(value_from.get(key), dict):
                            value_from[key]["name"] = ref(kind, value_from[key].get("name"))


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in WORKLOADS:
        template = (spec.get("template") or {}).get("spec")
        return [template] if isinstance(template, dict) else []
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return [template["spec"]] if isinstance(template.get("spec"), dict) else []
    return []


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c for key in ("initContainers", "containers") for c in (pod.get(key) or []) if isinstance(c, dict)
    ]


def _add_labels(
    objects: list[dict[str, Any]], labels: dict[str, str], selectors: bool, templates: bool
) -> None:
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        kind, spec = obj.get("kind"), obj.get("spec")
        if not isinstance(spec, dict):
            continue
        if templates and kind in WORKLOADS:
            spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        if templates and kind == "CronJob":
            template = spec.setdefault("jobTemplate", {}).setdefault("spec", {}).setdefault("template", {})
            template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        if not selectors:
            continue
        if kind in WORKLOADS and kind != "Job":
            spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(labels)
        elif kind == "Service":
            spec.setdefault("selector", {}).update(labels)
        elif kind == "PodDisruptionBudget" and isinstance(
            (spec.get("selector") or {}).get("matchLabels"), dict
        ):
            spec["selector"]["matchLabels"].update(labels)
        elif kind == "NetworkPolicy":
            if isinstance((spec.get("podSelector") or {}).get("matchLabels"), dict):
                spec["podSelector"]["matchLabels"].update(labels)
            for rule_key, peer_key in (("ingress", "from"), ("egress", "to")):
                for rule in spec.get(rule_key) or []:
                    for peer in (rule or {}).get(peer_key) or []:
                        if isinstance((peer.get("podSelector") or {}).get("matchLabels"), dict):
                            peer["podSelector"]["matchLabels"].update(labels)


def split_image(reference: str) -> tuple[str, str | None, str | None]:
    """'reg:5000/app:1.0@sha256:ab' -> ('reg:5000/app', '1.0', 'sha256:ab')."""
    match = IMAGE_REF.match(reference.strip())
    if not match or not match.group("name") or match.group("name").endswith(":"):
        raise InputError(f"image reference {reference!r} is not valid (expected name[:tag][@sha256:digest])")
    return match.group("name"), match.group("tag"), match.group("digest")


def image_override(name: str, reference: str) -> dict[str, str]:
    """``--image NAME=REF``: REF is a full reference (``repo/app:1.1``, ``repo/app@sha256:..``) or ``:TAG``."""
    if not name:
        raise InputError(f"--image {name}={reference}: expected NAME=REFERENCE")
    entry = {"name": name}
    if reference.startswith((":", "@")):
        reference = name + reference
    new_name, tag, digest = split_image(reference)
    if new_name != name:
        entry["newName"] = new_name
    if tag:
        entry["newTag"] = tag
    if digest:
        entry["digest"] = digest
    if not tag and not digest and new_name == name:
        raise InputError(
            f"--image {name}={reference}: give a tag or a digest (an untagged image means 'latest')"
        )
    return entry


def _set_images(objects: list[dict[str, Any]], entries: list[dict[str, Any]]) -> set[str]:
    used: set[str] = set()
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in _containers(pod):
                image = container.get("image")
                if not isinstance(image, str):
                    continue
                name, tag, digest = split_image(image)
                for entry in entries:
                    if entry["name"] != name:
                        continue
                    used.add(entry["name"])
                    name = str(entry.get("newName") or name)
                    if entry.get("newTag") is not None or entry.get("digest"):
                        tag = str(entry["newTag"]) if entry.get("newTag") is not None else None
                        digest = entry.get("digest") or None
                    container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                    break
    return used


# ----------------------------------------------------------------------------------------- patches
def _patch_entries(spec: dict[str, Any], kfile: Path) -> list[dict[str, Any]]:
    entries = []
    for index, entry in enumerate(spec.get("patches") or []):
        if not isinstance(entry, dict) or not (entry.get("path") or entry.get("patch")):
            raise InputError(f"{kfile}: patches[{index}]: expected a mapping with 'path' or 'patch'")
        extra = sorted(set(entry) - {"path", "patch", "target", "options"})
        if extra:
            raise InputError(f"{kfile}: patches[{index}]: key {extra[0]!r} is not supported")
        entries.append({**entry, "where": f"patches[{index}]"})
    for index, entry in enumerate(spec.get("patchesStrategicMerge") or []):
        if not isinstance(entry, str):
            raise InputError(f"{kfile}: patchesStrategicMerge[{index}]: expected a path or an inline patch")
        key = "patch" if "\n" in entry else "path"
        entries.append({key: entry, "where": f"patchesStrategicMerge[{index}]"})
    return entries


def _apply_patch(
    objects: list[dict[str, Any]], entry: dict[str, Any], directory: Path, files: dict[str, str], kfile: Path
) -> None:
    where = f"{kfile}: {entry['where']}"
    if entry.get("path"):
        docs = _read_yaml_docs(directory / entry["path"], files)
        where += f" ({entry['path']})"
    else:
        try:
            docs = [d for d in yaml.safe_load_all(entry["patch"]) if d is not None]
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise InputError(
                f"{where}:{line} invalid YAML ({getattr(exc, 'problem', None) or 'unreadable'})"
            ) from None
    target = entry.get("target")
    if target is not None:
        if not isinstance(target, dict):
            raise InputError(f"{where}: target: expected a mapping")
        unsupported = sorted(set(target) - {"kind", "name", "namespace", "group", "version"})
        if unsupported:
            raise InputError(f"{where}: target.{unsupported[0]} is not supported by the built-in renderer")
    for doc in docs:
        if isinstance(doc, list):
            if target is None:
                raise InputError(f"{where}: a JSON 6902 patch needs a 'target'")
            for obj in _targets(objects, target, where):
                _json6902(obj, doc, where)
        elif isinstance(doc, dict):
            meta = doc.get("metadata") or {}
            selector = target or {
                "kind": doc.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
            }
            if not selector.get("kind") or not selector.get("name"):
                raise InputError(
                    f"{where}: a strategic-merge patch needs kind and metadata.name (or a target)"
                )
            for obj in _targets(objects, selector, where):
                patched = strategic_merge(
                    obj, {k: v for k, v in doc.items() if k not in ("apiVersion", "kind") or target is None}
                )
                if target is not None:  # the patch's own name must not rename its target
                    patched["metadata"]["name"] = obj["metadata"]["name"]
                obj.clear()
                obj.update(patched)
        else:
            raise InputError(f"{where}: expected a mapping (strategic merge) or a list (JSON 6902)")


def _targets(objects: list[dict[str, Any]], selector: dict[str, Any], where: str) -> list[dict[str, Any]]:
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if selector.get("kind") and obj.get("kind") != selector["kind"]:
            continue
        if selector.get("name") and meta.get("name") != selector["name"]:
            continue
        if selector.get("namespace") and meta.get("namespace") != selector["namespace"]:
            continue
        if selector.get("group") is not None and _group(obj.get("apiVersion", "")) != selector["group"]:
            continue
        found.append(obj)
    if not found:
        described = "/".join(str(selector.get(k)) for k in ("kind", "name") if selector.get(k))
        raise InputError(f"{where}: no resource matches {described}")
    return found


def strategic_merge(original: Any, patch: Any, key: str | None = None) -> Any:
    """The minimal strategic merge described in the module docstring."""
    if isinstance(patch, dict) and isinstance(original, dict):
        directive = patch.get("$patch")
        if directive == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        out = copy.deepcopy(original)
        for k, v in patch.items():
            if k == "$patch":
                continue
            if v is None or isinstance(v, dict) and v.get("$patch") == "delete":
                out.pop(k, None)
            elif k in out:
                out[k] = strategic_merge(out[k], v, k)
            else:
                out[k] = _strip_directives(v)
        return out
    if isinstance(patch, list) and isinstance(original, list):
        merge_key = _merge_key(key, patch, original)
        if merge_key is None:
            return _strip_directives(patch)
        by_key = {item.get(merge_key): item for item in original if isinstance(item, dict)}
        merged, named = [], set()
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise InputError(f"strategic merge: every item of '{key}' needs '{merge_key}'")
            named.add(item[merge_key])
            if item.get("$patch") == "delete":
                continue
            base = by_key.get(item[merge_key])
            merged.append(strategic_merge(base, item, None) if base is not None else _strip_directives(item))
        merged += [
            copy.deepcopy(item)
            for item in original
            if not (isinstance(item, dict) and item.get(merge_key) in named)
        ]
        return merged
    return _strip_directives(patch)


def _merge_key(key: str | None, patch: list[Any], original: list[Any]) -> str | None:
    if key in MERGE_KEYS:
        return MERGE_KEYS[key]
    if key == "ports":
        sample = next((i for i in [*patch, *original] if isinstance(i, dict)), {})
        if "containerPort" in sample:
            return "containerPort"
        if "port" in sample:
            return "port"
    return None


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return copy.deepcopy(value)


def _json6902(obj: dict[str, Any], ops: list[Any], where: str) -> None:
    for index, op in enumerate(ops):
        if (
            not isinstance(op, dict)
            or op.get("op") not in ("add", "replace", "remove")
            or not isinstance(op.get("path"), str)
            or not op["path"].startswith("/")
        ):
            raise InputError(
                f"{where}: operation {index}: expected op add / replace / remove and a path /..."
            )
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
        parent: Any = obj
        for part in parts[:-1]:
            parent = _step(parent, part, where, op["path"])
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-" and op["op"] == "add":
                parent.append(copy.deepcopy(op.get("value")))
                continue
            position = _index(parent, last, where, op["path"], allow_end=op["op"] == "add")
            if op["op"] == "add":
                parent.insert(position, copy.deepcopy(op.get("value")))
            elif op["op"] == "replace":
                parent[position] = copy.deepcopy(op.get("value"))
            else:
                parent.pop(position)
        elif isinstance(parent, dict):
            if (
                op["op"] == "remove" and last not in parent
            ):  # replace of a missing key adds it, as kustomize does
                raise InputError(f"{where}: {op['op']} {op['path']}: no such field")
            if op["op"] == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op.get("value"))
        else:
            raise InputError(f"{where}: {op['path']}: parent is not a mapping or list")


def _step(node: Any, part: str, where: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise InputError(f"{where}: {path}: no field {part!r}")
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, where, path, allow_end=False)]
    raise InputError(f"{where}: {path}: cannot descend into {part!r}")


def _index(items: list[Any], part: str, where: str, path: str, allow_end: bool) -> int:
    if not part.isdigit() or int(part) > len(items) or (int(part) == len(items) and not allow_end):
        raise InputError(f"{where}: {path}: list index {part!r} is out of range")
    return int(part)


# ----------------------------------------------------------------------------------------- order
def sort_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kustomize's legacy order: ORDER_FIRST kinds in that order, ORDER_LAST last, the rest by GVK."""

    def key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
        kind = obj.get("kind", "")
        if kind in ORDER_FIRST:
            rank = ORDER_FIRST.index(kind) - len(ORDER_FIRST)
        elif kind in ORDER_LAST:
            rank = 1 + ORDER_LAST.index(kind)
        else:
            rank = 0
        api = obj.get("apiVersion", "")
        group, version = api.rsplit("/", 1) if "/" in api else ("~G", api)
        meta = obj.get("metadata") or {}
        return rank, f"{group}_{version}_{kind}", meta.get("namespace") or "", meta.get("name") or ""

    return sorted(objects, key=key)


def check_objects(objects: list[dict[str, Any]], source: str) -> list[str]:
    """Local structural checks before anything is sent: names, namespaces, workloads' selectors and
    containers. Returns the problems (empty when fine). The server-side dry run checks the full schema."""
    problems: list[str] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        what = object_id(obj)
        name = meta.get("name", "")
        if not DNS1123.match(str(name)) or len(str(name)) > 253:
            problems.append(f"{source}: {what}: metadata.name {name!r} is not a valid DNS-1123 name")
        if obj.get("kind") not in CLUSTER_SCOPED and not meta.get("namespace"):
            problems.append(f"{source}: {what}: no namespace (set `namespace:` in the overlay)")
        if obj.get("kind") in WORKLOADS:
            spec = obj.get("spec") or {}
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if obj.get("kind") != "Job" and not selector:
                problems.append(f"{source}: {what}: spec.selector.matchLabels is empty")
            mismatch = {k: v for k, v in selector.items() if template_labels.get(k) != v}
            if mismatch:
                problems.append(
                    f"{source}: {what}: the pod template's labels do not match the selector {mismatch}"
                )
            pods = _pod_specs(obj)
            containers = pods[0].get("containers") if pods else None
            if not containers:
                problems.append(f"{source}: {what}: no containers in the pod template")
            for container in _containers(pods[0]) if pods else []:
                if not container.get("name") or not container.get("image"):
                    problems.append(f"{source}: {what}: every container needs a name and an image")
    return problems
