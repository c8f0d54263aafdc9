"""The hostile corpus (tests/security/corpus.py): every payload runs under its loader, and mlgate fails every
hostile case and passes every benign one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gates.core.result import Status
from gates.security.artifacts import scan_artifact, status_of
from tests.security.corpus import BENIGN, CASES, HOSTILE, Case, build, prove


def _buildable(case: Case) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in case.needs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    for case in CASES:
        if _buildable(case):
            build(case, directory)
    return directory


def _path(corpus: Path, case: Case) -> Path:
    path = corpus / case.name
    if not path.exists():
        pytest.skip(f"needs {', '.join(case.needs)}, not installed here")
    return path


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_payload_runs_under_its_loader_and_mlgate_refuses_it(corpus: Path, case: Case) -> None:
    path = _path(corpus, case)
    assert prove(case, path), f"{case.name}: the payload did not run under {case.loader}: not a valid case"
    report = scan_artifact(path)
    assert status_of(report, {}) in (Status.FAIL, Status.ERROR), (report.format, report.hits)


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.name)
def test_ordinary_model_passes(corpus: Path, case: Case) -> None:
    report = scan_artifact(_path(corpus, case))
    assert status_of(report, {}) is Status.PASS, [h.message for h in report.hits]
