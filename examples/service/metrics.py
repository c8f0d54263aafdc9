"""Prometheus metrics of the model service, with real values only.

Every series carries ``model_version`` and ``track`` (stable or canary), so a canary analysis can compare the
two tracks behind one Service. Counters and histograms are updated per request; the rolling gauges (drift,
accuracy, per-group rates) are computed when Prometheus scrapes, from bounded windows of recent requests, and
are left out while a window holds too few rows to mean anything (no data is never a fake zero).

=====================================  =========  ==========================================================
name                                   type       labels (besides model_version, track)
=====================================  =========  ==========================================================
model_requests_total                   counter    endpoint, code: prediction requests answered
model_request_errors_total             counter    endpoint, type: bad_json, validation, batch_too_large,
                                                  not_ready, injected, internal
model_request_latency_seconds          histogram  endpoint: time to answer a prediction request
model_prediction_score                 histogram  predicted probability of default (prediction drift)
model_predictions_total                counter    prediction (0 or 1)
model_feature_drift_psi                gauge      feature: PSI of the last requests against the training
                                                  profile (from ``DRIFT_MIN_ROWS`` rows on)
model_drift_window_rows                gauge      rows in the drift window
model_feedback_total                   counter    outcome: matched, unknown_request
model_rolling_accuracy                 gauge      accuracy over the last labelled predictions
model_rolling_labels                   gauge      labels in that window
model_group_positive_rate              gauge      attribute, group: share predicted positive per group
model_group_accuracy                   gauge      attribute, group: accuracy per group (labelled window)
model_group_true_positive_rate         gauge      attribute, group: recall per group (groups with positives)
model_info                             gauge      artifact_sha256: always 1 once the model is loaded
model_ready                            gauge      1 when /ready answers 200
=====================================  =========  ==========================================================
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from examples.service.profile import drift_scores

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
DRIFT_MIN_ROWS = 50
MIN_LABELS = 10
MIN_GROUP_ROWS = 10
REMEMBERED_PREDICTIONS = 10_000


@dataclass
class Windows:
    """Bounded windows of recent requests, shared by the request handlers and the scrape-time collector."""

    size: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    inputs: deque = field(init=False)
    predictions: deque = field(init=False)  # (prediction, groups)
    labelled: deque = field(init=False)  # (label, prediction, groups)
    remembered: OrderedDict[str, tuple[int, dict[str, str]]] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.inputs = deque(maxlen=self.size)
        self.predictions = deque(maxlen=self.size)
        self.labelled = deque(maxlen=self.size)

    def add_prediction(
        self, request_id: str, record: dict[str, Any], prediction: int, groups: dict[str, str]
    ) -> None:
        with self.lock:
            self.inputs.append(record)
            self.predictions.append((prediction, groups))
            self.remembered[request_id] = (prediction, groups)
            while len(self.remembered) > REMEMBERED_PREDICTIONS:
                self.remembered.popitem(last=False)

    def add_label(self, request_id: str, label: int, groups: dict[str, str] | None) -> bool:
        with self.lock:
            known = self.remembered.get(request_id)
            if known is None:
                return False
            prediction, remembered_groups = known
            self.labelled.append((label, prediction, {**remembered_groups, **(groups or {})}))
            return True


class ServiceMetrics:
    def __init__(self, model_version: str, track: str, profile: dict[str, Any] | None, windows: Windows):
        self.registry = CollectorRegistry(auto_describe=True)
        self.base = {"model_version": model_version, "track": track}
        names = list(self.base)
        r = self.registry
        self.requests = Counter(
            "model_requests", "Prediction requests answered.", ["endpoint", "code", *names], registry=r
        )
        self.errors = Counter(
            "model_request_errors",
            "Prediction requests that failed, by type.",
            ["endpoint", "type", *names],
            registry=r,
        )
        self.latency = Histogram(
            "model_request_latency_seconds",
            "Time to answer a prediction request.",
            ["endpoint", *names],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.score = Histogram(
            "model_prediction_score",
            "Predicted probability of default.",
            names,
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "model_predictions", "Predictions by predicted class.", ["prediction", *names], registry=r
        )
        self.feedback = Counter(
            "model_feedback",
            "Labels fed back, by whether the request was known.",
            ["outcome", *names],
            registry=r,
        )
        self.info = Gauge(
            "model_info", "The loaded model (1 once loaded).", ["artifact_sha256", *names], registry=r
        )
        self.ready = Gauge("model_ready", "1 when the service is ready to serve.", names, registry=r)
        self.ready.labels(**self.base).set(0)
        r.register(_WindowCollector(self.base, profile, windows))

    def observe_request(self, endpoint: str, code: int, seconds: float, error_type: str | None) -> None:
        self.requests.labels(endpoint=endpoint, code=str(code), **self.base).inc()
        self.latency.labels(endpoint=endpoint, **self.base).observe(seconds)
        if error_type:
            self.errors.labels(endpoint=endpoint, type=error_type, **self.base).inc()

    def observe_scores(self, scores: list[float], predictions: list[int]) -> None:
        histogram = self.score.labels(**self.base)
        for value, prediction in zip(scores, predictions):
            histogram.observe(value)
            self.predictions.labels(prediction=str(prediction), **self.base).inc()


class _WindowCollector:
    """Scrape-time gauges over the windows: drift, rolling accuracy and per-group rates."""

    def __init__(self, base: dict[str, str], profile: dict[str, Any] | None, windows: Windows):
        self.base = base
        self.profile = profile
        self.windows = windows

    def describe(self) -> list:
        return []

    def collect(self):
        with self.windows.lock:
            inputs = list(self.windows.inputs)
            predictions = list(self.windows.predictions)
            labelled = list(self.windows.labelled)
        keys, values = list(self.base), list(self.base.values())

        rows = GaugeMetricFamily("model_drift_window_rows", "Rows in the drift window.", labels=keys)
        rows.add_metric(values, len(inputs))
        yield rows
        if self.profile is not None and len(inputs) >= DRIFT_MIN_ROWS:
            drift = GaugeMetricFamily(
                "model_feature_drift_psi",
                "Population stability index of recent inputs against the training profile.",
                labels=["feature", *keys],
            )
            for feature, score in drift_scores(self.profile, inputs).items():
                drift.add_metric([feature, *values], score)
            yield drift

        counted = GaugeMetricFamily(
            "model_rolling_labels", "Labelled predictions in the rolling window.", labels=keys
        )
        counted.add_metric(values, len(labelled))
        yield counted
        if len(labelled) >= MIN_LABELS:
            accuracy = GaugeMetricFamily(
                "model_rolling_accuracy", "Accuracy over the labelled window.", labels=keys
            )
            accuracy.add_metric(values, sum(label == pred for label, pred, _ in labelled) / len(labelled))
            yield accuracy

        positive = GaugeMetricFamily(
            "model_group_positive_rate",
            "Share predicted positive, per group.",
            labels=["attribute", "group", *keys],
        )
        for (attribute, group), members in _by_group((pred, groups) for pred, groups in predictions).items():
            if len(members) >= MIN_GROUP_ROWS:
                positive.add_metric([attribute, group, *values], sum(members) / len(members))
        yield positive

        group_accuracy = GaugeMetricFamily(
            "model_group_accuracy",
            "Accuracy per group (labelled window).",
            labels=["attribute", "group", *keys],
        )
        group_tpr = GaugeMetricFamily(
            "model_group_true_positive_rate",
            "Recall per group (labelled window).",
            labels=["attribute", "group", *keys],
        )
        pairs = _by_group(((label, pred), groups) for label, pred, groups in labelled)
        for (attribute, group), members in pairs.items():
            if len(members) < MIN_GROUP_ROWS:
                continue
            group_accuracy.add_metric(
                [attribute, group, *values], sum(label == pred for label, pred in members) / len(members)
            )
            positives = [pred for label, pred in members if label == 1]
            if positives:  # no positives: recall is undefined, not 0
                group_tpr.add_metric([attribute, group, *values], sum(positives) / len(positives))
        yield group_accuracy
        yield group_tpr


def _by_group(items) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = {}
    for value, groups in items:
        for attribute, group in groups.items():
            out.setdefault((attribute, group), []).append(value)
    return out
