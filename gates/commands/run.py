"""`mlgate run`: every gate the policy names, in one step, with one combined report."""

from __future__ import annotations

import click

from gates.core.errors import InputError


@click.command()
@click.option("--only", multiple=True, help="Run only these gates (repeatable).")
@click.option("--skip", multiple=True, help="Skip these gates (repeatable).")
@click.pass_obj
def run(session, only: tuple[str, ...], skip: tuple[str, ...]) -> int:
    """Run every gate named in the policy; exit with the combined verdict."""
    if session.policy_path is None:
        raise InputError("mlgate run needs a policy: pass --policy gates.yml (or set MLGATE_POLICY)")
    names = session.policy.gate_sections()
    for name in (*only, *skip):
        if name not in names:
            raise InputError(
                f"--only/--skip {name!r}: not a gate in {session.policy.source} "
                f"(it has: {', '.join(names) or 'none'})"
            )
    names = [n for n in names if (not only or n in only) and n not in skip]
    if not names:
        raise InputError(f"{session.policy.source}: names no gates to run")
    from gates.core.settings import build
    from gates.engine import shared

    # metrics and bias on the same predictions: their cells from one scan (gates.engine.shared); the policy
    # was validated whole when loaded, so the sections are only typed here, not validated again
    pair = shared.plan(
        lambda name: build(name, session.policy.section(name) or {}), names, _bias_needs_scores
    )
    with shared.scope(pair):
        return session.run_gates([(name, {}) for name in names])


def _bias_needs_scores(settings) -> bool:
    """gates.bias.needs_scores, imported only when a run holds both gates (a run without bias skips the gate)."""
    from gates.bias import needs_scores

    return needs_scores(settings)
