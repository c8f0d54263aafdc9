"""The typed settings (gates.core.settings): defaults held once and shown in the generated schema, the schema and
the models accepting the same documents, and errors in the policy's one-line style however settings arrive."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gates.commands.session import Session
from gates.core.context import Bootstrap, GateContext
from gates.core.errors import InputError
from gates.core.policy import load_policy, problems, section_settings
from gates.core.settings import MODELS, build, section_names
from gates.core.settings.base import TopLevel
from gates.core.settings.data import DataSettings, SchemaDocument
from gates.core.settings.errors import pydantic_problems
from gates.core.settings.latency import LatencySettings
from gates.core.settings.metrics import MetricsSettings
from gates.core.settings.schema import policy_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gates.yml"


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _defaults(model: type[BaseModel], node: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    """Every field default of the model (and its nested models) that the schema node does not show."""
    missing = []
    node = _resolve(node, schema)
    for name, field in model.model_fields.items():
        shown = _resolve(node["properties"][field.alias or name], schema)
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if default is not None:
            expected = json.loads(
                json.dumps(
                    default.model_dump(exclude_none=True) if isinstance(default, BaseModel) else default
                )
            )
            if "default" not in shown or shown["default"] != expected:
                missing.append(f"{path}.{name}: default {expected!r}, schema {shown.get('default')!r}")
        annotation = field.annotation
        for inner in getattr(annotation, "__args__", (annotation,)):
            if (
                isinstance(inner, type)
                and issubclass(inner, BaseModel)
                and "properties" in _resolve(shown, schema)
            ):
                missing += _defaults(inner, shown, schema, f"{path}.{name}")
    return missing


def test_every_default_of_every_model_is_in_the_generated_schema():
    schema = policy_schema()
    missing = _defaults(TopLevel, {"properties": schema["properties"]}, schema, "")
    for section, model in MODELS.items():
        missing += _defaults(model, schema["properties"][section], schema, section)
    assert not missing, missing


def test_every_section_has_a_model_and_no_hand_written_fragment_is_left():
    assert set(section_names()) <= set(MODELS)
    assert set(policy_schema()["properties"]) >= set(section_names())
    left = sorted(p.name for p in (REPO / "gates" / "schema").glob("*.json"))
    assert left == ["gates.schema.json", "report.schema.json"], left
    data = build("data", {"table": "t.csv", "schema": {"columns": {"id": {"min": 1}}}})
    assert isinstance(data, DataSettings) and isinstance(data.schema_, SchemaDocument)
    assert data.schema_.model_dump(exclude_unset=True) == {"columns": {"id": {"min": 1}}}  # 1 stays 1


def test_the_example_policy_becomes_typed_settings(tmp_path):
    session = Session(policy_path=EXAMPLE)
    metrics = session.settings("metrics")
    assert isinstance(metrics, MetricsSettings)
    assert list(metrics.limits()) == ["roc_auc", "accuracy", "recall", "brier"]  # the policy's order
    assert metrics.baseline is not None and metrics.baseline.decide_on == "bound"  # the model's default
    assert metrics.limits()["roc_auc"].decide_on == "bound" and metrics.limits()["accuracy"].decide_on is None
    assert isinstance(session.settings("data"), DataSettings)
    for name in load_policy(EXAMPLE).data:
        if name in MODELS:
            assert isinstance(session.settings(name), MODELS[name])


def test_a_mapping_given_in_code_gets_the_policy_error_lines():
    with pytest.raises(InputError) as raised:
        LatencySettings.of({"samples": "l.csv", "max_p95": 0, "bogus": 1}, "flags")
    assert str(raised.value).split("\n") == [
        "flags: 2 problems:",
        (
            "  - latency: unknown key 'bogus' (expected one of: bootstrap, column, decide_on, max_mean, max_p50, "
            "max_p95, max_p99, samples, unit)"
        ),
        "  - latency.max_p95: expected a number > 0, got 0",
    ]
    assert LatencySettings.of({"samples": "l.csv"}).column == "latency_ms"


def test_a_part_of_a_section_is_validated_and_named():
    from gates.core.settings.latency import LatencyLimits

    assert LatencyLimits.part({"max_p95": 3, "samples": "ignored: the readers' key"}, "latency").max_p95 == 3
    with pytest.raises(InputError, match=r"^settings: latency.max_p95: expected a value > 0, got -1$"):
        LatencyLimits.part({"max_p95": -1}, "latency")


def test_pydantic_errors_become_key_paths_without_union_branch_names():
    with pytest.raises(ValidationError) as raised:
        MetricsSettings.model_validate({"predictions": "p.csv", "streaming": {"batch_rows": "x"}, "x": 1})
    assert pydantic_problems(raised.value, ("metrics",)) == [
        "metrics.streaming.batch_rows: expected a whole number, got 'x'",  # not: one line per union branch
        "metrics: unknown key 'x'",
    ]
    with pytest.raises(ValidationError) as raised:
        MetricsSettings.model_validate({"predictions": "p.csv", "streaming": "sometimes"})
    assert pydantic_problems(raised.value) == [
        "streaming: expected true or false or one of 'auto' or a mapping, got 'sometimes'"
    ]


def test_bootstrap_layers_key_by_key():
    ctx = GateContext(base_dir=Path("."), report_dir=Path("."), defaults={"bootstrap": {"seed": 7}})
    own = LatencySettings.of({"samples": "l.csv", "bootstrap": {"resamples": 10}})
    assert ctx.bootstrap(own) == Bootstrap(confidence=0.95, resamples=10, seed=7)
    assert ctx.decide_on(own) == "point"
    ctx = GateContext(base_dir=Path("."), report_dir=Path("."), defaults={"decide_on": "bound"})
    assert ctx.decide_on(own) == "bound"
    assert ctx.decide_on(LatencySettings.of({"samples": "l.csv", "decide_on": "point"})) == "point"


def test_a_baseline_margin_says_which_kind_it_is():
    from gates.metrics_baseline import baseline_checks

    point = {"c:f1": 0.80, "b:f1": 0.79, "d:f1": 0.01, "c:brier": 0.1, "b:brier": 0.1, "d:brier": 0.0}
    samples = {"d:f1": np.linspace(-0.01, 0.03, 200), "d:brier": np.linspace(-0.01, 0.01, 200)}
    settings_ = MetricsSettings.of(
        {
            "predictions": "p.csv",
            "baseline": {
                "predictions": "b.csv",
                "margins": {"f1": {"absolute": 0.02}, "brier": {"relative": 0.1}},
            },
        }
    )
    checks = baseline_checks(settings_, point, lambda key: (-0.01, 0.03), 0.95, {}, samples)
    kinds = {check.name: check.details["margin_kind"] for check, _ in checks}
    assert kinds == {"f1_vs_baseline": "absolute", "brier_vs_baseline": "relative"}
    assert {check.name: check.details["margin"] for check, _ in checks} == {
        "f1_vs_baseline": 0.02,
        "brier_vs_baseline": pytest.approx(0.01),
    }


# -- the schema and the models accept the same documents --------------------------------------------------------
def _base_document() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["canary"] = {
        "deployment": "model",
        "image": "model:v2",
        "steps": [10, 50, 100],
        "interval": "30s",
        "router": {"kind": "gateway_api", "route": "r", "rule": 0},
        "prometheus": {"url": "http://127.0.0.1:9090", "retries": 2},
        "analysis": {
            "window": "1m",
            "metrics": [{"name": "error_rate", "max": 0.05, "critical": True}],
            "sequential": {"alpha": 0.01},
            "compare": {"pass_score": 90},
        },
    }
    document["deploy"]["environments"] = {"staging": {"namespace": "s", "images": {"app": "app:1"}}}
    document["security"]["vulns"] = {
        "reports": ["grype.json", {"path": "t.json", "format": "trivy"}],
        "ignore": [{"id": "CVE-1", "reason": "r", "expires": "2030-01-01", "version": 1.2}],
        "pip_audit": {"requirements": ["r.txt"], "timeout": 30},
    }
    document["drift"]["per_column"] = {"age": {"distance": "psi", "tolerance": 0.2, "critical": True}}
    document["tests"]["junit"] = ["a.xml"]
    return document


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


BASE = _base_document()
PATHS = _paths(BASE)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 200),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from(["", "x", "auto", "bound", "point", "high", "60s", "http://h", "/p", "-1", "binary"]),
    st.lists(st.sampled_from(["a", "b", 1, 0.5]), max_size=3),
    st.dictionaries(
        st.sampled_from(["min", "max", "absolute", "kind", "path", "x"]), st.integers(0, 2), max_size=2
    ),
)


def _models_accept(document: dict[str, Any]) -> bool:
    try:
        TopLevel.model_validate({k: v for k, v in document.items() if k in TopLevel.model_fields})
        for name, model in MODELS.items():
            if name in document:
                model.model_validate(document[name])
    except ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), values, st.booleans())
def test_schema_and_models_agree_on_any_one_change(path: tuple[Any, ...], value: Any, delete: bool) -> None:
    document = copy.deepcopy(BASE)
    node = document
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value
    assert (not problems(document)) == _models_accept(document), (path, value, problems(document))


def test_the_base_document_is_valid():
    assert problems(BASE) == []
    for name in BASE:
        if name in MODELS:
            assert isinstance(section_settings(name, BASE[name], "test"), MODELS[name])


anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(MODELS)), st.data())
def test_settings_built_in_code_from_any_mapping_are_a_model_or_input_error_lines(
    name: str, data: Any
) -> None:
    model = MODELS[name]
    keys = st.sampled_from([*model.model_fields, "bogus"])
    mapping = data.draw(st.dictionaries(keys, anything, max_size=4))
    for build_it in (lambda: model.of(mapping, "flags"), lambda: model.parse(mapping, name)):
        try:
            assert isinstance(build_it(), model)
        except InputError as exc:
            lines = str(exc).split("\n")
            assert lines[0].startswith(("flags: ", "settings: ")), lines
            assert all(line.startswith("  - ") for line in lines[1:]), lines


def test_a_whole_float_is_not_an_integer_for_the_schema_either():
    # JSON Schema counts 2.0 as an integer; the strict models do not: the schema says so first, in one line
    assert problems(
        {"version": 1, "notify": {"targets": [{"kind": "slack", "url_env": "U"}], "retries": 2.0}}
    )
    assert not problems(
        {"version": 1, "notify": {"targets": [{"kind": "slack", "url_env": "U"}], "retries": 2}}
    )


def test_monitor_sources_without_their_location_are_one_input_error(tmp_path):
    from gates.core.settings.monitor import MonitorSettings
    from gates.monitor.run import run_monitor

    (tmp_path / "ref.csv").write_text("score\n0.1\n0.2\n0.3\n", encoding="utf-8")
    ctx = GateContext(base_dir=tmp_path, report_dir=tmp_path)
    for kind, key in (("logs", "predictions"), ("prometheus", "url")):
        settings = MonitorSettings.of({"reference": "ref.csv", "source": {"kind": kind}})
        with pytest.raises(InputError, match=f"monitor.source.{key}:"):
            run_monitor(settings, ctx, tmp_path / "state.json")
