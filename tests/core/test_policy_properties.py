"""The policy loader on any input: a Policy or one InputError line (exit 2), never another exception.

Policies are written by hand and copied between repositories; a typo must never become a traceback (or, worse,
a silently different policy). Hypothesis writes arbitrary bytes, arbitrary YAML documents, and valid policies
with one value replaced by something of another type."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.core.policy import Policy, load_policy

SETTINGS = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _load(data: bytes) -> Policy | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gates.yml"
        path.write_bytes(data)
        try:
            return load_policy(path)
        except InputError as exc:
            message = str(exc)
            assert message and "Traceback" not in message
            return None


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    _load(data)


@SETTINGS
@given(documents)
def test_any_yaml_document(document: Any) -> None:
    _load(yaml.safe_dump(document).encode())


BASE = {
    "version": 1,
    "metrics": {"task": "binary", "predictions": "p.csv", "thresholds": {"roc_auc": {"min": 0.7}}},
    "drift": {"reference": "r.parquet", "current": "c.parquet", "share": 0.5},
    "security": {"vulns": {"reports": ["grype.json"], "severity": "high"}},
}


@SETTINGS
@given(
    st.sampled_from(
        [
            ("metrics", "task"),
            ("metrics", "thresholds"),
            ("drift", "share"),
            ("security", "vulns"),
            ("version",),
        ]
    ),
    scalars | st.lists(scalars, max_size=3),
)
def test_a_valid_policy_with_one_value_of_another_type(where: tuple[str, ...], value: Any) -> None:
    document = yaml.safe_load(yaml.safe_dump(BASE))
    node = document
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    _load(yaml.safe_dump(document).encode())
