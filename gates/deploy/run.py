"""A deploy and a rollback as GateResults: validate the rendered objects (structure and the security gate's
manifest policy) before anything is sent, server-side apply, wait for every rollout, and roll back a rollout
that misses its deadline. Bad input and unreachable clusters become error results (exit 2 / 3), never a
traceback; the command line only parses flags and prints."""

from __future__ import annotations

import time
from typing import Any

import click

from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status, error_result


def _say(line: str) -> None:
    click.echo(f"mlgate: {line}", err=True)


def validate_objects(objects: list[dict[str, Any]], source: str, policy_check: bool) -> Check:
    """Local structure and the security gate's manifest policy: errors stop the deploy before anything is sent."""
    from gates.deploy.render import check_objects

    problems = check_objects(objects, source)
    warnings: list[str] = []
    if policy_check:
        try:
            from gates.security.manifests import K8sObject, evaluate
            from gates.security.rules import level_of
        except ImportError:
            warnings.append("the security gate's manifest policy is not installed: not checked")
        else:
            for hit in evaluate([K8sObject(source, i + 1, obj) for i, obj in enumerate(objects)]):
                level = level_of(hit.rule, {})
                text = f"{hit.rule}: {hit.subject}: {hit.message}"
                if hit.exempt_reason or level in ("off", "note"):
                    continue
                (problems if level == "error" else warnings).append(text)
    details = {"problems": problems, "warnings": warnings, "objects": len(objects)}
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check(
            "validate",
            Status.FAIL,
            f"{problems[0]}{more}; nothing was applied",
            value=len(problems),
            details=details,
        )
    what = f"{len(objects)} objects pass the structural checks" + (
        " and the manifest policy" if policy_check and not any("not installed" in w for w in warnings) else ""
    )
    if warnings:
        return Check(
            "validate",
            Status.WARN,
            f"{what}, with {len(warnings)} warning(s): {warnings[0]}",
            value=0,
            details=details,
        )
    return Check("validate", Status.PASS, what, value=0, details=details)


def run_deploy(
    plan: dict[str, Any], rendered, kubeconfig: str | None = None, context: str | None = None, kube=None
) -> GateResult:
    """Everything after rendering. Bad input and unreachable clusters become an error result (exit 2 / 3)."""
    from gates.deploy.apply import apply_objects
    from gates.deploy.kube import connect

    evidence: dict[str, Any] = {
        "inputs": dict(rendered.files),
        "environment": plan["environment"],
        "renderer": rendered.renderer,
        "kustomize": rendered.kustomize,
        "manifests": [str(p) for p in plan["paths"]],
        "images": plan["images"],
        "dry_run": plan["dry_run"],
        "field_manager": "mlgate",
        "conflicts": "force (the manifests own the fields they set)",
    }
    summary: dict[str, Any] = {"environment": plan["environment"] or "", "dry-run": plan["dry_run"]}
    deployments = [o for o in rendered.objects if o.get("kind") == "Deployment"]
    summary["images"] = sorted(
        {c.get("image") for d in deployments for c in d["spec"]["template"]["spec"].get("containers", [])}
    )
    namespaces = sorted(
        {o["metadata"].get("namespace") for o in rendered.objects if o["metadata"].get("namespace")}
    )
    summary["namespace"] = namespaces[0] if len(namespaces) == 1 else ",".join(namespaces)
    source = ", ".join(str(p) for p in plan["paths"])
    checks = [validate_objects(rendered.objects, source, plan["policy_check"])]
    if checks[0].status is Status.FAIL:
        return GateResult("deploy", checks=checks, evidence=evidence, summary=summary)
    try:
        kube = kube or connect(kubeconfig, context)
        evidence["server_version"] = kube.server_version()
        _say(
            f"applying {len(rendered.objects)} objects from {source} "
            f"({'dry run' if plan['dry_run'] else 'server-side apply, field manager mlgate'})"
        )
        applied = apply_objects(kube, rendered.objects, dry_run=plan["dry_run"], progress=_say)
    except (InputError, InfraError) as exc:
        code = 2 if isinstance(exc, InputError) else 3
        result = error_result("deploy", str(exc), code, evidence)
        # the error first: it is the one-line message mlgate prints for exit codes 2 and 3
        result.checks = [Check("apply", Status.ERROR, str(exc))] + checks
        result.summary = summary
        return result
    evidence["objects"] = [a.to_dict() for a in applied]
    counts: dict[str, int] = {}
    for a in applied:
        counts[a.action.split(" ")[0]] = counts.get(a.action.split(" ")[0], 0) + 1
    summary.update({f"objects-{k}": v for k, v in sorted(counts.items())})
    changed = counts.get("created", 0) + counts.get("configured", 0)
    checks.append(
        Check(
            "apply",
            Status.PASS,
            f"{len(applied)} objects applied{' (dry run)' if plan['dry_run'] else ''}: "
            + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
            value=changed,
            details={"objects": [f"{a.ref}: {a.action}" for a in applied]},
        )
    )
    if plan["dry_run"]:
        checks.append(Check("rollout", Status.PASS, "dry run: nothing was rolled out", value="dry run"))
        return GateResult("deploy", checks=checks, evidence=evidence, summary=summary)
    try:
        wait_all(kube, plan, applied, checks, evidence, summary)
    except (InputError, InfraError) as exc:
        code = 2 if isinstance(exc, InputError) else 3
        checks.insert(0, Check("rollout", Status.ERROR, str(exc)))
        return GateResult("deploy", checks=checks, evidence=evidence, summary=summary, exit_code_hint=code)
    return GateResult("deploy", checks=checks, evidence=evidence, summary=summary)


def wait_all(
    kube,
    plan: dict[str, Any],
    applied,
    checks: list[Check],
    evidence: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    from gates.deploy.rollout import rollback, wait_for_rollout, write_time

    deployments = [a for a in applied if a.kind == "Deployment"]
    if not deployments:
        checks.append(
            Check(
                "rollout", Status.PASS, "no Deployments among the objects: nothing to wait for", value="none"
            )
        )
        return
    evidence["rollouts"], evidence["rollbacks"] = [], []
    summary["rolled-back"] = False
    single = len(deployments) == 1
    for item in deployments:
        suffix = "" if single else f" {item.name}"
        changed_at = write_time(item.live)
        started = time.monotonic()
        outcome = wait_for_rollout(
            kube, item.name, item.namespace, timeout=plan["timeout"], progress=_say, changed_at=changed_at
        )
        evidence["rollouts"].append(outcome.to_dict())
        if outcome.ok:
            if single:
                summary["revision"] = outcome.revision
            checks.append(
                Check(
                    f"rollout{suffix}",
                    Status.PASS,
                    f"deployment/{item.name} in {item.namespace}: {outcome.message} "
                    f"(revision {outcome.revision}, {time.monotonic() - started:.0f} s)",
                    value=outcome.revision,
                    details={"progress": outcome.history},
                )
            )
            continue
        why = outcome.message + (f"; {outcome.problems[0]}" if outcome.problems else "")
        checks.append(
            Check(
                f"rollout{suffix}",
                Status.FAIL,
                why,
                value=outcome.reason,
                details={"problems": outcome.problems, "progress": outcome.history},
            )
        )
        if not plan["rollback"]:
            checks[-1].why += "; not rolled back (--no-rollback)"
            continue
        if not item.template_changed:
            checks[-1].why += "; this deploy did not change the Deployment, so there is nothing to roll back"
            continue
        if item.revision_before is None:
            checks.append(
                Check(
                    f"rollback{suffix}",
                    Status.FAIL,
                    f"deployment/{item.name} was created by this deploy: there is no earlier revision to "
                    "roll back to",
                    value=None,
                )
            )
            continue
        _say(f"deployment/{item.name}: rolling back to revision {item.revision_before}")
        try:
            done = rollback(
                kube,
                item.name,
                item.namespace,
                item.revision_before,
                cause=f"mlgate deploy: rollout {outcome.reason} ({outcome.message[:120]}); "
                f"rolled back to revision {item.revision_before}",
            )
        except (InputError, InfraError) as exc:
            checks.append(Check(f"rollback{suffix}", Status.ERROR, f"the rollback failed: {exc}"))
            continue
        after = wait_for_rollout(
            kube,
            item.name,
            item.namespace,
            timeout=plan["timeout"],
            progress=_say,
            changed_at=done.changed_at,
        )
        evidence["rollbacks"].append({**done.to_dict(), "rollout": after.to_dict()})
        summary["rolled-back"] = True
        if single:
            summary["revision"] = after.revision
        status = Status.PASS if after.ok else Status.FAIL
        checks.append(
            Check(
                f"rollback{suffix}",
                status,
                f"{done.message}; "
                + (
                    f"rollout complete: {after.message} (now revision {after.revision})"
                    if after.ok
                    else f"the rollback did not roll out: {after.message}"
                ),
                value=done.to_revision,
                details={"progress": after.history},
            )
        )


def run_rollback(
    name: str,
    namespace: str | None,
    to_revision: int,
    timeout: float | None,
    kubeconfig: str | None,
    context: str | None,
    kube=None,
) -> GateResult:
    from gates.deploy.kube import connect
    from gates.deploy.rollout import rollback as undo
    from gates.deploy.rollout import wait_for_rollout

    evidence: dict[str, Any] = {"deployment": name, "requested_revision": to_revision or "previous"}
    try:
        kube = kube or connect(kubeconfig, context)
        # the kubeconfig context's namespace (or the service account's in a pod), resolved by connect
        namespace = namespace or getattr(kube, "namespace", None) or "default"
        evidence["namespace"] = namespace
        done = undo(
            kube,
            name,
            namespace,
            to_revision,
            cause=f"mlgate rollback to revision {to_revision or 'previous'}",
        )
    except (InputError, InfraError) as exc:
        code = 2 if isinstance(exc, InputError) else 3
        return error_result("rollback", str(exc), code, evidence)
    evidence["rollback"] = done.to_dict()
    summary = {
        "deployment": name,
        "namespace": namespace,
        "from-revision": done.from_revision,
        "to-revision": done.to_revision,
    }
    checks = [
        Check(
            "rollback",
            Status.PASS,
            f"deployment/{name} in {namespace}: {done.message}",
            value=done.to_revision,
        )
    ]
    _say(f"deployment/{name}: {done.message}")
    try:
        after = wait_for_rollout(
            kube, name, namespace, timeout=timeout, progress=_say, changed_at=done.changed_at
        )
    except (InputError, InfraError) as exc:
        checks.insert(0, Check("rollout", Status.ERROR, str(exc)))
        return GateResult(
            "rollback",
            checks=checks,
            evidence=evidence,
            summary=summary,
            exit_code_hint=2 if isinstance(exc, InputError) else 3,
        )
    evidence["rollout"] = after.to_dict()
    summary["revision"] = after.revision
    if after.ok:
        checks.append(
            Check(
                "rollout",
                Status.PASS,
                f"{after.message} (revision {after.revision})",
                value=after.revision,
                details={"progress": after.history},
            )
        )
    else:
        checks.append(
            Check(
                "rollout",
                Status.FAIL,
                after.message + (f"; {after.problems[0]}" if after.problems else ""),
                value=after.reason,
                details={"problems": after.problems, "progress": after.history},
            )
        )
    return GateResult("rollback", checks=checks, evidence=evidence, summary=summary)
