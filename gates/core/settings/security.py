"""Settings of the security gate (`security:`): vulnerability reports, model artifacts, manifests, Dockerfiles
and image configs."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from gates.core.settings.base import Name, Paths, PathText, Section, Settings, UniqueItems

Severity = Literal["critical", "high", "medium", "low", "negligible"]
Subcheck = Literal["vulns", "artifacts", "manifests", "dockerfile", "image"]
SUBCHECKS: tuple[Subcheck, ...] = ("vulns", "artifacts", "manifests", "dockerfile", "image")
Positive = Annotated[float, Field(gt=0)]


class Report(Settings):
    """A scanner report with its format named."""

    path: PathText
    format: Literal["grype", "trivy", "pip-audit", "sarif", "cyclonedx"] | None = None
    """Default: detected from the content."""


class PipAudit(Settings):
    """Run pip-audit on requirements files. A vulnerability service that cannot be reached makes the check an
    error (exit 3), never a pass."""

    requirements: Paths
    timeout: Positive = 300
    """Seconds."""
    args: list[str] = []
    """Extra pip-audit arguments, e.g. [--no-deps, --disable-pip]."""
    if_available: bool = False
    """When pip-audit is not installed: warn and go on instead of erring."""


class IgnoreEntry(Settings):
    """An accepted risk; after its expiry date it stops suppressing."""

    nullable = frozenset({"expires"})  # any value: gates.security.ignore reads and checks the date

    id: Annotated[str, Field(min_length=1)]
    """Vulnerability id or alias (CVE-..., GHSA-..., PYSEC-...)."""
    reason: Annotated[str, Field(min_length=1)]
    expires: Annotated[Any, Field(description="Last day the entry applies (YYYY-MM-DD).")]
    package: Name | None = None
    version: str | float | int | None = None


class Vulns(Settings):
    """Vulnerability findings from scanner reports and, optionally, a pip-audit run."""

    reports: list[PathText | Report] = []
    """grype JSON, trivy JSON (image, filesystem or Kubernetes report), pip-audit JSON, SARIF 2.1.0 or CycloneDX
    1.4-1.6 JSON with vulnerabilities; the format is detected from the content unless given (a CycloneDX BOM
    without vulnerabilities is refused as an SBOM unless format: cyclonedx is set)."""
    pip_audit: PipAudit | None = None
    severity: Severity = "high"
    """Findings at or above this severity fail the gate."""
    only_fixed: bool = False
    """Only findings with a fix available fail the gate; the others are listed."""
    unknown_severity: Severity = "high"
    """How to rank findings without a severity, e.g. pip-audit's."""
    expired_ignore: Literal["warn", "fail"] = "warn"
    """Status of the check that lists expired ignore entries (the findings they covered count again either
    way)."""
    sarif_location: PathText | None = None
    """A repository file to attach vulnerability results to in SARIF (e.g. the Dockerfile), instead of the
    scanner's package paths."""
    ignore: list[IgnoreEntry] = []
    """Accepted risks. Every entry needs an id, a reason and an expiry date; after that date it stops
    suppressing."""


class Artifacts(Settings):
    """Model files scanned (never loaded) for code that would run when they are loaded."""

    paths: Paths
    allowed_globals: list[Annotated[str, Field(min_length=1)]] = []
    """Extra trusted names beyond the defaults (the exact names scikit-learn, numpy, scipy, pandas, joblib and
    torch write into their own pickles): one exact name each, module.Name or module:Outer.Inner for a nested
    name. A whole module or package cannot be allowed. Deny-listed names (os, subprocess, eval, ...) stay
    refused."""
    max_mb: Annotated[int, Field(ge=1)] = 4096
    """Largest file or decompressed stream read."""


class Manifests(Settings):
    """Kubernetes manifests: every document of every YAML or JSON file under these files or directories."""

    paths: Paths
    exclude: list[str] = []
    """Glob patterns (relative to the given paths' labels) of files to skip."""
    standard: Literal["baseline", "restricted"] = "restricted"
    """Pod Security Standard every pod template must meet: baseline leaves out the restricted-only controls
    (volume types, privilege escalation, running as non-root, required seccomp, dropping ALL capabilities)."""


class Dockerfile(Settings):
    """Dockerfiles (or directories holding one), read as BuildKit reads them."""

    paths: Paths


class Image(Settings):
    """An image's config: from a `docker save` tarball (archive) or a Docker-compatible engine (ref)."""

    archive: PathText | None = None
    ref: Name | None = None
    """Image reference in the engine (or which image of a multi-image archive)."""
    docker_host: str | None = None
    """Engine API URL, e.g. unix:///run/podman/podman.sock (default: DOCKER_HOST)."""
    timeout: Positive = 60
    """Seconds to wait for the engine."""
    max_size_mb: Positive | None = None
    """Largest image size (default: no limit)."""
    allowed_ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = None
    """Ports the image may expose (default: any)."""
    location: PathText | None = None
    """Repository file to attach image findings to in SARIF (e.g. the Dockerfile)."""


class SecuritySettings(Section):
    """Security gate: vulnerability reports, model artifacts, Kubernetes manifests, Dockerfiles and image
    configs. Every sub-check that has a section runs, unless `run` picks some."""

    section = "security"

    run: Annotated[list[Subcheck], Field(min_length=1), UniqueItems()] | None = None
    """Run only these sub-checks (default: every sub-check configured here)."""
    rules: dict[str, Literal["error", "warning", "note", "off"]] = {}
    """Level per policy rule id (k8s.*, docker.*, image.*, artifact.*): error fails the gate, warning warns,
    note only reports, off skips."""
    vulns: Vulns | None = None
    artifacts: Artifacts | None = None
    manifests: Manifests | None = None
    dockerfile: Dockerfile | None = None
    image: Image | None = None

    def selected(self) -> list[str]:
        """The sub-checks to run: `run`, or every one that is configured."""
        return list(self.run or [name for name in SUBCHECKS if getattr(self, name) is not None])
