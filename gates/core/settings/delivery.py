# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
"""Settings of the delivery commands: `deploy:` (mlgate deploy) and `validate_deployment:` (mlgate
validate-deployment). The canary has its own module (canary.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import DecidingSection, Name, PathText, Section, Settings
from gates.core.settings.canary import Sequential

Url = Annotated[str, Field(pattern=r"^https?://")]
Images = Annotated[
    dict[str, Annotated[str, Field(min_length=1)]],
    Field(
        min_length=1,
        description="Images to set: {name used in the manifests: new reference (repo/name:tag or "
        "repo/name@sha256:...)}.",
    ),
]
Seconds = Annotated[float, Field(gt=0)]
EndpointPath = Annotated[str, Field(pattern=r"^/")]


class Environment(Settings):
    """One deploy environment's settings, laid over the section's."""

    path: PathText | None = None
    """The environment's kustomization folder (default MANIFESTS/overlays/<environment>)."""
    namespace: Name | None = None
    """Namespace laid over the overlay's."""
    images: Images | None = None
    timeout_seconds: Seconds | None = None


class BlueGreenRoute(Settings):
    """The route whose backends switch colour (gates.deploy.bluegreen_route)."""

    kind: Literal["HTTPRoute", "Ingress"]
    name: Name


class BlueGreenJudge(Settings):
    """The sequential judge on test traffic before a blue/green switch (gates.deploy.bluegreen_judge): the same
    requests go to the new colour and to the live one, and the new colour must be surely no worse."""

    enabled: bool = True
    """Compare the new colour with the live one before switching (nothing to compare on a first deploy)."""
    requests: Annotated[int, Field(ge=10, le=100000)] = 3000
    """Most test requests sent to each colour; the judge stops as soon as it decides."""
    look_every: Annotated[int, Field(ge=10, le=10000)] = 200
    """Requests to each colour between two looks (anytime-valid: looking often costs no false blocks)."""
    concurrency: Annotated[int, Field(ge=1, le=32)] = 2
    """Request pairs in flight at once."""
    max_duration_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    """Bound on the test traffic's wall time; undecided at the bound blocks the switch."""
    error_rate_min_effect: Annotated[float, Field(gt=0, le=1)] = 0.005
    """Error rate the new colour may have without a comparison (its upper bound at or below it passes the error
    check); with no errors that takes about 13 / this many requests at alpha 0.01."""
    latency_min_effect_ms: Annotated[float, Field(ge=0)] = 5.0
    """Slow-down in milliseconds never counted as a regression (two pods of one build differ by this much)."""
    live_url: Url | None = None
    """Where the live colour answers (default: a ready pod of it); give it with preview_url."""
    sequential: Sequential = Sequential()
    """alpha, tolerance, margin and scale of the judge, as the canary's (docs/sequential-canary.md)."""


class BlueGreen(Settings):
    """Blue/green delivery (mlgate deploy --strategy blue-green, gates.deploy.bluegreen)."""

    deployment: Name | None = None
    """The Deployment to run in two colours (default: the only one rendered)."""
    service: Name | None = None
    """The Service whose selector switches (default: the only one selecting that Deployment)."""
    keep_seconds: Annotated[float, Field(ge=0)] = 3600.0
    """How long the old colour stays scaled for an instant switch back (0: scaled down at the switch)."""
    preview_url: Url | None = None
    """Where the new colour answers before the switch (default: a ready pod of it, http port)."""
    validation: bool = True
    """Validate the new colour (validate_deployment's checks and golden file) before switching."""
    route: BlueGreenRoute | None = None
    """Switch this route's backends between <service>-blue and <service>-green instead of the Service's
    selector."""
    judge: BlueGreenJudge = BlueGreenJudge()
    """After validation, the new colour against the live one on the same test requests."""


class GitOpsWait(Settings):
    """What reconciled means: the Deployment the reconciler updates runs the new image, rollout complete."""

    deployment: Name | None = None
    """Deployment to watch (none: do not wait)."""
    namespace: Name | None = None
    """Its namespace (default: default)."""
    argocd_application: Name | None = None
    """An Argo CD Application to wait for: health Healthy and sync Synced at the pushed commit."""
    argocd_namespace: Name = "argocd"
    """The Application's namespace."""
    timeout_seconds: Seconds = 600.0


class GitOps(Settings):
    """GitOps promotion (mlgate deploy --strategy gitops, gates.deploy.gitops): a commit to the repository Argo CD
    or Flux reconciles, instead of an apply."""

    repository: Annotated[str, Field(min_length=1)] | None = None
    """Clone URL (git's own credentials apply) or a path relative to the policy file."""
    branch: Annotated[str, Field(min_length=1)] = "main"
    path: PathText | None = None
    """Folder of the kustomization whose images: are set, inside the repository."""
    message: Annotated[str, Field(min_length=1)] | None = None
    """Commit message; {images} is replaced by NAME=REF of what changed."""
    author: Annotated[str, Field(pattern=r"^[^<>]+ <[^<>]+>$")] | None = None
    """Commit author, `Name <email>` (default mlgate <mlgate@users.noreply.github.com>)."""
    mode: Literal["push", "pull-request"] = "push"
    """push: commit to the branch; pull-request: push a branch mlgate/promote-... and open a pull request to
    the branch (GITHUB_TOKEN; nothing is reconciled until it is merged, so there is no wait)."""
    github_repository: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")] | None = None
    """owner/name the pull request is opened in (default: from a github.com repository URL, else
    GITHUB_REPOSITORY)."""
    wait: GitOpsWait = GitOpsWait()


class DeploySettings(Section):
    """Deploy: render the manifests of an environment, validate them, server-side apply (field manager mlgate)
    and wait for the rollout; a rollout that misses its deadline is rolled back (mlgate deploy)."""

    section = "deploy"

    manifests: PathText | None = None
    """Folder holding overlays/<environment> (default: k8s in the working folder)."""
    environments: dict[str, Environment] | None = None
    """Per environment (the keys are the names --environment accepts); without this, any name whose overlay
    folder exists."""
    environment: Name | None = None
    """The environment to deploy (usually --environment)."""
    paths: Annotated[list[PathText], Field(min_length=1)] | None = None
    """Kustomization folders or YAML files to deploy instead of an environment's overlay (--manifests)."""
    namespace: Name | None = None
    images: Images | None = None
    timeout_seconds: Seconds | None = None
    """Bound on each rollout wait (default the Deployment's progressDeadlineSeconds + 60)."""
    rollback_on_failure: bool = True
    """Roll back a Deployment whose rollout misses its deadline."""
    policy_check: bool = True
    """Check the rendered objects against the security gate's manifest policy before applying."""
    dry_run: bool = False
    context: Name | None = None
    """kubeconfig context."""
    strategy: Literal["rolling", "blue-green", "gitops"] = "rolling"
    """rolling: apply and wait for the rollout; blue-green: a second Deployment, validated, then the Service
    switches to it at once; gitops: commit the image to the GitOps repository and wait for the reconciler."""
    blue_green: BlueGreen = BlueGreen()
    gitops: GitOps = GitOps()


class EndpointPaths(Settings):
    """Endpoint paths."""

    health: EndpointPath = "/health"
    ready: EndpointPath = "/ready"
    predict: EndpointPath = "/predict"
    batch: EndpointPath = "/batch_predict"


class EndpointChecks(DecidingSection):
    """How a live endpoint is probed and judged (what validate-deployment's evaluate reads)."""

    paths: EndpointPaths = EndpointPaths()
    wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """How long to wait for /health and /ready to answer 200."""
    requests: Annotated[int, Field(ge=1, le=10000)] = 500
    """Requests in the burst."""
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    """Requests in flight at once."""
    request_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0
    """Per request."""
    max_duration_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0
    """Bound on the burst's wall time."""
    max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    """Highest share of failed burst requests."""
    max_p95_ms: Seconds = 500.0
    """Highest p95 latency of the burst, in milliseconds."""
    max_p99_ms: Seconds = 1000.0
    """Highest p99 latency of the burst, in milliseconds."""
    bad_requests: bool = True
    """Send malformed requests and require clear 4xx answers."""
    max_batch: Annotated[int, Field(ge=1, le=100000)] = 100
    """The service's batch limit: a batch one larger must be refused with 400."""


class ValidateSettings(EndpointChecks, Section):
    """Post-deploy validation of a live endpoint: health and readiness, golden predictions, error rate and
    latency of a bounded burst, and rejection of bad requests (mlgate validate-deployment)."""

    section = "validate_deployment"

    url: Url | None = None
    """Base URL of the service (usually given with --url, since it differs per environment)."""
    golden: PathText | None = None
    """JSON Lines of {name, input, expected, tolerance}."""
    headers: dict[str, str] = {}
    """Extra request headers (values may be ${ENV_VAR})."""
