"""`mlgate deploy` and `mlgate rollback`: apply an environment's manifests and see the rollout through.

deploy:   render (`kubectl kustomize`, kustomize v5) -> local checks and the security gate's
          manifest policy -> server-side dry run of every object -> server-side apply (field manager mlgate,
          force) -> wait for every Deployment's rollout -> on a missed deadline, roll back to the revision that
          was live before -> one GateResult "deploy" (checks validate, apply, rollout, rollback) written in
          every report format and appended to the audit trail.
rollback: `kubectl rollout undo` semantics, then wait for the rollout; GateResult "rollback".

Exit codes: 0 rolled out (or nothing to change), 1 the rollout failed (and was rolled back when possible),
2 bad manifests, flags or permissions, 3 the cluster could not be reached.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gates.commands.common import absolute, compact
from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status, error_result


def _say(line: str) -> None:
    click.echo(f"mlgate: {line}", err=True)


def _image_pairs(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, ref = item.partition("=")
        if not sep or not name.strip() or not ref.strip():
            raise InputError(
                f"--image {item!r}: expected NAME=REFERENCE, e.g. mlgate/credit-model=ghcr.io/acme/"
                "credit-model:1.2.0"
            )
        out[name.strip()] = ref.strip()
    return out


@click.command()
@click.option(
    "--environment", "-e", help="Environment to deploy: its overlay is MANIFESTS/overlays/ENVIRONMENT."
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="NAME=REF",
    help="Set an image: NAME as used in the manifests, REF a full reference (repeatable).",
)
@click.option(
    "--manifests",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Kustomization folder or YAML file to deploy instead of the environment's overlay (repeatable).",
)
@click.option("--namespace", "-n", help="Namespace laid over the manifests'.")
@click.option(
    "--timeout", type=float, help="Seconds to wait for each rollout (default progressDeadlineSeconds + 60)."
)
@click.option(
    "--rollback/--no-rollback",
    "rollback_on_failure",
    default=None,
    help="Roll back a rollout that misses its deadline (default on).",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate on the server (dryRun=All) and show what would change."
)
@click.option(
    "--print", "print_only", is_flag=True, help="Print the rendered manifests and stop (no cluster)."
)
@click.option("--kubeconfig", type=click.Path(path_type=Path), help="Kubeconfig file (default KUBECONFIG).")
@click.option("--context", help="kubeconfig context.")
@click.pass_obj
def deploy(
    session,
    environment,
    images,
    paths,
    namespace,
    timeout,
    rollback_on_failure,
    dry_run,
    print_only,
    kubeconfig,
    context,
) -> int:
    """Render, validate and server-side apply manifests, then wait for the rollout.

    A rollout that misses its progress deadline is rolled back to the revision that was live before, and
    the command exits 1. Re-running a deploy that is already applied changes nothing and exits 0.
    """
    overrides = compact(
        {
            "environment": environment,
            "images": _image_pairs(images) or None,
            "paths": [absolute(p) for p in paths] or None,
            "namespace": namespace,
            "timeout_seconds": timeout,
            "rollback_on_failure": rollback_on_failure,
            "dry_run": dry_run or None,
            "context": context,
        }
    )
    section = session.section("deploy", overrides)
    ctx = session.context()
    plan = _plan(section, ctx)
    rendered = _render(plan)
    if print_only:
        click.echo(rendered.yaml(), nl=False)
        return 0
    result = run_deploy(
        plan, rendered, kubeconfig=str(kubeconfig) if kubeconfig else None, context=section.get("context")
    )
    return session.finish([result])


def _plan(section: dict[str, Any], ctx) -> dict[str, Any]:
    """Which manifests, images, namespace and limits this deploy uses (environment settings applied)."""
    environment = section.get("environment")
    environments = section.get("environments") or {}
    settings = dict(environments.get(environment) or {}) if environment else {}
    if environment and environments and environment not in environments:
        raise InputError(
            f"{ctx.source}: deploy.environments has no {environment!r} "
            f"(known: {', '.join(sorted(environments))})"
        )
    if section.get("paths"):
        paths = [ctx.path(p, what="manifests") for p in section["paths"]]
    elif environment:
        # MANIFESTS is relative to the policy's folder when the policy names it, else ./k8s
        root = section["manifests"] if section.get("manifests") else str(Path.cwd() / "k8s")
        default = Path(root) / "overlays" / environment
        paths = [
            ctx.path(settings.get("path") or str(default), what=f"overlay of environment {environment!r}")
        ]
    else:
        raise InputError(
            "no manifests to deploy: give --environment (overlay MANIFESTS/overlays/ENV) or --manifests"
        )
    return {
        "environment": environment,
        "paths": paths,
        "images": {**(section.get("images") or {}), **(settings.get("images") or {})},
        "namespace": section.get("namespace") or settings.get("namespace"),
        "timeout": section.get("timeout_seconds") or settings.get("timeout_seconds"),
        "rollback": section.get("rollback_on_failure", True),
        "policy_check": section.get("policy_check", True),
        "dry_run": bool(section.get("dry_run")),
    }


def _render(plan: dict[str, Any]):
    """`kubectl kustomize` over the plan's folders and files, images and namespace laid on top by kustomize."""
    from gates.deploy.render import render

    rendered = render(plan["paths"], plan["images"], plan["namespace"])
    if not rendered.objects:
        raise InputError(f"{', '.join(map(str, plan['paths']))}: no objects to deploy")
    return rendered


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
        _wait_all(kube, plan, applied, checks, evidence, summary)
    except (InputError, InfraError) as exc:
        code = 2 if isinstance(exc, InputError) else 3
        checks.insert(0, Check("rollout", Status.ERROR, str(exc)))
        return GateResult("deploy", checks=checks, evidence=evidence, summary=summary, exit_code_hint=code)
    return GateResult("deploy", checks=checks, evidence=evidence, summary=summary)


def _wait_all(
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


@click.command()
@click.argument("deployment_name", metavar="DEPLOYMENT")
@click.option(
    "--namespace", "-n", default=None, help="Namespace (default: the kubeconfig context's, else default)."
)
@click.option(
    "--to-revision",
    type=int,
    default=0,
    show_default=True,
    help="Revision to restore (0: the previous one), as listed by `kubectl rollout history`.",
)
@click.option(
    "--timeout", type=float, help="Seconds to wait for the rollout (default progressDeadlineSeconds + 60)."
)
@click.option("--kubeconfig", type=click.Path(path_type=Path), help="Kubeconfig file (default KUBECONFIG).")
@click.option("--context", help="kubeconfig context.")
@click.pass_obj
def rollback(session, deployment_name, namespace, to_revision, timeout, kubeconfig, context) -> int:
    """Roll DEPLOYMENT back like `kubectl rollout undo`, then wait for the rollout.

    Restores the pod template of the ReplicaSet with the chosen deployment.kubernetes.io/revision. A paused
    Deployment is refused.
    """
    if to_revision < 0:
        raise InputError(
            f"--to-revision {to_revision}: expected 0 (the previous revision) or a revision number"
        )
    name = (
        deployment_name.split("/", 1)[1]
        if deployment_name.startswith(("deployment/", "deployments/"))
        else deployment_name
    )
    result = run_rollback(
        name, namespace, to_revision, timeout, str(kubeconfig) if kubeconfig else None, context
    )
    return session.finish([result])


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
