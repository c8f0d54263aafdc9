"""The JSON Schema of gates.yml, generated from the settings models.

The policy is validated against this generated schema before the models are built, so the errors users see
(one line per problem, by key path) and what editors check (yaml-language-server) come from one document.
Pydantic's raw output is tidied into the shape a person reads: no generated titles, an unset optional value is
absent rather than `null`, and `str | int` becomes `"type": ["string", "integer"]`, which also keeps each
error to one sentence (`expected a string or a whole number`) instead of one per union branch.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gates.core.settings import base

SCHEMA_ID = "urn:mlgate:gates-policy:v1"
REF = "#/$defs/{model}"


@functools.lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The full JSON Schema of gates.yml: the top-level keys, then each section in the registry's order."""
    from gates.core.settings import MODELS, section_names

    models: list[type[BaseModel]] = [base.TopLevel, *MODELS.values()]
    _, generated = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    definitions: dict[str, Any] = {name: tidy(node) for name, node in generated.get("$defs", {}).items()}
    top = definitions.pop(base.TopLevel.__name__)
    properties: dict[str, Any] = dict(top["properties"])
    for section in section_names():
        if section not in MODELS:
            raise RuntimeError(f"section {section!r} has no settings model in gates.core.settings.MODELS")
        properties[section] = definitions.pop(MODELS[section].__name__)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "mlgate policy (gates.yml)",
        "type": "object",
        "additionalProperties": False,
        "required": top.get("required", ["version"]),
        "properties": properties,
        "$defs": dict(sorted(definitions.items())),
    }


_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")


def tidy(node: Any) -> Any:
    """Pydantic's JSON Schema, in the hand-written shape (see the module docstring)."""
    if isinstance(node, list):
        return [tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
            out[key] = {name: tidy(child) for name, child in value.items()}
        else:
            out[key] = tidy(value)
    if out.get("default", 0) is None:
        del out["default"]
    elif isinstance(out.get("default"), dict):
        out["default"] = _without_nulls(out["default"])
    if "anyOf" in out:
        _merge_union(out)
    if "enum" in out or "const" in out:
        out.pop("type", None)
    return out


def _without_nulls(value: Any) -> Any:
    """A default object as a person writes it: the unset (null) keys left out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _merge_union(node: dict[str, Any]) -> None:
    """Drop the `null` branch of an optional value (null is not a value users write; leaving a key out is), and
    fold a union of bare types into one type list."""
    branches = [b for b in node["anyOf"] if b != {"type": "null"}]
    if not branches:
        return
    if all(set(b) == {"type"} and b["type"] in _TYPES for b in branches) and len(branches) > 1:
        del node["anyOf"]
        types = [b["type"] for b in branches]
        kept = [t for t in types if not (t == "integer" and "number" in types)]  # a number covers it
        node["type"] = kept[0] if len(kept) == 1 else kept
    elif len(branches) == 1:
        del node["anyOf"]
        only = branches[0]
        for key, value in only.items():
            node.setdefault(key, value)
        if "enum" in node or "const" in node:
            node.pop("type", None)
    else:
        node["anyOf"] = branches


def validator(schema: dict[str, Any] | None = None) -> Any:
    """A JSON Schema validator of the policy (or of `schema`, a part of it) that reads `integer` as the models
    do: JSON Schema counts 2.0 as an integer, pydantic's strict int does not, and a document the schema passes
    must not then fail in the model with a second, differently worded error."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = validators.extend(Draft202012Validator, type_checker=checker)
    return strict(policy_schema() if schema is None else schema)
