"""The policy file (`gates.yml`): loading, validation, and errors a person can act on.

The JSON Schema is generated from the typed settings (gates.core.settings); a document is first checked against
that schema, which lists every problem at once by key path, and then built into the settings models. Checking
with the schema the editors also use keeps the command line and the editor in agreement about what is valid.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gates.core import yamlsafe
from gates.core.errors import InputError, log_safe, problems_message
from gates.core.registry import GATES

if TYPE_CHECKING:
    from gates.core.settings import Section


def policy_schema() -> dict[str, Any]:
    """The full JSON Schema of gates.yml (generated from the settings models; built once per process).

    Imported on first use: building the models costs a few hundred milliseconds that `mlgate --help` and
    commands without a policy need not pay."""
    from gates.core.settings.schema import policy_schema as generated

    return generated()


@dataclass
class Policy:
    """A validated policy document and the folder its relative paths start from."""

    data: dict[str, Any]
    base_dir: Path
    source: str

    def section(self, name: str) -> dict[str, Any] | None:
        value = self.data.get(name)
        return copy.deepcopy(value) if value is not None else None

    def gate_sections(self) -> list[str]:
        return [name for name, spec in GATES.items() if spec.offline and name in self.data]


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; any problem is an InputError naming the file and the key."""
    label = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: policy file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read policy file ({exc.strerror})") from None
    try:
        data = yamlsafe.load(text)
    except yamlsafe.DuplicateKeyError as exc:
        raise InputError(problems_message(label, exc.problems)) from None
    except yaml.YAMLError as exc:
        raise InputError(yaml_error_message(label, exc)) from None
    if data is None:
        raise InputError(f"{label}: the policy file is empty (expected a mapping with 'version: 1')")
    validate(data, label)
    return Policy(data=data, base_dir=path.resolve().parent, source=label)


def empty_policy(base_dir: Path) -> Policy:
    """The policy used when only command-line flags are given."""
    return Policy(data={"version": 1}, base_dir=base_dir, source="command line")


def yaml_error_message(label: str, exc: yaml.YAMLError) -> str:
    """`label: line L, column C: problem` for a YAML error, or `label: problem` when it has no position."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem = getattr(exc, "problem", None) or "invalid YAML"
    return f"{label}:{where} {problem}"


def validate(data: Any, label: str) -> None:
    """Raise InputError listing every problem, by key path: `label: key.path: what was expected`.

    One problem makes one line; several make a count line and then one `  - key.path: ...` line each."""
    found = problems(data)
    if found:
        raise InputError(problems_message(label, found))


def section_settings(name: str, data: dict[str, Any], label: str) -> Section | dict[str, Any]:
    """A section's typed settings (or its mapping, for a section without a model yet), validated as part of a
    policy document: InputError `label: name.key: what was expected` for every problem."""
    from pydantic import ValidationError

    from gates.core.settings import build
    from gates.core.settings.errors import pydantic_problems

    validate({"version": 1, name: data}, label)
    try:
        return build(name, data)
    except ValidationError as exc:
        raise InputError(problems_message(label, pydantic_problems(exc, (name,)))) from None


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    """The policy's JSON Schema validator, built once per process: a run checks the whole document and then
    each gate's section again (section_settings), and every build extends the validator class anew."""
    from gates.core.settings.schema import validator

    return validator()


def problems(data: Any) -> list[str]:
    """Every schema violation in a policy document, one line each (`key.path: what was expected`), in key order."""
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator)
    )
    found: list[str] = []
    for error in errors:
        text = log_safe(describe_error(_most_specific(error)))
        if text not in found:
            found.append(text)
    return found


_BRANCH_MISMATCH = ("type", "const", "enum")


def _most_specific(error: Any) -> Any:
    """For oneOf / anyOf failures, descend to the branch error that says most: a branch whose type the value
    has (its error is about the content), else the error itself, whose message then lists every branch."""
    from jsonschema.exceptions import best_match

    if not error.context:
        return error
    depth = len(error.absolute_path)
    fitting = [
        e for e in error.context if e.validator not in _BRANCH_MISMATCH or len(e.absolute_path) > depth
    ]
    return _most_specific(best_match(fitting)) if fitting else error


def key_path(parts: Any) -> str:
    """`metrics.thresholds.f1.min`, `security.vulns.ignore[0].id`: a location as the policy writes it."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def describe_error(error: Any) -> str:
    """One readable sentence for a jsonschema error: where, what was expected, what was found."""
    where = key_path(error.absolute_path)
    prefix = f"{where}: " if where else ""
    schema, found = error.schema if isinstance(error.schema, dict) else {}, error.instance
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(found) - set(allowed)) if isinstance(found, dict) else []
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"{prefix}unknown key {', '.join(repr(k) for k in extra)}{hint}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{prefix}missing required key '{missing}'"
    if kind in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{prefix}expected {_expected_value(schema)}, got {_show(found)}"
    if kind == "enum":
        options = ", ".join(repr(v) for v in schema["enum"])
        return f"{prefix}expected one of {options}, got {_show(found)}"
    if kind == "const":
        return f"{prefix}expected {schema['const']!r}, got {_show(found)}"
    if kind in ("minProperties", "minItems", "minLength"):
        return f"{prefix}must not be empty"
    if kind in ("oneOf", "anyOf"):
        branches = [_expected_branch(b) for b in schema.get(kind, [])]
        return f"{prefix}expected {' or '.join(dict.fromkeys(branches))}, got {_show(found)}"
    return f"{prefix}{error.message}"


def _expected_branch(branch: Any) -> str:
    """What one branch of a oneOf / anyOf accepts, in words (`'auto'`, `a list`, `true or false`)."""
    if not isinstance(branch, dict):
        return "a value"
    if "const" in branch:
        return _show(branch["const"])
    if "enum" in branch:
        return ", ".join(_show(v) for v in branch["enum"])
    if "$ref" in branch:
        name = str(branch["$ref"]).rsplit("/", 1)[-1]
        return {"path": "a path", "paths": "a path or a list of paths"}.get(name, "a mapping")
    return _expected_value(branch)


def _expected_value(schema: dict[str, Any]) -> str:
    types = schema.get("type", "value")
    types = types if isinstance(types, list) else [types]
    words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        left = "(" if "exclusiveMinimum" in schema else "["
        right = ")" if "exclusiveMaximum" in schema else "]"
        return f"{words} in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"{words} {'>' if 'exclusiveMinimum' in schema else '>='} {low:g}"
    if high is not None:
        return f"{words} {'<' if 'exclusiveMaximum' in schema else '<='} {high:g}"
    return words


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
