"""Which mlgate a reusable workflow runs, how users pin mlgate, and what keeps the pins current.

Every job of a reusable workflow resolves the repository and commit of mlgate it checks out in one step (id
`mlgate`): the called workflow's own (job.workflow_repository, job.workflow_sha: what the caller's `uses:` line
pins) comes first; the inputs mlgate-repository / mlgate-ref stand in only where the runner does not set them,
and must agree where it does. The step is run here by bash, as the runner runs it, in every case.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.act_harness import ACTION_FILES, REPO, WORKFLOW_FILES
from tests.step_runner import run_step

WORKFLOWS = REPO / ".github" / "workflows"
SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def resolve_steps() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(WORKFLOWS.glob("mlgate-*.yml")):
        for job_id, job in load(path)["jobs"].items():
            for step in job.get("steps") or []:
                if step.get("id") == "mlgate":
                    found.append((f"{path.name}:{job_id}", step))
    return found


def test_every_job_that_checks_out_mlgate_resolves_it_with_the_same_step() -> None:
    steps = resolve_steps()
    names = {name.split(":")[0] for name, _ in steps}
    assert names == {"mlgate-gates.yml", "mlgate-deploy.yml", "mlgate-comment.yml"}
    assert len({yaml.safe_dump(step) for _, step in steps}) == 1


SCRIPT = resolve_steps()[0][1]["run"]


def resolve(tmp_path: Path, **env: str) -> tuple[int, str, dict[str, str]]:
    output = tmp_path / "output"
    output.write_text("")
    full = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_OUTPUT": str(output),
        "WORKFLOW_REPOSITORY": "",
        "WORKFLOW_SHA": "",
        "INPUT_REPOSITORY": "",
        "INPUT_REF": "",
        **env,
    }
    step = run_step(SCRIPT, full, tmp_path)
    return step.returncode, step.log, step.outputs


def test_the_called_workflows_own_commit_is_used_when_the_runner_sets_it(tmp_path: Path) -> None:
    code, _, out = resolve(tmp_path, WORKFLOW_REPOSITORY="acme/mlgate", WORKFLOW_SHA=SHA)
    assert code == 0 and out == {"repository": "acme/mlgate", "ref": SHA}


def test_the_inputs_stand_in_where_the_runner_does_not_set_it(tmp_path: Path) -> None:
    code, _, out = resolve(tmp_path, INPUT_REPOSITORY="acme/mlgate", INPUT_REF=SHA)
    assert code == 0 and out == {"repository": "acme/mlgate", "ref": SHA}


def test_inputs_equal_to_the_context_are_fine(tmp_path: Path) -> None:
    code, _, out = resolve(
        tmp_path,
        WORKFLOW_REPOSITORY="Acme/MLgate",
        WORKFLOW_SHA=SHA,
        INPUT_REPOSITORY="acme/mlgate",  # repository names are not case-sensitive
        INPUT_REF=SHA,
    )
    assert code == 0 and out == {"repository": "Acme/MLgate", "ref": SHA}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INPUT_REF": OTHER}, "input mlgate-ref is not the commit this workflow was called at"),
        ({"INPUT_REPOSITORY": "evil/mlgate"}, "input mlgate-repository is not the repository"),
    ],
    ids=["other-commit", "other-repository"],
)
def test_inputs_never_override_the_commit_the_caller_pinned(tmp_path: Path, env: dict, message: str) -> None:
    """The docs say the inputs replace the contexts only where the runner lacks them; an input that disagrees
    with what the `uses:` line pinned is refused, never silently preferred (nor silently ignored)."""
    code, text, out = resolve(tmp_path, WORKFLOW_REPOSITORY="acme/mlgate", WORKFLOW_SHA=SHA, **env)
    assert code == 1 and message in text and out == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "does not say which repository and commit"),
        ({"INPUT_REPOSITORY": "acme/mlgate"}, "does not say which repository and commit"),
        ({"INPUT_REPOSITORY": "acme/mlgate", "INPUT_REF": "main"}, "must be a full commit SHA"),
        ({"INPUT_REPOSITORY": "acme/mlgate", "INPUT_REF": f"{SHA}\nref=evil"}, "must be a full commit SHA"),
        ({"INPUT_REPOSITORY": "acme/mlgate\nrepository=x/y", "INPUT_REF": SHA}, "must be OWNER/NAME"),
    ],
    ids=["nothing", "no-ref", "branch", "output-injection-ref", "output-injection-repository"],
)
def test_an_unknown_or_malformed_commit_stops_the_job(tmp_path: Path, env: dict, message: str) -> None:
    code, text, out = resolve(tmp_path, **env)
    assert code == 1 and message in text and out == {}


# ---------------------------------------------------------------- pinning mlgate and keeping actions current


def pyproject_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version = "([^"]+)"', text, re.MULTILINE)
    assert match
    return match.group(1)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *WORKFLOW_FILES, *ACTION_FILES]


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_mlgate_is_pinned_by_commit_sha_with_its_version_never_by_a_tag_that_does_not_exist(
    path: Path,
) -> None:
    """The repository has no tag yet: `@v1` resolves nowhere. Users pin the commit of the release they adopt;
    the placeholder says so and the comment names the version (this release's, from pyproject.toml)."""
    text = path.read_text(encoding="utf-8")
    refs = re.findall(r"uses:\s*OWNER/mlgate(?:/[\w./-]+)?@(\S+)(.*)", text)
    if path.parent.name == "workflows" and "OWNER/mlgate/" in text:
        assert refs or "workflow_call" in text, path.name
    for ref, rest in refs:
        assert ref == "<40-hex-sha>" or re.fullmatch(r"[0-9a-f]{40}", ref), (path.name, ref)
        if path.parent.name == "workflows" or path.suffix == ".md":
            assert re.match(rf"\s+# v{re.escape(pyproject_version())}\b", rest), (path.name, ref, rest)
    assert not re.search(r"OWNER/mlgate[\w./-]*@v\d", text), path.name


def test_dependabot_keeps_every_action_pin_current() -> None:
    config = load(REPO / ".github" / "dependabot.yml")
    actions = next(u for u in config["updates"] if u["package-ecosystem"] == "github-actions")
    directories = set(actions["directories"])
    # "/" covers the root action.yml and .github/workflows/; every folder holding an action or a workflow is
    # covered, and the placeholder for mlgate itself is not looked up
    assert directories == {"/", "/actions/*", "/workflows"}
    for path in ACTION_FILES + WORKFLOW_FILES:
        folder = "/" + str(path.parent.relative_to(REPO)) if path.parent != REPO else "/"
        assert (
            folder in directories
            or folder == "/.github/workflows"
            or (folder.startswith("/actions/") and "/actions/*" in directories)
        ), folder
    assert {"dependency-name": "OWNER/mlgate"} in actions["ignore"]
    assert any(u["package-ecosystem"] == "pip" for u in config["updates"])
