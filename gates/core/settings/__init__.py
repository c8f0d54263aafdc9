"""Typed settings of gates.yml: one pydantic model per section, holding each key's type, bounds, default and
description once.

The JSON Schema, `mlgate policy schema` and docs/reference/policy.md are generated from these models
(gates.core.settings.schema). Every section named in gates.core.registry has its model in MODELS; a new
section is a new model registered there.
"""

from __future__ import annotations

from typing import Any

from gates.core.settings.base import Bootstrap, Defaults, Section
from gates.core.settings.bias import BiasSettings
from gates.core.settings.canary import CanarySettings
from gates.core.settings.data import DataSettings
from gates.core.settings.delivery import DeploySettings, ValidateSettings
from gates.core.settings.drift import DriftSettings
from gates.core.settings.latency import LatencySettings
from gates.core.settings.metrics import MetricsSettings
from gates.core.settings.monitor import MonitorSettings
from gates.core.settings.notify import NotifySettings
from gates.core.settings.registry import RegistrySettings
from gates.core.settings.security import SecuritySettings
from gates.core.settings.tests import TestsSettings

MODELS: dict[str, type[Section]] = {
    model.section: model
    for model in (
        TestsSettings,
        MetricsSettings,
        LatencySettings,
        DataSettings,
        BiasSettings,
        DriftSettings,
        SecuritySettings,
        RegistrySettings,
        DeploySettings,
        ValidateSettings,
        CanarySettings,
        NotifySettings,
        MonitorSettings,
    )
}


def section_names() -> tuple[str, ...]:
    """Every section of gates.yml, in the order of the registry (gates, then delivery commands)."""
    from gates.core.registry import DELIVERY_SECTIONS, GATES

    return (*GATES, *DELIVERY_SECTIONS)


def build(name: str, data: dict[str, Any]) -> Section:
    """A section's typed settings from its (already schema-valid) mapping."""
    return MODELS[name].model_validate(data)


__all__ = ["MODELS", "Bootstrap", "Defaults", "Section", "build", "section_names"]
