"""Registry references as users write them, parsed before anything is contacted.

    models:/NAME@ALIAS       the version an alias points to (champion, challenger)
    models:/NAME/VERSION     one version by number
    runs:/RUN_ID/PATH        a file a run logged: predictions already computed (csv, parquet, jsonl)

MLflow itself also accepts stages (`models:/NAME/Production`, deprecated) and `latest`; mlgate refuses them,
because a gate's evidence must name the exact version it judged, and a stage or `latest` moves under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gates.core.errors import InputError

_NAME = r"[^/@\s][^/@]*"
_MODEL_ALIAS = re.compile(rf"^models:/(?P<name>{_NAME})@(?P<alias>[A-Za-z0-9_-]+)$")
_MODEL_VERSION = re.compile(rf"^models:/(?P<name>{_NAME})/(?P<version>[0-9]+)$")
_RUN = re.compile(r"^runs:/(?P<run>[0-9A-Za-z_-]+)/(?P<path>\S.*)$")
PREDICTION_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class Reference:
    """One parsed reference: a model version (by alias or number) or a run's predictions file."""

    text: str
    kind: str  # "alias", "version" or "run"
    name: str = ""
    alias: str = ""
    version: str = ""
    run_id: str = ""
    path: str = ""

    @property
    def is_model(self) -> bool:
        return self.kind in ("alias", "version")


def parse(text: str, what: str) -> Reference:
    """Parse `text` (given as `what`, e.g. "--candidate"); anything else is one line naming the forms."""
    value = text.strip()
    if match := _MODEL_ALIAS.match(value):
        return Reference(value, "alias", name=match["name"], alias=match["alias"])
    if match := _MODEL_VERSION.match(value):
        return Reference(value, "version", name=match["name"], version=str(int(match["version"])))
    if match := _RUN.match(value):
        path = match["path"].strip("/")
        if ".." in path.split("/"):
            raise InputError(f"{what} {text!r}: a run artifact path may not contain '..'")
        if not path.lower().endswith(PREDICTION_SUFFIXES):
            raise InputError(
                f"{what} {text!r}: a run reference names a predictions file "
                f"({', '.join(PREDICTION_SUFFIXES)}); to score a logged model, register it and use models:/"
            )
        return Reference(value, "run", run_id=match["run"], path=path)
    if value.startswith("models:/") and re.match(rf"^models:/{_NAME}/[A-Za-z]", value):
        raise InputError(
            f"{what} {text!r}: stages and 'latest' move while a gate runs; name an alias "
            f"(models:/NAME@ALIAS) or a version number (models:/NAME/3)"
        )
    raise InputError(
        f"{what} {text!r}: expected models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/PATH"
    )


def check_alias(alias: str, what: str) -> str:
    """An alias as MLflow accepts it (letters, digits, _ and -; not a version-like 'v3')."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias or "") or re.fullmatch(r"[vV][0-9]+", alias):
        raise InputError(f"{what} {alias!r}: an alias is letters, digits, '_' or '-' (and not v<number>)")
    return alias
