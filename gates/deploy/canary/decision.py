"""The decision of one analysis: the selected judges over the measured observations, combined into one
outcome (pass, marginal, inconclusive, fail) with the reasons, as the state machine's input.

When the sequential judge is selected it alone decides the metrics it covers (counts and histograms): its
guarantee holds over every look, and a fixed-horizon judge looking at the same metric would add its own false
alarms at every look. The other judges decide the rest (series, pair metrics, max_increase)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from gates.deploy.canary.config import CanaryConfig
from gates.deploy.judges import (
    JudgeVerdict,
    Observation,
    combine,
    compare_judge,
    threshold_judge,
)
from gates.deploy.sequential import covers, sequential_judge


def previous_looks(history: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each metric's looks as the sequential verdicts in ``history`` (earlier analysis entries) recorded them,
    oldest first (each entry keeps its own look, so a long canary's report grows linearly)."""
    looks: dict[str, list[dict[str, Any]]] = {}
    for entry in history:
        for judge in entry.get("judges") or []:
            if judge.get("judge") != "sequential":
                continue
            for m in judge.get("metrics", []):
                if "look" in (m.get("details") or {}):
                    looks.setdefault(m["metric"], []).append(m["details"]["look"])
    return looks


def decide(
    cfg: CanaryConfig,
    observations: list[Observation],
    problems: list[str],
    final: bool,
    history: Sequence[dict[str, Any]] = (),
    terminal: bool = False,
) -> dict[str, Any]:
    """Outcome, reasons and each judge's verdict for one analysis (the last step judges with `final`);
    ``history`` (the run's earlier analysis entries) lets the sequential judge continue its sequences;
    ``terminal``: the canary's terminal look (gates.deploy.canary.state.is_terminal_look)."""
    verdicts: list[JudgeVerdict] = []
    rest = observations
    if "sequential" in cfg.judges:
        settings = dataclasses.replace(cfg.sequential, final=final, terminal=terminal)
        v = sequential_judge(observations, settings, previous_looks(history))
        if v:
            verdicts.append(v)
        rest = [obs for obs in observations if not covers(obs.metric)]
    if "threshold" in cfg.judges:
        v = threshold_judge(rest, cfg.no_data, cfg.confidence, final=final)
        if v:
            verdicts.append(v)
    if "compare" in cfg.judges:
        v = compare_judge(rest, dataclasses.replace(cfg.compare, final=final))
        if v:
            verdicts.append(v)
    outcome = combine([v.outcome for v in verdicts])
    why = "; ".join(f"{v.judge}: {v.outcome} ({v.why})" for v in verdicts) or "no judge had a metric"
    if problems:
        why = "; ".join(problems) + "; " + why
    return {"outcome": outcome, "why": why, "problems": problems, "judges": [v.to_dict() for v in verdicts]}
