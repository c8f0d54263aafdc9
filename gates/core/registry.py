"""Which gates exist, in the order `mlgate run` runs them, and where each one's code lives.

Modules are imported only when their gate runs, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class GateSpec:
    name: str
    module: str
    offline: bool = (
        True  # offline gates are what `mlgate run` runs; delivery sections have their own commands
    )

    def runner(self) -> Callable:
        return importlib.import_module(self.module).run


GATES: dict[str, GateSpec] = {
    spec.name: spec
    for spec in (
        GateSpec("tests", "gates.tests"),
        GateSpec("metrics", "gates.metrics"),
        GateSpec("latency", "gates.latency"),
        GateSpec("bias", "gates.bias"),
        GateSpec("data", "gates.data"),
        GateSpec("drift", "gates.drift"),
        GateSpec("security", "gates.security.gate"),
    )
}

# Sections of gates.yml that configure delivery commands rather than gates run by `mlgate run`.
DELIVERY_SECTIONS = ("deploy", "validate_deployment", "canary")
