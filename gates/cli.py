"""The `mlgate` command line. Thin on purpose: parse, call, render, exit with the verdict's code.

Subcommands are imported only when used (see COMMANDS), so `mlgate --help` does not pay for numpy or pandas.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import click

from gates import __version__
from gates.core.result import FAIL_ON, process_exit_code


class Command(NamedTuple):
    """One subcommand: where its code is, its line in `mlgate --help`, what it needs installed and whether its
    verdict may be relaxed. This table is the one place a command is declared; a gate's command (a name in
    gates.core.registry.GATES) takes its gate's extra and is relaxable."""

    module: str
    attribute: str
    help: str
    extra: str | None = None  # the package extra it needs (gates.core.registry.EXTRAS); a gate's: its gate's
    # --fail-on may relax the verdict (report-only adoption of a gate). Delivery, audit and the GitHub safety
    # checks always block: a deploy guard or a tampered trail that exits 0 would be a silent pass.
    relaxable: bool = False
    relaxable_subcommands: frozenset[str] = frozenset()  # e.g. `registry evaluate` judges; promote changes


COMMANDS: dict[str, Command] = {
    "run": Command("gates.commands.run", "run", "Run every gate the policy names.", relaxable=True),
    "tests": Command("gates.commands.tests", "tests", "Tests gate: JUnit results and coverage."),
    "metrics": Command(
        "gates.commands.metrics", "metrics", "Model-metrics gate with intervals and a baseline."
    ),
    "latency": Command("gates.commands.latency", "latency", "Latency gate on samples from a file."),
    "bias": Command("gates.commands.bias", "bias", "Bias gate: group metrics and disparities."),
    "data": Command("gates.commands.data", "data", "Data-validation gate against a schema."),
    "drift": Command("gates.commands.drift", "drift", "Drift gate: current data against a reference."),
    "security": Command(
        "gates.commands.security", "security", "Security gate: vulnerabilities, artifacts, manifests."
    ),
    "deploy": Command(
        "gates.commands.deploy", "deploy", "Apply manifests and wait for the rollout.", extra="deploy"
    ),
    "rollback": Command(
        "gates.commands.deploy", "rollback", "Roll a Deployment back to an earlier revision.", extra="deploy"
    ),
    "validate-deployment": Command(
        "gates.commands.validate", "validate_deployment", "Validate a live endpoint.", extra="deploy"
    ),
    "canary": Command(
        "gates.commands.canary",
        "canary",
        "Canary rollout with analysis, then promote or roll back.",
        extra="deploy",
    ),
    "shadow": Command(
        "gates.commands.shadow",
        "shadow",
        "Shadow traffic: mirror to the candidate, compare with stable.",
        extra="deploy",
    ),
    "audit": Command("gates.commands.audit", "audit", "Inspect and verify the audit trail."),
    "policy": Command("gates.commands.policy", "policy", "Check a policy file or print its JSON Schema."),
    "comment": Command(
        "gates.commands.comment", "comment", "Create or update the pull request's verdict comment."
    ),
    "github": Command("gates.commands.github", "github", "GitHub checks: protected deploy environments."),
    "report": Command("gates.commands.report", "report", "Compare two runs' JSON reports (report diff)."),
    "notify": Command(
        "gates.commands.notify", "notify", "Send a report's verdict to Slack, Teams or a webhook."
    ),
    "monitor": Command(
        "gates.commands.monitor", "monitor", "Watch the served model: change, drift, accuracy.", extra="model"
    ),
    "registry": Command(
        "gates.commands.registry",
        "registry",
        "Model registry (MLflow): evaluate, promote, roll back.",
        extra="registry",
        relaxable_subcommands=frozenset({"evaluate"}),
    ),
}


def command(name: str) -> Command:
    """A command's row, whatever its form (a plain (module, attribute, help) tuple is a row too)."""
    return Command(*COMMANDS[name])


def command_extra(name: str) -> str | None:
    """The extra a command needs: its own, else its gate's, else none (the core is enough)."""
    from gates.core.registry import GATES

    own = command(name).extra
    return own if own is not None else (GATES[name].extra if name in GATES else None)


def relaxable(args: list[str]) -> bool:
    """Whether --fail-on may relax the verdict of the command these arguments run."""
    from gates.core.registry import GATES

    name = next((a for a in args if a in COMMANDS), None)
    if name is None:
        return False
    row = command(name)
    after = args[args.index(name) + 1 : args.index(name) + 2]
    return name in GATES or row.relaxable or bool(after and after[0] in row.relaxable_subcommands)


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
    from gates.core.registry import require_extra

    callback = command.callback
    extra = command_extra(name)
    if extra is None or callback is None or getattr(command, "_mlgate_extra_checked", False):
        return command

    def checked(*args: Any, **kwargs: Any) -> Any:
        require_extra(f"mlgate {name}", extra)
        return callback(*args, **kwargs)

    command.callback = checked
    command._mlgate_extra_checked = True  # type: ignore[attr-defined]
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, each given the global options."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if importlib.util.find_spec(command(name).module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = command(name)[:2]
        try:
            return _needs_extra(global_options(getattr(importlib.import_module(module), attribute)), name)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command(name).help) for name in COMMANDS if name in self.list_commands(ctx)]
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


def numpy_without_hugepage_advice(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Unless the user chose (NUMPY_MADVISE_HUGEPAGE set), ask numpy not to advise huge pages for its arrays.

    Why: the gates allocate many large, short-lived temporaries, so they are bound by page faults, not by TLB
    misses. Where transparent huge pages are "madvise" with defrag "madvise" (Debian's and Ubuntu's default),
    each advised fault may compact memory first: metrics + bias on 1e7 rows took 6.0-7.5 s with the advice and
    4.5-4.9 s without it here (system time 3.2-4.6 s against 1.6-1.8 s; bench/scale.py). The variable is read
    when numpy is imported, by this process and its children; numpy already imported is told directly."""
    if "NUMPY_MADVISE_HUGEPAGE" in environ:
        return
    environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)
        setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
        if setter is not None:
            setter(False)


MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """With glibc, unless the user tuned malloc (a MALLOC_*_ setting in the environment): keep freed memory in
    this process for reuse instead of handing large blocks back to the kernel. True when applied.

    Why: glibc gives every block over 32 MB its own mapping and unmaps it on free, so each of the gates' large,
    short-lived temporaries (80 MB a column at 1e7 rows) starts on fresh pages, and every page is a fault; on a
    virtual machine a fault on memory just given back costs many times more. Served from the heap and kept
    there, a temporary reuses pages an earlier one faulted in: metrics + bias on 1e7 rows took 4.1-4.5 s
    and 2.0-2.3 s of system time without this, 3.0-3.4 s and 0.9-1.0 s with it, for 5% more peak memory
    (bench/scale.py). mlgate is a short-lived command, so memory kept until exit is not memory leaked."""
    import platform

    if any(name in environ for name in MALLOC_SETTINGS) or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # malloc.h
    applied = libc.mallopt(m_mmap_threshold, 1 << 30) == 1  # blocks up to 1 GB from the heap
    applied &= libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1  # never trimmed back to the kernel
    applied &= libc.mallopt(m_top_pad, 256 << 20) == 1  # the heap grows in steps of 256 MB of address space
    return bool(applied)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit 2, never a traceback.

    The verdict's exit code becomes the process's through --fail-on (gates.core.result.process_exit_code): in
    report-only mode a non-zero verdict exits 0, says so on stdout, and the step outputs keep the verdict."""
    numpy_without_hugepage_advice()
    keep_freed_memory()
    from gates.commands.session import Session
    from gates.core.errors import MlgateError, printable

    args = sys.argv[1:] if argv is None else argv
    session = Session(fail_on=_fail_on_from_environment(), relaxable=relaxable(args))
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
