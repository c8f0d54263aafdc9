"""Least privilege, checked statically: GitHub checks the permissions of every job of a called workflow before
any job starts, so a reusable workflow that asks for more than its caller's token grants fails at startup, for
every job, even one its inputs switch off. act does not enforce permissions, so this file is the enforcement:

- every workflow starts from `permissions: {}` and every job says what it needs;
- mlgate-gates.yml asks for nothing beyond `contents: read` (a caller with the restricted default token runs it);
- what needs more is opt-in and listed here, each with its reason: mlgate-sarif.yml (code scanning),
  mlgate-comment.yml (the pull-request comment), mlgate-deploy.yml's protection check (`actions: read`), the
  starters' jobs of the same purpose, and the release job (`contents: write`);
- a caller (starter, CI, the act fixture, the README's snippets) grants each called workflow at least the union
  of its jobs' permissions, or GitHub would refuse to start it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.act_harness import FIXTURES, REPO, WORKFLOW_FILES

CALLERS = [*WORKFLOW_FILES, FIXTURES / "call-gates.yml"]
READ = {"contents": "read"}
SARIF = {"contents": "read", "security-events": "write", "actions": "read"}

# What each reusable workflow asks for, all jobs together. Only mlgate-gates.yml is meant for every caller.
REUSABLE = {
    "mlgate-gates.yml": READ,
    "mlgate-deploy.yml": {"contents": "read", "actions": "read"},  # actions: read for the protection job only
    "mlgate-sarif.yml": SARIF,
    "mlgate-comment.yml": {"contents": "read", "pull-requests": "write"},
}
# Jobs that ask for more than `contents: read`, and why (the README and the files' comments say the same).
BEYOND_READ = {
    ("mlgate-deploy.yml", "protection"): ({"contents": "read", "actions": "read"}, "reads the environment"),
    ("mlgate-sarif.yml", "upload"): (SARIF, "uploads SARIF; upload-sarif reads the run in private repos"),
    ("mlgate-comment.yml", "comment"): (REUSABLE["mlgate-comment.yml"], "writes the one comment"),
    ("model-gates.yml", "code-scanning"): (SARIF, "as mlgate-sarif.yml"),
    ("model-gates.yml", "comment"): ({"pull-requests": "write"}, "as mlgate-comment.yml"),
    ("model-deploy.yml", "protection"): ({"actions": "read"}, "as mlgate-deploy.yml"),
    ("model-monitor.yml", "monitor"): (
        {"contents": "read", "issues": "write", "actions": "write"},
        "opens the regression issue, dispatches the rollback workflow",
    ),
    ("ci.yml", "code-scanning"): (SARIF, "calls mlgate-sarif.yml"),
    ("release.yml", "release"): ({"contents": "write"}, "creates the release, moves the major tag"),
    ("call-gates.yml", "code-scanning"): (SARIF, "act fixture: calls mlgate-sarif.yml"),
    ("call-gates.yml", "comment"): (REUSABLE["mlgate-comment.yml"], "act fixture: calls mlgate-comment.yml"),
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def jobs(path: Path) -> list[tuple[str, dict]]:
    return list(load(path)["jobs"].items())


def called(uses: str) -> str | None:
    """The reusable workflow of mlgate a job calls (remotely pinned, or locally in this repository's CI)."""
    match = re.fullmatch(r"(?:OWNER/mlgate/|\./)\.github/workflows/([\w.-]+\.yml)(?:@.*)?", uses)
    return match.group(1) if match else None


def union(path: Path) -> dict[str, str]:
    granted: dict[str, str] = {}
    for _, job in jobs(path):
        for scope, level in (job.get("permissions") or {}).items():
            if granted.get(scope) != "write":
                granted[scope] = level
    return granted


def covers(granted: dict[str, str], needed: dict[str, str]) -> bool:
    rank = {"none": 0, "read": 1, "write": 2}
    return all(rank[granted.get(scope, "none")] >= rank[level] for scope, level in needed.items())


@pytest.mark.parametrize("path", CALLERS, ids=[p.name for p in CALLERS])
def test_every_workflow_starts_from_nothing_and_every_job_says_what_it_needs(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, f"{path.name}: start from `permissions: {{}}`"
    for job_id, job in jobs(path):
        granted = job.get("permissions")
        assert isinstance(granted, dict), (path.name, job_id, "no explicit permissions")
        assert set(granted.values()) <= {"read", "write", "none"}, (path.name, job_id)
        expected, _why = BEYOND_READ.get((path.name, job_id), (READ, ""))
        if (path.name, job_id) in BEYOND_READ:
            assert granted == expected, (path.name, job_id, granted)
        else:
            assert covers(READ, granted), f"{path.name} {job_id}: {granted} is more than contents: read"


def test_the_list_of_jobs_beyond_read_is_complete_and_current() -> None:
    present = {(p.name, job_id) for p in CALLERS for job_id, _ in jobs(p)}
    assert set(BEYOND_READ) <= present


@pytest.mark.parametrize("name", sorted(REUSABLE))
def test_reusable_workflow_asks_for_what_its_docs_say(name: str) -> None:
    path = REPO / ".github" / "workflows" / name
    assert "workflow_call" in load(path)[True]  # PyYAML reads `on` as True
    assert union(path) == REUSABLE[name]
    header = path.read_text(encoding="utf-8").split("\nname:", 1)[0]
    for scope, level in REUSABLE[name].items():
        assert f"{scope}: {level}" in header, f"{name}: its header must show callers `{scope}: {level}`"


def test_the_gates_run_with_a_read_only_token() -> None:
    """Issue: `security-events: write` and `actions: read` on the security job made every caller with the
    restricted default token fail at startup, even with security scanning off."""
    for _, job in jobs(REPO / ".github" / "workflows" / "mlgate-gates.yml"):
        assert job["permissions"] == READ


@pytest.mark.parametrize("path", CALLERS, ids=[p.name for p in CALLERS])
def test_callers_grant_what_the_called_workflow_asks_for(path: Path) -> None:
    for job_id, job in jobs(path):
        name = called(job.get("uses") or "")
        if name:
            need = union(REPO / ".github" / "workflows" / name)
            assert covers(job["permissions"], need), (path.name, job_id, job["permissions"], need)


def readme_calls() -> list[tuple[str, dict]]:
    text = (REPO / "docs" / "how-to" / "github-actions.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- section:actions -->") : text.index("<!-- /section:actions -->")]
    found = []
    for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL):
        if ".github/workflows/" not in block:
            continue
        data = yaml.safe_load(block)
        for job_id, job in (data.get("jobs") or {}).items():
            if called(job.get("uses") or ""):
                found.append((job_id, job))
    return found


def test_the_readme_snippets_grant_what_the_called_workflows_ask_for() -> None:
    calls = readme_calls()
    assert {called(job["uses"]) for _, job in calls} == set(REUSABLE)
    for job_id, job in calls:
        need = union(REPO / ".github" / "workflows" / called(job["uses"]))
        assert covers(job.get("permissions") or {}, need), (job_id, job.get("permissions"), need)
        assert re.fullmatch(r"OWNER/mlgate/\.github/workflows/[\w.-]+@<40-hex-sha>", job["uses"]), job["uses"]


@pytest.mark.parametrize("path", CALLERS, ids=[p.name for p in CALLERS])
def test_no_credentials_stay_behind_and_no_secret_is_inherited(path: Path) -> None:
    for job_id, job in jobs(path):
        assert job.get("secrets") != "inherit", (path.name, job_id)
        for step in job.get("steps") or []:
            if (step.get("uses") or "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, (path.name, job_id)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_every_job_has_a_timeout(path: Path) -> None:
    for job_id, job in jobs(path):
        if "uses" in job:  # a call: the called workflow's jobs have theirs
            assert "timeout-minutes" not in job
            continue
        assert job.get("timeout-minutes"), (path.name, job_id)


@pytest.mark.parametrize("name", sorted(REUSABLE))
def test_reusable_workflows_take_the_runner_and_the_timeouts_as_inputs(name: str) -> None:
    path = REPO / ".github" / "workflows" / name
    inputs = load(path)[True]["workflow_call"]["inputs"]
    assert inputs["runs-on"] == {
        "description": inputs["runs-on"]["description"],
        "type": "string",
        "default": "ubuntu-latest",
    }
    assert "JSON array" in inputs["runs-on"]["description"]
    timeouts = {k for k in inputs if k.endswith("timeout-minutes")}
    assert timeouts and all(inputs[k]["type"] == "number" for k in timeouts)
    for job_id, job in jobs(path):
        assert (
            job["runs-on"]
            == "${{ startsWith(inputs.runs-on, '[') && fromJSON(inputs.runs-on) || inputs.runs-on }}"
        )
        timeout = str(job["timeout-minutes"])
        assert timeout.isdigit() or re.fullmatch(r"\$\{\{ inputs\.[\w-]*timeout-minutes \}\}", timeout), (
            job_id
        )
