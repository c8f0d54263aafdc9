"""One invocation of mlgate: the policy, where reports go, and the run of one or more gates.

Every gate runs even if another fails or errs, and all formats are written before the exit code is chosen,
so a failing gate still leaves its full report behind.
"""

from __future__ import annotations

import copy
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.context import GateContext
from gates.errors import InfraError, InputError
from gates.policy import Policy, empty_policy, load_policy, validate
from gates.registry import GATES
from gates.result import GateResult, error_result, exit_code


@dataclass
class Session:
    policy_path: Path | None = None
    report_dir: Path | None = None
    audit_log: Path | None = None
    audit: bool = True
    _policy: Policy | None = field(default=None, init=False)

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = load_policy(self.policy_path) if self.policy_path else empty_policy(Path.cwd())
        return self._policy

    def resolved_report_dir(self) -> Path:
        if self.report_dir:
            return self.report_dir
        configured = self.policy.data.get("report_dir")
        return (
            Path(os.path.normpath(self.policy.base_dir / configured))
            if configured
            else Path("mlgate-reports")
        )

    def audit_path(self) -> Path | None:
        settings = self.policy.data.get("audit") or {}
        if not self.audit or settings.get("enabled") is False:
            return None
        if self.audit_log:
            return self.audit_log
        if settings.get("path"):
            return Path(os.path.normpath(self.policy.base_dir / settings["path"]))
        return self.resolved_report_dir() / "audit.jsonl"

    def section(self, name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The policy's section for a gate, with command-line values laid over it and the result validated."""
        merged = deep_merge(self.policy.section(name) or {}, overrides or {})
        source = self.policy.source
        label = (
            source
            if not overrides
            else ("command-line flags" if source == "command line" else f"{source} + command-line flags")
        )
        validate({"version": 1, name: merged}, label)
        return merged

    def context(self) -> GateContext:
        return GateContext(
            base_dir=self.policy.base_dir,
            report_dir=self.resolved_report_dir(),
            defaults=self.policy.data.get("defaults") or {},
            source=self.policy.source,
        )

    def run_gates(self, requests: list[tuple[str, dict[str, Any]]]) -> int:
        """Run the named gates, write every format, append to the audit trail, return the exit code."""
        ctx = self.context()
        results: list[GateResult] = []
        for name, overrides in requests:
            inputs_before = dict(ctx.inputs)
            ctx.inputs = {}
            try:
                section = self.section(name, overrides)
                results.append(GATES[name].runner()(section, ctx))
            except InputError as exc:
                results.append(error_result(name, str(exc), 2))
            except InfraError as exc:
                results.append(error_result(name, str(exc), 3))
            results[-1].evidence.setdefault("inputs", dict(ctx.inputs))
            ctx.inputs = {**inputs_before, **ctx.inputs}
        return self.finish(results)

    def finish(self, results: list[GateResult]) -> int:
        """Render and record results from any command (gates or delivery), then choose the exit code.

        The audit record binds the JSON report just written; its new head hash becomes the step output
        ``audit-head`` and the line ``mlgate: audit trail PATH head HASH`` printed just above the verdict
        (stdout: stderr stays empty on success and one line on an error)."""
        from gates.formats import Output, write_all
        from gates.formats.console import render

        code = exit_code(results)
        out = Output(report_dir=self.resolved_report_dir())
        write_all(results, out, code)
        table = io.StringIO()
        render(results, table, colour=sys.stdout.isatty())
        audit_line = ""
        try:
            audit_path = self.audit_path()
            if audit_path:
                from gates.audit import append_results
                from gates.formats.outputs import write_values

                head = append_results(
                    audit_path, results, self.policy, report=out.report_dir / f"{out.name}.json"
                )
                if head:
                    audit_line = f"mlgate: audit trail {audit_path} head {head}\n"
                    try:
                        write_values(out, {"audit-log": str(audit_path), "audit-head": head})
                    except OSError as exc:
                        raise InfraError(f"could not write step outputs: {exc}") from None
        finally:
            text = table.getvalue()
            body, _, verdict = text.rstrip("\n").rpartition("\n")
            sys.stdout.write((body + "\n" if body else "") + audit_line + verdict + "\n")
        for result in results:
            if result.exit_code_hint in (2, 3):
                print(f"mlgate: error: {result.checks[0].why}", file=sys.stderr)
        return code


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
