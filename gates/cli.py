"""The `mlgate` command line. Thin on purpose: parse, call, render, exit with the verdict's code.

Subcommands are imported only when used (see COMMANDS), so `mlgate --help` does not pay for numpy or pandas.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from gates import __version__
from gates.core.result import FAIL_ON, process_exit_code

COMMANDS = {
    "run": ("gates.commands.run", "run", "Run every gate the policy names."),
    "tests": ("gates.commands.tests", "tests", "Tests gate: JUnit results and coverage."),
    "metrics": ("gates.commands.metrics", "metrics", "Model-metrics gate with intervals and a baseline."),
    "latency": ("gates.commands.latency", "latency", "Latency gate on samples from a file."),
    "bias": ("gates.commands.bias", "bias", "Bias gate: group metrics and disparities."),
    "data": ("gates.commands.data", "data", "Data-validation gate against a schema."),
    "drift": ("gates.commands.drift", "drift", "Drift gate: current data against a reference."),
    "security": (
        "gates.commands.security",
        "security",
        "Security gate: vulnerabilities, artifacts, manifests.",
    ),
    "deploy": ("gates.commands.deploy", "deploy", "Apply manifests and wait for the rollout."),
    "rollback": ("gates.commands.deploy", "rollback", "Roll a Deployment back to an earlier revision."),
    "validate-deployment": ("gates.commands.validate", "validate_deployment", "Validate a live endpoint."),
    "canary": ("gates.commands.canary", "canary", "Canary rollout with analysis, then promote or roll back."),
    "audit": ("gates.commands.audit", "audit", "Inspect and verify the audit trail."),
    "policy": ("gates.commands.policy", "policy", "Check a policy file or print its JSON Schema."),
    "comment": ("gates.commands.comment", "comment", "Create or update the pull request's verdict comment."),
    "github": ("gates.commands.github", "github", "GitHub checks: protected deploy environments."),
}

# The commands whose verdict --fail-on may relax (report-only adoption of a gate). Delivery, audit and the
# GitHub safety checks always block: a deploy guard or a tampered trail that exits 0 would be a silent pass.
REPORT_ONLY_COMMANDS = frozenset({"run", "tests", "metrics", "latency", "bias", "data", "drift", "security"})


# The global options, defined once. `mlgate` takes them before the subcommand (reading the environment and the
# defaults there), and every subcommand takes them too (`mlgate run --policy gates.yml`), without environment or
# default, so a value typed after the command overrides MLGATE_* variables. Typed in both places with different
# values is an error (exit 2); the same value twice is fine. A subcommand that defines an option of the same name
# itself keeps its own.
GLOBAL_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--policy",
        "policy_path",
        {
            "type": click.Path(path_type=Path),
            "envvar": "MLGATE_POLICY",
            "help": "Policy file (gates.yml). Without it, gate commands take everything from flags.",
        },
    ),
    (
        "--report-dir",
        "report_dir",
        {
            "type": click.Path(path_type=Path),
            "envvar": "MLGATE_REPORT_DIR",
            "help": "Where reports are written (default: the policy's report_dir, else ./mlgate-reports).",
        },
    ),
    (
        "--audit-log",
        "audit_log",
        {
            "type": click.Path(path_type=Path),
            "envvar": "MLGATE_AUDIT_LOG",
            "help": "Audit trail file (default: the policy's audit.path, else REPORT_DIR/audit.jsonl).",
        },
    ),
    ("--no-audit", "no_audit", {"is_flag": True, "help": "Do not append to the audit trail."}),
    (
        "--fail-on",
        "fail_on",
        {
            "type": click.Choice(FAIL_ON, case_sensitive=False),
            "envvar": "MLGATE_FAIL_ON",
            "default": "fail",
            "show_default": True,
            "help": "Which verdicts exit non-zero: fail (failed gates, bad input, infrastructure), error (bad "
            "input and infrastructure only) or never (report-only). Outputs and reports keep the real verdict.",
        },
    ),
)


def global_options(command: click.Command, top: bool = False) -> click.Command:
    """Add the global options to `command` (and, for a group, to its subcommands); they set the Session."""
    if getattr(command, "_mlgate_global_options", False):
        return command
    taken = {opt for param in command.params for opt in param.opts}
    for flag, name, settings in GLOBAL_OPTIONS:
        if flag in taken:
            continue
        settings = dict(settings)
        if not top:
            for key in ("envvar", "default", "show_default"):
                settings.pop(key, None)
            settings["help"] = f"Same as `mlgate {flag}` before the command."
        command.params.append(
            click.Option(
                [flag, name], expose_value=False, is_eager=True, callback=_take_global_option, **settings
            )
        )
    command._mlgate_global_options = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            global_options(sub)
    return command


def _take_global_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from click.core import ParameterSource

    from gates.commands.session import Session

    source = ctx.get_parameter_source(param.name or "")
    explicit = source is ParameterSource.COMMANDLINE
    if ctx.parent is not None and not explicit:
        return value  # not typed after this subcommand: what came before it (or the environment) stands
    where = "before the command" if ctx.parent is None else f"after {ctx.command_path.split(' ', 1)[-1]!r}"
    if isinstance(value, str) and param.name == "fail_on":
        value = value.lower()
    ctx.ensure_object(Session).set_option(param.name or "", value, where, explicit)
    return value


def _needs_extra(command: click.Command, name: str) -> click.Command:
    """Check, when the command runs (not for --help), that the extra it needs is installed (exit 2 otherwise)."""
    from gates.core.registry import COMMAND_EXTRAS, require_extra

    callback = command.callback
    if name not in COMMAND_EXTRAS or callback is None or getattr(command, "_mlgate_extra_checked", False):
        return command

    def checked(*args: Any, **kwargs: Any) -> Any:
        require_extra(f"mlgate {name}", COMMAND_EXTRAS[name])
        return callback(*args, **kwargs)

    command.callback = checked
    command._mlgate_extra_checked = True  # type: ignore[attr-defined]
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, each given the global options."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if importlib.util.find_spec(module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        try:
            return _needs_extra(global_options(getattr(importlib.import_module(module), attribute)), name)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, help_text)
            for name, (_, _, help_text) in COMMANDS.items()
            if name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="mlgate")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """mlgate: quality gates that decide whether an ML model ships.

    Exit codes: 0 passed (warnings allowed), 1 a gate failed, 2 bad input or configuration,
    3 infrastructure fault (Prometheus or the cluster unreachable). --fail-on error|never turns
    failures (or every verdict) into exit 0 while the reports and step outputs keep the verdict.

    Global options go before or after the command: `mlgate --policy gates.yml run` and
    `mlgate run --policy gates.yml` are the same.
    """
    from gates.commands.session import Session

    ctx.ensure_object(Session)


global_options(cli, top=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit 2, never a traceback.

    The verdict's exit code becomes the process's through --fail-on (gates.core.result.process_exit_code): in
    report-only mode a non-zero verdict exits 0, says so on stdout, and the step outputs keep the verdict."""
    from gates.commands.session import Session
    from gates.core.errors import MlgateError, printable

    command = next((a for a in (sys.argv[1:] if argv is None else argv) if a in COMMANDS), None)
    session = Session(fail_on=_fail_on_from_environment(), relaxable=command in REPORT_ONLY_COMMANDS)
    try:
        code = cli.main(args=argv, prog_name="mlgate", standalone_mode=False, obj=session)
    except MlgateError as exc:
        click.echo(f"mlgate: error: {printable(str(exc))}", err=True)
        code = _report_early_failure(session, exc.exit_code, str(exc))
    except OSError as exc:
        if exc.filename is None:
            raise  # not a path the user gave: a real fault, shown in full
        why = (
            "exists and is not a folder"
            if isinstance(exc, FileExistsError)
            else (exc.strerror or type(exc).__name__)
        )
        message = f"{exc.filename}: {why} (a path mlgate was told to read or write)"
        click.echo(f"mlgate: error: {printable(message)}", err=True)
        code = _report_early_failure(session, 2, message)
    except click.exceptions.Abort:
        click.echo("mlgate: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        code = _report_early_failure(session, 2, exc.format_message())
    except KeyboardInterrupt:
        click.echo("mlgate: interrupted", err=True)
        sys.exit(130)
    code = code if isinstance(code, int) else 0
    final = process_exit_code(code, session.fail_on)
    if final != code:
        click.echo(
            f"mlgate: report-only (fail-on: {session.fail_on}): exit {final}; the verdict's exit code is {code}"
        )
    sys.exit(final)


def _fail_on_from_environment() -> str:
    """MLGATE_FAIL_ON when it is valid, for failures before the options are read (click reports a bad one)."""
    value = os.environ.get("MLGATE_FAIL_ON", "").strip().lower()
    return value if value in FAIL_ON else "fail"


def _report_early_failure(session: Any, code: int, message: str) -> int:
    from gates.formats.outputs import write_early_failure

    try:
        write_early_failure(dict(os.environ), code, message, session.fail_on)
    except OSError as exc:
        click.echo(f"mlgate: could not write step outputs: {exc}", err=True)
    return code


if __name__ == "__main__":
    main()
