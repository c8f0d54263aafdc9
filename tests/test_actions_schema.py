"""Every action and workflow file is valid for GitHub (check-jsonschema's vendored schemas), zizmor finds nothing in
them, remote actions are pinned by commit SHA, and every input and output is documented in the action and in the
README."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.act_harness import ACTION_FILES, FIXTURES, REPO, WORKFLOW_FILES, uses_of

ZIZMOR_CONFIG = REPO / ".github" / "zizmor.yml"
FIXTURE_ACTIONS = sorted((FIXTURES / "stand-ins").rglob("action.yml"))
FIXTURE_WORKFLOWS = [FIXTURES / "actions.yml"]
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
DELIVERY = {"deploy", "validate-deployment", "canary"}


def tool(name: str) -> str:
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"needs {name} (pip install {name})")
    return found


def rel(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_files_exist() -> None:
    names = {p.parent.name for p in ACTION_FILES[1:]}
    assert names == {
        "tests",
        "model-metrics",
        "bias",
        "data-drift",
        "security",
        "deploy",
        "validate-deployment",
        "canary",
    }
    assert (REPO / "action.yml").is_file()
    assert {p.name for p in WORKFLOW_FILES} >= {
        "model-gates.yml",
        "model-deploy.yml",
        "mlgate-gates.yml",
        "mlgate-deploy.yml",
        "ci.yml",
        "e2e-kind.yml",
    }


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-actions", ACTION_FILES + FIXTURE_ACTIONS),
        ("vendor.github-workflows", WORKFLOW_FILES + FIXTURE_WORKFLOWS),
    ],
    ids=["actions", "workflows"],
)
def test_github_schema(schema: str, files: list[Path]) -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *rel(files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def zizmor(*targets: str, cwd: Path = REPO) -> list[dict]:
    proc = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--config",
            str(ZIZMOR_CONFIG),
            "--format",
            "json",
            *targets,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.stdout.strip().startswith("["), proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_zizmor_reports_no_findings() -> None:
    findings = zizmor(*rel(ACTION_FILES), *rel(WORKFLOW_FILES))
    assert findings == [], json.dumps(
        [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings], indent=1
    )


def test_zizmor_config_still_flags_unpinned_actions_and_injection(tmp_path: Path) -> None:
    """The configuration relaxes pinning for OWNER/mlgate only; everything else is still audited."""
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("""\
name: bad
on: pull_request
permissions: {}
jobs:
  bad:
    name: bad
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - uses: actions/setup-python@v5
      - uses: OWNER/mlgate/actions/tests@v1
      - run: echo "${{ github.event.pull_request.title }}"
""")
    idents = sorted(f["ident"] for f in zizmor(str(workflow), cwd=tmp_path))
    assert idents == ["template-injection", "unpinned-uses"], idents


def test_remote_actions_are_pinned_by_sha_with_the_version_noted() -> None:
    shas: dict[str, set[str]] = {}
    for path in ACTION_FILES + WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        for uses in uses_of(path):
            if uses.startswith(("./", "OWNER/mlgate/")):
                continue
            assert SHA_PIN.match(uses), f"{path.relative_to(REPO)}: {uses} is not pinned by a full commit SHA"
            assert re.search(re.escape(uses) + r" # v\d+(\.\d+)*", text), (
                f"{uses}: note its version in a comment"
            )
            shas.setdefault(uses.split("@")[0].split("/", 2)[1], set()).add(uses.split("@")[1])
    inconsistent = {repo: s for repo, s in shas.items() if len(s) > 1}
    assert not inconsistent, f"one SHA per action everywhere: {inconsistent}"


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel(ACTION_FILES))
def test_action_is_a_documented_composite_wrapper(path: Path) -> None:
    action = load(path)
    assert action["runs"]["using"] == "composite"
    for name, spec in action["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
        assert "${{" not in spec["description"], f"input {name}: runners reject expressions in descriptions"
        assert "default" in spec or spec.get("required"), f"input {name} has no default"
    for name, spec in action["outputs"].items():
        assert spec.get("description") and spec.get("value"), f"output {name}"
    for flag in ("install", "setup-python", "audit"):
        assert action["inputs"][flag]["default"] in ("true", "false")
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
    assert (
        steps[0]["uses"].startswith("actions/setup-python@")
        and steps[0]["if"] == "inputs.setup-python == 'true'"
    )
    gate = next(s for s in steps if s.get("id") == "gate")
    # every input reaches the script through env (the kubeconfig through its own private-file step)
    passed = {m for v in gate["env"].values() for m in re.findall(r"inputs\.([\w-]+)", str(v))}
    assert passed == set(action["inputs"]) - {"python-version", "kubeconfig"}
    for name, spec in action["outputs"].items():
        assert "steps.gate.outputs" in spec["value"], name


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel(ACTION_FILES))
def test_action_runs_an_existing_mlgate_command_or_says_it_is_not_implemented(path: Path) -> None:
    from gates.cli import COMMANDS

    script = next(s for s in load(path)["runs"]["steps"] if s.get("id") == "gate")["run"]
    match = re.search(r"^\s*run_mlgate (\S+)", script, re.MULTILINE)
    if path.parent.name in DELIVERY and match is None:
        assert "not implemented yet" in script and re.search(r"^\s*exit 1$", script, re.MULTILINE), (
            "never a fake pass"
        )
        return
    assert match, "the gate step must end with run_mlgate COMMAND"
    assert match.group(1) in COMMANDS


def _readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- section:actions -->"), text.index("<!-- /section:actions -->")
    return text[start:end]


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel(ACTION_FILES))
def test_readme_documents_every_input_and_output(path: Path) -> None:
    section = _readme_section()
    name = "action.yml" if path.parent == REPO else f"actions/{path.parent.name}"
    heading = re.search(rf"^#### .*`{re.escape(name)}`.*$", section, re.MULTILINE)
    assert heading, f"README: no '#### ... `{name}`' heading in the actions section"
    following = section[heading.end() :]
    block = following[: m.start()] if (m := re.search(r"^#{2,4} ", following, re.MULTILINE)) else following
    action = load(path)
    missing = [n for n in [*action["inputs"], *action["outputs"]] if f"`{n}`" not in block]
    # the inputs and outputs every gate action shares may be listed once, in the common table
    shared = re.search(
        r"^#### Inputs and outputs of every action.*?(?=^#### )", section, re.MULTILINE | re.DOTALL
    )
    if shared:
        missing = [n for n in missing if f"`{n}`" not in shared.group(0)]
    assert not missing, f"README does not document {name}: {missing}"


def test_workflows_grant_least_privilege() -> None:
    for path in WORKFLOW_FILES:
        workflow = load(path)
        assert workflow.get("permissions") == {}, f"{path.name}: start from no permissions"
        for job_id, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            writes = {k for k, v in granted.items() if v == "write"}
            assert writes <= {"security-events"}, (path.name, job_id, writes)
            if writes:
                assert any("upload-sarif" in (s.get("uses") or "") for s in job["steps"]), (path.name, job_id)
            for step in job.get("steps", []):
                if (step.get("uses") or "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (path.name, job_id)


def test_pull_request_workflow_has_one_job_per_gate_and_uploads_reports_always() -> None:
    workflow = load(REPO / "workflows" / "model-gates.yml")
    assert set(workflow["jobs"]) == {"tests", "model-metrics", "bias", "data-drift", "security"}
    for job_id, job in workflow["jobs"].items():
        assert job["name"] == job_id  # the status check's name
        gate = next(s for s in job["steps"] if s.get("id") == "gate")
        assert gate["uses"] == f"OWNER/mlgate/actions/{job_id}@v1"
        upload = next(s for s in job["steps"] if "upload-artifact" in (s.get("uses") or ""))
        assert upload["if"].startswith("always()")
    sarif = next(s for s in workflow["jobs"]["security"]["steps"] if "upload-sarif" in (s.get("uses") or ""))
    assert sarif["if"].startswith("always()")


def test_deploy_workflow_goes_through_staging_then_a_protected_production() -> None:
    workflow = load(REPO / "workflows" / "model-deploy.yml")
    trigger = workflow[True]["workflow_dispatch"]["inputs"]  # PyYAML reads the key `on` as True
    assert {"image", "environment", "canary-steps"} <= set(trigger)
    staging, production = workflow["jobs"]["staging"], workflow["jobs"]["production"]
    assert staging["environment"]["name"] == "staging" and production["environment"]["name"] == "production"
    assert production["needs"] == "staging"
    assert [s["uses"].split("@")[0] for s in staging["steps"] if "mlgate" in s.get("uses", "")] == [
        "OWNER/mlgate/actions/deploy",
        "OWNER/mlgate/actions/validate-deployment",
    ]
    assert [s["uses"].split("@")[0] for s in production["steps"] if "mlgate" in s.get("uses", "")] == [
        "OWNER/mlgate/actions/canary",
        "OWNER/mlgate/actions/validate-deployment",
    ]
    canary = next(s for s in production["steps"] if s.get("id") == "canary")
    assert canary["with"]["steps"] == "${{ inputs.canary-steps }}"
    assert canary["with"]["kubeconfig"] == "${{ secrets.KUBECONFIG }}"  # an environment secret, to an input
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_kubeconfig_is_written_privately_and_never_printed() -> None:
    for name in ("deploy", "canary"):
        steps = load(REPO / "actions" / name / "action.yml")["runs"]["steps"]
        step = next(s for s in steps if s.get("id") == "kubeconfig")
        assert step["env"] == {"KUBECONFIG_CONTENT": "${{ inputs.kubeconfig }}"}
        script = step["run"]
        assert script.index("umask 077") < script.index('>"$file"')
        mentions = [line.strip() for line in script.splitlines() if "KUBECONFIG_CONTENT" in line]
        assert mentions == ['printf \'%s\\n\' "$KUBECONFIG_CONTENT" >"$file"'], mentions  # only into the file
        assert "set -x" not in script and "::add-mask::" not in script


def test_bash_library_is_valid() -> None:
    subprocess.run(["bash", "-n", str(REPO / "actions" / "lib" / "mlgate.sh")], check=True, timeout=30)
