"""The `mlgate` command line. Thin on purpose: parse, call, render, exit with the verdict's code.

Subcommands are imported only when used (see COMMANDS), so `mlgate --help` does not pay for numpy or pandas.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import click

from gates import __version__

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
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if importlib.util.find_spec(module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attribute)
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
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path),
    envvar="MLGATE_POLICY",
    help="Policy file (gates.yml). Without it, gate commands take everything from flags.",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    envvar="MLGATE_REPORT_DIR",
    help="Where reports are written (default: the policy's report_dir, else ./mlgate-reports).",
)
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path),
    envvar="MLGATE_AUDIT_LOG",
    help="Audit trail file (default: the policy's audit.path, else REPORT_DIR/audit.jsonl).",
)
@click.option("--no-audit", is_flag=True, help="Do not append to the audit trail.")
@click.pass_context
def cli(
    ctx: click.Context,
    policy_path: Path | None,
    report_dir: Path | None,
    audit_log: Path | None,
    no_audit: bool,
) -> None:
    """mlgate: quality gates that decide whether an ML model ships.

    Exit codes: 0 passed (warnings allowed), 1 a gate failed, 2 bad input or configuration,
    3 infrastructure fault (Prometheus or the cluster unreachable).
    """
    from gates.session import Session

    ctx.obj = Session(policy_path=policy_path, report_dir=report_dir, audit_log=audit_log, audit=not no_audit)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit 2, never a traceback."""
    from gates.errors import MlgateError

    try:
        code = cli.main(args=argv, prog_name="mlgate", standalone_mode=False)
    except MlgateError as exc:
        click.echo(f"mlgate: error: {exc}", err=True)
        _report_early_failure(exc.exit_code, str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.filename is None:
            raise  # not a path the user gave: a real fault, shown in full
        why = (
            "exists and is not a folder"
            if isinstance(exc, FileExistsError)
            else (exc.strerror or type(exc).__name__)
        )
        message = f"{exc.filename}: {why} (a path mlgate was told to read or write)"
        click.echo(f"mlgate: error: {message}", err=True)
        _report_early_failure(2, message)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("mlgate: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        _report_early_failure(2, exc.format_message())
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("mlgate: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _report_early_failure(code: int, message: str) -> None:
    import os

    from gates.formats.outputs import write_early_failure

    try:
        write_early_failure(dict(os.environ), code, message)
    except OSError as exc:
        click.echo(f"mlgate: could not write step outputs: {exc}", err=True)


if __name__ == "__main__":
    main()
