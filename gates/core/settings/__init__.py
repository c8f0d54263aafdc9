"""Typed settings of gates.yml: one pydantic model per section, holding each key's type, bounds, default and
description once.

The JSON Schema, `mlgate policy schema` and docs/reference/policy.md are generated from these models
(gates.core.settings.schema). A section without a model here is still a hand-written JSON Schema fragment
(gates/schema/<section>.json) and reaches its gate as a plain mapping; converting it means writing its model,
registering it in MODELS and deleting the fragment.
"""

from __future__ import annotations

from typing import Any

from gates.core.settings.base import Bootstrap, Defaults, Section
from gates.core.settings.bias import BiasSettings
from gates.core.settings.canary import CanarySettings
from gates.core.settings.delivery import DeploySettings, ValidateSettings
from gates.core.settings.drift import DriftSettings
from gates.core.settings.latency import LatencySettings
from gates.core.settings.metrics import MetricsSettings
from gates.core.settings.registry import RegistrySettings
from gates.core.settings.security import SecuritySettings
from gates.core.settings.tests import TestsSettings

MODELS: dict[str, type[Section]] = {
    model.section: model
    for model in (
        TestsSettings,
        MetricsSettings,
        LatencySettings,
        BiasSettings,
        DriftSettings,
        SecuritySettings,
        RegistrySettings,
        DeploySettings,
        ValidateSettings,
        CanarySettings,
    )
}


def section_names() -> tuple[str, ...]:
    """Every section of gates.yml, in the order of the registry (gates, then delivery commands)."""
    from gates.core.registry import DELIVERY_SECTIONS, GATES

    return (*GATES, *DELIVERY_SECTIONS)


def build(name: str, data: dict[str, Any]) -> Section | dict[str, Any]:
    """A section's typed settings from its (already schema-valid) mapping; the mapping itself when the section
    has no model yet."""
    model = MODELS.get(name)
    return model.model_validate(data) if model is not None else data


__all__ = ["MODELS", "Bootstrap", "Defaults", "Section", "build", "section_names"]
