"""Settings of the model registry commands (`registry:`; `mlgate registry evaluate | promote | rollback`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import Name, PathText, Section, Settings

Reference = Annotated[
    str,
    Field(
        pattern=r"^(models:/|runs:/)",
        description="models:/NAME@ALIAS, models:/NAME/VERSION, or runs:/RUN_ID/PATH (a logged predictions file).",
    ),
]
Alias = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")]


class Promotion(Settings):
    """Which alias a passing report moves, and to which."""

    source: Alias = "challenger"
    """The alias of the version under review (`--from`)."""
    target: Alias = "champion"
    """The alias a passing report moves to that version (`--to`); rollback moves it back."""


class RegistrySettings(Section):
    """The model registry in the loop (MLflow): candidate and baseline by reference, promotion as an alias."""

    section = "registry"

    tracking_uri: Annotated[str, Field(min_length=1)] | None = None
    """MLflow tracking / registry URI: a server URL or sqlite:///FILE (a relative file is relative to the policy).
    --tracking-uri and MLFLOW_TRACKING_URI take precedence; default sqlite:///mlflow.db in the working folder."""
    model: Name | None = None
    """Registered model name that promote and rollback act on (--model)."""
    candidate: Reference | None = None
    """The model under review (default models:/MODEL@challenger when `model` is set)."""
    baseline: Reference | None = None
    """The production model the candidate is compared with (default models:/MODEL@champion when `model` is set)."""
    data: PathText | None = None
    """Evaluation table (csv, parquet, jsonl) with the label and the model's input columns."""
    features: Annotated[list[Name], Field(min_length=1)] | None = None
    """Input columns for a model logged without a signature (with one, its inputs are used)."""
    output: Literal["auto", "score", "prediction"] = "auto"
    """How to read one output value per row: auto and prediction take it as the predicted label or value; score
    as the positive class's probability. A probability matrix (predict_proba) is always read as scores."""
    gates: Annotated[list[Literal["metrics", "bias"]], Field(min_length=1)] | None = None
    """Gates `registry evaluate` runs on the predictions (default: metrics, and bias when the policy has it)."""
    promotion: Promotion | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=600)] | None = None
    """Timeout of one request to a tracking server (default 10; MLFLOW_HTTP_REQUEST_TIMEOUT if set)."""
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    """Retries of a failed request (default 2; MLFLOW_HTTP_REQUEST_MAX_RETRIES if set)."""
    allowed_globals: list[Name] | None = None
    """Extra trusted pickle globals for the artifact scan of downloaded models (as security.artifacts)."""
