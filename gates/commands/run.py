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
    return session.run_gates([(name, {}) for name in names])
