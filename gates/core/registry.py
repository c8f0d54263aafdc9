"""Which gates exist, in the order `mlgate run` runs them, and where each one's code lives.

Modules are imported only when their gate runs, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gates.core.errors import InputError

# What each extra of the package brings (pyproject.toml's optional dependencies), as import names: a light
# install has only the core, and a gate whose family is missing says which extra to install instead of failing
# on an ImportError halfway through.
EXTRAS: dict[str, tuple[str, ...]] = {
    "model": ("numpy", "scipy", "pandas", "pyarrow"),
    "security": ("picklescan", "lz4", "h5py"),
    "deploy": ("kubernetes", "prometheus_client", "numpy", "scipy"),
    "spark": ("pyspark",),
    "registry": ("mlflow", "numpy", "scipy", "pandas", "pyarrow"),
}


def require_extra(what: str, extra: str | None) -> None:
    """Exit 2 naming the extra to install when `what` needs modules this installation lacks."""
    if extra is None:
        return
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(
            f"{what} needs mlgate's {extra!r} extra ({', '.join(missing)} not installed): "
            f"pip install 'mlgate[{extra}]'"
        )


@dataclass(frozen=True)
class GateSpec:
    name: str
    module: str
    extra: str | None = None  # the package extra the gate needs (EXTRAS); None: the core
    offline: bool = (
        True  # offline gates are what `mlgate run` runs; delivery sections have their own commands
    )

    def runner(self) -> Callable[..., Any]:
        require_extra(f"the {self.name} gate", self.extra)
        run: Callable[..., Any] = importlib.import_module(self.module).run
        return run


GATES: dict[str, GateSpec] = {
    spec.name: spec
    for spec in (
        GateSpec("tests", "gates.tests"),
        GateSpec("metrics", "gates.metrics", "model"),
        GateSpec("latency", "gates.latency", "model"),
        GateSpec("bias", "gates.bias", "model"),
        GateSpec("data", "gates.data", "model"),
        GateSpec("drift", "gates.drift", "model"),
        GateSpec("security", "gates.security.gate", "security"),
    )
}

# Sections of gates.yml that configure delivery commands rather than gates run by `mlgate run`.
DELIVERY_SECTIONS = ("deploy", "validate_deployment", "canary", "notify", "monitor", "registry")
