"""`mlgate notify` and the hook after a command, end to end in-process, against a real local receiver.

The verdict is the gates': a receiver that fails or is missing changes no exit code, and no line mlgate prints
(stdout, stderr, reports) holds the webhook URL."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

SECRET = "T0001/B0002/s3cr3tT0k3nValue"
JUNIT_OK = '<testsuite name="s" tests="1"><testcase classname="a" name="one"/></testsuite>'
JUNIT_FAIL = (
    '<testsuite name="s" tests="1" failures="1"><testcase classname="a" name="one">'
    '<failure message="boom"/></testcase></testsuite>'
)


def write_policy(tmp_path: Path, kind: str = "slack", on: str = "[fail, error]", extra: str = "") -> Path:
    policy = tmp_path / "gates.yml"
    policy.write_text(
        textwrap.dedent(f"""\
        version: 1
        tests:
          junit: junit.xml
        notify:
          retries: 2
          backoff_seconds: 0.01
          targets:
            - kind: {kind}
              url_env: SLACK_WEBHOOK_URL
              statuses: {on}
        {extra}""")
    )
    return policy


def no_secret(result) -> None:
    for stream in (result.stdout, result.stderr):
        assert SECRET not in stream and "s3cr3t" not in stream


def test_run_hook_notifies_a_failing_gate(cli, tmp_path, receiver):
    (tmp_path / "junit.xml").write_text(JUNIT_FAIL)
    policy = write_policy(tmp_path)
    result = cli("--policy", policy, "run", env={"SLACK_WEBHOOK_URL": f"{receiver.url}/ok/{SECRET}"})
    assert result.code == 1
    assert "mlgate: notified slack (SLACK_WEBHOOK_URL)" in result.stdout
    [body] = receiver.bodies("ok")
    assert "FAIL" in body["text"] and "tests" in body["text"]
    no_secret(result)
    for report in (tmp_path / "mlgate-reports").glob("*"):
        if report.is_file():
            assert "s3cr3t" not in report.read_text(errors="replace")


def test_run_hook_failure_never_changes_the_exit_code(cli, tmp_path, receiver):
    (tmp_path / "junit.xml").write_text(JUNIT_OK)
    policy = write_policy(tmp_path, kind="webhook", on="[pass, fail]")
    result = cli("--policy", policy, "run", env={"SLACK_WEBHOOK_URL": f"{receiver.url}/down/{SECRET}"})
    assert result.code == 0
    assert "mlgate: warning: notification to webhook (SLACK_WEBHOOK_URL) failed: HTTP 500" in result.stdout
    assert result.stderr == ""
    assert len(receiver.requests) == 3
    no_secret(result)


def test_run_hook_without_variable_warns_and_passes(cli, tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT_OK)
    policy = write_policy(tmp_path, on="[pass]")
    result = cli("--policy", policy, "run")
    assert result.code == 0
    assert "SLACK_WEBHOOK_URL is not set or empty: not sent" in result.stdout


def test_passing_run_is_quiet_by_default(cli, tmp_path, receiver):
    (tmp_path / "junit.xml").write_text(JUNIT_OK)
    policy = write_policy(tmp_path)
    result = cli("--policy", policy, "run", env={"SLACK_WEBHOOK_URL": f"{receiver.url}/ok/{SECRET}"})
    assert result.code == 0 and receiver.requests == [] and "notif" not in result.stdout


def test_after_commands_off(cli, tmp_path, receiver):
    (tmp_path / "junit.xml").write_text(JUNIT_FAIL)
    policy = write_policy(tmp_path, extra="")
    text = policy.read_text().replace("notify:\n", "notify:\n  after_commands: false\n")
    policy.write_text(text)
    result = cli("--policy", policy, "run", env={"SLACK_WEBHOOK_URL": f"{receiver.url}/ok/{SECRET}"})
    assert result.code == 1 and receiver.requests == []


def test_notify_command_sends_a_report(cli, tmp_path, receiver):
    (tmp_path / "junit.xml").write_text(JUNIT_FAIL)
    policy = write_policy(tmp_path, kind="teams")
    text = policy.read_text().replace("notify:\n", "notify:\n  after_commands: false\n")
    policy.write_text(text)
    assert cli("--policy", policy, "run").code == 1
    report = tmp_path / "mlgate-reports" / "mlgate.json"
    env = {"SLACK_WEBHOOK_URL": f"{receiver.url}/flaky/{SECRET}"}
    receiver.retry_after = "0"
    result = cli("--policy", policy, "notify", "--report", report, env=env)
    assert result.code == 0, result.stderr
    assert "notified teams (SLACK_WEBHOOK_URL) after 2 attempts" in result.stdout
    card = receiver.bodies("flaky")[-1]["attachments"][0]["content"]
    assert "FAIL" in card["body"][0]["text"]
    no_secret(result)


def test_notify_command_strict_exits_3_on_failed_delivery(cli, tmp_path, receiver):
    report = tmp_path / "r.json"
    report.write_text(
        json.dumps({"status": "fail", "exit_code": 1, "gates": [{"gate": "tests", "status": "fail"}]})
    )
    policy = write_policy(tmp_path)
    env = {"SLACK_WEBHOOK_URL": f"{receiver.url}/down/{SECRET}"}
    lenient = cli("--policy", policy, "notify", "--report", report, env=env)
    assert lenient.code == 0 and "warning" in lenient.stdout
    strict = cli("--policy", policy, "notify", "--report", report, "--strict", env=env)
    assert strict.code == 3 and len(strict.stderr_lines) == 1
    no_secret(lenient)
    no_secret(strict)


def test_notify_command_bad_inputs_exit_2_one_line(cli, tmp_path):
    policy = write_policy(tmp_path)
    (tmp_path / "junk.json").write_text("{not json")
    for args in (("--report", tmp_path / "missing.json"), ("--report", tmp_path / "junk.json")):
        result = cli("--policy", policy, "notify", *args)
        assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    bare = tmp_path / "bare.yml"
    bare.write_text("version: 1\n")
    result = cli("--policy", bare, "notify", "--report", tmp_path / "junk.json")
    assert result.code == 2 and "no 'notify' section" in result.stderr
    (tmp_path / "bad.yml").write_text(
        "version: 1\nnotify:\n  targets:\n    - kind: email\n      url_env: X\n"
    )
    result = cli("--policy", tmp_path / "bad.yml", "notify", "--report", tmp_path / "junk.json")
    assert result.code == 2 and "notify.targets[0].kind" in result.stderr
