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
from typing import TYPE_CHECKING, Any, TypeVar

from gates.core.context import GateContext
from gates.core.errors import InfraError, InputError, log_safe, printable
from gates.core.policy import Policy, empty_policy, load_policy, validate
from gates.core.registry import GATES
from gates.core.result import FAIL_ON, GateResult, error_result, exit_code

SectionT = TypeVar("SectionT", bound="Section")

if TYPE_CHECKING:
    from gates.core.settings import Section
    from gates.formats import StepBudget

_OPTION_FLAGS = {
    "policy_path": "--policy",
    "report_dir": "--report-dir",
    "audit_log": "--audit-log",
    "no_audit": "--no-audit",
    "fail_on": "--fail-on",
}


@dataclass
class Session:
    """The global options of one invocation (gates.cli sets them, from before or after the subcommand), the
    policy they name, and what this process may still add to the GitHub step (`budget`)."""

    policy_path: Path | None = None
    report_dir: Path | None = None
    audit_log: Path | None = None
    audit: bool = True
    fail_on: str = "fail"
    # False for the commands that always block (gates.cli.relaxable): fail_on stays "fail".
    relaxable: bool = True
    _policy: Policy | None = field(default=None, init=False)
    _given: dict[str, tuple[object, str]] = field(default_factory=dict, init=False)
    _budget: StepBudget | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.relaxable:
            self.fail_on = "fail"

    @property
    def budget(self) -> StepBudget:
        if self._budget is None:
            from gates.formats import StepBudget

            self._budget = StepBudget()
        return self._budget

    def set_option(self, name: str, value: object, where: str, explicit: bool) -> None:
        """Take a global option's value. `explicit`: typed on the command line at `where` (e.g. "before the
        command", "after 'run'"); otherwise from the environment or the default, which a typed value overrides.

        The same option typed in two places with different values is an error (exit 2), never a silent choice."""
        if explicit:
            if name in self._given and self._given[name][0] != value:
                first, first_where = self._given[name]
                flag = _OPTION_FLAGS.get(name, name)
                if name == "fail_on":
                    self.fail_on = "fail"  # which of the two applies is unknown: the error blocks
                raise InputError(
                    f"{flag} is given twice with different values: {_shown(first)} {first_where} and "
                    f"{_shown(value)} {where}; give it once"
                )
            self._given[name] = (value, where)
        elif name in self._given or value is None:
            return
        if name == "no_audit":
            self.audit = not value
        elif name == "fail_on":
            if value not in FAIL_ON:
                raise InputError(f"--fail-on: expected one of {', '.join(FAIL_ON)}, got {value!r}")
            self.fail_on = str(value) if self.relaxable else "fail"
        else:
            if name == "policy_path" and value != self.policy_path:
                self._policy = None
            setattr(self, name, value)

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

    def settings(self, name: str, overrides: dict[str, Any] | None = None) -> Section | dict[str, Any]:
        """The section with flags laid over it, as typed settings (a plain mapping for a section that has no
        settings model yet, gates.core.settings)."""
        from gates.core.settings import build

        return build(name, self.section(name, overrides))

    def settings_of(self, model: type[SectionT], overrides: dict[str, Any] | None = None) -> SectionT:
        """`settings()` of a section known to have a model, typed as that model."""
        settings = self.settings(model.section, overrides)
        assert isinstance(settings, model), f"{model.section} has no settings model"
        return settings

    def context(self) -> GateContext:
        return GateContext(
            base_dir=self.policy.base_dir,
            report_dir=self.resolved_report_dir(),
            defaults=self.policy.data.get("defaults") or {},
            source=self.policy.source,
            engine=self.policy.data.get("engine") or {},
        )

    def run_gates(
        self, requests: list[tuple[str, dict[str, Any]]], before: list[GateResult] | None = None
    ) -> int:
        """Run the named gates, write every format, append to the audit trail, return the exit code.

        `before`: results a command decided itself ahead of the gates (registry evaluate's scoring), reported
        first in the same run."""
        ctx = self.context()
        results: list[GateResult] = list(before or [])
        for name, overrides in requests:
            inputs_before = dict(ctx.inputs)
            ctx.inputs = {}
            try:
                section = self.settings(name, overrides)
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
        (stdout: stderr stays empty on success and one line on an error).

        Returns the verdict's exit code; gates.cli.main turns it into the process's through --fail-on (the
        step outputs, written here, carry both: `exit-code` and `blocking`)."""
        from gates.formats import Output, write_all
        from gates.formats.console import render

        code = exit_code(results)
        out = Output(report_dir=self.resolved_report_dir(), fail_on=self.fail_on, budget=self.budget)
        write_all(results, out, code)
        table = io.StringIO()
        render(results, table, colour=sys.stdout.isatty())
        audit_line = ""
        try:
            audit_path = self.audit_path()
            if audit_path:
                from gates.core.audit import append_results
                from gates.formats.outputs import write_values

                head = append_results(
                    audit_path, results, self.policy, report=out.report_dir / f"{out.name}.json"
                )
                if head:
                    audit_line = log_safe(f"mlgate: audit trail {audit_path} head {head}") + "\n"
                    try:
                        write_values(out, {"audit-log": os.path.abspath(audit_path), "audit-head": head})
                    except OSError as exc:
                        raise InfraError(f"could not write step outputs: {exc}") from None
        finally:
            text = table.getvalue()
            body, _, verdict = text.rstrip("\n").rpartition("\n")
            sys.stdout.write((body + "\n" if body else "") + audit_line + verdict + "\n")
        for result in results:
            if result.exit_code_hint in (2, 3):
                print(f"mlgate: error: {printable(result.checks[0].why)}", file=sys.stderr)
        if self.policy.data.get("notify"):  # (the senders import requests: only when there is a `notify`)
            from gates.notify.send import after_command  # a warning at worst, never the verdict

            after_command(self.policy, results)
        return code


def _shown(value: object) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
