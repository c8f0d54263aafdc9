"""Light installs: the core alone runs the tests gate, and a gate whose extra is missing says which extra to
install (exit 2), never an ImportError halfway through a run.

The first test builds a real virtual environment from requirements/actions-core.lock (what the tests action
installs), so a core module that starts importing numpy or pandas fails here, not on a user's runner."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from gates.cli import cli

ROOT = Path(__file__).resolve().parents[1]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="0">
<testcase classname="test_a" name="test_one" time="0.01"/>
<testcase classname="test_a" name="test_two" time="0.01"/>
</testsuite></testsuites>
"""


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    lock = ROOT / "requirements" / "actions-core.lock"
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(lock)], check=True, timeout=600)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(ROOT)], check=True, timeout=600)
    return python


def _mlgate(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "gates.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_core_alone_runs_the_tests_gate(core_python: Path, tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT, encoding="utf-8")
    proc = _mlgate(core_python, "--no-audit", "tests", "--junit", "junit.xml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for heavy in ("numpy", "pandas", "scipy", "sklearn", "matplotlib"):
        check = subprocess.run([str(core_python), "-c", f"import {heavy}"], capture_output=True, check=False)
        assert check.returncode != 0, f"{heavy} is installed by the core lock"


def test_a_gate_without_its_extra_names_the_extra(core_python: Path, tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("y,score\n1,0.9\n0,0.1\n", encoding="utf-8")
    proc = _mlgate(core_python, "--no-audit", "metrics", "--predictions", "p.csv", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'mlgate[model]'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "extra"),
    [(["security"], "security"), (["canary"], "deploy"), (["drift"], "model")],
)
def test_missing_extra_is_exit_2_for_each_family(
    argv: list[str], extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from gates.core.registry import EXTRAS

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == EXTRAS[extra][0] else real(name, *a)
    )
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code != 0
    assert f"pip install 'mlgate[{extra}]'" in str(result.exception or result.output)
