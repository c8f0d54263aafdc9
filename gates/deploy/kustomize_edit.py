"""Set images in a kustomization's text without touching anything else: the GitOps promotion's edit.

Why a text edit and not load-and-dump: the kustomization lives in a repository people read and review. A dump
from the parsed form loses every comment and re-indents every list, so the promotion's diff shows lines it did
not mean to change and the reasons people wrote beside them are gone. Round-trip YAML libraries keep comments
but still normalise indentation across the whole file (one sequence style for all lists). Here the file is
parsed once (PyYAML's node tree, which carries the position of every key and value), the few spans that must
change are replaced, and everything else stays byte for byte:

- an entry of `images:` with that name: its `newName` / `newTag` / `digest` values are replaced where they
  stand; a key that is no longer wanted (`newTag` when pinning by `digest`) is renamed in place to the one that
  is, so its line and comment keep their place; a key still missing is added under the entry's last key;
- no such entry: a new one after the last entry, in the list's own indentation;
- no `images:` at all: the key is added at the end of the file; `images:` with no value or a flow list
  (`images: []`) gets its entries in that style.

The result is checked: parsed again it must equal the parsed original with `set_image` applied (the semantics
live in one place). A layout this edit does not handle (a flow-style document, a value spread over lines,
anchors) falls back to writing the parsed form, reported by `in_place` False, never to a wrong file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gates.core import yamlsafe
from gates.core.errors import InputError

IMAGE_KEYS = ("newName", "newTag", "digest")
Edit = tuple[int, int, str]  # replace text[start:end] with the string


def split_reference(reference: str) -> dict[str, str]:
    """kustomize image fields for a reference: newName plus digest (name@sha256:...) or newTag (name:tag)."""
    name, at, digest = reference.partition("@")
    if at:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise InputError(f"image {reference!r}: expected NAME@sha256:<64 hex digits>")
        return {"newName": name, "digest": digest}
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return {"newName": name[:colon], "newTag": name[colon + 1 :]}
    raise InputError(f"image {reference!r}: give a tag or, better, a digest (NAME@sha256:...)")


def retarget(entry: dict[str, Any], fields: Mapping[str, str]) -> None:
    """Give an image entry exactly `fields` among the image keys, keys already there keeping their place."""
    for key in IMAGE_KEYS:
        if key not in fields:
            entry.pop(key, None)
    entry.update(fields)


def set_image(document: dict[str, Any], name: str, reference: str) -> bool:
    """Set image `name` in a kustomization's `images:`; True when the document changed."""
    fields = split_reference(reference)
    if document.get("images") is None:  # `images:` with no value: kustomize reads it as no images
        document["images"] = []
    images = document["images"]
    if not isinstance(images, list):
        raise InputError("kustomization: 'images' is not a list")
    entry = next((e for e in images if isinstance(e, dict) and e.get("name") == name), None)
    if entry is None:
        images.append({"name": name, **fields})
        return True
    before = dict(entry)
    retarget(entry, fields)
    return entry != before


class Unsupported(Exception):
    """A layout the in-place edit does not handle; the caller writes the parsed form instead."""


def scalar(value: str) -> str:
    """`value` as a block-context YAML scalar that reads back as that string: plain where it can be
    (`sha256:...`, as kustomize writes it), quoted where it must (a tag like 1.0 must stay a string)."""
    return yaml.safe_dump({"k": value}, width=2**31)[3:-1]


def flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=2**31).strip()


def line_end(text: str, index: int) -> int:
    found = text.find("\n", index)
    return len(text) if found < 0 else found


def content_end(node: Node) -> int:
    """Where a node's own text ends (a block collection's end mark lies after the comments that follow it)."""
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    if not node.value:
        raise Unsupported("an empty block collection")
    last = node.value[-1]
    return content_end(last[1] if isinstance(node, MappingNode) else last)


def find(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    return next(((k, v) for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key), None)


def entry_text(name: str, fields: Mapping[str, str], dash: int, key: int) -> str:
    """A new block entry: `- name: ...` at column `dash`, its keys at column `key`."""
    lines = [" " * dash + "-" + " " * (key - dash - 1) + f"name: {scalar(name)}"]
    lines += [" " * key + f"{k}: {scalar(v)}" for k, v in fields.items()]
    return "\n".join(lines)


def edit_entry(text: str, entry: MappingNode, fields: Mapping[str, str]) -> list[Edit]:
    """Edits that give an existing block entry exactly `fields` among newName / newTag / digest."""
    existing: dict[str, tuple[ScalarNode, Node]] = {}
    for k, v in entry.value:
        if isinstance(k, ScalarNode) and k.value in IMAGE_KEYS:
            if not isinstance(v, ScalarNode) or "\n" in text[k.start_mark.index : v.end_mark.index]:
                raise Unsupported(f"the value of {k.value} is not a one-line scalar")
            existing[k.value] = (k, v)
    edits: list[Edit] = []
    for key, value in fields.items():
        if key in existing and existing[key][1].value != value:
            v = existing[key][1]
            edits.append((v.start_mark.index, v.end_mark.index, scalar(value)))
    stale = [key for key in existing if key not in fields]
    # a stale tag becomes the digest (or the other way) where it stands: its line and comment keep their place
    missing = sorted((key for key in fields if key not in existing), key=lambda key: key == "newName")
    for old, new in zip(stale, missing):
        k, v = existing[old]
        edits.append((k.start_mark.index, v.end_mark.index, f"{new}: {scalar(fields[new])}"))
    for old in stale[len(missing) :]:
        k, v = existing[old]
        start = text.rfind("\n", 0, k.start_mark.index) + 1
        if text[start : k.start_mark.index].strip():  # the first key, on the `- ` line: up to the next key
            following = [p[0] for p in entry.value if p[0].start_mark.index > k.start_mark.index]
            if not following:
                raise Unsupported("a lone key on the entry's line")
            edits.append((k.start_mark.index, following[0].start_mark.index, ""))
        else:
            edits.append((start, min(line_end(text, v.end_mark.index) + 1, len(text)), ""))
    if missing[len(stale) :]:
        at = line_end(text, content_end(entry))
        column = entry.start_mark.column
        added = "".join(f"\n{' ' * column}{key}: {scalar(fields[key])}" for key in missing[len(stale) :])
        edits.append((at, at, added))
    return edits


def image_edits(text: str, root: MappingNode, name: str, fields: Mapping[str, str]) -> list[Edit]:
    """Edits that set image `name` to `fields` in the kustomization `text` whose node tree is `root`."""
    found = find(root, "images")
    if found is None:
        tail = text[int(root.end_mark.index) :]
        if any(line.strip() and not line.lstrip().startswith("#") for line in tail.splitlines()):
            raise Unsupported("content after the kustomization's mapping")
        column = root.value[0][0].start_mark.column if root.value else 0
        lead = "" if not text or text.endswith("\n") else "\n"
        block = entry_text(name, fields, column, column + 2)
        return [(len(text), len(text), f"{lead}{' ' * column}images:\n{block}\n")]
    key, images = found
    if isinstance(images, ScalarNode):
        if images.tag != "tag:yaml.org,2002:null" or images.value:
            raise Unsupported("images is an explicit scalar")
        at = line_end(text, key.end_mark.index)
        return [(at, at, "\n" + entry_text(name, fields, key.start_mark.column, key.start_mark.column + 2))]
    if not isinstance(images, SequenceNode):
        raise Unsupported("images is not a list")
    if images.flow_style:
        listed = yamlsafe.load(text[images.start_mark.index : images.end_mark.index])
        target = next((e for e in listed if isinstance(e, dict) and e.get("name") == name), None)
        if target is None:
            listed.append({"name": name, **fields})
        else:
            retarget(target, fields)
        return [(images.start_mark.index, images.end_mark.index, flow(listed))]
    for entry in images.value:
        named = find(entry, "name") if isinstance(entry, MappingNode) else None
        if named is None or not isinstance(named[1], ScalarNode) or named[1].value != name:
            continue
        if entry.flow_style:
            current = yamlsafe.load(text[entry.start_mark.index : entry.end_mark.index])
            retarget(current, fields)
            return [(entry.start_mark.index, entry.end_mark.index, flow(current))]
        return edit_entry(text, entry, fields)
    first = images.value[0]
    dash = images.start_mark.column
    column = first.start_mark.column if isinstance(first, MappingNode) and not first.flow_style else dash + 2
    at = line_end(text, content_end(images.value[-1]))
    return [(at, at, "\n" + entry_text(name, fields, dash, column))]


def apply(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def set_images_text(
    text: str, document: dict[str, Any], images: Mapping[str, str]
) -> tuple[str, list[str], bool]:
    """The kustomization `text` (parsed: `document`) with `images` (name -> reference) set: the new text, the
    NAME=REF that changed, and whether the edit was in place (False: written from the parsed form)."""
    expected = copy.deepcopy(document)
    changed = [(n, ref) for n, ref in images.items() if set_image(expected, n, ref)]
    changes = [f"{n}={ref}" for n, ref in changed]
    if not changed:
        return text, changes, True
    edited = text
    try:
        for name, reference in changed:
            root = yaml.compose(edited, Loader=yamlsafe.StrictLoader)
            if not isinstance(root, MappingNode) or root.flow_style:
                raise Unsupported("the kustomization is not a block mapping")
            edited = apply(edited, image_edits(edited, root, name, split_reference(reference)))
        if yamlsafe.load(edited) == expected:
            return edited, changes, True
    except (Unsupported, yaml.YAMLError):
        pass
    return yaml.safe_dump(expected, sort_keys=False), changes, False
