"""Loading the model artifact: only a file that passes the security gate's scan, or a safe format.

Order of checks:

1. If mlgate's security gate is installed (``gates.security.artifacts.require_safe_artifact``), the
   artifact must pass its scan; a failed scan refuses the file.
2. skops files are a safe format: every type the file names must be listed in the model card's
   ``skops_trusted_types`` (``skops.io.get_untrusted_types``), and it is loaded with exactly that list.
3. Any other format (pickle, joblib) is loaded only when step 1 ran and passed: without a scanner it is
   refused, because unpickling runs code.

Nothing here logs or returns the artifact's contents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAFE_SUFFIXES = (".skops",)


class UnsafeArtifact(Exception):
    """The artifact was not loaded: the scan failed, a type is not trusted, or no scanner was available."""


@dataclass
class LoadedModel:
    estimator: Any
    path: Path
    sha256: str
    version: str
    scan: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, matrix: Any) -> Any:
        return self.estimator.predict_proba(matrix)[:, 1]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_card(card_path: Path | None) -> dict[str, Any]:
    if card_path is None or not card_path.is_file():
        return {}
    return json.loads(card_path.read_text(encoding="utf-8"))


def security_scan(path: Path) -> dict[str, Any]:
    """Run the security gate's artifact scan when it is installed; {'scanner': None} when it is not."""
    try:
        from gates.security.artifacts import require_safe_artifact
    except ImportError:
        return {"scanner": None}
    try:
        outcome = require_safe_artifact(path)
    except Exception as exc:  # noqa: BLE001 - the scanner's own error type; any refusal stops the load
        raise UnsafeArtifact(f"{path.name}: the security scan refused the artifact: {exc}") from None
    return {
        "scanner": "gates.security.artifacts",
        "passed": True,
        "detail": outcome if isinstance(outcome, (str, int, float, bool, type(None))) else str(outcome),
    }


def load_model(path: Path, card_path: Path | None = None, version: str | None = None) -> LoadedModel:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model artifact {path} not found")
    card = load_card(card_path if card_path is not None else path.with_name("model_card.json"))
    scan = security_scan(path)
    if path.suffix in SAFE_SUFFIXES:
        import skops.io as sio

        trusted = list(card.get("skops_trusted_types") or [])
        untrusted = sorted(set(sio.get_untrusted_types(file=str(path))) - set(trusted))
        if untrusted:
            raise UnsafeArtifact(
                f"{path.name}: types not in the model card's skops_trusted_types: {', '.join(untrusted)}"
            )
        estimator = sio.load(str(path), trusted=trusted)
        scan["format"] = "skops (safe format, trusted types from the model card)"
    else:
        if not scan.get("passed"):
            raise UnsafeArtifact(
                f"{path.name}: not a safe format and the security gate's scanner is not "
                "installed, so it is not loaded"
            )
        import joblib

        estimator = joblib.load(path)
        scan["format"] = f"{path.suffix or 'unknown'} (loaded after a passing scan)"
    if not hasattr(estimator, "predict_proba"):
        raise UnsafeArtifact(f"{path.name}: the loaded object has no predict_proba")
    return LoadedModel(
        estimator=estimator,
        path=path,
        sha256=sha256_file(path),
        version=version or str(card.get("model_version") or "unknown"),
        scan=scan,
    )
