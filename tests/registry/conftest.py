"""Fixtures of the registry tests: a real `mlflow server` (SQLite backend, proxied artifacts) and a plain SQLite
store, each holding versions 1 (weak) and 2 (strong) of the example credit model (tests/registry/harness.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.registry.harness import MlflowServer, evaluation_table, register_credit_models


@dataclass(frozen=True)
class Registry:
    uri: str
    versions: dict[str, str]
    eval_table: Path
    root: Path

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.uri, registry_uri=self.uri)

    def set_aliases(self, **aliases: str) -> None:
        client = self.client()
        for alias, version in aliases.items():
            client.set_registered_model_alias("credit", alias, version)

    def aliases(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.client().get_registered_model("credit").aliases.items()}

    def tags(self, version: str) -> dict[str, str]:
        return dict(self.client().get_model_version("credit", version).tags)


@pytest.fixture(autouse=True)
def _restore_mlflow_environment() -> Iterator[None]:
    """mlgate sets MLFLOW_HTTP_* for its own process; a test must not pass them on to the next one."""
    before = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)


@pytest.fixture(scope="module")
def server_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("mlflow-server")
    with MlflowServer(root) as server:
        versions = register_credit_models(server.url)
        yield Registry(server.url, versions, evaluation_table(root / "eval.csv"), root)


@pytest.fixture(scope="session")
def sqlite_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    versions = register_credit_models(uri, artifacts=root / "artifacts")
    return Registry(uri, versions, evaluation_table(root / "eval.csv"), root)
