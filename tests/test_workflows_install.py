"""What the actions install: their family's requirements/actions-EXTRA.lock, hash-checked, then mlgate without
dependencies. So each lock must pin, with hashes, every dependency pyproject.toml declares for mlgate's core and
that extra, at versions the declaration allows, plus the build backend for `--no-build-isolation`. A change
to pyproject.toml's dependencies (a Dependabot pull request, say) without a re-run of scripts/lock fails here,
instead of the actions installing what nobody reviewed or failing on callers' runners."""

from __future__ import annotations

import re
import sys

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.act_harness import REPO

# The family each action installs (actions/lib/mlgate.sh's mlgate_extra) and its lock.
EXTRAS = ("core", "model", "security", "deploy", "registry", "all")


def lock_entries(extra: str) -> list[tuple[str, Version, str, int]]:
    """(name, version, marker, number of hashes) for every pinned package of an extra's lock."""
    entries = []
    lock = REPO / "requirements" / f"actions-{extra}.lock"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8"))
    for block in blocks:
        head = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\\n]+))?", block)
        if head:
            entries.append(
                (
                    canonicalize_name(head[1]),
                    Version(head[2]),
                    (head[3] or "").strip(),
                    block.count("--hash=sha256:"),
                )
            )
    return entries


def declared(extra: str) -> list[Requirement]:
    """The core dependencies and the extra's, following `mlgate[...]` self-references (the `all` extra)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    pending = [] if extra == "core" else [extra]
    while pending:
        for text in project["optional-dependencies"][pending.pop()]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "mlgate":
                pending += sorted(requirement.extras)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_locked_package_is_pinned_with_hashes(extra: str) -> None:
    entries = lock_entries(extra)
    assert entries
    assert all(hashes >= 1 for *_, hashes in entries)
    assert {"setuptools", "wheel"} <= {name for name, *_ in entries}  # pip install --no-build-isolation


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13"])
@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_lock_satisfies_what_pyproject_declares(extra: str, python: str, platform: str) -> None:
    """For every Python the CI matrix runs and every runner OS, each declared dependency has exactly one locked
    version that applies, and the declaration allows it."""
    env = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        "os_name": "nt" if platform == "win32" else "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": "x86_64",
    }
    entries = lock_entries(extra)
    for requirement in declared(extra):
        if requirement.marker and not requirement.marker.evaluate(env):
            continue
        name = canonicalize_name(requirement.name)
        versions = [
            v for n, v, marker, _ in entries if n == name and (not marker or Marker(marker).evaluate(env))
        ]
        assert len(versions) == 1, (requirement, python, platform, versions)
        assert requirement.specifier.contains(versions[0], prereleases=True), (requirement, versions[0])


def test_the_actions_and_the_reusable_workflows_read_that_lock() -> None:
    script = (REPO / "actions" / "lib" / "mlgate.sh").read_text(encoding="utf-8")
    assert "requirements/actions-$MLGATE_EXTRA.lock" in script
    for path in (REPO / ".github" / "workflows").glob("mlgate-*.yml"):
        text = path.read_text(encoding="utf-8")
        if "path: .mlgate" in text:  # the sparse checkout of mlgate brings the lock along
            assert re.search(r"sparse-checkout: \|[^\n]*\n(\s+\w+\n)*\s+requirements\n", text), path.name
