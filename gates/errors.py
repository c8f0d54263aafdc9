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
