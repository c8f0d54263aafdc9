"""The command line: help and version, exit codes, and every bad input as exit 2 with one line on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates import __version__
from tests.conftest import clean_environ

HEAVY = ("pandas", "numpy", "sklearn", "scipy", "matplotlib", "pyarrow", "fairlearn", "kubernetes")


def test_help_and_version(cli):
    result = cli("--help")
    assert result.code == 0
    for command in ("run", "tests", "metrics", "latency", "audit", "policy"):
        assert f"  {command} " in result.stdout
    assert "Exit codes" in result.stdout
    result = cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"mlgate, version {__version__}"
    result = cli("metrics", "--help")
    assert result.code == 0 and "--margin METRIC=VALUE[%]" in result.stdout


def test_python_dash_m_entry_point_and_console_script(cli_subprocess):
    result = cli_subprocess("--version")
    assert result.code == 0 and __version__ in result.stdout
    result = cli_subprocess("--help")
    assert result.code == 0 and "Usage: mlgate" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["metrics", "--help"], ["--version"]])
def test_help_does_not_import_heavy_modules(tmp_path, args):
    code = (
        f"import sys\nfrom gates.cli import main\ntry:\n    main({args!r})\nexcept SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.strip() == "[]"
    # and -X importtime agrees
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gates.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=60,
        check=False,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert completed.returncode == 0
    assert not imported & set(HEAVY), imported & set(HEAVY)


def make_predictions(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    label = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "label": label,
            "score": np.round(np.clip(0.4 * label + rng.uniform(0, 0.6, n), 0, 1), 3),
        }
    )
    frame.to_csv(tmp_path / "good.csv", index=False)
    return frame


FAST = ("--resamples", "200")


def test_exit_codes_pass_and_fail(cli, tmp_path):
    make_predictions(tmp_path)
    result = cli("metrics", "--predictions", "good.csv", "--min", "roc_auc=0.7", *FAST)
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert "verdict: metrics pass" in result.stdout
    assert (tmp_path / "mlgate-reports" / "mlgate.json").is_file()
    assert (tmp_path / "mlgate-reports" / "audit.jsonl").is_file()
    result = cli("metrics", "--predictions", "good.csv", "--min", "roc_auc=0.99", *FAST)
    assert result.code == 1
    assert "metrics/roc_auc fail: roc_auc" in result.stdout
    assert result.stderr == ""


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, fragment the one-line message must contain)."""
    frame = make_predictions(tmp_path)

    def variant(name: str, change) -> str:
        copy = frame.copy()
        copy["score"] = copy["score"].astype(object)
        change(copy)
        copy.to_csv(tmp_path / name, index=False)
        return name

    (tmp_path / "empty.csv").write_text("")
    frame.iloc[:150].to_csv(tmp_path / "short.csv", index=False)
    variant("text.csv", lambda f: f.__setitem__("score", f["score"].where(f.index != 4, "high")))
    variant("nan.csv", lambda f: f.__setitem__("score", f["score"].where(f.index != 6, np.nan)))
    variant("inf.csv", lambda f: f.__setitem__("score", f["score"].where(f.index != 6, np.inf)))
    variant("outside.csv", lambda f: f.__setitem__("score", f["score"].where(f.index != 8, 1.5)))
    variant("classes.csv", lambda f: f.__setitem__("label", f["label"].where(f.index != 9, 2)))
    raw = (tmp_path / "good.csv").read_bytes().replace(b"\n5,", "\n5\xe9,".encode("latin-1"), 1)
    (tmp_path / "latin1.csv").write_bytes(raw)
    policy = "version: 1\nmetrics:\n  predictions: good.csv\n  classes: [0, 1]\n{extra}"
    (tmp_path / "classes.yml").write_text(policy.format(extra="").replace("good.csv", "classes.csv"))
    (tmp_path / "gates.yml").write_text(policy.format(extra="  thresholds:\n    roc_auc: {min: high}\n"))
    (tmp_path / "unknown.yml").write_text(policy.format(extra="  thresholds:\n    roc_auc: {minimum: 0.5}\n"))
    (tmp_path / "broken.yml").write_text(policy.format(extra="  thresholds: [roc_auc\n"))
    metrics = ["metrics", "--min", "roc_auc=0.5", *FAST]
    (tmp_path / "notadir").write_text("a file where a folder is expected")
    return {
        "missing file": ([*metrics, "--predictions", "absent.csv"], "absent.csv: input file not found"),
        "empty file": ([*metrics, "--predictions", "empty.csv"], "empty.csv: file is empty"),
        "missing label column": (
            [*metrics, "--predictions", "good.csv", "--label-column", "target"],
            "good.csv: missing column 'target' (columns: id, label, score)",
        ),
        "missing score column": (
            [*metrics, "--predictions", "good.csv", "--score-column", "proba"],
            "good.csv: missing column 'proba'",
        ),
        "length mismatch": (
            [*metrics, "--predictions", "good.csv", "--baseline", "short.csv", "--margin", "roc_auc=0.01"],
            "short.csv: 150 rows, but the candidate has 200",
        ),
        "non-numeric score": (
            [*metrics, "--predictions", "text.csv"],
            "text.csv: column 'score' row 5: expected a number, got 'high'",
        ),
        "nan score": (
            [*metrics, "--predictions", "nan.csv"],
            "nan.csv: column 'score': 1 row NaN or infinite",
        ),
        "inf score": (
            [*metrics, "--predictions", "inf.csv"],
            "inf.csv: column 'score': 1 row NaN or infinite",
        ),
        "score outside [0, 1]": (
            [*metrics, "--predictions", "outside.csv"],
            "outside.csv: column 'score' row 9: expected a probability in [0, 1], got 1.5",
        ),
        "label outside classes": (
            ["--policy", "classes.yml", *metrics],
            "classes.csv: column 'label' row 10: label 2 is not one of the declared classes 0, 1",
        ),
        "latin-1 bytes": ([*metrics, "--predictions", "latin1.csv"], "latin1.csv: not UTF-8 text"),
        "bad policy type": (
            ["--policy", "gates.yml", "metrics"],
            "gates.yml: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 'high'",
        ),
        "unknown policy key": (
            ["--policy", "unknown.yml", "metrics"],
            "unknown.yml: metrics.thresholds.roc_auc: unknown key 'minimum'",
        ),
        "invalid yaml": (["--policy", "broken.yml", "metrics"], "broken.yml: line "),
        "missing policy": (["--policy", "nowhere.yml", "run"], "nowhere.yml: policy file not found"),
        "malformed flag": (
            [*metrics, "--predictions", "good.csv", "--min", "roc_auc"],
            "--min 'roc_auc': expected NAME=VALUE",
        ),
        "no inputs": (["metrics"], "command line: no 'metrics' section, and no inputs given as flags"),
        "run without policy": (["run"], "mlgate run needs a policy"),
        "report dir not creatable": (
            ["--report-dir", "notadir/sub", *metrics, "--predictions", "good.csv"],
            "notadir/sub: Not a directory (a path mlgate was told to read or write)",
        ),
        "audit log not creatable": (
            ["--audit-log", "notadir/x.jsonl", *metrics, "--predictions", "good.csv"],
            "notadir: exists and is not a folder",
        ),
    }


CASES = [
    "missing file",
    "empty file",
    "missing label column",
    "missing score column",
    "length mismatch",
    "non-numeric score",
    "nan score",
    "inf score",
    "score outside [0, 1]",
    "label outside classes",
    "latin-1 bytes",
    "bad policy type",
    "unknown policy key",
    "invalid yaml",
    "missing policy",
    "malformed flag",
    "no inputs",
    "run without policy",
    "report dir not creatable",
    "audit log not creatable",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(cli, tmp_path, case):
    args, fragment = bad_inputs(tmp_path)[case]
    result = cli(*args)
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr_lines) == 1, result.stderr
    line = result.stderr_lines[0]
    assert line.startswith("mlgate: error: ")
    assert fragment in line, line


def test_bad_policy_type_message_is_exact(cli, tmp_path):
    args, _ = bad_inputs(tmp_path)["bad policy type"]
    assert cli(*args).stderr == (
        "mlgate: error: gates.yml: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 'high'\n"
    )


@pytest.mark.parametrize("case", ["missing file", "latin-1 bytes", "bad policy type", "invalid yaml"])
def test_bad_input_end_to_end_in_a_subprocess(cli_subprocess, tmp_path, case):
    args, fragment = bad_inputs(tmp_path)[case]
    result = cli_subprocess(*args)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr_lines) == 1 and fragment in result.stderr_lines[0], result.stderr


def test_bad_input_in_a_gate_still_writes_reports(cli, tmp_path):
    args, _ = bad_inputs(tmp_path)["nan score"]
    result = cli("--report-dir", "out", *args)
    assert result.code == 2
    report = json.loads((tmp_path / "out" / "mlgate.json").read_text())
    assert report["exit_code"] == 2 and report["status"] == "error"
    assert "NaN or infinite" in report["gates"][0]["checks"][0]["why"]


def test_run_only_and_skip(cli, tmp_path):
    make_predictions(tmp_path)
    (tmp_path / "lat.csv").write_text("latency_ms\n" + "\n".join(str(10 + i % 7) for i in range(300)) + "\n")
    (tmp_path / "p.yml").write_text(
        "version: 1\ndefaults: {bootstrap: {resamples: 100}}\n"
        "metrics: {predictions: good.csv, thresholds: {roc_auc: {min: 0.99}}}\n"
        "latency: {samples: lat.csv, max_p95: 100}\n"
    )
    result = cli("--policy", "p.yml", "run")
    assert result.code == 1 and "verdict: metrics fail, latency pass" in result.stdout
    result = cli("--policy", "p.yml", "run", "--skip", "metrics")
    assert result.code == 0 and "verdict: latency pass" in result.stdout
    result = cli("--policy", "p.yml", "run", "--only", "metrics")
    assert result.code == 1 and "verdict: metrics fail" in result.stdout
    result = cli("--policy", "p.yml", "run", "--only", "drift")
    assert result.code == 2
    assert result.stderr_lines == [
        "mlgate: error: --only/--skip 'drift': not a gate in p.yml (it has: metrics, latency)"
    ]


def test_policy_from_environment_and_flag_paths_relative_to_cwd(cli, tmp_path):
    make_predictions(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "p.yml").write_text(
        "version: 1\nmetrics: {predictions: ../good.csv, "
        "thresholds: {roc_auc: {min: 0.5}}, bootstrap: {resamples: 50}}\n"
    )
    result = cli("metrics", env={"MLGATE_POLICY": "conf/p.yml"})
    assert result.code == 0, result.stderr
    # a flag path is relative to the working directory, not to the policy's folder
    result = cli("--policy", "conf/p.yml", "metrics", "--predictions", "good.csv")
    assert result.code == 0, result.stderr


def test_no_audit_flag(cli, tmp_path):
    make_predictions(tmp_path)
    result = cli(
        "--no-audit", "--report-dir", "r", "metrics", "--predictions", "good.csv", "--min", "f1=0.1", *FAST
    )
    assert result.code == 0
    assert (tmp_path / "r" / "mlgate.json").exists() and not (tmp_path / "r" / "audit.jsonl").exists()


def test_early_failure_still_sets_step_outputs_and_summary(tmp_path):
    """mlgate stops before any gate (missing policy): the workflow still gets status=error, never nothing."""
    outputs, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {
        **clean_environ(),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTIONS": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "gates.cli", "--policy", "missing.yml", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == ["mlgate: error: missing.yml: policy file not found"]
    assert "::error title=mlgate::missing.yml: policy file not found" in completed.stdout
    text = outputs.read_text()
    assert "status<<" in text and "\nerror\n" in text and "exit-code<<" in text and "\n2\n" in text
    assert "mlgate: error" in summary.read_text()


BROKEN_KUBECONFIG = "apiVersion: v1\nusers:\n- name: u\n  user: {token: SUPERSECRET-TOKEN\n"


@pytest.mark.parametrize(
    "command",
    [
        ["rollback", "web"],
        ["canary", "--deployment", "web", "--image", "app:2"],
        ["deploy", "--manifests", "m.yaml"],
    ],
)
def test_broken_kubeconfig_is_one_line_without_its_contents(cli, tmp_path, command):
    (tmp_path / "config").write_text(BROKEN_KUBECONFIG)
    (tmp_path / "m.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n")
    result = cli(*command, "--kubeconfig", "config", env={"MLGATE_PROMETHEUS_URL": "http://127.0.0.1:9"})
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr_lines == ["mlgate: error: kubeconfig config: not valid YAML (line 5, column 1)"]
    assert "SUPERSECRET" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_canary_reads_a_kubeconfig_list_like_deploy(cli, tmp_path, monkeypatch):
    """KUBECONFIG=a:b is a list of files (kubectl semantics: the first current-context wins), for canary as for
    deploy and rollback, not one file named "a:b"."""
    from gates.deploy.kube import Kube

    (tmp_path / "a").write_text(
        "current-context: mine\nclusters: [{name: c, cluster: {server: 'https://a.example'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    (tmp_path / "b").write_text(
        "current-context: theirs\n"
        "clusters: [{name: c2, cluster: {server: 'https://b.example'}}]\n"
        "contexts: [{name: mine, context: {cluster: c, user: u, namespace: ns}},\n"
        "           {name: theirs, context: {cluster: c2}}]\n"
    )
    hosts: list[str] = []

    def request(self, method, path, **kwargs):
        hosts.append(self.host)
        from gates.core.errors import InfraError

        raise InfraError(f"{method} {path}: stop here")

    monkeypatch.setattr(Kube, "request", request)
    env = {"KUBECONFIG": "a:b", "MLGATE_PROMETHEUS_URL": "http://127.0.0.1:9"}
    result = cli("canary", "--deployment", "web", "--image", "app:2", "-n", "ns", env=env)
    assert result.code == 3 and hosts and set(hosts) == {"https://a.example"}, result.stdout + result.stderr
    hosts.clear()
    result = cli("rollback", "web", env=env)
    assert result.code == 3 and set(hosts) == {"https://a.example"}
    (tmp_path / "b").write_text(BROKEN_KUBECONFIG)
    for command in (["canary", "--deployment", "web", "--image", "app:2"], ["rollback", "web"]):
        result = cli(*command, env=env)
        assert result.code == 2
        assert result.stderr_lines == ["mlgate: error: kubeconfig b: not valid YAML (line 5, column 1)"]


def test_a_bad_flag_value_without_a_policy_names_the_flags_once(cli, tmp_path):
    make_predictions(tmp_path)
    result = cli("metrics", "--predictions", "good.csv", "--min", "roc_auc=2", *FAST)
    assert result.code == 2
    assert result.stderr_lines == [
        "mlgate: error: command-line flags: metrics.thresholds.roc_auc.min: expected a number in [0, 1], got 2.0"
    ]


# -- global options before or after the subcommand --------------------------------------------------------------
def latency_policy(
    tmp_path: Path, max_p95: float = 100, samples: str = "lat.csv", name: str = "p.yml"
) -> Path:
    (tmp_path / "lat.csv").write_text("latency_ms\n" + "\n".join(str(10 + i % 7) for i in range(300)) + "\n")
    path = tmp_path / name
    path.write_text(
        f"version: 1\ndefaults: {{bootstrap: {{resamples: 50}}}}\n"
        f"latency: {{samples: {samples}, max_p95: {max_p95}}}\n"
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--policy", "p.yml", "--report-dir", "r", "--no-audit", "run"],
        ["run", "--policy", "p.yml", "--report-dir", "r", "--no-audit"],
        ["--policy", "p.yml", "run", "--report-dir", "r", "--no-audit"],
        ["--report-dir", "r", "run", "--no-audit", "--policy", "p.yml"],
        ["--policy", "p.yml", "--report-dir", "r", "run", "--policy", "p.yml", "--no-audit", "--no-audit"],
    ],
)
def test_global_options_before_or_after_the_subcommand(cli, tmp_path, args):
    latency_policy(tmp_path)
    result = cli(*args)
    assert result.code == 0, result.stdout + result.stderr
    assert "verdict: latency pass" in result.stdout
    assert (tmp_path / "r" / "mlgate.json").is_file()
    assert not (tmp_path / "r" / "audit.jsonl").exists() and not (tmp_path / "mlgate-reports").exists()


def test_global_options_after_a_gate_command_and_a_nested_one(cli, tmp_path):
    latency_policy(tmp_path)
    result = cli("latency", "--policy", "p.yml", "--audit-log", "trail.jsonl", "--report-dir", "out")
    assert result.code == 0, result.stderr
    assert (tmp_path / "trail.jsonl").is_file() and (tmp_path / "out" / "latency.json").is_file()
    for command in (["drift", "profile"], ["policy", "check"], ["audit", "verify"], ["metrics"]):
        result = cli(*command, "--help")
        assert result.code == 0
        for flag in ("--policy", "--report-dir", "--audit-log", "--no-audit", "--fail-on"):
            assert flag in result.stdout, (command, flag)


def test_a_global_option_given_twice_with_different_values_is_an_error(cli, tmp_path):
    latency_policy(tmp_path)
    latency_policy(tmp_path, name="other.yml")
    result = cli("--policy", "p.yml", "run", "--policy", "other.yml")
    assert result.code == 2
    assert result.stderr_lines == [
        (
            "mlgate: error: --policy is given twice with different values: 'p.yml' before the command and "
            "'other.yml' after 'run'; give it once"
        )
    ]
    result = cli("--fail-on", "never", "latency", "--fail-on", "error")
    assert result.code == 2  # a conflict is bad input whatever --fail-on says: it is not known which applies
    assert "--fail-on is given twice with different values: 'never' before the command and 'error' after" in (
        result.stderr
    )


def test_a_global_option_after_the_subcommand_overrides_the_environment(cli, tmp_path):
    latency_policy(tmp_path)
    latency_policy(tmp_path, max_p95=1, name="failing.yml")
    env = {"MLGATE_POLICY": "failing.yml", "MLGATE_FAIL_ON": "never", "MLGATE_REPORT_DIR": "env-reports"}
    result = cli("run", "--policy", "p.yml", "--fail-on", "fail", "--no-audit", env=env)
    assert result.code == 0 and "verdict: latency pass" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "env-reports" / "mlgate.json").is_file()
    result = cli("run", "--no-audit", "--fail-on", "fail", env=env)
    assert result.code == 1 and "verdict: latency fail" in result.stdout


# -- --fail-on: report-only mode --------------------------------------------------------------------------------
VERDICTS = {"pass": 0, "fail": 1, "bad input": 2, "infrastructure": 3}
EXPECTED_EXIT = {
    ("fail", 0): 0,
    ("fail", 1): 1,
    ("fail", 2): 2,
    ("fail", 3): 3,
    ("error", 0): 0,
    ("error", 1): 0,
    ("error", 2): 2,
    ("error", 3): 3,
    ("never", 0): 0,
    ("never", 1): 0,
    ("never", 2): 0,
    ("never", 3): 0,
}


def github_env(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }


def read_outputs(tmp_path: Path) -> dict[str, str]:
    from tests.test_formats import parse_github_output

    return parse_github_output((tmp_path / "github_output").read_text(encoding="utf-8"))


@pytest.mark.parametrize("where", ["flag before", "flag after", "environment"])
@pytest.mark.parametrize("fail_on", ["fail", "error", "never"])
@pytest.mark.parametrize("verdict", list(VERDICTS))
def test_fail_on_every_combination(cli, tmp_path, monkeypatch, verdict, fail_on, where):
    code = VERDICTS[verdict]
    latency_policy(
        tmp_path, max_p95=1 if verdict == "fail" else 100, samples="gone.csv" if code == 2 else "lat.csv"
    )
    if verdict == "infrastructure":
        import gates.latency
        from gates.core.errors import InfraError

        def down(section, ctx):
            raise InfraError("prometheus at http://127.0.0.1:9 is unreachable")

        monkeypatch.setattr(gates.latency, "run", down)
    env = github_env(tmp_path)
    args = ["--policy", "p.yml", "--no-audit", "run"]
    if where == "flag before":
        args = ["--fail-on", fail_on, *args]
    elif where == "flag after":
        args = [*args, "--fail-on", fail_on]
    else:
        env["MLGATE_FAIL_ON"] = fail_on.upper()  # case does not matter
    result = cli(*args, env=env)
    expected = EXPECTED_EXIT[(fail_on, code)]
    assert result.code == expected, (result.stdout, result.stderr)

    outputs = read_outputs(tmp_path)  # the real verdict, whatever the exit
    assert outputs["status"] == {0: "pass", 1: "fail", 2: "error", 3: "error"}[code]
    assert outputs["exit-code"] == str(code)
    assert outputs["blocking"] == ("true" if expected else "false")
    report = json.loads((tmp_path / "mlgate-reports" / "mlgate.json").read_text())
    assert report["exit_code"] == code  # every gate writes its reports, blocking or not

    summary = (tmp_path / "step_summary").read_text(encoding="utf-8")
    note = f"report-only (fail-on: {fail_on}): this verdict does not block"
    assert (note in summary) == (code != 0 and expected == 0)
    told = f"mlgate: report-only (fail-on: {fail_on}): exit 0; the verdict's exit code is {code}"
    assert (told in result.stdout) == (code != 0 and expected == 0)
    if code in (2, 3):  # the reason is on stderr either way
        assert len(result.stderr_lines) == 1 and result.stderr_lines[0].startswith("mlgate: error: ")
    else:
        assert result.stderr == ""


@pytest.mark.parametrize(("fail_on", "expected"), [("fail", 2), ("error", 2), ("never", 0)])
def test_fail_on_applies_to_failures_before_any_gate(cli, tmp_path, fail_on, expected):
    env = github_env(tmp_path)
    result = cli("--fail-on", fail_on, "--policy", "missing.yml", "run", env=env)
    assert result.code == expected
    assert result.stderr_lines == ["mlgate: error: missing.yml: policy file not found"]
    outputs = read_outputs(tmp_path)
    assert outputs["status"] == "error" and outputs["exit-code"] == "2"
    assert outputs["blocking"] == ("true" if expected else "false")
    assert ("this verdict does not block" in (tmp_path / "step_summary").read_text()) == (expected == 0)
    # from the environment too, when the failure comes before the options are read (an unknown option)
    result = cli("--no-such-option", "run", env={**env, "MLGATE_FAIL_ON": fail_on})
    assert result.code == expected


def test_an_invalid_fail_on_is_bad_input(cli, tmp_path):
    latency_policy(tmp_path)
    result = cli("--policy", "p.yml", "run", "--fail-on", "sometimes")
    assert result.code == 2 and "'sometimes' is not one of 'fail', 'error', 'never'" in result.stderr
    result = cli("--policy", "p.yml", "run", env={"MLGATE_FAIL_ON": "sometimes"})
    assert result.code == 2 and "'sometimes' is not one of" in result.stderr


# -- step outputs hold absolute paths -----------------------------------------------------------------------------
def test_output_paths_are_absolute_from_another_working_directory(cli, tmp_path, monkeypatch):
    latency_policy(tmp_path)
    work = tmp_path / "service" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    env = github_env(tmp_path)
    result = cli("--policy", "../../p.yml", "--report-dir", "../reports", "run", env=env)
    assert result.code == 0, result.stderr
    outputs = read_outputs(tmp_path)
    reports = tmp_path / "service" / "reports"
    assert outputs["report-dir"] == str(reports)
    assert outputs["report"] == str(reports / "mlgate.json")
    assert outputs["summary"] == str(reports / "summary.md") and outputs["junit"] == str(
        reports / "junit.xml"
    )
    assert outputs["audit-log"] == str(reports / "audit.jsonl")
    monkeypatch.chdir(tmp_path)  # a later step in another working-directory finds the same files
    for key in ("report-dir", "report", "summary", "junit", "audit-log"):
        assert Path(outputs[key]).is_absolute() and Path(outputs[key]).exists(), key


@pytest.mark.parametrize(
    "argv", [["audit", "verify", "--log", "missing.jsonl"], ["policy", "check", "missing.yml"]]
)
def test_fail_on_never_does_not_relax_commands_that_must_block(argv, tmp_path, monkeypatch):
    """Report-only mode is for adopting gates; a safety check (audit, policy, deploy guard) that exits 0 on a
    problem would be a silent pass."""
    from gates.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLGATE_FAIL_ON", "never")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_numpy_is_asked_not_to_advise_huge_pages_unless_the_user_chose():
    import numpy as np

    from gates.cli import numpy_without_hugepage_advice

    setter = np._core.multiarray._set_madvise_hugepage
    before = setter(True)
    try:
        chosen = {"NUMPY_MADVISE_HUGEPAGE": "1"}
        numpy_without_hugepage_advice(chosen)
        assert chosen == {"NUMPY_MADVISE_HUGEPAGE": "1"} and setter(True) is True  # the user's choice stands
        unset: dict[str, str] = {}
        numpy_without_hugepage_advice(unset)
        # numpy already imported: told directly
        assert unset == {"NUMPY_MADVISE_HUGEPAGE": "0"} and setter(True) is False
    finally:
        setter(before)


FAULTS = """
import resource, sys
import numpy as np
from gates.cli import keep_freed_memory
applied = keep_freed_memory({} if sys.argv[1] == "keep" else {"MALLOC_TRIM_THRESHOLD_": "131072"})
np.ones(10_000_000)  # 80 MB, written and freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(10_000_000)  # the same size again
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_unless_the_user_tuned_malloc():
    """keep_freed_memory: a second 80 MB temporary reuses the first one's pages (a few faults, not one per
    page: ~19,500 of 4 KB); a user's own MALLOC_*_ setting leaves glibc as it is. In a fresh interpreter,
    since the setting lasts for the process; without numpy's huge-page advice, as mlgate runs."""
    import os
    import subprocess

    runs = {}
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
    for mode in ("keep", "user"):
        out = subprocess.run(
            [sys.executable, "-c", FAULTS, mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
        ).stdout.split()
        runs[mode] = (out[0] == "True", int(out[1]))
    assert runs["keep"][0] and runs["keep"][1] < 1_000
    assert not runs["user"][0] and runs["user"][1] > 15_000
