"""Settings of production monitoring (`monitor:`): where served predictions come from, how changes are
detected, what a regression triggers."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from gates.core.settings.base import PathText, Probability, Section, Settings, UniqueItems

Text = Annotated[str, Field(min_length=1)]


class MetricNames(Settings):
    """prometheus: metric names, if not the example service's."""

    score: Text = "model_prediction_score"
    psi: Text = "model_feature_drift_psi"
    accuracy: Text = "model_rolling_accuracy"
    labels: Text = "model_rolling_labels"


class Source(Settings):
    """Where the served predictions are read."""

    kind: Literal["logs", "prometheus"]
    """logs: prediction log files; prometheus: the service's metrics."""
    predictions: Text | None = None
    """logs: glob of prediction log files (Parquet, JSON Lines, CSV), relative to the policy file."""
    score: Text = "score"
    """Score column (predicted probability)."""
    features: Annotated[list[Text], UniqueItems()] = []
    """logs: numeric feature columns whose means are watched too."""
    label: Text | None = None
    """logs: outcome column (0/1; empty until the label arrives)."""
    id: Text | None = None
    """logs: request id column, to join late label files."""
    labels: Text | None = None
    """logs: glob of late label files (id and label columns)."""
    labels_column: Text = "label"
    """logs: label column of the label files."""
    forget_after_days: Annotated[float, Field(gt=0)] = 30.0
    """logs: a log file gone from the glob this long is forgotten by the state (which stays small); should it
    come back with its old modification time it is still never read twice."""
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """prometheus: base URL (credentials from MLGATE_PROMETHEUS_TOKEN or _USER/_PASSWORD)."""
    selector: str = ""
    """prometheus: label matchers added to every query, e.g. {track="stable"}."""
    lookback_seconds: Annotated[float, Field(gt=0)] = 3600.0
    """prometheus: window of the first run."""
    metrics: MetricNames = MetricNames()

    def watched(self) -> list[str]:
        """The columns whose means the detectors follow: the score, then the features (logs only)."""
        if self.kind == "prometheus":
            return [self.score]
        return list(dict.fromkeys([self.score, *self.features]))


class Detection(Settings):
    """The sequential change detectors on the score and feature means."""

    method: Literal["cusum", "page_hinkley"] = "cusum"
    """cusum: departure from the reference mean; page_hinkley: change from the stream's own running mean."""
    arl0: Annotated[float, Field(ge=10, le=1000000)] = 500.0
    """Average run length between false alarms of the whole monitor, in blocks."""
    shift: Annotated[float, Field(gt=0, le=10)] = 0.1
    """Change of a mean to detect quickly, in reference standard deviations."""
    block_rows: Annotated[int, Field(ge=10)] = 500
    """Rows per observation of the detectors (logs); with prometheus, the most rows one run's block counts for,
    so every block asks for the same shift."""
    min_block_rows: Annotated[int, Field(ge=1)] = 30
    """prometheus: fewest requests in a run's window for it to count."""


class WindowDrift(Settings):
    """The drift test on each run's new rows (the drift gate's keys: alpha, correction, tolerances, share,
    min_rows...), or for prometheus psi_max on the service's drift gauges; enabled: false turns it off."""

    # the drift gate's own keys pass through to it and are checked there, with its settings model
    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    psi_max: Annotated[float, Field(gt=0)] = 0.2

    def drift_keys(self) -> dict[str, Any]:
        """The keys meant for the drift gate (everything but enabled and psi_max)."""
        return dict(self.model_extra or {})


class Labelled(Settings):
    """Accuracy and calibration of the predictions whose outcome has arrived."""

    min_accuracy: Probability | None = None
    """Fail when the accuracy's whole interval is below it."""
    max_calibration_gap: Probability | None = None
    """Fail when |mean score - observed rate| is above it over its whole interval."""
    min_labels: Annotated[int, Field(ge=1)] = 100
    """Fewer labelled predictions: not judged."""
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    """Interval level."""
    threshold: Probability = 0.5
    """Score at or above which the predicted class is 1."""


class Issue(Settings):
    """The GitHub issue opened on a regression."""

    labels: list[Text] = []
    title_prefix: Text = "mlgate monitor:"


class Rollback(Settings):
    """The rollback workflow dispatched on a regression."""

    workflow: Text
    """Workflow file name or id with on: workflow_dispatch (e.g. rollback.yml)."""
    ref: Text = "main"
    """Branch or tag to run it on."""
    inputs: dict[str, str] = {}
    """Its workflow_dispatch inputs."""


class MonitorSettings(Section):
    """Production monitoring on a schedule (mlgate monitor): sequential change detection (CUSUM or
    Page-Hinkley, with a stated ARL0) on the score and feature means, the drift test on each run's window,
    accuracy and calibration of the labelled subset; on a regression open an issue, notify, or dispatch the
    rollback workflow. State is kept in a JSON file between runs."""

    section = "monitor"

    state: PathText | None = None
    """State file kept between runs (default REPORT_DIR/monitor-state.json; --state overrides)."""
    reference: PathText = Field(
        description="Reference table or drift profile (mlgate drift profile): the in-control means and standard "
        "deviations, and the drift test's reference."
    )
    source: Source
    detection: Detection = Detection()
    drift: WindowDrift = WindowDrift()
    labelled: Labelled = Labelled()
    no_data: Literal["error", "warn"] = "error"
    """No new predictions since the last run: error or warn."""
    on_regression: Annotated[list[Literal["issue", "notify", "rollback"]], UniqueItems()] = []
    """What to do once per regression: open a GitHub issue, notify the policy's targets, dispatch the rollback
    workflow."""
    issue: Issue = Issue()
    rollback: Rollback | None = None
