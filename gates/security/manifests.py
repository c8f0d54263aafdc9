"""Kubernetes manifest policy: every document of every YAML or JSON file under the given paths (kubectl applies
`.json` files too), every pod template in them: Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, Pod, PodTemplate, and the resources models are served with: Argo Rollouts
Rollout, Knative Service, KServe InferenceService (predictor, transformer, explainer), Seldon SeldonDeployment.

Each pod template is held to the Pod Security Standards (gates.security.pod_security; `standard: restricted` by
default, or `baseline`) and to mlgate's own rules: read-only root filesystem, CPU and memory requests and limits,
liveness and readiness probes, images pinned by tag and digest, a PodDisruptionBudget for replicated workloads, no
service-account token unless asked for. A PersistentVolume backed by hostPath is a hostPath finding too: a claim
on it reaches the node's filesystem as a hostPath volume would.

Per-object exemption: annotate the object (metadata.annotations) with
  mlgate.io/exempt: "k8s.read-only-root-fs, k8s.image-digest"
  mlgate.io/exempt-reason: "writes its model cache to the root filesystem until #123"
An exemption without a reason is not honoured and is itself a finding. Exempted findings stay in the report
(and in SARIF as suppressed), they only stop failing the gate.

Files that a kustomization.yaml names as patches are partial objects: they are not checked on their own.
Instead every kustomization among the files is rendered with `kubectl kustomize` (gates.deploy.render) and the
rendered objects are checked too, so what a patch or an overlay's `images:` changes is what gets judged. A finding
that only the rendered objects have is reported at the patch line (or the `images:` entry) that sets the field
when one can be found, else at the kustomization file. A kustomization that cannot be rendered is an error that
names the patches left unchecked.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, Status
from gates.core.settings.base import as_list
from gates.core.settings.security import Manifests
from gates.readers.manifests import MANIFEST_SUFFIXES, Place, line_of, read_documents
from gates.security import kustomize
from gates.security.common import Part, RuleHit, rule_checks
from gates.security.pod_security import DEFAULT_STANDARD, PodTemplate, check_pod
from gates.security.workloads import WORKLOAD_KINDS, K8sObject, walk_items

CATEGORY = "manifests"
EXEMPT = "mlgate.io/exempt"
EXEMPT_REASON = "mlgate.io/exempt-reason"

_BATCH = {"Job", "CronJob"}
_REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Rollout"}


@dataclass
class Collected:
    objects: list[K8sObject]
    read: list[str]  # labels of the files read
    skipped: list[str]  # labels with the reason
    kustomizations: list[tuple[str, Path]]  # (label, kustomization file) among the files read


def collect(
    paths: list[str], ctx: GateContext, exclude: list[str]
) -> tuple[list[K8sObject], list[str], list[str]]:
    """(objects, files read, files skipped) under the given files and directories."""
    found = gather(paths, ctx, exclude)
    return found.objects, found.read, found.skipped


def gather(paths: list[str], ctx: GateContext, exclude: list[str]) -> Collected:
    files: list[tuple[str, Path]] = []
    for raw in paths:
        path = ctx.path(raw, what="manifest file or directory")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{raw}: no .yaml, .yml or .json files in this directory")
            files += [(str(Path(raw) / p.relative_to(path)), p) for p in found]
        else:
            files.append((raw, path))
    patches, images = kustomize.patches_and_images([p for _, p in files])
    objects: list[K8sObject] = []
    read, skipped, kustomizations = [], [], []
    for label, path in files:
        if path.resolve() in patches or any(fnmatch.fnmatch(label, pattern) for pattern in exclude):
            skipped.append(label + (" (kustomize patch)" if path.resolve() in patches else " (excluded)"))
            continue
        ctx.path(str(path.resolve()))
        for n, doc in enumerate(read_documents(path, label), start=1):
            for obj in walk_items(doc, str(path), n):
                obj.images = images.get(path.resolve(), [])
                objects.append(obj)
        read.append(label)
        if path.name in kustomize.KUSTOMIZATION_NAMES:
            kustomizations.append((label, path))
    return Collected(objects, read, skipped, kustomizations)


# --- mlgate's own rules ----------------------------------------------------------------------------------------


def _image_parts(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    return tag, digest or None


def _container_hits(obj: K8sObject, pod: PodTemplate) -> list[RuleHit]:
    """Read-only root filesystem, requests and limits, probes (long-running containers), pinned images."""
    hits: list[RuleHit] = []
    for container in pod.containers:
        data, place = container.data, container.place
        subject = f"{pod.subject} {container.kind} {container.name}"
        cline = line_of(data)

        def hit(rule: str, message: str, line: int | None = None) -> None:
            hits.append(RuleHit(rule, message, obj.path, line or cline, subject))  # noqa: B023

        sec = place.mapping(data, "securityContext")
        if place.at("securityContext").get(sec, "readOnlyRootFilesystem", bool) is not True:
            line = line_of(sec, "readOnlyRootFilesystem") if sec else None
            hit("k8s.read-only-root-fs", "readOnlyRootFilesystem is not true", line)
        if container.kind == "ephemeral container":
            continue  # debugging containers take no resources, probes or pinned images
        resources = place.mapping(data, "resources")
        for kind, rule in (("requests", "k8s.resource-requests"), ("limits", "k8s.resource-limits")):
            values = place.at("resources").mapping(resources, kind)
            missing = [r for r in ("cpu", "memory") if r not in values]
            if missing:
                line = line_of(resources, kind) if kind in resources else line_of(data, "resources")
                hit(rule, f"no {' or '.join(missing)} {kind[:-1]}", line)
        if container.kind == "container" and obj.kind not in _BATCH:
            for probe, rule in (
                ("livenessProbe", "k8s.liveness-probe"),
                ("readinessProbe", "k8s.readiness-probe"),
            ):
                if not data.get(probe):
                    hit(rule, f"no {probe}")
        written = place.get(data, "image", str) or ""
        if not written and container.runtime_image:
            continue
        image = kustomize.effective_image(written, obj.images)
        shown = f"{written} (kustomize: {image})" if image != written else written
        tag, digest = _image_parts(image)
        iline = line_of(data, "image")
        if not written:
            hit("k8s.image-tag", "no image", iline)
        elif not digest and (tag is None or tag == "latest"):
            hit(
                "k8s.image-tag",
                f"image {shown} is {'untagged (means latest)' if tag is None else 'tagged latest'}",
                iline,
            )
        if written and not digest:
            hit("k8s.image-digest", f"image {shown} is not pinned by digest", iline)
    return hits


def _persistent_volume_hits(obj: K8sObject) -> list[RuleHit]:
    """A PersistentVolume backed by hostPath gives whoever claims it the node's filesystem."""
    if obj.kind != "PersistentVolume":
        return []
    place = Place(obj.path, obj.label)
    spec = place.mapping(obj.data, "spec")
    host_path = place.at("spec").mapping(spec, "hostPath")
    if not host_path:
        return []
    message = f"PersistentVolume is a hostPath ({host_path.get('path', '?')}): a claim on it mounts the node's files"
    return [RuleHit("k8s.host-path", message, obj.path, line_of(spec, "hostPath"), obj.label)]


def _service_account_hit(obj: K8sObject, pod: PodTemplate, accounts: dict[Any, K8sObject]) -> list[RuleHit]:
    automount = pod.spec.get("automountServiceAccountToken")
    if automount is None:
        account = accounts.get((obj.namespace, pod.spec.get("serviceAccountName") or "default"))
        automount = account.data.get("automountServiceAccountToken") if account else None
    if automount is False:
        return []
    line = line_of(pod.spec, "automountServiceAccountToken") or line_of(pod.spec)
    return [
        RuleHit(
            "k8s.service-account-token",
            "automountServiceAccountToken is not false",
            obj.path,
            line,
            pod.subject,
        )
    ]


def _spec(obj: K8sObject) -> tuple[dict[str, Any], Place]:
    place = Place(obj.path, obj.label)
    return place.mapping(obj.data, "spec"), place.at("spec")


def _pdb_hit(obj: K8sObject, pdbs: list[K8sObject], hpas: list[K8sObject]) -> list[RuleHit]:
    """A replicated workload (more than one replica, or an HPA minimum above one) needs a PDB selecting its pods."""
    spec, place = _spec(obj)
    replicas = place.get(spec, "replicas", int)
    replicas = 1 if replicas is None else replicas
    for hpa in hpas:
        hpa_spec, hpa_place = _spec(hpa)
        ref = hpa_place.mapping(hpa_spec, "scaleTargetRef")
        if ref.get("kind") == obj.kind and ref.get("name") == obj.name and hpa.namespace == obj.namespace:
            replicas = max(replicas, hpa_place.get(hpa_spec, "minReplicas", int) or 1)
    if replicas <= 1:
        return []
    labels = obj.pod_labels()
    if any(p.namespace == obj.namespace and _selector_matches(p, labels) for p in pdbs):
        return []
    message = f"{replicas} replicas and no PodDisruptionBudget selects its pods"
    return [RuleHit("k8s.pdb", message, obj.path, line_of(spec, "replicas") or line_of(obj.data), obj.label)]


def _exemptions(obj: K8sObject) -> tuple[set[str], str | None, int | None]:
    place = Place(obj.path, obj.label)
    annotations = place.at("metadata").mapping(place.mapping(obj.data, "metadata"), "annotations")
    raw = annotations.get(EXEMPT)
    if not raw:
        return set(), None, None
    rules = {r.strip() for r in str(raw).replace(";", ",").split(",") if r.strip()}
    reason = str(annotations.get(EXEMPT_REASON) or "").strip() or None
    return rules, reason, line_of(annotations, EXEMPT)


def _selector_matches(pdb: K8sObject, labels: dict[str, str]) -> bool:
    """Whether the PDB's label selector selects pods with these labels (an empty selector counts as none)."""
    spec, place = _spec(pdb)
    selector = place.mapping(spec, "selector")
    if not selector:
        return False
    for name, value in place.at("selector").mapping(selector, "matchLabels").items():
        if labels.get(name) != value:
            return False
    for expr_place, expr in place.at("selector").items(selector, "matchExpressions"):
        key = str(expr.get("key"))
        present, values = key in labels, expr_place.get(expr, "values", list) or []
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not (present and labels.get(key) in values),
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(expr.get("operator")), True)
        if not matched:
            return False
    return True


def evaluate(objects: list[K8sObject], standard: str = DEFAULT_STANDARD) -> list[RuleHit]:
    """Pure part: parsed objects in, rule hits out (exemptions applied as reasons on the hits)."""
    pdbs = [o for o in objects if o.kind == "PodDisruptionBudget"]
    accounts = {(o.namespace, o.name): o for o in objects if o.kind == "ServiceAccount"}
    hpas = [o for o in objects if o.kind == "HorizontalPodAutoscaler"]
    hits: list[RuleHit] = []
    for obj in objects:
        obj_hits = _persistent_volume_hits(obj)
        templates = obj.pod_templates()
        for pod in templates:
            obj_hits += check_pod(pod, obj.path, standard)
            obj_hits += _service_account_hit(obj, pod, accounts)
            obj_hits += _container_hits(obj, pod)
        if templates and obj.kind in _REPLICATED:
            obj_hits += _pdb_hit(obj, pdbs, hpas)
        rules, reason, exempt_line = _exemptions(obj)
        if rules and not reason:
            hits.append(
                RuleHit(
                    "k8s.exemption-without-reason",
                    f"{EXEMPT} lists {', '.join(sorted(rules))} but "
                    f"there is no {EXEMPT_REASON}: the exemption is not honoured",
                    obj.path,
                    exempt_line,
                    obj.label,
                )
            )
        for h in obj_hits:
            if reason and h.rule in rules:
                h.exempt_reason = f"{EXEMPT}: {reason}"
        hits += obj_hits
    return hits


# --- kustomizations, rendered --------------------------------------------------------------------------------

_SUBJECT = re.compile(r"^(?P<kind>[^/]*)/(?P<name>.*?) \((?:document \d+|rendered from [^)]*)\)(?P<rest>.*)$")
_KUSTOMIZED_IMAGE = re.compile(r"image \S+ \(kustomize: ([^)]+)\)")
_RULE_FIELDS = {
    "k8s.run-as-non-root": ("runAsUser", "runAsNonRoot"),
    "k8s.read-only-root-fs": ("readOnlyRootFilesystem",),
    "k8s.no-privilege-escalation": ("allowPrivilegeEscalation",),
    "k8s.not-privileged": ("privileged",),
    "k8s.drop-all-capabilities": ("drop", "capabilities"),
    "k8s.added-capabilities": ("add",),
    "k8s.host-path": ("hostPath",),
    "k8s.resource-requests": ("requests", "resources"),
    "k8s.resource-limits": ("limits", "resources"),
    "k8s.liveness-probe": ("livenessProbe",),
    "k8s.readiness-probe": ("readinessProbe",),
    "k8s.image-tag": ("image",),
    "k8s.image-digest": ("image",),
    "k8s.pdb": ("replicas", "minReplicas"),
    "k8s.service-account-token": ("automountServiceAccountToken",),
    "k8s.exemption-without-reason": (EXEMPT,),
    "k8s.host-process": ("hostProcess",),
    "k8s.host-ports": ("hostPort",),
    "k8s.apparmor": ("appArmorProfile",),
    "k8s.selinux": ("seLinuxOptions",),
    "k8s.proc-mount": ("procMount",),
    "k8s.seccomp": ("seccompProfile",),
    "k8s.sysctls": ("sysctls",),
    "k8s.probe-host": ("host",),
    "k8s.volume-types": ("volumes",),
}


def _finding_key(hit: RuleHit) -> tuple[str, str, str, str, str, bool] | None:
    """The same finding on a file's object and on its rendered copy: rule, kind, name, container, message."""
    match = _SUBJECT.match(hit.subject)
    if not match:
        return None
    message = _KUSTOMIZED_IMAGE.sub(r"image \1", hit.message)
    return hit.rule, match["kind"], match["name"], match["rest"], message, bool(hit.exempt_reason)


def _explained(
    key: tuple[str, str, str, str, str, bool], raw: set[tuple[str, str, str, str, str, bool]]
) -> bool:
    """A rendered finding the files themselves already give (names may have gained a namePrefix / nameSuffix)."""
    rule, kind, name, rest, message, exempt = key
    return any(
        r == rule and k == kind and rs == rest and m == message and e == exempt and (n == name or n in name)
        for r, k, n, rs, m, e in raw
    )


def _fields(hit: RuleHit) -> tuple[str, ...]:
    """The manifest keys that set what a finding is about, to find them in patches."""
    if hit.rule == "k8s.host-namespaces":
        return (hit.message.split(":", 1)[0],)
    return _RULE_FIELDS.get(hit.rule, ())


def rendered_hits(
    found: Collected, raw_hits: list[RuleHit], ctx: GateContext, standard: str = DEFAULT_STANDARD
) -> tuple[list[RuleHit], dict[str, int], list[tuple[str, str, list[str]]]]:
    """Findings only the rendered kustomizations have, {kustomization: objects rendered}, and the
    kustomizations that could not be rendered (label, reason, patch files left unchecked)."""
    from gates.deploy.render import render

    raw = {key for key in map(_finding_key, raw_hits) if key is not None}
    hits: list[RuleHit] = []
    seen: set[tuple[Any, ...]] = set()
    rendered: dict[str, int] = {}
    failed: list[tuple[str, str, list[str]]] = []
    for label, kfile in found.kustomizations:
        root = str(Path(label).parent)
        layers = kustomize.layers_of(kfile.resolve())
        try:
            result = render(kfile.parent)  # kubectl kustomize; its failures are InputErrors
        except InputError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            failed.append((root, reason, sorted({str(p) for layer in layers for p in layer.patches})))
            continue
        for path, digest in result.files.items():
            ctx.inputs.setdefault(path, digest)
        objects: list[K8sObject] = []
        for n, document in enumerate(result.objects, start=1):
            objects += [o for o in walk_items(document, str(kfile), n)]
        for obj in objects:
            obj.rendered_by = root
        rendered[root] = len(objects)
        for hit in evaluate(objects, standard):
            key = _finding_key(hit)
            if key is not None and _explained(key, raw):
                continue
            hit.path, hit.line = kustomize.source_of(hit, layers, _fields(hit))
            unique = (key[:2] + key[3:] if key else (hit.rule, hit.subject, hit.message), hit.path, hit.line)
            if unique in seen:
                continue
            seen.add(unique)
            hit.properties["rendered_from"] = root
            hits.append(hit)
    return hits, rendered, failed


def check(section: Manifests | Mapping[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    settings = Manifests.parse(section, "security.manifests")
    standard = settings.standard
    found = gather(as_list(settings.paths), ctx, list(settings.exclude))
    objects, read, skipped = found.objects, found.read, found.skipped
    part = Part(CATEGORY)
    workloads = [o for o in objects if o.pod_templates()]
    if not workloads:
        part.checks.append(
            Check(
                CATEGORY,
                Status.ERROR,
                f"no workloads ({WORKLOAD_KINDS}) in {len(read)} file(s): nothing was checked",
            )
        )
        part.evidence = {"files": read, "skipped": skipped}
        return part
    hits = evaluate(objects, standard)
    extra, rendered, failed = rendered_hits(found, hits, ctx, standard)
    scope = f"Pod Security Standard {standard}; {len(workloads)} workload(s) among {len(objects)} object(s) in {len(read)} file(s)"
    if rendered:
        scope += f", and {len(rendered)} kustomization(s) rendered"
    rule_checks(part, hits + extra, CATEGORY, levels, scope)
    for root, reason, patches in failed:
        names = ", ".join(patches) if patches else "none"
        part.checks.append(
            Check(
                name=f"{CATEGORY}:kustomize {root}",
                status=Status.ERROR,
                value=len(patches),
                threshold="every kustomization rendered and checked",
                why=f"{root} could not be rendered ({reason}), so its patches and images were not checked "
                f"(patches: {names})",
                details={"reason": reason, "unchecked_patches": patches},
            )
        )
    part.summary["rendered"] = len(rendered)
    part.summary["standard"] = standard
    part.evidence = {
        "files": read,
        "skipped": skipped,
        "objects": [f"{o.label} in {o.path}" for o in objects],
        "rendered": rendered,
        "not_rendered": {root: reason for root, reason, _ in failed},
    }
    return part
