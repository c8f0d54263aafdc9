"""Registry references: the three forms parse, anything else is one InputError line (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.registry.references import parse
from gates.registry.store import scrub, shown_uri


@pytest.mark.parametrize(
    ("text", "kind", "fields"),
    [
        ("models:/credit@champion", "alias", {"name": "credit", "alias": "champion"}),
        ("models:/credit/7", "version", {"name": "credit", "version": "7"}),
        ("models:/credit/007", "version", {"name": "credit", "version": "7"}),
        ("runs:/abc123/eval/predictions.csv", "run", {"run_id": "abc123", "path": "eval/predictions.csv"}),
    ],
)
def test_the_three_forms(text: str, kind: str, fields: dict) -> None:
    ref = parse(text, "--candidate")
    assert ref.kind == kind
    for key, value in fields.items():
        assert getattr(ref, key) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:/credit/Production", "stages and 'latest'"),
        ("models:/credit/latest", "stages and 'latest'"),
        ("runs:/abc/model", "predictions file"),
        ("runs:/abc/../x.csv", "'..'"),
        ("s3://bucket/model", "expected models:/"),
    ],
)
def test_moving_or_unknown_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(text, "--candidate")


@given(st.text(max_size=80))
def test_any_text_is_a_reference_or_one_line_of_error(text: str) -> None:
    try:
        ref = parse(text, "--candidate")
    except InputError as exc:
        assert str(exc).startswith("--candidate ")
        assert "\n" not in str(exc).replace(repr(text), "")
    else:
        assert ref.kind in ("alias", "version", "run")


def test_credentials_are_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    assert shown_uri("https://user:pw@mlflow.example/path?token=x") == "https://mlflow.example/path"
    text = scrub("failed https://user:pw@host/api with tok-123456 and Authorization: Bearer abc")
    assert "pw" not in text and "tok-123456" not in text and "abc" not in text
