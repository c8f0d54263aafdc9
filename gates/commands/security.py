"""`mlgate security`: the security gate from flags and/or the policy's `security` section.

Flags that name inputs pick the sub-checks that run, so each runs alone:
  mlgate security --vulns grype.json --severity high
  mlgate security --artifacts model.pkl
  mlgate security --manifests k8s/ --dockerfile examples/service/Dockerfile
With a policy and no input flags, every sub-check in `security:` runs (or those named with --check).
"""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import compact, execute
from gates.core.errors import InputError

_SUBCHECKS = ("vulns", "artifacts", "manifests", "dockerfile", "image")
_SEVERITIES = ("critical", "high", "medium", "low", "negligible")


def _paths(values: tuple[Path, ...]) -> list[str]:
    return [str(v) for v in values]


@click.command()
@click.option(
    "--vulns",
    "reports",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="REPORT",
    help="grype / trivy / pip-audit JSON, SARIF or CycloneDX report (repeatable; format detected).",
)
@click.option(
    "--pip-audit",
    "requirements",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="REQUIREMENTS",
    help="Run pip-audit on this requirements file (repeatable).",
)
@click.option(
    "--severity", type=click.Choice(_SEVERITIES), help="Fail on findings at or above this (default high)."
)
@click.option(
    "--only-fixed/--include-unfixed",
    default=None,
    help="Fail only on findings that have a fix (default: include unfixed).",
)
@click.option(
    "--artifacts",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Model file or directory to scan without loading (repeatable).",
)
@click.option(
    "--allow-global",
    "allowed_globals",
    multiple=True,
    metavar="MODULE.NAME|MODULE:QUALNAME",
    help="Trust one exact name in model artifacts (repeatable): acme.models.Scorer, or "
    "acme.models:Scorer.Config for a nested name; a whole module or package cannot be allowed.",
)
@click.option(
    "--manifests",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Kubernetes YAML file or directory (repeatable).",
)
@click.option(
    "--dockerfile",
    "dockerfiles",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Dockerfile (repeatable).",
)
@click.option("--image", "image_ref", metavar="REF", help="Image in a Docker-compatible engine.")
@click.option(
    "--image-archive",
    type=click.Path(path_type=Path),
    metavar="TAR",
    help="Image from a `docker save` tarball (no engine needed).",
)
@click.option("--docker-host", metavar="URL", help="Engine API, e.g. unix:///run/podman/podman.sock.")
@click.option("--max-image-size", type=float, metavar="MB", help="Image size budget in MiB.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="RULE=LEVEL",
    help="Set a rule's level: error, warning, note or off (repeatable).",
)
@click.option(
    "--standard",
    type=click.Choice(["baseline", "restricted"]),
    help="Pod Security Standard the manifests must meet (default restricted).",
)
@click.option(
    "--check",
    "checks",
    multiple=True,
    type=click.Choice(_SUBCHECKS),
    help="Run only these sub-checks of the policy (repeatable).",
)
def security(
    reports,
    requirements,
    severity,
    only_fixed,
    artifacts,
    allowed_globals,
    manifests,
    dockerfiles,
    image_ref,
    image_archive,
    docker_host,
    max_image_size,
    rules,
    standard,
    checks,
) -> int:
    """Security gate: vulnerability reports, model artifacts, Kubernetes manifests, Dockerfile, image config."""
    overrides: dict = {}
    vulns = compact(
        {
            "reports": _paths(reports),
            "severity": severity,
            "only_fixed": only_fixed,
            "pip_audit": {"requirements": _paths(requirements)} if requirements else None,
        }
    )
    if vulns:
        overrides["vulns"] = vulns
    if artifacts or allowed_globals:
        overrides["artifacts"] = compact(
            {"paths": _paths(artifacts), "allowed_globals": list(allowed_globals)}
        )
    if manifests or standard:
        overrides["manifests"] = compact({"paths": _paths(manifests), "standard": standard})
    if dockerfiles:
        overrides["dockerfile"] = {"paths": _paths(dockerfiles)}
    image = compact(
        {
            "ref": image_ref,
            "archive": str(image_archive) if image_archive else None,
            "docker_host": docker_host,
            "max_size_mb": max_image_size,
        }
    )
    if image:
        overrides["image"] = image
    named = [
        name
        for name, inputs in (
            ("vulns", reports or requirements),
            ("artifacts", artifacts),
            ("manifests", manifests),
            ("dockerfile", dockerfiles),
            ("image", image_ref or image_archive),
        )
        if inputs
    ]
    run = list(dict.fromkeys([*named, *checks]))
    if run:
        overrides["run"] = run
    if rules:
        levels = {}
        for item in rules:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InputError(f"--rule {item!r}: expected RULE=LEVEL")
            levels[key.strip()] = value.strip()
        overrides["rules"] = levels
    return execute("security", overrides)
