"""The canary run as a GateResult: one check per analysis (the deciding one keeps its own status), the
verdict, and the evidence (every analysis with its queries and values, every action, the recorded state)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gates.core.result import Check, GateResult, Status

if TYPE_CHECKING:
    from gates.deploy.canary.machine import Run


def _table(analyses: list[dict[str, Any]]) -> str:
    rows = ["| step | weight | outcome | why |", "|---|---|---|---|"]
    for a in analyses:
        why = str(a.get("why", "")).replace("|", "\\|")
        rows.append(
            f"| {a['step']} | {a.get('effective_weight', a.get('weight'))}% | {a['outcome']} | {why[:300]} |"
        )
    return "\n".join(rows)


def result_of(run: Run, verdict: str, error: str | None = None) -> GateResult:
    cfg, state = run.cfg, run.state
    checks: list[Check] = []
    # The verdict decides; an analysis the run went on from is context: measuring a step again after an
    # inconclusive one is normal progress (pass), a marginal one or a failure below failure_limit is a warning.
    # The analysis that ended the run keeps its own status.
    seen: dict[int, int] = {}
    for index, a in enumerate(run.analyses):
        deciding = index == len(run.analyses) - 1 and verdict != "promoted"
        status = {
            "pass": Status.PASS,
            "marginal": Status.WARN,
            "inconclusive": Status.PASS,
            "fail": Status.WARN,
            "error": Status.WARN,
        }[a["outcome"]]
        if deciding:
            status = {
                "pass": Status.PASS,
                "marginal": Status.WARN,
                "inconclusive": Status.WARN,
                "fail": Status.FAIL,
                "error": Status.ERROR,
            }[a["outcome"]]
        seen[a["step"]] = seen.get(a["step"], 0) + 1
        name = f"step {a['step']} ({a.get('weight')}%)" + (
            f" #{seen[a['step']]}" if seen[a["step"]] > 1 else ""
        )
        checks.append(
            Check(
                name=name,
                status=status,
                value=a["outcome"],
                why=a["why"],
                details={"effective_weight": a.get("effective_weight")},
            )
        )
    if run.shadow_result is not None:  # the shadow stage came first: its checks, named as such
        checks += [dataclasses.replace(c, name=f"shadow {c.name}") for c in run.shadow_result.checks]
    reason = state.reason if state else ""
    final_status = {
        "promoted": Status.PASS,
        "rolled_back": Status.FAIL,
        "held": Status.FAIL,
        "shadow_failed": Status.FAIL,
        "interrupted": Status.ERROR,
        "error": Status.ERROR,
    }.get(verdict, Status.ERROR)
    why = {
        "promoted": f"promoted {cfg.image}: {reason or 'every step passed'}",
        "rolled_back": f"rolled back {cfg.image}: {reason}",
        "held": f"canary held at its weight: {reason}",
        "shadow_failed": f"stopped before the canary: {reason}",
        "interrupted": f"interrupted; state recorded on {cfg.canary_name}, re-run to resume: {error}",
        "error": f"stopped without promoting: {error}",
    }.get(verdict, str(error))
    checks.append(Check(name="verdict", status=final_status, value=verdict, why=why))
    evidence: dict[str, Any] = {
        "canary": {
            "namespace": cfg.namespace,
            "stable": cfg.deployment,
            "canary": cfg.canary_name,
            "image": cfg.image,
            "steps": cfg.steps,
            "interval_s": cfg.interval,
            "router": cfg.router,
            "window": cfg.window,
            "judges": cfg.judges,
            "prometheus": run.prom.url,
            # the limits the reports draw on the canary timeline
            "metrics": [{"name": m.name, "kind": m.kind, "min": m.min, "max": m.max} for m in cfg.metrics],
        },
        "verdict": verdict,
        "reason": reason,
        "analyses": run.analyses,
        "actions": run.actions,
        "state": (state.annotations() if state else {}),
    }
    if run.shadow_result is not None:
        evidence["shadow"] = {**run.shadow_result.evidence, "summary": run.shadow_result.summary}
    if run.analyses:
        evidence["tables"] = {"canary steps": _table(run.analyses)}
    result = GateResult(
        gate="canary",
        checks=checks,
        evidence=evidence,
        summary={
            "verdict": verdict,
            "decision": verdict.replace("_", "-"),
            "image": cfg.image,
            "step": (state.step + 1) if state else 0,
            "weight": state.weight if state else 0,
            "reason": reason or (error or ""),
        },
    )
    return result
