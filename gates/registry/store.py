"""The MLflow model registry as mlgate talks to it: which tracking URI, how long to wait, and what a failure means.

Every call goes through `RegistryStore._call`, which turns MLflow's errors into mlgate's exit codes: an unknown
model, version, alias or run is bad input (exit 2, one line); a server that is down, times out or answers 5xx
is an infrastructure fault (exit 3). MLflow's own HTTP retries are bounded here (a few tries, short timeouts)
instead of its defaults (up to 7 retries with a 120 s timeout each), so a dead server costs seconds, not minutes.
Credentials (MLFLOW_TRACKING_TOKEN, a password, user:pass@ in the URI) never reach a message or a report.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from gates.core.errors import InfraError, InputError, log_safe
from gates.registry.references import Reference

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's own default: a SQLite file in the working directory
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_RETRIES = 2
SECRET_VARIABLES = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_CLIENT_CERT_PATH")

# MLflow error codes that mean the request named something wrong (exit 2); every other failure is the
# server's or the network's (exit 3).
_INPUT_CODES = {
    "RESOURCE_DOES_NOT_EXIST",
    "NOT_FOUND",
    "ENDPOINT_NOT_FOUND",
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "INVALID_STATE",
    "BAD_REQUEST",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "CUSTOMER_UNAUTHORIZED",
}

# What urllib3 says under MLflow's "API request ... failed with exception HTTPConnectionPool(...)" wrapping.
_NETWORK_CAUSE = re.compile(
    r"\[Errno -?\d+\] [^'\")]+|too many \d+ error responses|Read timed out|timed out|Name or service not known"
)

T = TypeVar("T")


def shown_uri(uri: str) -> str:
    """The URI as it may be printed: without user:password@ and without a query string (tokens live there)."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") or "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return uri


def scrub(text: str, uri: str = "") -> str:
    """A message from MLflow or the network, on one line, with every credential mlgate knows of removed."""
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name, "")
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    if uri and shown_uri(uri) != uri:
        text = text.replace(uri, shown_uri(uri))
    text = re.sub(r"(https?://)[^/\s@]+@", r"\1", text)  # user:password@host in any URL
    text = re.sub(r"(?i)\b(authorization|token|bearer)\b([=:]?\s*)(bearer\s+)?[^\s&]+", r"\1\2***", text)
    return log_safe(" ".join(text.split()))


def resolve_tracking_uri(flag: str | None, configured: str | None, base_dir: Path) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the policy's registry.tracking_uri (a relative SQLite
    path there is relative to the policy file), else MLflow's default SQLite file in the working directory."""
    if flag:
        return flag
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if configured:
        if configured.startswith("sqlite:///") and not configured.startswith("sqlite:////"):
            return "sqlite:///" + str((base_dir / configured[len("sqlite:///") :]).resolve())
        return configured
    return DEFAULT_TRACKING_URI


def configure_http(timeout: int | None, retries: int | None) -> None:
    """Bound MLflow's HTTP client before it makes its session: the policy or flag wins, then the user's own
    MLFLOW_HTTP_* variables, then mlgate's short defaults. Also silences MLflow's progress bars and info logs,
    so stderr holds only mlgate's one-line error."""
    settings = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": timeout,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": retries,
    }
    defaults = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": DEFAULT_TIMEOUT_SECONDS,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": DEFAULT_RETRIES,
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0.5,
    }
    for name, default in defaults.items():
        value = settings.get(name)
        if value is not None:
            os.environ[name] = str(value)
        else:
            os.environ.setdefault(name, str(default))
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version, as read from the registry."""

    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def evidence(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
        }


class RegistryStore:
    """A connection to one MLflow tracking / registry store."""

    def __init__(self, tracking_uri: str, timeout: int | None = None, retries: int | None = None) -> None:
        self.uri = tracking_uri
        self.shown = shown_uri(tracking_uri)
        if tracking_uri.startswith("sqlite:"):
            self._check_sqlite(tracking_uri)
        configure_http(timeout, retries)
        if importlib.util.find_spec("mlflow") is None:
            raise InputError("the registry commands need mlflow: pip install 'mlgate[registry]'")
        from mlflow import MlflowClient

        self.client = self._call("connect", lambda: MlflowClient(tracking_uri, registry_uri=tracking_uri))

    def _check_sqlite(self, uri: str) -> None:
        missing = [name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]
        if missing:
            raise InputError(
                f"tracking URI {uri}: a SQLite store needs {' and '.join(missing)} (pip install mlflow, not "
                f"only mlflow-skinny), or use a tracking server URL"
            )
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if path and not Path(path).is_file():
            raise InputError(
                f"tracking URI {uri}: {path} does not exist (a new registry is made by registering a model "
                f"with MLflow; give --tracking-uri or MLFLOW_TRACKING_URI for another store)"
            )

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """Run one MLflow call; its failure becomes an InputError (named wrongly) or an InfraError (unreachable)."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - MLflow, requests, urllib3 and SQLAlchemy each raise their own
            raise self._translate(what, exc) from None

    def _translate(self, what: str, exc: Exception) -> Exception:
        if isinstance(exc, (InputError, InfraError)):
            return exc
        code = str(getattr(exc, "error_code", "") or "")
        message = scrub(str(exc) or type(exc).__name__, self.uri)
        cause = _NETWORK_CAUSE.search(message) if code not in _INPUT_CODES else None
        message = cause.group(0).strip() if cause else message
        if len(message) > 300:
            message = message[:299] + "…"
        where = f"registry {self.shown}: {what}"
        if code in _INPUT_CODES:
            return InputError(f"{where}: {message}")
        module = type(exc).__module__.split(".")[0]
        if module == "sqlalchemy" and "unable to open" not in message and "locked" not in message:
            return InputError(f"{where}: the store cannot be read as an MLflow database: {message}")
        return InfraError(f"{where}: {message} (the store did not answer; nothing was changed)")

    # Reading ---------------------------------------------------------------------------------------------

    def _info(self, version: Any) -> VersionInfo:
        return VersionInfo(
            name=version.name,
            version=str(version.version),
            run_id=version.run_id or "",
            source=version.source or "",
            tags=dict(version.tags or {}),
            aliases=tuple(sorted(version.aliases or ())),
        )

    def model_version(self, name: str, version: str) -> VersionInfo:
        return self._info(
            self._call(
                f"model {name!r} version {version}", lambda: self.client.get_model_version(name, version)
            )
        )

    def aliases(self, name: str) -> dict[str, str]:
        """Every alias of a registered model and the version it points to (an unknown model: exit 2)."""
        model = self._call(f"model {name!r}", lambda: self.client.get_registered_model(name))
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def by_alias(self, name: str, alias: str) -> VersionInfo:
        known = self.aliases(name)
        if alias not in known:
            listed = ", ".join(f"{a} -> {v}" for a, v in sorted(known.items())) or "none"
            raise InputError(
                f"registry {self.shown}: model {name!r} has no alias {alias!r} (aliases: {listed})"
            )
        return self.model_version(name, known[alias])

    def resolve(self, ref: Reference) -> VersionInfo:
        if ref.kind == "alias":
            return self.by_alias(ref.name, ref.alias)
        if ref.kind == "version":
            return self.model_version(ref.name, ref.version)
        raise InputError(f"{ref.text}: not a model version reference")

    # Downloading -----------------------------------------------------------------------------------------

    def download_model(self, info: VersionInfo, destination: Path) -> Path:
        """The version's files, copied to `destination` (nothing there is loaded)."""
        import mlflow.artifacts

        destination.mkdir(parents=True, exist_ok=True)
        uri = self._call(
            f"{info.uri} location",
            lambda: self.client.get_model_version_download_uri(info.name, info.version),
        )
        local = self._call(
            f"{info.uri} download",
            lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(destination), tracking_uri=self.uri
            ),
        )
        return Path(local)

    def download_run_file(self, ref: Reference, destination: Path) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        local = Path(
            self._call(
                f"{ref.text} download",
                lambda: self.client.download_artifacts(ref.run_id, ref.path, str(destination)),
            )
        )
        if not local.is_file():
            raise InputError(f"{ref.text}: the run logged a folder here, not a predictions file")
        return local

    # Writing ---------------------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            f"set alias {alias!r} of {name!r} to version {version}",
            lambda: self.client.set_registered_model_alias(name, alias, version),
        )

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._call(f"tag {key!r} on {name!r} version {version}", functools.partial(
                self.client.set_model_version_tag, name, version, key, value
            ))  # fmt: skip
