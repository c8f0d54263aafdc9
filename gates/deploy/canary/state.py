"""The canary's state, kept in annotations on the canary Deployment, and what a re-run does with it.

One JSON annotation (``mlgate.io/canary-state``) holds the whole state; three more (phase, step, weight) are
there for people using ``kubectl get -o yaml``. The state is written *before* every change that matters (a new
weight, promotion, rollback), so a job killed at any point leaves a state that says what it was doing, and a
re-run finishes it (converges) or resumes the recorded step instead of starting a second rollout.

Phases: ``progressing`` (step N of the plan, traffic at its weight) -> ``promoting`` -> ``promoted``, or
-> ``rolling_back`` -> ``rolled_back``. ``held`` is a canary left at its weight after too many inconclusive
analyses (a re-run resumes the step).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gates.core.errors import InputError

STATE_ANNOTATION = "mlgate.io/canary-state"
PHASE_ANNOTATION = "mlgate.io/canary-phase"
STEP_ANNOTATION = "mlgate.io/canary-step"
WEIGHT_ANNOTATION = "mlgate.io/canary-weight"
STATE_VERSION = 1
PHASES = ("progressing", "held", "promoting", "promoted", "rolling_back", "rolled_back")
MAX_HISTORY = 50


def template_hash(template: dict[str, Any]) -> str:
    """A stable hash of a pod template (what decides whether a re-run continues the same canary)."""
    body = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass
class CanaryState:
    target: str  # template_hash of the canary pod template
    image: str
    steps: list[int]
    stable_replicas: int
    step: int = 0  # index into steps of the step being run
    phase: str = "progressing"
    failed_checks: int = 0
    inconclusive: int = 0
    errors: int = 0
    terminal_tested: bool = False  # the sequential judge's one fixed-horizon test has been run
    reason: str = ""
    started: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)
    version: int = STATE_VERSION

    @property
    def weight(self) -> int:
        if self.phase in ("rolling_back", "rolled_back"):
            return 0
        if self.phase in ("promoting", "promoted"):
            return 100
        return self.steps[min(self.step, len(self.steps) - 1)]

    def record(self, **event: Any) -> None:
        event.setdefault("at", round(time.time(), 3))
        self.history.append(event)
        del self.history[:-MAX_HISTORY]
        self.updated = time.time()

    def annotations(self) -> dict[str, str]:
        return {
            STATE_ANNOTATION: json.dumps(asdict(self), sort_keys=True, separators=(",", ":")),
            PHASE_ANNOTATION: self.phase,
            STEP_ANNOTATION: str(self.step),
            WEIGHT_ANNOTATION: str(self.weight),
        }

    @classmethod
    def from_annotations(cls, annotations: dict[str, str] | None) -> CanaryState | None:
        raw = (annotations or {}).get(STATE_ANNOTATION)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"state version {data.get('version')}")
            state = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputError(
                f"annotation {STATE_ANNOTATION} on the canary Deployment cannot be read ({exc}); "
                f"delete the canary Deployment to start over"
            ) from None
        if state.phase not in PHASES or not state.steps:
            raise InputError(f"annotation {STATE_ANNOTATION}: unknown phase {state.phase!r}")
        return state


@dataclass(frozen=True)
class Limits:
    """How many analyses of a kind, in a row, end a canary (see :func:`next_move`)."""

    failure_limit: int = 1
    inconclusive_limit: int = 3
    error_limit: int = 2
    on_inconclusive_limit: str = "hold"  # or rollback


def next_move(state: CanaryState, outcome: str, limits: Limits, last: bool) -> str:
    """Count one analysis outcome on the state and say what the loop does next (pure; the canary loop and the
    judge benchmark share it):

    - ``error`` (Prometheus unreachable): ``rollback_error`` after ``error_limit`` in a row, else ``again``;
    - ``fail``: ``rollback`` after ``failure_limit`` failed analyses in a row (Flagger's threshold; a passing
      analysis resets the count, an inconclusive one does not), else ``again`` (the same step is measured again);
    - ``inconclusive``: ``hold`` or ``rollback`` (``on_inconclusive_limit``) after ``inconclusive_limit`` in a
      row, else ``again``;
    - ``pass`` / ``marginal``: ``promote`` at the last step, else ``advance`` (the step index moves on).
    """
    if outcome == "error":
        state.errors += 1
        return "rollback_error" if state.errors >= limits.error_limit else "again"
    state.errors = 0
    if outcome == "fail":
        state.failed_checks += 1
        return "rollback" if state.failed_checks >= limits.failure_limit else "again"
    if outcome == "inconclusive":
        state.inconclusive += 1
        if state.inconclusive >= limits.inconclusive_limit:
            return "hold" if limits.on_inconclusive_limit == "hold" else "rollback"
        return "again"
    state.failed_checks = 0
    state.inconclusive = 0
    if last:
        return "promote"
    state.step += 1
    return "advance"


def is_terminal_look(state: CanaryState, limits: Limits) -> bool:
    """Whether the coming analysis is the canary's terminal look, where the sequential judge also runs its one
    fixed-horizon test (gates.stats.terminal). Fixed in advance, never by the counts it tests: the last analysis
    the last step that still compares canary with stable (weight below 100) can have -- its only one when
    later steps follow (a judged analysis moves the canary on), else the ``inconclusive_limit``-th in a row
    (the next one would hold or roll back). At most once per canary, across re-runs (``terminal_tested``)."""
    if state.terminal_tested:
        return False
    comparing = [index for index, weight in enumerate(state.steps) if weight < 100]
    if not comparing or state.step != comparing[-1]:
        return False
    if state.step < len(state.steps) - 1:
        return True
    return state.inconclusive == limits.inconclusive_limit - 1


@dataclass(frozen=True)
class ResumePlan:
    """What a run does first. kind: start, resume, finish_promote, finish_rollback, done."""

    kind: str
    state: CanaryState
    why: str


def plan_run(
    existing: CanaryState | None,
    target: str,
    image: str,
    steps: list[int],
    stable_replicas: int,
    stable_target: str | None,
    restart: bool = False,
) -> ResumePlan:
    """Decide from the recorded state (if any) and the requested canary what this run does.

    - no state, or a state for another template: start at step 0 (a new canary replaces an older one);
    - the stable Deployment already runs the requested template and no canary is in flight: done (promoted);
    - same template, ``progressing`` or ``held``: resume at the recorded step;
    - same template, ``promoting``: finish the promotion; ``rolling_back``: finish the rollback;
    - same template, ``rolled_back``: done (the verdict stands) unless ``restart``; ``promoted``: done.
    """
    fresh = CanaryState(target=target, image=image, steps=list(steps), stable_replicas=stable_replicas)
    if existing is None or existing.target != target:
        if stable_target == target:
            fresh.phase = "promoted"
            fresh.reason = "the stable Deployment already runs this template"
            return ResumePlan("done", fresh, fresh.reason)
        why = (
            "no canary in flight"
            if existing is None
            else f"a canary for another template ({existing.image}) is replaced"
        )
        return ResumePlan("start", fresh, why)
    if existing.steps != list(steps) and existing.phase in ("progressing", "held"):
        # keep the progress made: continue at the first new step not below the recorded weight
        weight = existing.weight
        existing.step = next((i for i, w in enumerate(steps) if w >= weight), len(steps) - 1)
        existing.steps = list(steps)
    if existing.phase in ("progressing", "held"):
        existing.phase = "progressing"
        return ResumePlan("resume", existing, f"resuming at step {existing.step + 1} ({existing.weight}%)")
    if existing.phase == "promoting":
        return ResumePlan("finish_promote", existing, "an interrupted promotion is finished")
    if existing.phase == "rolling_back":
        return ResumePlan("finish_rollback", existing, "an interrupted rollback is finished")
    if existing.phase == "rolled_back" and restart:
        fresh.record(event="restart", previous_reason=existing.reason)
        return ResumePlan("start", fresh, "restarting a canary that was rolled back")
    return ResumePlan("done", existing, f"already {existing.phase.replace('_', ' ')}: {existing.reason}")
