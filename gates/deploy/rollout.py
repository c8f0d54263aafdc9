"""Waiting for a Deployment's rollout, and rolling it back the way ``kubectl rollout undo`` does.

Rollout state (:func:`rollout_state`) follows ``kubectl rollout status``: nothing is decided until the
controller has observed the latest generation; then a ``Progressing`` condition with reason
``ProgressDeadlineExceeded`` is a failure, and the rollout is complete when every replica is updated, no old
replica is left, and every updated replica is available. :func:`wait_for_rollout` polls that state in a
bounded loop (its own timeout on top of the Deployment's ``progressDeadlineSeconds``), prints a line when the
state changes, and on failure says why the new pods are not ready.

Rollback (:func:`rollback`): apps/v1 has no rollback subresource, so like ``kubectl rollout undo`` mlgate
finds the Deployment's ReplicaSets, takes the one whose ``deployment.kubernetes.io/revision`` is the target
(default: the previous revision), and writes its pod template (minus the ``pod-template-hash`` label) into
the Deployment, with the ReplicaSet's annotations. The write is a PUT carrying the resourceVersion that was
read, so a concurrent change is a 409 that makes mlgate re-read and try again. A paused Deployment is refused.

Functions the canary command reuses: :func:`rollout_state`, :func:`wait_for_rollout`, :func:`replica_sets`,
:func:`revisions`, :func:`rollback`, :func:`pod_problems`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gates.core.errors import InputError
from gates.deploy.kube import Conflict, Kube, describe

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
DEADLINE_REASON = "ProgressDeadlineExceeded"
# kubectl's annotationsToSkip: kept from the Deployment, never copied from the ReplicaSet
SKIP_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class RolloutState:
    done: bool
    failed: bool
    message: str


def rollout_state(deployment: dict[str, Any], changed_at: str | None = None) -> RolloutState:
    """Where a rollout stands, from the Deployment alone (kubectl rollout status semantics).

    ``changed_at`` (an RFC 3339 time from the server, e.g. the managedFields time of mlgate's own write) makes
    a ``ProgressDeadlineExceeded`` condition last updated at or before that time stale: after a rollback the
    controller keeps the old condition until it sees progress, which is not a failure of the new rollout.
    """
    meta, spec, status = (
        deployment.get("metadata", {}),
        deployment.get("spec", {}),
        deployment.get("status") or {},
    )
    name = meta.get("name", "?")
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutState(
            False, False, f"waiting for the controller to observe generation {meta.get('generation')}"
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == DEADLINE_REASON:
            updated_at = condition.get("lastUpdateTime") or condition.get("lastTransitionTime") or ""
            if changed_at and updated_at and updated_at <= changed_at:
                continue
            deadline = spec.get("progressDeadlineSeconds")
            return RolloutState(
                False,
                True,
                f"deployment {name!r} exceeded its progress deadline"
                + (f" of {deadline} s" if deadline else "")
                + f": {condition.get('message', '')}",
            )
    if spec.get("paused"):
        return RolloutState(False, False, f"deployment {name!r} is paused")
    desired = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < desired:
        return RolloutState(False, False, f"{updated} of {desired} updated replicas")
    unavailable = status.get("unavailableReplicas", 0)
    if replicas > updated:
        return RolloutState(
            False,
            False,
            f"{replicas - updated} old replicas pending termination"
            + (f" ({unavailable} unavailable)" if unavailable else ""),
        )
    if available < updated:
        return RolloutState(False, False, f"{available} of {updated} updated replicas available")
    return RolloutState(True, False, f"rolled out: {updated} of {desired} replicas updated and available")


@dataclass
class RolloutResult:
    name: str
    namespace: str
    ok: bool
    reason: str  # complete, deadline, timeout, missing
    message: str
    seconds: float
    revision: int | None = None
    problems: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.name,
            "namespace": self.namespace,
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "seconds": round(self.seconds, 1),
            "revision": self.revision,
            "problems": self.problems,
            "progress": self.history,
        }


def revision_of(obj: dict[str, Any] | None) -> int | None:
    raw = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(REVISION)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def wait_for_rollout(
    kube: Kube,
    name: str,
    namespace: str,
    *,
    timeout: float | None = None,
    poll: float = 1.0,
    changed_at: str | None = None,
    progress: Callable[[str], None] | None = None,
    heartbeat: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutResult:
    """Poll until the rollout completes, misses its deadline, or ``timeout`` seconds pass.

    The default timeout is the Deployment's ``progressDeadlineSeconds`` plus 60 s, so mlgate never waits
    forever even when the controller stops reporting. Each iteration sleeps ``poll`` seconds; the number of
    iterations is bounded by timeout / poll. ``changed_at``: see :func:`rollout_state`.
    """
    say = progress or (lambda _message: None)
    where = describe("Deployment", name, namespace)
    start = clock()
    deployment = kube.get("apps/v1", "Deployment", name, namespace)
    if deployment is None:
        return RolloutResult(name, namespace, False, "missing", f"{where} does not exist", 0.0)
    if timeout is None:
        timeout = float(deployment.get("spec", {}).get("progressDeadlineSeconds", 600)) + 60.0
    history: list[str] = []
    last_message, last_print = "", start
    max_iterations = int(timeout / max(poll, 0.05)) + 2
    for _ in range(max_iterations):
        state = rollout_state(deployment, changed_at)
        now = clock()
        if state.message != last_message or now - last_print >= heartbeat:
            line = f"deployment/{name} ({namespace}): {state.message} [{now - start:.0f}s]"
            say(line)
            history.append(line)
            last_message, last_print = state.message, now
        if state.done:
            return RolloutResult(
                name,
                namespace,
                True,
                "complete",
                state.message,
                now - start,
                revision_of(deployment),
                history=history,
            )
        if state.failed:
            return RolloutResult(
                name,
                namespace,
                False,
                "deadline",
                state.message,
                now - start,
                revision_of(deployment),
                pod_problems(kube, deployment),
                history,
            )
        if now - start >= timeout:
            break
        sleep(min(poll, max(0.0, timeout - (now - start))))
        fresh = kube.get("apps/v1", "Deployment", name, namespace)
        if fresh is None:
            return RolloutResult(
                name,
                namespace,
                False,
                "missing",
                f"{where} was deleted while waiting",
                clock() - start,
                history=history,
            )
        deployment = fresh
    elapsed = clock() - start
    return RolloutResult(
        name,
        namespace,
        False,
        "timeout",
        f"{where}: not rolled out after {elapsed:.0f} s ({rollout_state(deployment, changed_at).message})",
        elapsed,
        revision_of(deployment),
        pod_problems(kube, deployment),
        history,
    )


def write_time(obj: dict[str, Any] | None, manager: str = "mlgate") -> str | None:
    """The server's time of the latest write by ``manager`` (from managedFields), for ``changed_at``."""
    times = [
        entry.get("time")
        for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == manager and entry.get("time")
    ]
    return max(times) if times else None


def _selector(deployment: dict[str, Any]) -> str:
    labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def replica_sets(kube: Kube, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The ReplicaSets this Deployment controls (by owner reference), newest revision first."""
    meta = deployment["metadata"]
    owned = []
    for rs in kube.list("apps/v1", "ReplicaSet", meta["namespace"], _selector(deployment) or None):
        owners = rs.get("metadata", {}).get("ownerReferences") or []
        if any(o.get("uid") == meta.get("uid") and o.get("controller") for o in owners):
            owned.append(rs)
    return sorted(owned, key=lambda rs: revision_of(rs) or 0, reverse=True)


def revisions(kube: Kube, deployment: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """{revision: ReplicaSet} of a Deployment (what ``kubectl rollout history`` lists)."""
    return {rev: rs for rs in replica_sets(kube, deployment) if (rev := revision_of(rs)) is not None}


def pod_problems(kube: Kube, deployment: dict[str, Any], limit: int = 5) -> list[str]:
    """Why the newest ReplicaSet's pods are not ready, one line per pod (at most ``limit``)."""
    try:
        sets = replica_sets(kube, deployment)
        if not sets:
            return []
        newest = sets[0]
        pod_hash = newest["metadata"].get("labels", {}).get(HASH_LABEL)
        selector = _selector(deployment) + (f",{HASH_LABEL}={pod_hash}" if pod_hash else "")
        pods = kube.list("v1", "Pod", deployment["metadata"]["namespace"], selector)
    except InputError:
        return []
    lines = []
    for pod in pods[:limit]:
        status = pod.get("status") or {}
        reasons = []
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            if "waiting" in state:
                reasons.append(
                    f"container {cs.get('name')} waiting: {state['waiting'].get('reason', '')} "
                    f"{state['waiting'].get('message', '')}".strip()
                )
            elif "terminated" in state:
                reasons.append(
                    f"container {cs.get('name')} terminated: exit {state['terminated'].get('exitCode')}"
                )
            elif not cs.get("ready"):
                reasons.append(f"container {cs.get('name')} running but not ready (readiness probe failing)")
            if cs.get("restartCount"):
                reasons.append(f"{cs['restartCount']} restarts")
        if not reasons:
            for condition in status.get("conditions") or []:
                if condition.get("status") != "True":
                    reasons.append(
                        f"{condition.get('type')}: {condition.get('reason', '')} "
                        f"{condition.get('message', '')}".strip()
                    )
        if reasons:
            lines.append(f"pod {pod['metadata']['name']} ({status.get('phase', '?')}): " + "; ".join(reasons))
    return lines


@dataclass
class RollbackResult:
    name: str
    namespace: str
    from_revision: int | None
    to_revision: int
    skipped: bool
    message: str
    changed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.name,
            "namespace": self.namespace,
            "from_revision": self.from_revision,
            "to_revision": self.to_revision,
            "skipped": self.skipped,
            "message": self.message,
        }


def _template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def rollback(
    kube: Kube, name: str, namespace: str, to_revision: int = 0, cause: str | None = None
) -> RollbackResult:
    """``kubectl rollout undo deployment/NAME [--to-revision N]``: restore the ReplicaSet's pod template."""
    where = describe("Deployment", name, namespace)
    for _attempt in range(CONFLICT_RETRIES):
        deployment = kube.get("apps/v1", "Deployment", name, namespace)
        if deployment is None:
            raise InputError(f"{where}: not found")
        if deployment.get("spec", {}).get("paused"):
            raise InputError(
                f"{where} is paused; resume it first (kubectl rollout resume deployment/{name} "
                f"-n {namespace}), then roll back"
            )
        history = revisions(kube, deployment)
        current = revision_of(deployment)
        if to_revision == 0:
            earlier = sorted(r for r in history if current is None or r < current)
            if not earlier:
                raise InputError(
                    f"{where}: no earlier revision to roll back to "
                    f"(revisions: {', '.join(map(str, sorted(history))) or 'none'})"
                )
            target = earlier[-1]
        else:
            target = to_revision
        if target not in history:
            raise InputError(
                f"{where}: revision {target} not found "
                f"(revisions: {', '.join(map(str, sorted(history))) or 'none'})"
            )
        source = history[target]
        template = _template_without_hash(source["spec"]["template"])
        if template == _template_without_hash(deployment["spec"]["template"]):
            return RollbackResult(
                name,
                namespace,
                current,
                target,
                True,
                f"skipped: the current template already matches revision {target}",
            )
        annotations = {
            k: v
            for k, v in (deployment["metadata"].get("annotations") or {}).items()
            if k in SKIP_ANNOTATIONS
        }
        annotations.update(
            {
                k: v
                for k, v in (source["metadata"].get("annotations") or {}).items()
                if k not in SKIP_ANNOTATIONS
            }
        )
        if cause:
            annotations["kubernetes.io/change-cause"] = cause
        updated = {"apiVersion": "apps/v1", "kind": "Deployment", **copy.deepcopy(deployment)}
        updated.pop("status", None)
        updated["metadata"].pop("managedFields", None)
        updated["metadata"]["annotations"] = annotations
        updated["spec"]["template"] = template
        try:
            written = kube.put(updated)
        except Conflict:
            continue  # changed under us: read it again
        return RollbackResult(
            name,
            namespace,
            current,
            target,
            False,
            f"rolled back from revision {current} to the template of revision {target}",
            write_time(written),
        )
    raise InputError(f"{where}: kept changing while rolling back ({CONFLICT_RETRIES} conflicts); try again")
