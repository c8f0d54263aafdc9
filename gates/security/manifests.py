"""Kubernetes manifest policy: every document of every YAML file under the given paths.

Per-object exemption: annotate the object (metadata.annotations) with
  mlgate.io/exempt: "k8s.read-only-root-fs, k8s.image-digest"
  mlgate.io/exempt-reason: "writes its model cache to the root filesystem until #123"
An exemption without a reason is not honoured and is itself a finding. Exempted findings stay in the report
(and in SARIF as suppressed), they only stop failing the gate.

Files that a kustomization.yaml names as patches are partial objects: they are not checked on their own.
Instead every kustomization among the files (a folder with kustomization.yaml: base, overlays) is rendered
with mlgate's own renderer (`gates.deploy.render`, or kubectl with `renderer: kubectl`) and the rendered
objects are checked too, so what a patch or an overlay's `images:` changes is what gets judged. A finding
that only the rendered objects have is reported at the patch line (or the `images:` entry) that sets the
field when one can be found, else at the kustomization file. A kustomization that cannot be rendered gives a
warning that names the patches left unchecked.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gates.core import yamlsafe
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, Status
from gates.security.common import Part, RuleHit, rule_checks

CATEGORY = "manifests"
EXEMPT = "mlgate.io/exempt"
EXEMPT_REASON = "mlgate.io/exempt-reason"

_POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_BATCH = {"Job", "CronJob"}
_REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
_ALLOWED_CAPS = {"NET_BIND_SERVICE"}


# --- YAML with line numbers (safe_load semantics: only the SafeLoader's plain types) ---------------------------


class LineDict(dict):
    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):
    line: int = 0
    item_lines: list[int]


class _LineLoader(yamlsafe.StrictLoader):
    """yamlsafe.StrictLoader that remembers where each mapping, key and sequence item starts (1-based lines)."""


def _map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        try:
            data.key_lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
        except TypeError:  # unhashable key: construct_mapping has already refused it
            pass


def _seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _seq)


def load_documents(text: str, label: str) -> list[Any]:
    """All documents of a YAML file, as dicts and lists that know their line numbers."""
    try:
        return list(yaml.load_all(text, Loader=_LineLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{label}:{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}") from None


def line_of(node: Any, key: str | None = None) -> int | None:
    if isinstance(node, LineDict):
        return node.key_lines.get(key, node.line) if key else node.line
    return getattr(node, "line", None)


# --- objects ---------------------------------------------------------------------------------------------------


@dataclass
class K8sObject:
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
        return str((self.data.get("metadata") or {}).get("name", "?"))

    @property
    def namespace(self) -> str | None:
        return (self.data.get("metadata") or {}).get("namespace")

    @property
    def label(self) -> str:
        where = f"rendered from {self.rendered_by}" if self.rendered_by else f"document {self.document}"
        return f"{self.kind}/{self.name} ({where})"

    def pod_spec(self) -> dict[str, Any] | None:
        node: Any = self.data
        for key in _POD_SPEC_PATHS.get(self.kind, ()):
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) and self.kind in _POD_SPEC_PATHS else None

    def pod_labels(self) -> dict[str, str]:
        if self.kind == "Pod":
            return dict((self.data.get("metadata") or {}).get("labels") or {})
        template = (self.data.get("spec") or {}).get("template") or {}
        return dict((template.get("metadata") or {}).get("labels") or {})


def _walk_items(data: Any, path: str, document: int) -> Iterator[K8sObject]:
    if not isinstance(data, dict) or "kind" not in data:
        return
    if str(data["kind"]).endswith("List") and isinstance(data.get("items"), list):
        for item in data["items"]:
            yield from _walk_items(item, path, document)
    else:
        yield K8sObject(path, document, data)


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
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise InputError(f"{raw}: no .yaml or .yml files in this directory")
            files += [(str(Path(raw) / p.relative_to(path)), p) for p in found]
        else:
            files.append((raw, path))
    patches, images = _kustomize([p for _, p in files])
    objects: list[K8sObject] = []
    read, skipped, kustomizations = [], [], []
    for label, path in files:
        if path.resolve() in patches or any(fnmatch.fnmatch(label, pattern) for pattern in exclude):
            skipped.append(label + (" (kustomize patch)" if path.resolve() in patches else " (excluded)"))
            continue
        ctx.path(str(path.resolve()))
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{label}: not UTF-8 text") from None
        for n, doc in enumerate(load_documents(text, label), start=1):
            for obj in _walk_items(doc, str(path), n):
                obj.images = images.get(path.resolve(), [])
                objects.append(obj)
        read.append(label)
        if path.name in _KUSTOMIZATION_NAMES:
            kustomizations.append((label, path))
    return Collected(objects, read, skipped, kustomizations)


def _load_kustomization(path: Path) -> dict[str, Any]:
    try:
        data = yamlsafe.load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _kustomize(files: list[Path]) -> tuple[set[Path], dict[Path, list[dict[str, Any]]]]:
    """Patch files to skip, and per manifest file the kustomize `images:` entries that rewrite its images.

    A file's own kustomization comes first, then every kustomization that includes it through `resources`
    (overlays including ../../base).
    """
    patches: set[Path] = set()
    own: dict[Path, list[dict[str, Any]]] = {}
    inherited: dict[Path, list[dict[str, Any]]] = {}
    parsed = {p.resolve(): _load_kustomization(p) for p in files if p.name in _KUSTOMIZATION_NAMES}

    def resources(kpath: Path, seen: frozenset[Path]) -> list[Path]:
        """Files a kustomization pulls in, following directories that hold their own kustomization."""
        data = parsed.get(kpath) or _load_kustomization(kpath)
        out: list[Path] = []
        for entry in data.get("resources") or []:
            if not isinstance(entry, str) or "://" in entry:
                continue
            target = (kpath.parent / entry).resolve()
            if target.is_dir():
                inner = next((target / n for n in _KUSTOMIZATION_NAMES if (target / n).is_file()), None)
                if inner is not None and inner.resolve() not in seen:
                    out += resources(inner.resolve(), seen | {inner.resolve()})
            else:
                out.append(target)
        return out

    for kpath, data in parsed.items():
        entries = list(data.get("patchesStrategicMerge") or [])
        entries += [p.get("path") for p in data.get("patches") or [] if isinstance(p, dict) and p.get("path")]
        entries += [p.get("path") for p in data.get("patchesJson6902") or [] if isinstance(p, dict)]
        patches |= {(kpath.parent / e).resolve() for e in entries if isinstance(e, str) and "\n" not in e}
        images = [i for i in data.get("images") or [] if isinstance(i, dict) and i.get("name")]
        if not images:
            continue
        for target in resources(kpath, frozenset({kpath})):
            (own if target.parent == kpath.parent else inherited).setdefault(target, []).extend(images)
    merged = {path: own.get(path, []) + inherited.get(path, []) for path in set(own) | set(inherited)}
    return patches, merged


def effective_image(image: str, overrides: list[dict[str, Any]]) -> str:
    """The image after kustomize's `images:` transformer (name -> newName, newTag, digest)."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    bare = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for entry in overrides:
        if entry.get("name") != bare:
            continue
        new_name = entry.get("newName") or bare
        if entry.get("digest"):
            return f"{new_name}@{entry['digest']}"
        tag = entry.get("newTag")
        return f"{new_name}:{tag}" if tag is not None else new_name + image[len(bare) :]
    return image


# --- rules -----------------------------------------------------------------------------------------------------


def _image_parts(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    return tag, digest or None


def _security_value(container: dict[str, Any], pod_ctx: dict[str, Any], key: str) -> Any:
    ctx = container.get("securityContext") or {}
    if key in ctx:
        return ctx[key]
    return pod_ctx.get(key)


def _container_hits(
    obj: K8sObject, spec: dict[str, Any], container: dict[str, Any], init: bool
) -> list[RuleHit]:
    hits: list[RuleHit] = []
    cname = container.get("name", "?")
    subject = f"{obj.label} {'init container' if init else 'container'} {cname}"
    pod_ctx = spec.get("securityContext") or {}
    sec = container.get("securityContext") or {}
    cline = line_of(container)
    sline = line_of(sec) if sec else cline

    def hit(rule: str, message: str, line: int | None = None) -> None:
        hits.append(RuleHit(rule, message, obj.path, line or cline, subject))

    non_root = _security_value(container, pod_ctx, "runAsNonRoot")
    user = _security_value(container, pod_ctx, "runAsUser")

    def where(key: str) -> int | None:
        if key in sec:
            return line_of(sec, key)
        return line_of(pod_ctx, key) if key in pod_ctx else sline

    if user == 0:
        hit("k8s.run-as-non-root", "runAsUser is 0 (root)", where("runAsUser"))
    elif non_root is not True:
        hit(
            "k8s.run-as-non-root",
            "runAsNonRoot is not true" if non_root is None else "runAsNonRoot is false",
            where("runAsNonRoot"),
        )
    if sec.get("readOnlyRootFilesystem") is not True:
        hit(
            "k8s.read-only-root-fs",
            "readOnlyRootFilesystem is not true",
            line_of(sec, "readOnlyRootFilesystem") if sec else cline,
        )
    if sec.get("allowPrivilegeEscalation") is not False:
        hit(
            "k8s.no-privilege-escalation",
            "allowPrivilegeEscalation is not false",
            line_of(sec, "allowPrivilegeEscalation") if sec else cline,
        )
    if sec.get("privileged") is True:
        hit("k8s.not-privileged", "privileged: true", line_of(sec, "privileged"))
    caps = sec.get("capabilities") or {}
    drop = [str(c).upper() for c in caps.get("drop") or []]
    if "ALL" not in drop:
        hit(
            "k8s.drop-all-capabilities",
            "capabilities.drop does not include ALL",
            line_of(caps, "drop") if caps else sline,
        )
    added = sorted({str(c).upper() for c in caps.get("add") or []} - _ALLOWED_CAPS)
    if added:
        hit("k8s.added-capabilities", f"adds {', '.join(added)}", line_of(caps, "add"))
    resources = container.get("resources") or {}
    for kind, rule in (("requests", "k8s.resource-requests"), ("limits", "k8s.resource-limits")):
        values = resources.get(kind) or {}
        missing = [r for r in ("cpu", "memory") if r not in values]
        if missing:
            hit(
                rule,
                f"no {' or '.join(missing)} {kind[:-1]}",
                line_of(resources, kind) if kind in resources else line_of(container, "resources"),
            )
    if not init and obj.kind not in _BATCH:
        for probe, rule in (
            ("livenessProbe", "k8s.liveness-probe"),
            ("readinessProbe", "k8s.readiness-probe"),
        ):
            if not container.get(probe):
                hit(rule, f"no {probe}")
    written = str(container.get("image") or "")
    image = effective_image(written, obj.images)
    if image != written:
        image = f"{written} (kustomize: {image})"
    tag, digest = _image_parts(effective_image(written, obj.images))
    iline = line_of(container, "image")
    if not image:
        hit("k8s.image-tag", "no image", iline)
    elif not digest and (tag is None or tag == "latest"):
        hit(
            "k8s.image-tag",
            f"image {image} is {'untagged (means latest)' if tag is None else 'tagged latest'}",
            iline,
        )
    if image and not digest:
        hit("k8s.image-digest", f"image {image} is not pinned by digest", iline)
    return hits


def _exemptions(obj: K8sObject) -> tuple[set[str], str | None, int | None]:
    meta = obj.data.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    raw = annotations.get(EXEMPT)
    if not raw:
        return set(), None, None
    rules = {r.strip() for r in str(raw).replace(";", ",").split(",") if r.strip()}
    reason = str(annotations.get(EXEMPT_REASON) or "").strip() or None
    return rules, reason, line_of(annotations, EXEMPT)


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return False  # an empty PDB selector matches nothing useful here
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def evaluate(objects: list[K8sObject]) -> list[RuleHit]:
    """Pure part: parsed objects in, rule hits out (exemptions applied as reasons on the hits)."""
    pdbs = [o for o in objects if o.kind == "PodDisruptionBudget"]
    accounts = {(o.namespace, o.name): o for o in objects if o.kind == "ServiceAccount"}
    hpas = [o for o in objects if o.kind == "HorizontalPodAutoscaler"]
    hits: list[RuleHit] = []
    for obj in objects:
        spec = obj.pod_spec()
        obj_hits: list[RuleHit] = []
        if spec is not None:
            spec_line = line_of(spec)
            for field in ("hostNetwork", "hostPID", "hostIPC"):
                if spec.get(field) is True:
                    obj_hits.append(
                        RuleHit(
                            "k8s.host-namespaces", f"{field}: true", obj.path, line_of(spec, field), obj.label
                        )
                    )
            for volume in spec.get("volumes") or []:
                if isinstance(volume, dict) and "hostPath" in volume:
                    obj_hits.append(
                        RuleHit(
                            "k8s.host-path",
                            f"volume {volume.get('name', '?')} is a hostPath "
                            f"({(volume.get('hostPath') or {}).get('path', '?')})",
                            obj.path,
                            line_of(volume, "hostPath"),
                            obj.label,
                        )
                    )
            automount = spec.get("automountServiceAccountToken")
            if automount is None:
                account = accounts.get((obj.namespace, spec.get("serviceAccountName") or "default"))
                automount = account.data.get("automountServiceAccountToken") if account else None
            if automount is not False:
                obj_hits.append(
                    RuleHit(
                        "k8s.service-account-token",
                        "automountServiceAccountToken is not false",
                        obj.path,
                        line_of(spec, "automountServiceAccountToken") or spec_line,
                        obj.label,
                    )
                )
            for init, key in ((True, "initContainers"), (False, "containers")):
                for container in spec.get(key) or []:
                    if isinstance(container, dict):
                        obj_hits += _container_hits(obj, spec, container, init)
            if obj.kind in _REPLICATED:
                replicas = (obj.data.get("spec") or {}).get("replicas", 1)
                for hpa in hpas:
                    ref = (hpa.data.get("spec") or {}).get("scaleTargetRef") or {}
                    if (
                        ref.get("kind") == obj.kind
                        and ref.get("name") == obj.name
                        and hpa.namespace == obj.namespace
                    ):
                        replicas = max(
                            replicas if isinstance(replicas, int) else 1,
                            (hpa.data.get("spec") or {}).get("minReplicas", 1),
                        )
                if isinstance(replicas, int) and replicas > 1:
                    labels = obj.pod_labels()
                    covered = any(
                        p.namespace == obj.namespace
                        and _selector_matches((p.data.get("spec") or {}).get("selector") or {}, labels)
                        for p in pdbs
                    )
                    if not covered:
                        obj_hits.append(
                            RuleHit(
                                "k8s.pdb",
                                f"{replicas} replicas and no PodDisruptionBudget selects its pods",
                                obj.path,
                                line_of(obj.data.get("spec"), "replicas") or line_of(obj.data),
                                obj.label,
                            )
                        )
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
_IMAGE_IN_MESSAGE = re.compile(r"^image (\S+)")
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


@dataclass
class _Layer:
    """One kustomization of a render: its file, parsed with line numbers, and the files it names."""

    kfile: Path
    data: dict[str, Any]
    patches: list[Path]
    resources: list[Path]


def _layers(kfile: Path, seen: frozenset[Path] = frozenset()) -> list[_Layer]:
    """The kustomization and every one it includes through resources, outermost first."""
    try:
        docs = load_documents(kfile.read_text(encoding="utf-8"), str(kfile))
    except (InputError, OSError, UnicodeDecodeError):
        return []
    data = docs[0] if docs and isinstance(docs[0], dict) else {}
    entries = [e for e in data.get("patchesStrategicMerge") or [] if isinstance(e, str) and "\n" not in e]
    entries += [
        e["path"] for e in data.get("patches") or [] if isinstance(e, dict) and isinstance(e.get("path"), str)
    ]
    layer = _Layer(kfile, data, [(kfile.parent / e).resolve() for e in entries], [])
    out = [layer]
    for entry in data.get("resources") or []:
        if not isinstance(entry, str) or "://" in entry:
            continue
        target = (kfile.parent / entry).resolve()
        inner = (
            next((target / n for n in _KUSTOMIZATION_NAMES if (target / n).is_file()), None)
            if target.is_dir()
            else None
        )
        if inner is not None and inner.resolve() not in seen:
            out += _layers(inner.resolve(), seen | {kfile.resolve()})
        elif target.is_file():
            layer.resources.append(target)
    return out


def _find_key(node: Any, keys: tuple[str, ...]) -> int | None:
    """The line of the first mapping key (or JSON patch op on such a key) among `keys`, depth first."""
    stack = [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            for key in keys:
                if key in item:
                    return line_of(item, key)
            path = item.get("path")
            if "op" in item and isinstance(path, str) and path.rsplit("/", 1)[-1] in keys:
                return line_of(item)
            stack = list(item.values()) + stack
        elif isinstance(item, list):
            stack = list(item) + stack
    return None


def _source_of(hit: RuleHit, layers: list[_Layer]) -> tuple[str, int | None]:
    """Where a finding only the rendered objects have comes from: the overlay `images:` entry for an image,
    else the first patch (outermost kustomization first), then resource file, that sets the field."""
    keys = _RULE_FIELDS.get(hit.rule, ())
    if hit.rule == "k8s.host-namespaces":
        keys = (hit.message.split(":", 1)[0],)
    image = _IMAGE_IN_MESSAGE.match(hit.message)
    if image and hit.rule in ("k8s.image-tag", "k8s.image-digest"):
        name = image.group(1).partition("@")[0]
        last = name.rsplit("/", 1)[-1]
        bare = name[: len(name) - len(last)] + last.split(":", 1)[0]
        for layer in layers:
            entries = layer.data.get("images") or []
            for index, entry in enumerate(entries):
                if isinstance(entry, dict) and bare in (entry.get("name"), entry.get("newName")):
                    lines = getattr(entries, "item_lines", [])
                    return str(layer.kfile), lines[index] if index < len(lines) else line_of(entry)
    for files in (
        [p for layer in layers for p in layer.patches],
        [p for layer in layers for p in layer.resources],
    ):
        for path in files:
            try:
                docs = load_documents(path.read_text(encoding="utf-8"), str(path))
            except (InputError, OSError, UnicodeDecodeError):
                continue
            line = _find_key(docs, keys) if keys else None
            if line is not None:
                return str(path), line
    return str(layers[0].kfile) if layers else hit.path, None


def rendered_hits(
    found: Collected, raw_hits: list[RuleHit], ctx: GateContext
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
        layers = _layers(kfile.resolve())
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
            objects += [o for o in _walk_items(document, str(kfile), n)]
        for obj in objects:
            obj.rendered_by = root
        rendered[root] = len(objects)
        for hit in evaluate(objects):
            key = _finding_key(hit)
            if key is not None and _explained(key, raw):
                continue
            hit.path, hit.line = _source_of(hit, layers)
            unique = (key[:2] + key[3:] if key else (hit.rule, hit.subject, hit.message), hit.path, hit.line)
            if unique in seen:
                continue
            seen.add(unique)
            hit.properties["rendered_from"] = root
            hits.append(hit)
    return hits, rendered, failed


def check(section: dict[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    paths = section["paths"] if isinstance(section["paths"], list) else [section["paths"]]
    found = gather(paths, ctx, list(section.get("exclude") or []))
    objects, read, skipped = found.objects, found.read, found.skipped
    part = Part(CATEGORY)
    workloads = [o for o in objects if o.pod_spec() is not None]
    if not workloads:
        part.checks.append(
            Check(
                CATEGORY,
                Status.ERROR,
                f"no workloads (Pod, Deployment, StatefulSet, DaemonSet, "
                f"Job, CronJob) in {len(read)} file(s): nothing was checked",
            )
        )
        part.evidence = {"files": read, "skipped": skipped}
        return part
    hits = evaluate(objects)
    extra, rendered, failed = rendered_hits(found, hits, ctx)
    scope = f"{len(workloads)} workload(s) among {len(objects)} object(s) in {len(read)} file(s)"
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
    part.evidence = {
        "files": read,
        "skipped": skipped,
        "objects": [f"{o.label} in {o.path}" for o in objects],
        "rendered": rendered,
        "not_rendered": {root: reason for root, reason, _ in failed},
    }
    return part
