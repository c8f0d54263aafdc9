"""PromQL templates for canary analysis, and the metric definitions a policy builds from them.

A template is PromQL with placeholders in single braces, filled before the query is sent:

``{namespace}`` ``{deployment}`` (the stable Deployment's name, the application) ``{track}`` (``canary`` or
``stable``) ``{window}`` (a PromQL duration such as ``30s``), ``{selector}`` (the label matchers for one track,
built from the ``selector`` template), ``{canary_selector}`` / ``{stable_selector}`` (for queries that compare both
tracks in one expression), and the metric names ``{requests}`` ``{errors}`` ``{latency}`` ``{score}``
``{fairness}`` ``{accuracy}``. PromQL's own braces are left alone, so ``rate({errors}{{selector}}[{window}])``
reads as ``rate(errors_total{namespace="prod",...}[30s])``. An unknown ``{word}`` is a configuration error.

Built-in metrics. ``kind`` says what the judges decide on:

- ``ratio``: ``events`` out of ``trials`` over the window, from two counter queries (``increase()``); every request
  is one observation (Clopper-Pearson bounds, exact comparison of two rates);
- ``quantile``: a histogram over the window (``sum by (le) (increase(..._bucket[window]))``): the quantile is
  interpolated as ``histogram_quantile`` does, bounded by order statistics, compared with a rank test on the
  buckets;
- ``distribution`` (pair): two histograms (canary and stable), their Kolmogorov-Smirnov distance with an interval;
- ``series``: any PromQL value (gauges, custom queries): the instant value for limits, a range query of
  non-overlapping points for the comparison.

=================  ============  ==========================================================================
name               kind          meaning
=================  ============  ==========================================================================
request_rate       series        requests per second
error_rate         ratio         errors / requests
latency_p95 / p99  quantile      the 0.95 / 0.99 quantile of the request latency histogram
score_mean         series        mean prediction score (sum / count of the score histogram)
score_shift        distribution  largest gap between canary and stable score CDFs over the histogram buckets
                                 (a Kolmogorov-Smirnov distance on buckets, 0 to 1)
fairness_gap       series        largest (max - min) of the per-group fairness gauge over the groups of an attribute
accuracy           series        rolling accuracy gauge (when labels flow back to the service)
=================  ============  ==========================================================================

The window of ``ratio`` / ``quantile`` / ``distribution`` queries is the analysis lookback (by default everything
since the canary started); a ``series`` query's ``{window}`` is the analysis window for the instant value and the
point resolution for the range of points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gates.core.errors import InputError

DEFAULT_SELECTOR = 'namespace="{namespace}",deployment="{deployment}",track="{track}"'

# Names exported by the example model service (examples/service); a policy can rename them.
DEFAULT_NAMES = {
    "requests": "model_requests_total",
    "errors": "model_request_errors_total",
    "latency": "model_request_latency_seconds",
    "score": "model_prediction_score",
    "fairness": "model_group_positive_rate",
    "accuracy": "model_rolling_accuracy",
}

TEMPLATES: dict[str, tuple[str, str]] = {
    "request_rate": ("track", "sum(rate({requests}{{selector}}[{window}]))"),
    "requests": ("track", "sum(increase({requests}{{selector}}[{window}]))"),
    "error_rate": (
        "track",
        (
            "(sum(rate({errors}{{selector}}[{window}])) or vector(0))"
            " / sum(rate({requests}{{selector}}[{window}]))"
        ),
    ),
    "latency_p95": (
        "track",
        "histogram_quantile(0.95, sum by (le) (rate({latency}_bucket{{selector}}[{window}])))",
    ),
    "latency_p99": (
        "track",
        "histogram_quantile(0.99, sum by (le) (rate({latency}_bucket{{selector}}[{window}])))",
    ),
    "score_mean": (
        "track",
        "sum(rate({score}_sum{{selector}}[{window}])) / sum(rate({score}_count{{selector}}[{window}]))",
    ),
    "score_shift": (
        "pair",
        (
            "max(abs("
            "sum by (le) (rate({score}_bucket{{canary_selector}}[{window}]))"
            " / ignoring(le) group_left sum(rate({score}_count{{canary_selector}}[{window}]))"
            " - sum by (le) (rate({score}_bucket{{stable_selector}}[{window}]))"
            " / ignoring(le) group_left sum(rate({score}_count{{stable_selector}}[{window}]))"
            "))"
        ),
    ),
    "fairness_gap": (
        "track",
        ("max(max by (attribute) ({fairness}{{selector}}) - min by (attribute) ({fairness}{{selector}}))"),
    ),
    "accuracy": ("track", "avg({accuracy}{{selector}})"),
}

# Count-based definitions of built-ins (kind, {part: template}); ``query`` above stays the display series.
COUNT_TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "error_rate": (
        "ratio",
        {
            "numerator": "sum(increase({errors}{{selector}}[{window}]))",
            "denominator": "sum(increase({requests}{{selector}}[{window}]))",
        },
    ),
    "latency_p95": (
        "quantile",
        {"buckets": "sum by (le) (increase({latency}_bucket{{selector}}[{window}]))", "quantile": 0.95},
    ),
    "latency_p99": (
        "quantile",
        {"buckets": "sum by (le) (increase({latency}_bucket{{selector}}[{window}]))", "quantile": 0.99},
    ),
    "score_shift": (
        "distribution",
        {"buckets": "sum by (le) (increase({score}_bucket{{selector}}[{window}]))"},
    ),
}
KINDS = ("series", "ratio", "quantile", "distribution")

# Which way is bad, for the comparison judge: an error rate going up is a regression, accuracy going down is.
DEFAULT_DIRECTION = {
    "error_rate": "increase",
    "latency_p95": "increase",
    "latency_p99": "increase",
    "score_mean": "either",
    "accuracy": "decrease",
    "fairness_gap": "increase",
    "request_rate": "either",
    "score_shift": "increase",
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class Target:
    """Where the queries point: the namespace, the stable Deployment's name, the window."""

    namespace: str
    deployment: str
    window: str = "1m"
    selector: str = DEFAULT_SELECTOR
    names: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NAMES))

    def __post_init__(self) -> None:
        if not _DURATION.match(self.window):
            raise InputError(
                f"canary.analysis.window {self.window!r}: expected a PromQL duration such as 30s or 1m"
            )


def render(template: str, target: Target, track: str | None = None) -> str:
    """Fill a template's placeholders; a placeholder that is not known raises InputError."""
    values: dict[str, str] = {
        "namespace": target.namespace,
        "deployment": target.deployment,
        "window": target.window,
        **target.names,
    }
    base = {k: v for k, v in values.items() if k not in ("selector", "canary_selector", "stable_selector")}
    values["canary_selector"] = _fill(target.selector, {**base, "track": "canary"}, target.selector)
    values["stable_selector"] = _fill(target.selector, {**base, "track": "stable"}, target.selector)
    if track is not None:
        values["track"] = track
        values["selector"] = _fill(target.selector, {**base, "track": track}, target.selector)
    return _fill(template, values, template)


def _fill(template: str, values: dict[str, str], label: str) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            known = ", ".join(sorted({*values, "track", "selector"}))
            raise InputError(f"query template {label!r}: unknown placeholder {{{key}}} (known: {known})")
        return values[key]

    return _PLACEHOLDER.sub(sub, template)


@dataclass(frozen=True)
class MetricSpec:
    """One analysed metric: its queries and how each judge treats it."""

    name: str
    query: str  # series: the value; other kinds: the display series for the timeline chart ("" for none)
    scope: str = "track"  # track: run per track; pair: one value comparing both tracks (threshold judge only)
    min: float | None = None
    max: float | None = None
    max_increase: float | None = None  # canary minus stable, absolute (threshold judge)
    compare: bool = True  # take part in the canary-vs-stable comparison judge
    direction: str = "increase"
    critical: bool = False
    tolerance: float | None = (
        None  # relative effect tolerated by the comparison judge (default from the judge)
    )
    min_effect: float = 0.0  # absolute effect below which a difference is never a regression
    no_data: str | None = None  # fail or inconclusive; None: the analysis default
    kind: str = "series"  # series, ratio, quantile, distribution
    numerator: str = ""  # ratio: events over the window
    denominator: str = ""  # ratio: trials over the window
    buckets: str = ""  # quantile / distribution: cumulative bucket counts over the window, by le
    quantile: float = 0.95  # quantile kind
    margin: float | None = (
        None  # evidence to pass: the canary's bound within stable * (1 + margin) (judge default)
    )

    @property
    def has_threshold(self) -> bool:
        return self.min is not None or self.max is not None or self.max_increase is not None

    @property
    def counted(self) -> bool:
        return self.kind != "series"


def metric_specs(entries: list[dict[str, Any]]) -> list[MetricSpec]:
    """Policy entries (``canary.analysis.metrics``) to MetricSpecs; built-in names need no query."""
    specs: list[MetricSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        name = entry.get("name")
        where = f"canary.analysis.metrics[{index}]"
        if not name:
            raise InputError(f"{where}: missing 'name'")
        if name in seen:
            raise InputError(f"{where}: metric {name!r} is listed twice")
        seen.add(name)
        kind = entry.get("kind")
        parts: dict[str, Any] = {}
        custom = any(entry.get(k) for k in ("query", "numerator", "denominator", "buckets"))
        if custom:
            query, scope = entry.get("query", ""), entry.get("scope", "track")
            kind = kind or (
                "ratio" if entry.get("numerator") else "quantile" if entry.get("buckets") else "series"
            )
            parts = {k: entry[k] for k in ("numerator", "denominator", "buckets", "quantile") if k in entry}
        elif name in TEMPLATES:
            scope, query = TEMPLATES[name]
            if kind in (None, COUNT_TEMPLATES.get(name, ("series",))[0]) and name in COUNT_TEMPLATES:
                kind, parts = COUNT_TEMPLATES[name][0], dict(COUNT_TEMPLATES[name][1])
            elif kind not in (None, "series"):
                raise InputError(f"{where}: built-in {name!r} has no {kind!r} form; give its queries")
            kind = kind or "series"
        else:
            raise InputError(
                f"{where}: {name!r} is not a built-in metric ({', '.join(sorted(TEMPLATES))}); give a 'query'"
            )
        if kind not in KINDS:
            raise InputError(f"{where}: kind {kind!r}: expected one of {', '.join(KINDS)}")
        if kind == "ratio" and not (parts.get("numerator") and parts.get("denominator")):
            raise InputError(
                f"{where}: a ratio metric needs 'numerator' and 'denominator' (counts over "
                f"{{window}}, e.g. sum(increase(x_total{{{{selector}}}}[{{window}}])))"
            )
        if kind in ("quantile", "distribution") and not parts.get("buckets"):
            raise InputError(
                f"{where}: a {kind} metric needs 'buckets' (e.g. sum by (le) "
                f"(increase(x_bucket{{{{selector}}}}[{{window}}])))"
            )
        if kind == "series" and not query:
            raise InputError(f"{where}: a series metric needs a 'query'")
        if kind == "distribution":
            scope = "pair"
        q = float(parts.get("quantile", 0.95))
        if kind == "quantile" and not 0 < q < 1:
            raise InputError(f"{where}: quantile {q}: expected a number between 0 and 1")
        compare = entry.get("compare", scope == "track")
        if scope == "pair" and compare:
            raise InputError(
                f"{where}: a pair-scoped metric compares both tracks already; set compare: false"
            )
        specs.append(
            MetricSpec(
                name=name,
                query=query,
                scope=scope,
                min=entry.get("min"),
                max=entry.get("max"),
                max_increase=entry.get("max_increase"),
                compare=bool(compare),
                direction=entry.get("direction", DEFAULT_DIRECTION.get(name, "increase")),
                critical=bool(entry.get("critical", False)),
                tolerance=entry.get("tolerance"),
                min_effect=float(entry.get("min_effect", DEFAULT_MIN_EFFECT.get(name, 0.0))),
                no_data=entry.get("no_data"),
                kind=kind,
                numerator=parts.get("numerator", ""),
                denominator=parts.get("denominator", ""),
                buckets=parts.get("buckets", ""),
                quantile=q,
                margin=entry.get("margin"),
            )
        )
    return specs


# Absolute differences never counted as a regression by default, and the least regression a pass must rule out;
# a policy entry's min_effect replaces them. An error rate moving by less than half a percentage point; a latency
# quantile moving by less than 5 ms, the finest bucket of the Prometheus clients' default histogram (.005, .01,
# .025, ...), below which a quantile read off buckets is interpolation, and a difference two replicas of the same
# build show on a busy node (the CI run that taught this: 4.9 ms vs 6.2 ms at p95, p=0.007, same code).
DEFAULT_MIN_EFFECT = {"error_rate": 0.005, "latency_p95": 0.005, "latency_p99": 0.005}
# Relative effects the compare judge tolerates by default where its default (0.25, Kayenta's) is too wide
# (a policy's tolerance replaces them; the sequential judge has its own default): a p95 read off
# histogram buckets moves by less than the latencies do (a 30% slower service shows as about +20% with the
# example service's buckets), so the latency quantiles tolerate 10%.
DEFAULT_TOLERANCE = {"latency_p95": 0.1, "latency_p99": 0.1}


DEFAULT_METRICS: list[dict[str, Any]] = [
    {"name": "error_rate", "max": 0.05, "critical": True},
    {"name": "latency_p95", "max": 0.5},
    {"name": "latency_p99", "max": 1.0, "compare": False},
    {"name": "score_shift", "max": 0.2},
]
