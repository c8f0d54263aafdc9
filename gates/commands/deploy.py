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

from pathlib import Path

import click

from gates.commands.common import absolute, compact
from gates.core.errors import InputError


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
@click.option(
    "--strategy",
    type=click.Choice(["rolling", "blue-green", "gitops"]),
    help="rolling (default): apply and wait; blue-green: a second colour, validated, then the Service "
    "switches; gitops: commit the image to the GitOps repository, wait for the reconciler.",
)
@click.option(
    "--switch-back", is_flag=True, help="Blue-green: route the Service back to the previous colour at once."
)
@click.option(
    "--gitops-mode",
    type=click.Choice(["push", "pull-request"]),
    help="GitOps: push the commit to the branch (default), or push a branch and open a pull request.",
)
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
    strategy,
    switch_back,
    gitops_mode,
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
            "strategy": "blue-green" if switch_back else strategy,
            "gitops": {"mode": gitops_mode} if gitops_mode else None,
        }
    )
    from gates.core.settings.delivery import DeploySettings

    section = session.settings_of(DeploySettings, overrides)
    ctx = session.context()
    if section.strategy == "gitops":
        from gates.deploy.gitops import run_gitops

        result = run_gitops(
            {"images": section.images or {}, "namespace": section.namespace},
            section.gitops.model_dump(),
            ctx.base_dir,
            kubeconfig=str(kubeconfig) if kubeconfig else None,
            context=section.context,
            progress=lambda line: click.echo(f"mlgate: {line}", err=True),
        )
        return session.finish([result])
    from gates.deploy.plan import plan_deploy, render_plan
    from gates.deploy.run import run_deploy

    plan = plan_deploy(section, ctx)
    rendered = render_plan(plan)
    if print_only:
        click.echo(rendered.yaml(), nl=False)
        return 0
    if section.strategy == "blue-green":
        from gates.deploy.bluegreen import run_blue_green

        if dry_run:
            raise InputError(
                "--dry-run is not available with --strategy blue-green (nothing would be validated)"
            )
        result = run_blue_green(
            plan,
            rendered,
            section.blue_green.model_dump(),
            session.policy.section("validate_deployment"),
            ctx,
            switch_back=switch_back,
            kubeconfig=str(kubeconfig) if kubeconfig else None,
            context=section.context,
            progress=lambda line: click.echo(f"mlgate: {line}", err=True),
        )
        return session.finish([result])
    result = run_deploy(
        plan, rendered, kubeconfig=str(kubeconfig) if kubeconfig else None, context=section.context
    )
    return session.finish([result])


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
    from gates.deploy.run import run_rollback

    result = run_rollback(
        name, namespace, to_revision, timeout, str(kubeconfig) if kubeconfig else None, context
    )
    return session.finish([result])
