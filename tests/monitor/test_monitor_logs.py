"""`mlgate monitor` on prediction logs, in-process through the CLI: state across runs, alarms, late labels,
damaged inputs and the actions on a regression (against the fake GitHub API on 127.0.0.1).

Logs are written by pyarrow (Parquet) and json (JSON Lines) from seeded simulations with known truths."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.github_fake import FakeGitHub, Token

RNG_SEED = 7


def population(n: int, seed: int, score_shift: float = 0.0, accuracy: float = 0.85) -> pd.DataFrame:
    """Scores in (0, 1) (a logistic of a normal), two features, and labels right `accuracy` of the time."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-0.5 + score_shift, 1.0, n)
    score = 1 / (1 + np.exp(-logit))
    predicted = (score >= 0.5).astype(int)
    label = np.where(rng.random(n) < accuracy, predicted, 1 - predicted)
    return pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "score": score,
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "label": label,
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    population(20_000, RNG_SEED).drop(columns=["request_id", "label"]).to_parquet(
        tmp_path / "reference.parquet"
    )
    (tmp_path / "logs").mkdir()
    return tmp_path


def policy(project: Path, extra: str = "", detection: str = "") -> Path:
    path = project / "gates.yml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        monitor:
          reference: reference.parquet
          state: state/monitor.json
          source:
            kind: logs
            predictions: "logs/*.parquet"
            score: score
            features: [age, income]
            id: request_id
          detection:
            arl0: 500
            shift: 0.1
            block_rows: 500
            {detection}
        """)
        + textwrap.indent(textwrap.dedent(extra), "  ")
    )
    return path


def log(project: Path, name: str, frame: pd.DataFrame, keep_labels: bool = False) -> None:
    frame = frame if keep_labels else frame.drop(columns=["label"])
    frame.to_parquet(project / "logs" / name)


def report(project: Path) -> dict:
    return json.loads((project / "mlgate-reports" / "monitor.json").read_text())["gates"][0]


def checks(project: Path) -> dict[str, dict]:
    return {c["name"]: c for c in report(project)["checks"]}


def test_quiet_traffic_passes_and_the_state_persists(cli, project):
    p = policy(project)
    log(project, "day1.parquet", population(2000, 1))
    first = cli("--policy", p, "monitor")
    assert first.code == 0, first.stdout + first.stderr
    found = checks(project)
    assert {"traffic", "change score", "change age", "change income", "drift window"} <= set(found)
    assert found["traffic"]["value"] == 2000
    state = json.loads((project / "state" / "monitor.json").read_text())
    assert state["runs"] == 1 and list(state["processed"]) == ["logs/day1.parquet"]
    assert state["processed"]["logs/day1.parquet"]["rows"] == 2000
    assert state["detectors"]["score"]["seen"] == 4
    design = report(project)["evidence"]["design"]
    assert design["arl0_per_detector"] == 1500 and design["threshold_from"] == "Siegmund's approximation"
    # nothing new: an error (a stopped log pipeline must not look like a quiet model), state kept
    again = cli("--policy", p, "monitor")
    assert again.code == 1 and checks(project)["traffic"]["status"] == "error"
    assert json.loads((project / "state" / "monitor.json").read_text())["detectors"]["score"]["seen"] == 4


def test_no_data_warn_policy(cli, project):
    p = policy(project, extra="no_data: warn\n")
    assert cli("--policy", p, "monitor").code == 0
    assert checks(project)["traffic"]["status"] == "warn"


def test_a_shift_alarms_and_restarts_do_not_reset_the_evidence(cli, project):
    """A small score shift spread over several scheduled runs alarms as it would in one run."""
    p = policy(project, extra="drift: {enabled: false}\n")
    log(project, "day0.parquet", population(1500, 2))
    assert cli("--policy", p, "monitor").code == 0
    codes = []
    for day in range(1, 9):
        log(project, f"day{day}.parquet", population(750, 100 + day, score_shift=0.15))
        codes.append(cli("--policy", p, "monitor").code)
        if codes[-1] == 1:
            break
    assert codes[-1] == 1, codes
    found = checks(project)["change score"]
    assert found["status"] == "fail" and "cusum alarm" in found["why"] and "(up)" in found["why"]
    # the same traffic in one run alarms too, at the same block of the stream
    one = project / "one"
    one.mkdir()
    (one / "logs").mkdir()
    (one / "reference.parquet").write_bytes((project / "reference.parquet").read_bytes())
    state = json.loads((project / "state" / "monitor.json").read_text())
    alarm = state["alarms"][-1]
    frames = [pd.read_parquet(project / "logs" / "day0.parquet")] + [
        pd.read_parquet(project / "logs" / f"day{d}.parquet") for d in range(1, len(codes) + 1)
    ]
    pd.concat(frames).to_parquet(one / "logs" / "all.parquet")
    p1 = policy(one, extra="drift: {enabled: false}\n")
    assert cli("--policy", p1, "monitor").code == 1
    single = json.loads((one / "state" / "monitor.json").read_text())
    assert single["alarms"][-1]["block"] == alarm["block"]


def test_page_hinkley_is_selectable_and_calibrated_once(cli, project):
    p = policy(project, detection="method: page_hinkley")
    log(project, "day1.parquet", population(1000, 3))
    assert cli("--policy", p, "monitor").code == 0
    state = json.loads((project / "state" / "monitor.json").read_text())
    [key] = state["calibration"]
    assert key.startswith("page_hinkley:")
    assert report(project)["evidence"]["design"]["threshold_from"] == "simulation (fixed seed)"


def test_appended_jsonl_is_consumed_once_and_shrinking_is_refused(cli, project):
    p = policy(project)
    p.write_text(p.read_text().replace("logs/*.parquet", "logs/*.jsonl"))
    path = project / "logs" / "live.jsonl"
    rows = population(1200, 4).drop(columns=["label"]).to_dict("records")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:700]))
    assert cli("--policy", p, "monitor").code == 0
    with path.open("a") as out:
        out.write("".join(json.dumps(r) + "\n" for r in rows[700:]))
    assert cli("--policy", p, "monitor").code == 0
    assert checks(project)["traffic"]["value"] == 500
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
    result = cli("--policy", p, "monitor")
    assert result.code == 2 and len(result.stderr_lines) == 1 and "must only grow" in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format": "something-else"}',
        b'{"format": "mlgate-monitor-state", "version": 1}',
        b"\xff\xfe",
    ],
)
def test_corrupt_state_is_exit_2_one_line(cli, project, content):
    p = policy(project)
    log(project, "day1.parquet", population(600, 5))
    (project / "state").mkdir()
    (project / "state" / "monitor.json").write_bytes(content)
    result = cli("--policy", p, "monitor")
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "monitor" in result.stderr and "Traceback" not in result.stderr
    assert (project / "state" / "monitor.json").read_bytes() == content  # never overwritten


def test_late_labels_judge_accuracy_with_an_interval(cli, project):
    labelled = "labelled: {min_accuracy: 0.8, max_calibration_gap: 0.1, min_labels: 200}\n"
    p = policy(project, extra=labelled + "drift: {enabled: false}\n")
    p.write_text(
        p.read_text().replace("    id: request_id\n", '    id: request_id\n    labels: "labels/*.csv"\n')
    )
    (project / "labels").mkdir()
    good = population(1000, 6, accuracy=0.9)
    log(project, "day1.parquet", good)
    good[["request_id", "label"]].iloc[:100].to_csv(project / "labels" / "l1.csv", index=False)
    assert cli("--policy", p, "monitor").code == 0
    assert checks(project)["accuracy"]["status"] == "warn"  # 100 labels < 200: not judged yet
    good[["request_id", "label"]].iloc[100:].to_csv(project / "labels" / "l2.csv", index=False)
    bad = population(1000, 7, accuracy=0.6)
    log(project, "day2.parquet", bad)
    bad[["request_id", "label"]].to_csv(project / "labels" / "l3.csv", index=False)
    result = cli("--policy", p, "monitor")
    found = checks(project)["accuracy"]
    assert result.code == 1 and found["status"] == "fail", found
    assert found["ci"][1] < 0.8 and 0.7 < found["value"] < 0.8


def test_regression_opens_one_issue_and_dispatches_the_rollback(cli, project):
    github = FakeGitHub(tokens={"ghs_monitor": Token(actions="write")}).start()
    try:
        extra = (
            "drift: {enabled: false}\n"
            "on_regression: [issue, rollback]\n"
            "issue: {labels: [model-monitor]}\n"
            "rollback: {workflow: rollback.yml, ref: main, inputs: {environment: production}}\n"
        )
        p = policy(project, extra=extra)
        env = github.env("ghs_monitor")
        log(project, "day1.parquet", population(3000, 8, score_shift=0.4))
        result = cli("--policy", p, "monitor", env=env)
        assert result.code == 1, result.stdout
        found = checks(project)
        assert found["action issue"]["status"] == "pass" and found["action rollback"]["status"] == "pass"
        [issue] = github.issues
        assert "change score" in issue["title"] and issue["labels"] == [{"name": "model-monitor"}]
        assert github.dispatches == [
            {"workflow": "rollback.yml", "ref": "main", "inputs": {"environment": "production"}}
        ]
        assert "ghs_monitor" not in result.stdout + result.stderr
    finally:
        github.stop()


def test_action_without_permission_is_reported_not_hidden(cli, project):
    github = FakeGitHub(tokens={"ghs_read": Token(actions="read")}).start()
    try:
        p = policy(
            project, extra="drift: {enabled: false}\non_regression: [rollback]\nrollback: {workflow: r.yml}\n"
        )
        log(project, "day1.parquet", population(3000, 9, score_shift=0.4))
        result = cli("--policy", p, "monitor", env=github.env("ghs_read"))
        assert result.code == 1
        action = checks(project)["action rollback"]
        assert action["status"] == "error" and "actions=write" in action["why"]
    finally:
        github.stop()


def test_notify_on_regression_sends_once_and_the_hook_stays_quiet(cli, project):
    from tests.notify.receiver import start

    server, receiver = start()
    try:
        extra = "drift: {enabled: false}\non_regression: [notify]\n"
        p = policy(project, extra=extra)
        p.write_text(
            p.read_text()
            + "notify:\n  backoff_seconds: 0.01\n  targets:\n    - {kind: webhook, url_env: HOOK_URL, statuses: [fail, error]}\n"
        )
        env = {"HOOK_URL": f"{receiver.url}/ok/secret-path"}
        log(project, "day1.parquet", population(3000, 10, score_shift=0.4))
        result = cli("--policy", p, "monitor", env=env)
        assert result.code == 1
        assert checks(project)["action notify"]["status"] == "pass"
        [body] = receiver.bodies("ok")  # the monitor's own message; the after-command hook does not repeat it
        assert body["event"] == "monitor" and body["status"] == "fail"
        assert "secret-path" not in result.stdout + result.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_a_forgotten_file_that_comes_back_is_named_and_not_counted_again(cli, project):
    """`forget_after_days` (here a fraction of a second) lets the state drop a file gone from the folder; when
    a backup brings it back with its old modification time, the run warns and counts only the new file."""
    p = policy(project)
    p.write_text(
        p.read_text().replace("id: request_id\n", "id: request_id\n    forget_after_days: 0.000001\n")
    )
    log(project, "day1.parquet", population(1000, 11))
    assert cli("--policy", p, "monitor").code == 0
    os.replace(project / "logs" / "day1.parquet", project / "day1.parquet")  # retention removed it
    log(project, "day2.parquet", population(1000, 12))
    time.sleep(0.2)  # absent longer than forget_after_days (0.0864 s) since the first run saw it
    assert cli("--policy", p, "monitor").code == 0
    state = json.loads((project / "state" / "monitor.json").read_text())
    assert list(state["processed"]) == ["logs/day2.parquet"]
    assert state["forgotten"]["name"] == "logs/day1.parquet" and state["forgotten"]["files"] == 1
    os.replace(project / "day1.parquet", project / "logs" / "day1.parquet")  # restored, mtime kept
    log(project, "day3.parquet", population(600, 13))
    result = cli("--policy", p, "monitor")
    found = checks(project)
    assert result.code == 0, result.stdout + result.stderr
    assert found["traffic"]["value"] == 600
    assert (
        found["forgotten logs"]["status"] == "warn" and "logs/day1.parquet" in found["forgotten logs"]["why"]
    )
