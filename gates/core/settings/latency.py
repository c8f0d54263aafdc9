"""Settings of the latency gate (`latency:`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import DecidingSection, PathText, Settings

Limit = Annotated[float, Field(gt=0)]


class LatencyLimits(Settings):
    """The limits the latency samples are judged against, in the samples' unit."""

    unit: Literal["ms", "s"] = "ms"
    max_p50: Limit | None = None
    max_p95: Limit | None = None
    max_p99: Limit | None = None
    max_mean: Limit | None = None


class LatencySettings(DecidingSection, LatencyLimits):
    """Latency gate: percentiles of latency samples from a file (for example a load test's output)."""

    section = "latency"

    samples: PathText
    column: str = "latency_ms"
