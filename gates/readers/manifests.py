"""Kubernetes manifest reader: YAML and JSON documents that remember their line numbers, and typed field access
that turns a wrong shape into a one-line error naming file, line and field.

Why line numbers: every policy finding points at the line to change (annotations, SARIF). Why typed access: a
manifest is user input, and `resources:` written as a list or `securityContext:` as a string must be an input
error (exit 2) that says where, never a traceback deep in a rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gates.core import yamlsafe
from gates.core.errors import InputError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


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


def load_json_document(text: str, label: str) -> list[Any]:
    """A JSON manifest (one document, as kubectl reads a .json file), with line numbers where YAML can tell them."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f" line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{label}:{where}: invalid JSON ({str(exc).split(':')[0]})") from None
    except RecursionError:
        raise InputError(f"{label}: the JSON is nested too deeply to read") from None
    try:
        located = load_documents(text, label)  # JSON is YAML, except for tab indentation PyYAML refuses
    except InputError:
        located = []
    return located[:1] if len(located) == 1 else [data]


def read_documents(path: Path, label: str) -> list[Any]:
    """The documents of a manifest file: JSON for .json, else YAML (several documents, `---` separated)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text") from None
    if path.suffix == ".json":
        return load_json_document(text, label)
    return load_documents(text, label)


def line_of(node: Any, key: str | None = None) -> int | None:
    if isinstance(node, LineDict):
        return node.key_lines.get(key, node.line) if key else node.line
    return getattr(node, "line", None)


_KINDS = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "an integer"}


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for t, name in _KINDS.items() if isinstance(value, t)), type(value).__name__)


@dataclass(frozen=True)
class Place:
    """Where a field sits: the file, the object's label and the field path, for one-line input errors."""

    path: str
    what: str  # "Deployment/api (document 1)"
    field: str = ""  # "spec.template.spec.containers[0]"

    def at(self, key: str | int) -> Place:
        if isinstance(key, int):
            return Place(self.path, self.what, f"{self.field}[{key}]")
        return Place(self.path, self.what, f"{self.field}.{key}" if self.field else key)

    def get(self, node: Any, key: str, expected: type) -> Any:
        """node[key] when it has the expected type, None when absent or null; a wrong type is an InputError."""
        value = node.get(key) if isinstance(node, dict) else None
        if value is None or (
            isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        ):
            return value
        raise InputError(
            f"{self.path}:{line_of(node, key) or ''}: {self.what}: {self.at(key).field}: expected "
            f"{_KINDS.get(expected, expected.__name__)}, got {_kind_of(value)}"
        )

    def mapping(self, node: Any, key: str) -> dict[str, Any]:
        return self.get(node, key, dict) or {}

    def items(self, node: Any, key: str) -> list[tuple[Place, dict[str, Any]]]:
        """The mappings of a list field, each with its place; an item that is not a mapping is an InputError."""
        values = self.get(node, key, list) or []
        lines = getattr(values, "item_lines", [])
        out = []
        for index, item in enumerate(values):
            if not isinstance(item, dict):
                where = lines[index] if index < len(lines) else line_of(values)
                raise InputError(
                    f"{self.path}:{where or ''}: {self.what}: {self.at(key).at(index).field}: expected a mapping, "
                    f"got {_kind_of(item)}"
                )
            out.append((self.at(key).at(index), item))
        return out
