"""What a pickle global really names, found from source code without importing anything.

pickle's `find_class(module, qualname)` imports `module` and then follows `qualname` attribute by attribute,
so a global names whatever that module *binds* under that name, not something defined there:
`('sklearn', 'os')` is the os module (sklearn/__init__.py runs `import os`), `('sklearn', 'os.system')` is
os.system, and `('sklearn.utils._joblib', 'load')` is joblib.load. A prefix allow list that trusts
"everything under sklearn" is only sound when it knows what each name is bound to.

`origins(module, name)` answers that for one top-level name by locating the module's file the way the import
system would (importlib's PathFinder, which runs no module code) and reading its top-level statements:

- `class` / `def`: defined there;
- `from X import a as name`: a re-export of (X, a), followed (also relative imports and `import *`);
- `import X as name`, or a submodule of the package: a module object;
- assignments (`name = other.thing`), a module-level `__getattr__`, or no binding at all: not known.

Compiled extension modules cannot be read: their names count as defined there. Every binding is returned
(a `try: from a import x / except ImportError: from b import x` gives both), and callers judge the worst.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import sys
from dataclasses import dataclass
from pathlib import Path

_MAX_DEPTH = 8


@dataclass(frozen=True)
class Origin:
    """One way a module binds a name.

    kind: defined (class or def in Python source), compiled (an extension module: not readable),
    reexport (`target` is the (module, name) it comes from), module (`target[0]` is the module it is),
    assigned (any other statement binds it), lazy (not bound, but the module has a __getattr__),
    unbound (the source binds no such name), missing (the module is not installed where mlgate runs).
    """

    kind: str
    target: tuple[str, str] | None = None

    def describe(self, module: str, name: str) -> str:
        if self.kind == "reexport" and self.target:
            return f"{module}.{name} is {self.target[0]}.{self.target[1]} (imported there)"
        if self.kind == "module" and self.target:
            return f"{module}.{name} is the module {self.target[0]}"
        return {
            "assigned": f"{module}.{name} is assigned, not defined, in {module}: what it holds is not known",
            "lazy": f"{module} makes {name} on demand (module __getattr__): what it is is not known",
            "unbound": f"{module} binds no {name} in its source",
            "missing": f"{module} is not installed where mlgate runs, so what {name} names cannot be checked",
        }.get(self.kind, f"{module}.{name}")


@functools.lru_cache(maxsize=2048)
def _spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """The module's spec as the path-based import system finds it; no module code runs."""
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None
    parent, _, _ = module.rpartition(".")
    search: list[str] | None = None
    if parent:
        parent_spec = _spec(parent)
        if parent_spec is None or not parent_spec.submodule_search_locations:
            return None
        search = list(parent_spec.submodule_search_locations)
    try:
        return importlib.machinery.PathFinder.find_spec(module, search)
    except (ImportError, ValueError, OSError, SyntaxError):
        return None


def _source_kind(module: str) -> tuple[str, Path | None]:
    """("source", file) for Python source, ("compiled", None), ("namespace", None) or ("missing", None)."""
    if module in sys.builtin_module_names:
        return "compiled", None
    spec = _spec(module)
    if spec is None:
        return "missing", None
    origin = spec.origin
    if not origin or origin == "namespace" or not spec.has_location:
        return ("namespace", None) if spec.submodule_search_locations is not None else ("compiled", None)
    if origin.endswith(".py"):
        return "source", Path(origin)
    return "compiled", None


@dataclass
class _Bindings:
    names: dict[str, list[Origin]]
    stars: list[str]
    getattr_hook: bool


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(p for p in (*parts, target or "") if p)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at import: the module body and the blocks of its if / try / with / for / while."""
    out: list[ast.stmt] = []
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        out.append(node)
        blocks: list[list[ast.stmt]] = []
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            blocks = [node.body, node.orelse]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            blocks = [node.body]
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            blocks = [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]  # type: ignore[attr-defined]
        for block in reversed(blocks):
            stack.extend(reversed(block))
    return out


def _module_level_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node that runs at import, not inside a function, lambda or class body."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for element in node.elts for n in _targets(element)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


@functools.lru_cache(maxsize=512)
def _bindings(module: str, path: Path) -> _Bindings | None:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    is_package = path.name == "__init__.py"
    names: dict[str, list[Origin]] = {}
    stars: list[str] = []
    hook = False

    def bind(name: str, origin: Origin) -> None:
        names.setdefault(name, []).append(origin)

    for node in _top_level(tree.body):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node.level, node.module)
            for alias in node.names:
                if alias.name == "*":
                    stars.append(source)
                elif source:
                    bind(alias.asname or alias.name, Origin("reexport", (source, alias.name)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bind(alias.asname, Origin("module", (alias.name, "")))
                else:
                    first = alias.name.split(".")[0]
                    bind(first, Origin("module", (first, "")))
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            bind(node.name, Origin("defined"))
            hook = hook or node.name == "__getattr__"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for name in _targets(target):
                    bind(name, Origin("assigned"))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            for name in _targets(node.target):
                bind(name, Origin("assigned"))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                for name in _targets(item.optional_vars) if item.optional_vars is not None else []:
                    bind(name, Origin("assigned"))
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                if handler.name:
                    bind(handler.name, Origin("assigned"))
    for inner in _module_level_nodes(tree):
        if isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name):
            bind(inner.target.id, Origin("assigned"))
    for anywhere in ast.walk(tree):
        if isinstance(anywhere, ast.Global):
            for name in anywhere.names:  # `global name` inside a function: assigned when that function runs
                bind(name, Origin("assigned"))
    return _Bindings(names, stars, hook)


def origins(module: str, name: str, _depth: int = 0) -> list[Origin]:
    """Every way `module` binds the top-level `name` (see the module docstring)."""
    kind, path = _source_kind(module)
    if kind == "missing":
        return [Origin("missing")]
    if kind == "compiled":
        return [Origin("compiled")]
    found: list[Origin] = []
    bindings = _bindings(module, path) if path is not None else None
    if kind == "source" and bindings is None:
        return [Origin("assigned")]  # source that does not parse here: nothing can be said about it
    if bindings is not None:
        found += bindings.names.get(name, [])
        if not found and _depth < _MAX_DEPTH:
            for star in bindings.stars:
                if any(o.kind != "unbound" and o.kind != "missing" for o in origins(star, name, _depth + 1)):
                    found.append(Origin("reexport", (star, name)))
    spec = _spec(module)
    if (
        spec is not None
        and spec.submodule_search_locations is not None
        and _spec(f"{module}.{name}") is not None
    ):
        found.append(Origin("module", (f"{module}.{name}", "")))
    if not found:
        found.append(Origin("lazy" if bindings is not None and bindings.getattr_hook else "unbound"))
    return found
