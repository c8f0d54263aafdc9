# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
"""Settings of the canary (`canary:`, mlgate canary): traffic steps, the router, Prometheus and the analysis.

gates.deploy.canary.config turns these into the run's configuration (durations parsed, metric templates
expanded); the built-in metric set, metric names and label selector live with the queries
(gates/deploy/queries.py), since they are PromQL, not policy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import Name, Section, Settings, Verdict

Duration = str | float | int  # seconds, or a duration such as 500ms, 30s, 2m, 1h
Confidence = Annotated[float, Field(gt=0.5, lt=1)]
NonNegative = Annotated[float, Field(ge=0)]
Score = Annotated[float, Field(ge=0, le=100)]
EnvValues = dict[str, str | float | int | bool]


class Router(Settings):
    """How traffic is split between stable and canary."""

    kind: Literal["replicas", "gateway_api", "nginx"]
    """replicas: by the ratio of ready pods behind one Service; gateway_api: HTTPRoute weights; nginx: an
    NGINX canary Ingress."""
    route: str | None = None
    """gateway_api: the HTTPRoute."""
    rule: Annotated[int, Field(ge=0)] | None = None
    """gateway_api: the rule of the HTTPRoute (default 0)."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    ingress: str | None = None
    """nginx: the main Ingress."""
    service: str | None = None
    """The stable Service (default: the Deployment's name)."""
    canary_service: str | None = None
    """Default: <service>-canary."""


class Prometheus(Settings):
    """Where the analysis queries go."""

    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """Base URL (or --prometheus-url / MLGATE_PROMETHEUS_URL); required to run a canary."""
    timeout: Duration = 10
    """Per query: seconds, or a duration such as 500ms, 30s, 2m."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff: NonNegative = 0.5
    """Seconds before the first retry (doubling after each)."""


class Sequential(Settings):
    """The sequential judge (docs/sequential-canary.md)."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    """Chance of a false rollback over the whole canary however often it is analysed, and of passing a metric
    whose regression is margin or more."""
    tolerance: NonNegative = 0.0
    """A regression: the canary's rate above (1 + tolerance) x the stable one's (a metric's tolerance wins)."""
    margin: Annotated[float, Field(gt=0)] = 1.0
    """A pass excludes a rate ratio of 1 + margin or more; the rollback test is tuned to that ratio (a
    metric's margin wins)."""
    scale: Annotated[float, Field(gt=0)] = 0.3
    """Standard deviation of each mixture over log rate ratios (around 1 + margin for a rollback, 1 for a
    pass)."""
    terminal_share: Annotated[float, Field(ge=0, lt=1)] = 0.5
    """Share of alpha spent on one fixed-horizon test of each error-rate comparison at the canary's terminal
    look (the last analysis the last comparing step can have); the sequences get the rest. 0: none."""


class Compare(Settings):
    """The Mann-Whitney (Kayenta-like) judge."""

    confidence: Confidence | None = None
    """Default: analysis.confidence."""
    tolerance: NonNegative = 0.25
    margin: NonNegative = 1.0
    """A pass needs the canary's bound within stable * (1 + margin) (counted metrics)."""
    effect: Literal["hodges_lehmann", "mean_ratio"] = "hodges_lehmann"
    pass_score: Score = 95.0
    marginal_score: Score = 75.0
    min_points: Annotated[int, Field(ge=1)] = 50


class Metric(Settings):
    """One analysed metric: a built-in name (error_rate, latency_p95, ...) or a query of your own. Keys left
    out take the built-in metric's values, or are inferred from the queries given."""

    name: Name
    kind: Literal["series", "ratio", "quantile", "distribution"] | None = None
    query: Name | None = None
    numerator: Name | None = None
    """ratio: events over {window}"""
    denominator: Name | None = None
    """ratio: trials over {window}"""
    buckets: Name | None = None
    """quantile / distribution: cumulative bucket counts over {window}, by le"""
    quantile: Annotated[float, Field(gt=0, lt=1)] | None = None
    margin: NonNegative | None = None
    scope: Literal["track", "pair"] | None = None
    min: float | None = None
    max: float | None = None
    max_increase: float | None = None
    compare: bool | None = None
    direction: Literal["increase", "decrease", "either"] | None = None
    critical: bool | None = None
    tolerance: NonNegative | None = None
    min_effect: NonNegative | None = None
    no_data: Verdict | None = None


class Analysis(Settings):
    """What is measured at each step and how it is judged."""

    window: str = "1m"
    """Sliding window of series metrics (PromQL duration)."""
    lookback: Literal["growing", "window"] = "growing"
    """What the counted metrics (ratio, quantile, distribution) cover: growing = everything since the canary
    started, window = the analysis window only."""
    confidence: Confidence | None = None
    """Two-sided confidence of every interval and test (default compare.confidence, else 0.98)."""
    resolution: Duration | None = None
    """Spacing of the non-overlapping points of series metrics for the comparison, a duration (default: the
    window)."""
    selector: str | None = None
    """PromQL label matchers of a track (default namespace, deployment and track labels)."""
    metric_names: dict[str, str] = {}
    """Names of the service's metrics, over the built-in ones."""
    judges: Annotated[list[Literal["sequential", "threshold", "compare"]], Field(min_length=1)] = [
        "sequential",
        "threshold",
    ]
    """The sequential judge decides counted metrics (ratio, quantile) with anytime-valid bounds; the others
    judge the rest."""
    failure_limit: Annotated[int, Field(ge=1)] = 1
    """Failed analyses before the canary is rolled back."""
    inconclusive_limit: Annotated[int, Field(ge=1)] = 3
    on_inconclusive_limit: Literal["rollback", "hold"] = "hold"
    """After inconclusive_limit inconclusive analyses in a row: hold the canary at its weight (a re-run
    resumes) or roll it back."""
    error_limit: Annotated[int, Field(ge=1)] = 2
    """Analyses in a row that could not be made (Prometheus errors) before the canary is rolled back."""
    no_data: Verdict = "fail"
    """A metric with no data: a failed check, or inconclusive. Never a pass."""
    min_requests: NonNegative = 20
    """Fewest requests per track before an analysis judges."""
    sequential: Sequential = Sequential()
    compare: Compare = Compare()
    metrics: Annotated[list[Metric], Field(min_length=1)] | None = None
    """Default: the built-in set (error rate, latency quantiles)."""


class Shadow(Settings):
    """Shadow traffic before the canary (docs/sequential-canary.md, mlgate shadow): a share of live requests
    mirrored to the candidate, whose answers are compared with stable's on the same requests. Opt-in."""

    enabled: bool = False
    """Run the shadow stage before a new canary (mlgate canary --shadow; the deploy workflows' shadow input):
    a regression stops the run before the canary exists."""
    percent: Annotated[int, Field(ge=1, le=100)] = 100
    """Share of requests mirrored (ingress-nginx mirrors all: 100)."""
    duration: Duration = "10m"
    """How long the shadow lasts at most."""
    interval: Duration = "30s"
    """Time between looks (the judge is anytime-valid: looking often costs no false stops)."""
    max_disagreement: Annotated[float, Field(ge=0, le=1)] = 0.02
    """Share of mirrored items whose predicted class may differ from stable's."""
    max_score_shift: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Kolmogorov-Smirnov distance allowed between the candidate's and stable's score distributions."""
    min_effect: NonNegative = 0.005
    """Seconds of latency difference never counted (the tee's copy takes one network hop more)."""


class CanarySettings(Section):
    """Canary: progressive traffic steps with Prometheus analysis, then promote or roll back (mlgate canary)."""

    section = "canary"

    namespace: Name = "default"
    deployment: Name | None = None
    """The stable Deployment; the canary is <deployment>-canary. Required (policy or --deployment)."""
    image: Name | None = None
    """The new version's image. Required (policy or --image)."""
    container: str | None = None
    """Default: the pod template's first container."""
    env: EnvValues = {}
    """Environment of the new version (canary, and stable once promoted)."""
    canary_env: EnvValues = {}
    """Environment for the canary only (e.g. TRACK: canary)."""
    steps: Annotated[list[Annotated[int, Field(ge=1, le=100)]], Field(min_length=1)] = [10, 25, 50, 100]
    """Traffic percentages, increasing."""
    interval: Duration = "60s"
    """Wait per step before its analysis: seconds, or a duration such as 30s, 2m, 1h."""
    rollout_timeout: Duration = "300s"
    """Bound on each rollout wait: seconds or a duration."""
    kubeconfig: str | None = None
    context: str | None = None
    restart: bool = False
    """Start over instead of resuming an interrupted canary."""
    router: Router = Router(kind="replicas")
    prometheus: Prometheus = Prometheus()
    analysis: Analysis = Analysis()
    shadow: Shadow = Shadow()
