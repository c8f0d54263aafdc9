"""The release workflow: on a pushed tag vX.Y.Z, a GitHub release from CHANGELOG.md's section, the major tag vX moved
to the tag's commit; nothing published when the tag is not pyproject.toml's version or the CHANGELOG has no notes.
Its checking step runs here by bash, as the runner runs it, on this repository and on made-up ones."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.act_harness import REPO
from tests.step_runner import run_step

RELEASE = REPO / ".github" / "workflows" / "release.yml"


def workflow() -> dict:
    return yaml.safe_load(RELEASE.read_text(encoding="utf-8"))


def test_release_runs_on_version_tags_with_contents_write_in_its_one_job() -> None:
    data = workflow()
    assert data[True] == {"push": {"tags": ["v*.*.*"]}}
    assert data["permissions"] == {}
    assert list(data["jobs"]) == ["release"]
    job = data["jobs"]["release"]
    assert job["permissions"] == {"contents": "write"}
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "gh release create" in runs and "--notes-file" in runs
    assert "git/refs/tags/$MAJOR" in runs and "force=true" in runs


def check(tmp_path: Path, tag: str, pyproject: str, changelog: str) -> tuple[int, str, dict[str, str]]:
    """The `check` step in a git repository holding these two files."""
    if not shutil.which("git"):
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(pyproject)
    (repo / "CHANGELOG.md").write_text(changelog)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True, timeout=30)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    step = next(s for s in workflow()["jobs"]["release"]["steps"] if s.get("id") == "check")
    output, temp = tmp_path / "output", tmp_path / "temp"
    output.write_text("")
    temp.mkdir()
    python_dir = str(Path(sys.executable).parent)  # python3 with tomllib (3.11+), or the skip below
    env = {
        "PATH": f"{python_dir}:/usr/bin:/bin",
        "TAG": tag,
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(temp),
    }
    proc = run_step(step["run"], env, tmp_path, cwd=repo, timeout=60)
    if "No module named 'tomllib'" in proc.stderr:
        pytest.skip("the release job runs python3 >= 3.11 (tomllib)")
    return proc.returncode, proc.log, {**proc.outputs, "head": head}


PYPROJECT = '[project]\nname = "mlgate"\nversion = "1.2.0"\n'
CHANGELOG = """# Changelog

## [Unreleased]

## [1.2.0] - 2026-01-02

### Added
- The thing.

## [1.1.0] - 2025-12-01

### Fixed
- The other thing.
"""


def test_a_tag_matching_the_version_yields_the_notes_the_major_tag_and_the_commit(tmp_path: Path) -> None:
    code, text, out = check(tmp_path, "v1.2.0", PYPROJECT, CHANGELOG)
    assert code == 0, text
    assert out["major"] == "v1" and out["sha"] == out["head"]
    assert Path(out["notes"]).read_text().strip() == "### Added\n- The thing."


@pytest.mark.parametrize(
    ("tag", "changelog", "message"),
    [
        ("v1.3.0", CHANGELOG, "is not the version in pyproject.toml (1.2.0)"),
        ("v1.2", CHANGELOG, "is not vMAJOR.MINOR.PATCH"),
        ("v1.2.0-rc1", CHANGELOG, "is not vMAJOR.MINOR.PATCH"),
        ("v1.2.0", CHANGELOG.replace("## [1.2.0] - 2026-01-02", "## [1.2.1] - 2026-01-02"), "no section"),
        (
            "v1.2.0",
            "# Changelog\n\n## [1.2.0] - 2026-01-02\n\n## [1.1.0]\n- x\n",
            "no section",
        ),  # empty notes
    ],
    ids=["other-version", "short-tag", "pre-release", "no-section", "empty-section"],
)
def test_nothing_is_published_when_the_tag_or_the_changelog_is_wrong(
    tmp_path: Path, tag: str, changelog: str, message: str
) -> None:
    code, text, out = check(tmp_path, tag, PYPROJECT, changelog)
    assert code == 1 and message in text
    assert set(out) == {"head"}


def test_this_repository_can_release_its_current_version(tmp_path: Path) -> None:
    """CHANGELOG.md has a section with notes for pyproject.toml's version (the first release, 0.1.0, lists what
    exists), and an Unreleased section above it."""
    pyproject = (REPO / "pyproject.toml").read_text()
    changelog = (REPO / "CHANGELOG.md").read_text()
    version = next(line.split('"')[1] for line in pyproject.splitlines() if line.startswith("version = "))
    code, text, _ = check(tmp_path, f"v{version}", pyproject, changelog)
    assert code == 0, text
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{version}]")
