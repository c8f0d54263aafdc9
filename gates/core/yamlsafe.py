"""YAML written by users, read strictly: the one loader for policies, schemas, manifests and kubeconfigs.

`yaml.safe_load` keeps the last of two equal keys without a word (a second `thresholds:` silently replaces the
first), follows aliases without limit (a "billion laughs" document of a few hundred bytes expands to 10**9
nodes the moment anything walks it) and overflows the stack on deep nesting. `StrictLoader` is a SafeLoader that
refuses all three with a `yaml.YAMLError`, so every caller's existing error handling reports them:

- duplicate keys in any mapping, at any depth, each named with its line and the line of the first one
  (merge keys `<<` are exempt: overriding a merged value is what they are for);
- aliases that add more than `MAX_ALIAS_NODES` nodes to a document, or that refer to themselves;
- nesting deeper than the interpreter's recursion limit.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_ALIAS_NODES = 100_000  # nodes that aliases may add to one document beyond the ones written out
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """One or more mappings hold the same key twice; `duplicates` lists (key, line, first line), 1-based."""

    def __init__(self, duplicates: list[tuple[Any, int, int, Mark]]) -> None:
        ordered = sorted(duplicates, key=lambda d: (d[1], d[2]))
        self.duplicates = [(key, line, first) for key, line, first, _ in ordered]
        self.problems = [duplicate_message(*d) for d in self.duplicates]
        super().__init__(problem="; ".join(self.problems), problem_mark=ordered[0][3])


class AliasBombError(yaml.MarkedYAMLError):
    """Aliases that expand without bound (a "billion laughs" document) or refer to themselves."""


class NestingError(yaml.MarkedYAMLError):
    """Nesting deeper than the parser can follow."""


def duplicate_message(key: Any, line: int, first: int) -> str:
    shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "..."
    return f"duplicate key {shown} at line {line} (first at line {first})"


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader without duplicate keys, alias bombs or stack overflows (see the module docstring)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._duplicates: list[tuple[Any, int, int, Mark]] = []
        self._aliases = 0
        self._first_alias: Mark | None = None

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._first_alias is None:
                self._first_alias = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)

    def compose_document(self) -> Node | None:
        self._aliases, self._first_alias = 0, None
        try:
            node: Node | None = super().compose_document()
        except RecursionError:
            raise NestingError(
                problem="the YAML is nested too deeply to read", problem_mark=self.get_mark()
            ) from None
        if self._aliases and node is not None:
            _check_expansion(node, self._first_alias)
        return node

    def construct_document(self, node: Node) -> Any:
        self._duplicates = []
        try:
            data = super().construct_document(node)
        except RecursionError:
            raise NestingError(
                problem="the YAML is nested too deeply to read", problem_mark=node.start_mark
            ) from None
        if self._duplicates:
            duplicates, self._duplicates = self._duplicates, []
            raise DuplicateKeyError(duplicates)
        return data

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:  # SafeConstructor refuses unhashable keys with its own message
                    continue
                line = key_node.start_mark.line + 1
                if key in first:
                    self._duplicates.append((key, line, first[key], key_node.start_mark))
                else:
                    first[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _check_expansion(root: Node, first_alias: Mark | None) -> None:
    """Count the nodes the document holds once every alias is expanded; refuse too many, or a cycle."""
    size: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise AliasBombError(
                problem="an alias refers to the node that contains it (a recursive document)",
                problem_mark=node.start_mark,
            )
        open_nodes.add(key)
        distinct += 1
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise AliasBombError(
                    problem="an alias refers to the node that contains it (a recursive document)",
                    problem_mark=child.start_mark,
                )
            if id(child) not in size:
                stack.append((child, False))
    if size[id(root)] - distinct > MAX_ALIAS_NODES:
        raise AliasBombError(
            problem=(
                f"aliases expand this document by {size[id(root)] - distinct:,} nodes, more than the "
                f"{MAX_ALIAS_NODES:,} allowed (an alias bomb?): write the repeated parts out"
            ),
            problem_mark=first_alias or root.start_mark,
        )


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def load(stream: str | bytes) -> Any:
    """The one document of `stream` (None when empty), like yaml.safe_load but strict."""
    return yaml.load(stream, Loader=StrictLoader)  # StrictLoader is a SafeLoader


def load_all(stream: str | bytes) -> list[Any]:
    """Every document of a multi-document stream (`---` separated), like yaml.safe_load_all but strict."""
    return list(yaml.load_all(stream, Loader=StrictLoader))  # StrictLoader is a SafeLoader
