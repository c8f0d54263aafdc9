"""Kustomization files as plain data: which files are patches (partial objects, not checked on their own), which
`images:` entries rewrite a file's images, and where in the patches or `images:` a rendered field comes from.

Why separate from rendering: `kubectl kustomize` (gates.deploy.render) says what the overlay produces, but not which
line of which patch set a field; a finding must point at the line a person edits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gates.core import yamlsafe
from gates.core.errors import InputError
from gates.readers.manifests import line_of, load_documents
from gates.security.common import RuleHit

_IMAGE_IN_MESSAGE = re.compile(r"^image (\S+)")


def _load_kustomization(path: Path) -> dict[str, Any]:
    try:
        data = yamlsafe.load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def patches_and_images(files: list[Path]) -> tuple[set[Path], dict[Path, list[dict[str, Any]]]]:
    """Patch files to skip, and per manifest file the kustomize `images:` entries that rewrite its images.

    A file's own kustomization comes first, then every kustomization that includes it through `resources`
    (overlays including ../../base).
    """
    patches: set[Path] = set()
    own: dict[Path, list[dict[str, Any]]] = {}
    inherited: dict[Path, list[dict[str, Any]]] = {}
    parsed = {p.resolve(): _load_kustomization(p) for p in files if p.name in KUSTOMIZATION_NAMES}

    def resources(kpath: Path, seen: frozenset[Path]) -> list[Path]:
        """Files a kustomization pulls in, following directories that hold their own kustomization."""
        data = parsed.get(kpath) or _load_kustomization(kpath)
        out: list[Path] = []
        for entry in data.get("resources") or []:
            if not isinstance(entry, str) or "://" in entry:
                continue
            target = (kpath.parent / entry).resolve()
            if target.is_dir():
                inner = next((target / n for n in KUSTOMIZATION_NAMES if (target / n).is_file()), None)
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


@dataclass
class Layer:
    """One kustomization of a render: its file, parsed with line numbers, and the files it names."""

    kfile: Path
    data: dict[str, Any]
    patches: list[Path]
    resources: list[Path]


def layers_of(kfile: Path, seen: frozenset[Path] = frozenset()) -> list[Layer]:
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
    layer = Layer(kfile, data, [(kfile.parent / e).resolve() for e in entries], [])
    out = [layer]
    for entry in data.get("resources") or []:
        if not isinstance(entry, str) or "://" in entry:
            continue
        target = (kfile.parent / entry).resolve()
        inner = (
            next((target / n for n in KUSTOMIZATION_NAMES if (target / n).is_file()), None)
            if target.is_dir()
            else None
        )
        if inner is not None and inner.resolve() not in seen:
            out += layers_of(inner.resolve(), seen | {kfile.resolve()})
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


def source_of(hit: RuleHit, layers: list[Layer], keys: tuple[str, ...]) -> tuple[str, int | None]:
    """Where a finding only the rendered objects have comes from: the overlay `images:` entry for an image,
    else the first patch (outermost kustomization first), then resource file, that sets the field."""
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
