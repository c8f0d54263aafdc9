"""The decision of one analysis: the selected judges over the measured observations, combined into one
outcome (pass, marginal, inconclusive, fail) with the reasons, as the state machine's input."""

from __future__ import annotations

from typing import Any

from gates.deploy.canary.config import CanaryConfig
from gates.deploy.judges import (
    CompareSettings,
    JudgeVerdict,
    Observation,
    combine,
    compare_judge,
    threshold_judge,
)


def decide(
    cfg: CanaryConfig, observations: list[Observation], problems: list[str], final: bool
) -> dict[str, Any]:
    """Outcome, reasons and each judge's verdict for one analysis (the last step judges with `final`)."""
    verdicts: list[JudgeVerdict] = []
    if "threshold" in cfg.judges:
        v = threshold_judge(observations, cfg.no_data, cfg.confidence, final=final)
        if v:
            verdicts.append(v)
    if "compare" in cfg.judges:
        settings = CompareSettings(**{**cfg.compare.__dict__, "final": final})
        v = compare_judge(observations, settings)
        if v:
            verdicts.append(v)
    outcome = combine([v.outcome for v in verdicts])
    why = "; ".join(f"{v.judge}: {v.outcome} ({v.why})" for v in verdicts) or "no judge had a metric"
    if problems:
        why = "; ".join(problems) + "; " + why
    return {"outcome": outcome, "why": why, "problems": problems, "judges": [v.to_dict() for v in verdicts]}
