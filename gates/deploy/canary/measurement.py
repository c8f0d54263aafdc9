"""What one analysis measures: every metric for the canary and the stable track over the same window, as
counts and histogram buckets (what the judges decide on) plus the records of every query and value (the
evidence). A track with no series, too little traffic, or metrics that stopped arriving is marked as such, so
a judge can never take missing evidence for a pass."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from gates.core.errors import InputError
from gates.deploy.canary.config import CanaryConfig, parse_duration
from gates.deploy.evidence import Counts, Histogram, histogram_quantile
from gates.deploy.judges import Observation
from gates.deploy.prometheus import NoData, PrometheusClient
from gates.deploy.queries import Target, render


def lookback(cfg: CanaryConfig, end: float, started: float | None) -> float:
    """Seconds the counted metrics cover: since the canary started (growing) or the analysis window."""
    window_s = parse_duration(cfg.window, "canary.analysis.window")
    if cfg.lookback == "growing" and started is not None:
        return max(window_s, math.ceil(end - started))
    return window_s


def measure(
    cfg: CanaryConfig, prom: PrometheusClient, end: float, started: float | None, weight_info: dict[str, Any]
) -> tuple[list[Observation], list[dict[str, Any]], list[str]]:
    """Query every metric for both tracks, ending now. InfraError propagates."""
    lookback_s = lookback(cfg, end, started)
    counted = Target(cfg.namespace, cfg.deployment, f"{int(lookback_s)}s", cfg.selector, cfg.names)
    target = Target(cfg.namespace, cfg.deployment, cfg.window, cfg.selector, cfg.names)
    points_target = Target(
        cfg.namespace, cfg.deployment, _promql_duration(cfg.resolution), cfg.selector, cfg.names
    )
    window_s = parse_duration(cfg.window, "canary.analysis.window")
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    # with a growing lookback stable's earlier traffic still counts at 100 %; a sliding window has none
    stable_serves = weight_info.get("effective_weight", 0) < 100 or cfg.lookback == "growing"

    def instant(metric: str, side: str, query: str) -> float | None:
        try:
            value = prom.value(query, at=end)
            records.append(
                {"metric": metric, "side": side, "kind": "instant", "query": query, "value": value}
            )
            return value
        except NoData as exc:
            records.append(
                {
                    "metric": metric,
                    "side": side,
                    "kind": "instant",
                    "query": query,
                    "value": None,
                    "no_data": exc.why,
                }
            )
            return None

    def histogram(query: str) -> Histogram | None:
        buckets: dict[float, float] = {}
        for series in prom.query(query, at=end):
            le = series.labels.get("le")
            if le is None or not math.isfinite(series.value):
                continue
            try:
                bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
            except ValueError:
                continue
            buckets[bound] = buckets.get(bound, 0.0) + series.value
        if not buckets:
            return None
        if len(buckets) < 2 or not math.isinf(max(buckets)):
            raise InputError(f"bucket query must give cumulative counts by le, +Inf included: {query}")
        return Histogram.from_buckets(buckets)

    # traffic first: too little traffic is reported as such (inconclusive, never a pass or a fail)
    requests_query = "sum(increase({requests}{{selector}}[{window}]))"
    traffic: dict[str, float | None] = {}
    for side in ("canary", "stable"):
        if side == "stable" and not stable_serves:
            continue
        seen = traffic[side] = instant("requests", side, render(requests_query, counted, side))
        if seen is None:
            problems.append(
                f"no requests counted on {side} in {int(lookback_s)}s (the requests query "
                f"returned no samples)"
            )
        elif seen < cfg.min_requests:
            problems.append(
                f"too little traffic on {side}: {seen:.0f} requests in {int(lookback_s)}s "
                f"(min_requests {cfg.min_requests:g})"
            )
    stalled = ""
    if cfg.lookback == "growing" and traffic.get("canary"):
        # the growing lookback still counts earlier requests when the canary's metrics stop arriving (a lost
        # scrape, a stuck exporter): the last window must have fresh ones, or this step has no evidence
        fresh = instant("requests", "canary", render(requests_query, target, "canary"))
        if not fresh:
            stalled = f"no new canary requests in the last {cfg.window} (its metrics stopped arriving?)"
            problems.append(stalled)
    observations: list[Observation] = []
    if not stable_serves:
        records.append(
            {
                "metric": "-",
                "side": "-",
                "kind": "note",
                "query": "",
                "value": None,
                "note": "stable serves no traffic at this weight: comparisons and pair metrics skipped",
            }
        )
    for spec in cfg.metrics:
        if not stable_serves:
            if spec.scope == "pair":
                continue
            spec = dataclasses.replace(spec, compare=False, max_increase=None)
        obs = Observation(spec)
        sides = ("canary", "stable")
        for side in sides:
            if side == "stable" and not stable_serves:
                obs.missing[side] = "stable serves no traffic at this weight"
                continue
            seen = traffic.get(side)
            if seen is None:  # no series at all: a metrics pipeline problem, no data (no_data decides)
                obs.missing[side] = "the requests query returned no samples"
            elif seen < cfg.min_requests:  # some traffic, too little to judge: inconclusive
                obs.thin[side] = (
                    f"too little traffic ({seen:.0f} requests in {int(lookback_s)}s, "
                    f"min_requests {cfg.min_requests:g})"
                )
            elif side == "canary" and stalled:
                obs.thin[side] = stalled
            if spec.kind == "ratio":
                num, den = render(spec.numerator, counted, side), render(spec.denominator, counted, side)
                obs.queries[side] = f"({num}) / ({den})"
                trials = instant(spec.name, side, den)
                events = instant(spec.name, side, num) if trials is not None else None
                unknown = unscraped(prom, num) if trials is not None and events is None else ""
                if trials is None:
                    obs.missing.setdefault(side, "no samples")
                elif unknown:
                    obs.missing.setdefault(side, unknown)
                else:
                    # a counter Prometheus knows but with no series for this track has counted nothing
                    # (prometheus-client creates a labelled series on its first increment)
                    sample = Counts(events if events is not None else 0.0, trials)
                    setattr(obs, f"{side}_sample", sample)
                    records.append(
                        {
                            "metric": spec.name,
                            "side": side,
                            "kind": "counts",
                            "query": obs.queries[side],
                            "lookback_s": lookback_s,
                            **sample.to_dict(),
                            "value": sample.value,
                        }
                    )
            elif spec.kind in ("quantile", "distribution"):
                query = render(spec.buckets, counted, side)
                obs.queries[side] = query
                hist = histogram(query)
                if hist is None or hist.total <= 0:
                    obs.missing.setdefault(side, "no samples")
                    records.append(
                        {
                            "metric": spec.name,
                            "side": side,
                            "kind": "histogram",
                            "query": query,
                            "lookback_s": lookback_s,
                            "value": None,
                            "no_data": "no samples",
                        }
                    )
                else:
                    setattr(obs, f"{side}_sample", hist)
                    value = histogram_quantile(spec.quantile, hist) if spec.kind == "quantile" else None
                    records.append(
                        {
                            "metric": spec.name,
                            "side": side,
                            "kind": "histogram",
                            "query": query,
                            "lookback_s": lookback_s,
                            "histogram": hist.to_dict(),
                            "value": value,
                        }
                    )
            elif spec.scope == "pair":
                if side == "stable":
                    continue
                query = render(spec.query, target)
                obs.queries["pair"] = query
                obs.canary = instant(spec.name, "pair", query)
                if obs.canary is None:
                    obs.missing["canary"] = "no samples"
            else:
                query = render(spec.query, target, side)
                obs.queries[side] = query
                value = instant(spec.name, side, query)
                setattr(obs, side, value)
                if value is None:
                    obs.missing.setdefault(side, "no samples")
                if spec.compare and "compare" in cfg.judges:
                    # non-overlapping points: each covers its own resolution-long window
                    pq = render(spec.query, points_target, side)
                    start = end - lookback_s + cfg.resolution
                    points = prom.values(pq, min(start, end), end, cfg.resolution)
                    records.append(
                        {
                            "metric": spec.name,
                            "side": side,
                            "kind": "range",
                            "query": pq,
                            "start": start,
                            "end": end,
                            "step": cfg.resolution,
                            "points": [[round(t, 3), v] for t, v in points],
                        }
                    )
                    setattr(obs, f"{side}_points", [v for _, v in points])
            if spec.counted and spec.query and spec.scope == "track":
                # the display series for the timeline chart (the judges decide on the counts)
                try:
                    dq = render(spec.query, target, side)
                    step = max(1.0, window_s / 6)
                    pts = prom.values(dq, end - lookback_s, end, step)
                    records.append(
                        {
                            "metric": spec.name,
                            "side": side,
                            "kind": "range",
                            "display": True,
                            "query": dq,
                            "start": end - lookback_s,
                            "end": end,
                            "step": step,
                            "points": [[round(t, 3), v] for t, v in pts],
                        }
                    )
                except (InputError, NoData):
                    pass
        observations.append(obs)
    return observations, records, problems


def unscraped(prom: PrometheusClient, numerator: str) -> str:
    """Why an empty event count is no data rather than zero: no metric it names is scraped at all (a misnamed
    or unexported counter), or '' when Prometheus knows one of them (it has simply not counted yet)."""
    names = sorted(set(re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{", numerator)))
    if any(prom.known_metric(name) for name in names):
        return ""
    return (
        f"no target exposes {', '.join(names) or 'the counted metric'} (misnamed or not exported?), so "
        f"an empty count cannot be read as zero"
    )


def _promql_duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 or seconds != int(seconds) else f"{int(seconds)}s"
