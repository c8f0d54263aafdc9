"""Shared fixtures: a clean environment (no GitHub Actions variables leak in or out) and CLI runners.

`cli` runs `gates.cli.main` in-process (fast; the same code path as the console script, including the
one-line error handling); `cli_subprocess` runs `python -m gates.cli` for end-to-end checks. Both work in
tmp_path, so no report or audit trail lands in the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.cluster.fixtures"]

if os.environ.get("PYTEST_XDIST_WORKER") and getattr(sys.modules["__main__"], "__spec__", None) is None:
    # An xdist worker's __main__ is execnet's bootstrap: no spec, no file. pyspark.sql.connect (imported by
    # great_expectations) takes that for a doctest run and exits the process. A spec named __main__ is what an
    # interactive main has; multiprocessing's spawn skips re-importing it.
    import importlib.machinery

    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("__main__", None)

REPO = Path(__file__).resolve().parents[1]

# Variables that would make a test run write into the real job's outputs, or change where reports go.
LEAKY_ENV = (
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "MLGATE_POLICY",
    "MLGATE_REPORT_DIR",
    "MLGATE_AUDIT_LOG",
    "MLGATE_FAIL_ON",
)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


# Tests that need a real part (a control plane, Prometheus, podman, act) skip with a reason starting "needs " when
# it is missing. scripts/test installs them all and sets MLGATE_REAL_PARTS=required: there such a skip fails the
# run, so CI can never go green without the real parts.
REAL_PART_MARKERS = ("cluster", "prometheus", "podman", "act")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("MLGATE_REAL_PARTS") != "required":
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(marker in item.keywords for marker in REAL_PART_MARKERS) and "needs " in reason:
        report.outcome = "failed"
        report.longrepr = f"MLGATE_REAL_PARTS=required, but a real part is missing: {reason}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Call the CLI entry point in-process, in tmp_path; returns (exit code, stdout, stderr)."""
    from gates.cli import main

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main(list(map(str, args)))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            for key in env or {}:
                monkeypatch.delenv(key, raising=False)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return invoke


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    env.update(extra or {})
    return env


@pytest.fixture
def cli_subprocess(tmp_path: Path):
    """Run `python -m gates.cli ...` in tmp_path (or `cwd`)."""

    def invoke(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
    ) -> CliResult:
        completed = subprocess.run(
            [sys.executable, "-m", "gates.cli", *map(str, args)],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            env=clean_environ(env),
            timeout=timeout,
            check=False,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return invoke


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The main thread's time.sleep calls, recorded instead of slept. time.sleep belongs to the time module, so
    patching it through any module patches it for every thread: other threads (servers a test started) keep
    sleeping for real instead of spinning and filling the record."""
    import threading
    import time

    recorded: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            recorded.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return recorded
