"""Errors that map to exit codes, so the CLI can report user mistakes in one line, without a traceback."""

from __future__ import annotations


class MlgateError(Exception):
    """Base class: a message meant for the user, and the exit code it implies."""

    exit_code = 1


class InputError(MlgateError):
    """Bad input or configuration (exit 2): a file, column or key is missing or holds the wrong thing."""

    exit_code = 2


class InfraError(MlgateError):
    """An infrastructure fault (exit 3): Prometheus, the cluster or another service could not be reached."""

    exit_code = 3


def problems_message(label: str, problems: list[str]) -> str:
    """`label: problem` for one problem; for several, a count and then each on its own `  - ` line."""
    if len(problems) == 1:
        return f"{label}: {problems[0]}"
    return f"{label}: {len(problems)} problems:\n" + "\n".join(f"  - {log_safe(p)}" for p in problems)


_ESCAPES = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    0x09: "\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


def log_safe(text: str) -> str:
    """One line that a CI log shows as text and GitHub Actions never runs as a workflow command.

    Control characters (line breaks, terminal escapes) are shown escaped, so user data cannot start a line of its
    own; the legacy `##[command]` form, which the runner recognises anywhere in a line, is broken up; and a line
    that would begin with `::` (after leading blanks, as the runner trims them) gets a prefix."""
    text = text.translate(_ESCAPES).replace("##[", "## [")
    return "» " + text if text.lstrip().startswith("::") else text


def printable(message: str) -> str:
    """An error message as printed on stderr: each `  - ` problem line kept, any other line break escaped."""
    lines = message.split("\n")
    out = [log_safe(lines[0])]
    for line in lines[1:]:
        if line.startswith("  - "):
            out.append("  - " + log_safe(line[4:]))
        else:
            out[-1] += log_safe("\n" + line)
    return "\n".join(out)
