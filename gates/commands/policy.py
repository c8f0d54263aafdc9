"""`mlgate policy`: validate a policy file, or print the JSON Schema editors can use."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def policy() -> None:
    """The policy file (gates.yml)."""


@policy.command()
def schema() -> int:
    """Print the JSON Schema of gates.yml."""
    from gates.core.policy import policy_schema

    click.echo(json.dumps(policy_schema(), indent=2))
    return 0


@policy.command()
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> int:
    """Validate FILE; exit 0 when valid, 2 listing every problem (one line each) otherwise."""
    from gates.core.policy import load_policy

    loaded = load_policy(file)
    click.echo(f"{file}: valid (sections: {', '.join(k for k in loaded.data if k != 'version')})")
    return 0
