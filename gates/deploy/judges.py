"""Canary judges: pure functions from measured values to a verdict, testable without Prometheus or a cluster.

Two judges, each returning a :class:`JudgeVerdict` with outcome ``pass``, ``marginal``, ``fail`` or ``inconclusive``:

- :func:`threshold_judge` (Flagger-like): each metric's canary value against absolute limits (``min`` / ``max``)
  and, optionally, against the stable track (``max_increase``). A failed analysis counts one failed check; the
  canary loop rolls back when ``failure_limit`` analyses in a row failed.
- :func:`compare_judge` (Kayenta-like): canary against stable over the same window; each metric is classified
  Pass / High / Low / NoData (or Inconclusive, below); the score is the share of decided metrics that pass; a
  failing critical metric makes the score 0. The score against ``pass_score`` and ``marginal_score`` gives the
  outcome.

A decision must not flip on noise, so both judges decide on request-level evidence where the metric has it
(``kind`` ratio / quantile / distribution, see :mod:`gates.deploy.evidence`), and three ways:

- **fail** only on evidence: a limit is exceeded by the bound of the interval at ``confidence`` (two-sided, so
  0.98 leaves 1% on each side), or the canary is worse than stable by a significant test (one-sided at
  (1 - confidence) / 2 in the metric's bad direction) *and* by more than the tolerance (Kayenta's effect-size
  gate: ``max(tolerance * stable, min_effect)``);
- **pass** only on evidence: the interval's bound is within the limit, or the canary's bound is within
  ``max(margin * stable, min_effect)`` of stable (a regression that large is ruled out);
- otherwise the metric is **inconclusive**: no sign of a regression, but too little evidence to rule one out.
  Before the last step that is ``marginal`` (the canary goes on, as Kayenta's marginal score does, and the
  growing window gathers more); at the last step it is ``inconclusive`` (measure again; never promote).

``series`` metrics (gauges, custom queries) keep the point value for limits and a Mann-Whitney U test over
non-overlapping points (Hodges-Lehmann or mean-ratio effect) for the comparison; fewer points than can ever reach
the confidence are inconclusive, fewer than ``min_points`` are judged with a warning. No data is never a pass,
nor outvoted by the score of the metrics that have data: per metric (or the analysis default) it fails or holds
the judge (``fail`` or ``inconclusive``); too little traffic (fewer requests than ``min_requests``) is always
inconclusive.

The verdict model and the rule that settles a judge live in :mod:`gates.deploy.verdicts`, the judges in
:mod:`gates.deploy.threshold_judge` and :mod:`gates.deploy.compare_judge`; this module is where callers import
them from.
"""

from gates.deploy.compare_judge import (
    CompareSettings,
    classify,
    classify_counted,
    compare_judge,
    hodges_lehmann,
)
from gates.deploy.threshold_judge import threshold_judge
from gates.deploy.verdicts import (
    NO_DATA_MODES,
    OUTCOMES,
    JudgeVerdict,
    MetricVerdict,
    Observation,
    combine,
    two_sided,
)

__all__ = [
    "NO_DATA_MODES",
    "OUTCOMES",
    "CompareSettings",
    "JudgeVerdict",
    "MetricVerdict",
    "Observation",
    "classify",
    "classify_counted",
    "combine",
    "compare_judge",
    "hodges_lehmann",
    "threshold_judge",
    "two_sided",
]
