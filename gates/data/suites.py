"""Suites written for other validators, read as data-gate schema documents: a Great Expectations expectation
suite (JSON) or a pandera DataFrameSchema (YAML or JSON), told apart by their shape.

Why read them rather than ask for a rewrite: teams adopt a gate when the checks they trust keep working.
Why never skip: an expectation the gate cannot run is listed in the report with its reason, and the policy's
`unsupported` decides whether that warns or errors; a suite that silently lost half its rules would pass data
its authors meant to fail. Each converter (gates.data.suite_ge, gates.data.suite_pandera) fills a
SuiteBuilder; the result is an ordinary schema document, checked like a hand-written one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.errors import InputError

MAX_SUITE_BYTES = 16 << 20
_STRICTNESS = {"allow": 0, "warn": 1, "fail": 2}


@dataclass
class Suite:
    """A suite read as a schema document, plus what it holds that the gate does not run."""

    path: str
    kind: str  # "great_expectations" or "pandera"
    version: str | None
    schema: dict[str, Any]
    read: int  # expectations / checks read
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SuiteBuilder:
    """Collects columns, rule entries and table bounds while a converter walks a suite."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, Any]] = {}
        self.checks: list[dict[str, Any]] = []
        self.rows: dict[str, int] = {}
        self.extra_columns: str | None = None
        self.unsupported: list[str] = []
        self.notes: list[str] = []
        self.read = 0
        self._names: dict[str, int] = {}

    def column(self, name: str, **spec: Any) -> None:
        self.columns.setdefault(str(name), {}).update(spec)

    def rule(self, name: str, entry: dict[str, Any], severity: str = "fail") -> None:
        """A rule entry, named as the suite names it (a repeated name gets '#2', '#3', ...). A rule whose
        values no data-gate rule can take (a bad regex, a list of mappings) is listed as unsupported."""
        from gates.data.schema import check_schema_document

        count = self._names.get(name, 0) + 1
        self._names[name] = count
        full = {**entry, "name": name if count == 1 else f"{name}#{count}"}
        if severity != "fail":
            full["severity"] = severity
        try:
            check_schema_document({"checks": [full]}, name)
        except InputError as exc:
            self.skip(name, str(exc).removeprefix(f"{name}: ").removeprefix("checks[0]").lstrip(".: "))
            return
        self.checks.append(full)

    def bound_rows(self, low: Any = None, high: Any = None) -> None:
        if low is not None:
            self.rows["min"] = max(int(low), self.rows.get("min", 0))
        if high is not None:
            self.rows["max"] = min(int(high), self.rows.get("max", int(high)))

    def strict_columns(self, policy: str) -> None:
        if self.extra_columns is None or _STRICTNESS[policy] > _STRICTNESS[self.extra_columns]:
            self.extra_columns = policy

    def skip(self, what: str, why: str) -> None:
        self.unsupported.append(f"{what}: {why}")

    def schema(self) -> dict[str, Any]:
        document: dict[str, Any] = {"extra_columns": self.extra_columns or "allow"}
        if self.columns:
            document["columns"] = self.columns
        if self.checks:
            document["checks"] = self.checks
        if self.rows:
            document["rows"] = self.rows
        return document


def parse_suite_text(text: str, label: str) -> dict[str, Any]:
    """A suite file's text as a mapping: JSON first, else YAML (through the duplicate-key-safe loader)."""
    import yaml

    from gates.core import yamlsafe

    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        try:
            document = yamlsafe.load(text)
        except yamlsafe.DuplicateKeyError as exc:
            raise InputError(f"{label}: {exc.problems[0]}") from None
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            raise InputError(f"{label}: neither JSON nor YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise InputError(f"{label}: expected a Great Expectations suite or a pandera schema (a mapping)")
    return document


def read_suite(document: dict[str, Any], label: str) -> Suite:
    """Tell the suite's kind by its shape and convert it; anything else is an InputError naming the file."""
    from gates.data.schema import check_schema_document

    if "expectations" in document:
        from gates.data.suite_ge import convert

        kind = "great_expectations"
        meta = document["meta"] if isinstance(document.get("meta"), dict) else {}
        version = meta.get("great_expectations_version")
    elif "columns" in document and (
        "schema_type" in document or "version" in document or "checks" in document
    ):
        from gates.data.suite_pandera import convert  # type: ignore[assignment]

        kind, version = "pandera", document.get("version")
    else:
        raise InputError(
            f"{label}: not a Great Expectations suite (no 'expectations') or a pandera schema "
            "('schema_type: dataframe' with 'columns')"
        )
    builder = SuiteBuilder()
    convert(document, builder, label)
    schema = builder.schema()
    try:
        check_schema_document(schema, label)
    except InputError as exc:  # a value the suite holds that no rule can take (a bad regex, a wrong type)
        raise InputError(f"{exc} (as read from the {kind} suite)") from None
    return Suite(
        path=label,
        kind=kind,
        version=str(version) if version is not None else None,
        schema=schema,
        read=builder.read,
        unsupported=builder.unsupported,
        notes=builder.notes,
    )


def load_suite(path: Path) -> Suite:
    if not path.is_file():
        raise InputError(f"{path}: suite file not found")
    if path.stat().st_size > MAX_SUITE_BYTES:
        raise InputError(f"{path}: larger than {MAX_SUITE_BYTES >> 20} MB, not a suite")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return read_suite(parse_suite_text(text, str(path)), str(path))


def merge(base: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    """One document holding the rules of both: columns known to both keep the base's spec and get the
    suite's as a rule entry; row bounds narrow; the stricter extra-columns policy wins."""
    if base is None:
        return json.loads(json.dumps(extra))
    merged = json.loads(json.dumps(base))
    columns = merged.setdefault("columns", {})
    checks = merged.setdefault("checks", [])
    for name, spec in (extra.get("columns") or {}).items():
        if name not in columns:
            columns[name] = spec
            continue
        rules = {k: v for k, v in spec.items() if k not in ("required", "sensitive")}
        if rules:
            checks.append({"column": name, **rules, "name": f"column:{name}:suite"})
    checks.extend(extra.get("checks") or [])
    if not checks:
        merged.pop("checks")
    rows = {**(merged.get("rows") or {})}
    for bound, pick in (("min", max), ("max", min)):
        values = [r[bound] for r in (rows, extra.get("rows") or {}) if r.get(bound) is not None]
        if values:
            rows[bound] = pick(values)
    if rows:
        merged["rows"] = rows
    mine, theirs = merged.get("extra_columns", "warn"), extra.get("extra_columns", "allow")
    merged["extra_columns"] = mine if _STRICTNESS[mine] >= _STRICTNESS[theirs] else theirs
    return merged
