"""Render manifests with `kubectl kustomize`: the one renderer, so what mlgate applies and checks is exactly
what `kubectl kustomize` renders.

mlgate used to carry its own subset of kustomize; it rendered some things wrongly (namePrefix missed Ingress
backends, RoleBinding subjects, a StatefulSet's serviceName; commonLabels missed volumeClaimTemplates), so the
objects applied differed from the ones `kubectl kustomize` shows. Now kustomize v5, which ships inside kubectl
(>= 1.27), renders everything:

- one kustomization folder without overrides: ``kubectl kustomize DIR``;
- several folders, plain manifest files, ``--image NAME=REF`` or ``--namespace``: a temporary kustomization
  wraps them (``resources:`` the folders, by relative path, and copies of the files, since kustomize reads
  files only inside its root) and sets ``images:`` / ``namespace:``, so an override does exactly what
  ``kustomize edit set image`` / ``set namespace`` in a wrapping overlay would. An ``--image`` name that no
  container uses is an error (checked on the render without overrides).

kubectl missing, or a kubectl whose kustomize is older than v5 (Debian's kubernetes-client 1.20 ships
kustomize v2, which renders differently), is an `InputError` (exit 2) saying so; the version check runs once
per process and kubectl binary. Every file of a rendered folder, and of every local base and component it
names (recursively: ``../base`` lies outside the overlay), is hashed into `Rendered.files` for the audit trail.
The kustomizations and the files and inline patches they name are read with `gates.core.yamlsafe` first: kustomize
keeps the first of two equal keys in a patch or a kustomization without a word; mlgate refuses them (file, line).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gates.core import yamlsafe
from gates.core.errors import InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_TIMEOUT = 120  # seconds for one `kubectl kustomize`
VERSION_TIMEOUT = 30  # seconds for `kubectl version --client`
MIN_KUSTOMIZE = 5
MAX_MESSAGE = 400  # characters of kubectl's error kept (kustomize may print whole objects as JSON)
NO_KUBECTL = (
    "kubectl not found on PATH: mlgate renders manifests with `kubectl kustomize` (kustomize v5 ships inside "
    "kubectl >= 1.27); install kubectl"
)

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
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
IMAGE_REF = re.compile(
    r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9_+.-]+:[0-9a-fA-F]+))?$"
)
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass
class Rendered:
    """The objects of one render and every file it read (with sha256, for the audit trail)."""

    objects: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)
    renderer: str = "kubectl"
    kustomize: str = ""  # kustomize's version, as `kubectl version` reports it

    def yaml(self) -> str:
        return "---\n".join(
            yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) for obj in self.objects
        )


def render(
    paths: str | Path | Iterable[str | Path],
    images: dict[str, str] | None = None,
    namespace: str | None = None,
) -> Rendered:
    """Render kustomization folders and plain manifest files with `kubectl kustomize`; ``images``
    ({name: new reference}) and ``namespace`` are laid on top by a wrapping kustomization."""
    sources = _sources(paths)
    kubectl, version = kustomize_binary()
    entries = [image_override(name, ref) for name, ref in (images or {}).items()]
    label = ", ".join(str(s) for s in sources)
    files: dict[str, str] = {}
    seen: set[Path] = set()
    for source in sources:
        if source.is_dir():
            _read_tree(source, files, seen)
        else:
            files[str(source)] = _sha256(_read(source))
            _strict_yaml(_text(source), str(source))
    with tempfile.TemporaryDirectory(prefix="mlgate-render-") as tmp:
        wrapper = _Wrapper(Path(tmp), sources)
        plain = sources[0] if len(sources) == 1 and sources[0].is_dir() else wrapper.write([], None)
        if entries:
            used = _image_names(_kustomize(kubectl, plain, label, wrapper))
            unused = [e["name"] for e in entries if e["name"] not in used]
            if unused:
                raise InputError(
                    f"--image {unused[0]}=...: no container in {label} uses an image named {unused[0]!r}"
                )
        root = wrapper.write(entries, namespace) if entries or namespace else plain
        objects = _kustomize(kubectl, root, label, wrapper)
    return Rendered(objects, files, renderer="kubectl", kustomize=version)


# ----------------------------------------------------------------------------------------- kubectl
def kustomize_binary() -> tuple[str, str]:
    """kubectl's path and its kustomize version; an InputError when kubectl is missing or too old."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise InputError(NO_KUBECTL)
    return kubectl, _kustomize_version(kubectl)


@functools.lru_cache(maxsize=8)
def _kustomize_version(kubectl: str) -> str:
    """`kubectl version --client -o json`'s kustomizeVersion, refused below v5 (cached: errors are not)."""
    proc = _run([kubectl, "version", "--client", "-o", "json"], VERSION_TIMEOUT, f"{kubectl} version")
    if proc.returncode != 0:
        raise InputError(f"{kubectl} version --client failed: {_kubectl_message(proc.stderr)}")
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        raise InputError(f"{kubectl} version --client -o json: not a JSON object; is this kubectl?")
    found = info.get("kustomizeVersion")
    client = info.get("clientVersion")
    client = client if isinstance(client, dict) else {}
    kubectl_version = str(client.get("gitVersion") or "of unknown version")
    if not isinstance(found, str) or not found:
        raise InputError(
            f"{kubectl} (kubectl {kubectl_version}) does not report a kustomize version (kubectl before 1.24 "
            f"ships kustomize v2 to v4): mlgate needs kustomize v{MIN_KUSTOMIZE} (kubectl >= 1.27)"
        )
    major = re.match(r"^v?(\d+)\.", found)
    if not major or int(major.group(1)) < MIN_KUSTOMIZE:
        raise InputError(
            f"{kubectl} (kubectl {kubectl_version}) ships kustomize {found}: mlgate needs kustomize "
            f"v{MIN_KUSTOMIZE} or later (kubectl >= 1.27), which renders overlays differently"
        )
    return found


def _run(argv: list[str], timeout: int, what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"{what} did not finish in {timeout} s") from None
    except OSError as exc:
        raise InputError(f"{what}: cannot run kubectl ({exc.strerror or exc})") from None


def _kustomize(kubectl: str, root: Path, label: str, wrapper: _Wrapper) -> list[dict[str, Any]]:
    proc = _run([kubectl, "kustomize", str(root)], KUSTOMIZE_TIMEOUT, f"{label}: kubectl kustomize")
    if proc.returncode != 0:
        message = wrapper.unwrap(_kubectl_message(proc.stderr))
        raise InputError(f"{label}: kubectl kustomize failed: {message}")
    try:
        docs = list(yamlsafe.load_all(proc.stdout))
    except yaml.YAMLError as exc:  # kustomize writes what it read: a strict-loader refusal lands here
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{label}: the output of kubectl kustomize is not valid YAML ({problem})") from None
    objects = [d for d in docs if d is not None]
    if not all(isinstance(d, dict) for d in objects):
        raise InputError(f"{label}: kubectl kustomize wrote a document that is not a Kubernetes object")
    return objects


_KLOG_BLOCK = re.compile(r"err=<\n(?P<body>.*?)\n\s*>", re.DOTALL)
_KLOG_QUOTED = re.compile(r'err="(?P<body>(?:[^"\\]|\\.)*)"')
_KLOG_PREFIX = re.compile(r"^[EWIF]\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] ")


def _kubectl_message(stderr: str) -> str:
    """kubectl's error on one line: the `err=` of its klog line (quoted or a `<` block), else the last line."""
    block = _KLOG_BLOCK.search(stderr)
    if block:
        text = " ".join(line.strip() for line in block.group("body").splitlines() if line.strip())
    else:
        quoted = _KLOG_QUOTED.search(stderr)
        if quoted:
            text = re.sub(
                r"\\(.)", lambda m: {"n": " ", "t": " "}.get(m.group(1), m.group(1)), quoted["body"]
            )
        else:
            lines = [line.strip() for line in stderr.splitlines() if line.strip()]
            text = _KLOG_PREFIX.sub("", lines[-1]) if lines else "no error message"
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# ----------------------------------------------------------------------------------------- wrapper
class _Wrapper:
    """A temporary kustomization over the user's folders and files; maps its paths back in error messages."""

    def __init__(self, root: Path, sources: list[Path]) -> None:
        self.root = root
        self.resources: list[str] = []
        self.names: dict[str, str] = {}  # path as the wrapper writes it -> the user's path
        for index, source in enumerate(sources):
            if source.is_dir():
                entry = os.path.relpath(source, root)  # kustomize refuses absolute paths as a new root
            else:
                entry = f"{index:03d}-{source.name}"
                shutil.copyfile(source, root / entry)
            self.resources.append(entry)
            self.names[entry] = str(source)

    def write(self, images: list[dict[str, str]], namespace: str | None) -> Path:
        spec: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": self.resources,
        }
        if namespace:
            spec["namespace"] = namespace
        if images:
            spec["images"] = images
        (self.root / "kustomization.yaml").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
        return self.root

    def unwrap(self, message: str) -> str:
        for entry in sorted(self.names, key=len, reverse=True):
            message = message.replace(f"{self.root}/{entry}", entry).replace(entry, self.names[entry])
        return message.replace(f"{self.root}/", "").replace(
            str(self.root), "(mlgate's wrapping kustomization)"
        )


def _sources(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise InputError("no manifests to render")
    out: list[Path] = []
    for item in items:
        path = Path(os.path.normpath(Path(item).expanduser().absolute()))
        if not path.exists():
            raise InputError(f"{item}: manifest directory or file not found")
        if path.is_file() and path.name in KUSTOMIZATION_FILES:
            path = path.parent  # a kustomization file stands for its folder
        elif not path.is_dir() and not path.is_file():
            raise InputError(f"{item}: not a directory or a regular file")
        out.append(path)
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _read_tree(directory: Path, files: dict[str, str], seen: set[Path]) -> None:
    """Hash every file under a kustomization folder and under each local folder its resources / bases /
    components name, recursively (a base is usually outside the overlay: ``../base``); read the kustomization
    and the YAML it names strictly."""
    real = directory.resolve()
    if real in seen:
        return
    seen.add(real)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            files[str(path)] = _sha256(_read(path))
    kfile = next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)
    if kfile is None:
        return  # kustomize says so
    docs = _strict_yaml(_text(kfile), str(kfile))
    spec = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else {}
    for key in ("resources", "bases", "components"):
        for entry in _entries(spec, key):
            if isinstance(entry, str) and "://" not in entry:
                target = Path(os.path.normpath(directory / entry))
                if target.is_dir():
                    _read_tree(target, files, seen)
                elif target.is_file():
                    _strict_yaml(_text(target), str(target))
    for key in ("patches", "patchesJson6902", "patchesStrategicMerge"):
        for index, entry in enumerate(_entries(spec, key)):
            named, inline = (
                (entry.get("path"), entry.get("patch")) if isinstance(entry, dict) else (entry, None)
            )
            if isinstance(named, str) and "\n" in named:  # patchesStrategicMerge takes inline patches too
                named, inline = None, named
            if isinstance(inline, str):
                _strict_yaml(inline, f"{kfile}: {key}[{index}]")
            if isinstance(named, str) and (directory / named).is_file():
                _strict_yaml(_text(directory / named), str(directory / named))


def _entries(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key)
    return value if isinstance(value, list) else []


def _text(path: Path) -> str:
    try:
        return _read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _strict_yaml(text: str, where: str) -> list[Any]:
    """mlgate reads YAML strictly (gates.core.yamlsafe): kustomize keeps the first of two equal keys in a patch or
    a kustomization without a word, so duplicates are refused here, naming the file and the line."""
    try:
        return yamlsafe.load_all(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}:{line} invalid YAML ({problem})") from None


# ----------------------------------------------------------------------------------------- images
def split_image(reference: str) -> tuple[str, str | None, str | None]:
    """'reg:5000/app:1.0@sha256:ab' -> ('reg:5000/app', '1.0', 'sha256:ab')."""
    match = IMAGE_REF.match(reference.strip())
    if not match or not match.group("name") or match.group("name").endswith(":"):
        raise InputError(f"image reference {reference!r} is not valid (expected name[:tag][@sha256:digest])")
    return match.group("name"), match.group("tag"), match.group("digest")


def image_override(name: str, reference: str) -> dict[str, str]:
    """``--image NAME=REF`` as a kustomize ``images:`` entry: REF is a full reference (``repo/app:1.1``,
    ``repo/app@sha256:..``) or ``:TAG`` / ``@DIGEST``."""
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


def _image_names(objects: list[dict[str, Any]]) -> set[str]:
    """The image names (no tag, no digest) of every container and init container, where kustomize's image
    transformer looks: any `containers` / `initContainers` list at any depth."""
    names: set[str] = set()
    for node in _walk(objects):
        for key in ("containers", "initContainers"):
            for container in node.get(key) or [] if isinstance(node.get(key), list) else []:
                image = container.get("image") if isinstance(container, dict) else None
                if isinstance(image, str):
                    names.add(_image_name(image))
    return names


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# ----------------------------------------------------------------------------------------- checks
def object_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')}/{meta.get('name')}" + (f" (namespace {namespace})" if namespace else "")


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
