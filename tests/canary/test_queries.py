import pytest

from gates.core.errors import InputError
from gates.deploy.queries import DEFAULT_METRICS, TEMPLATES, Target, metric_specs, render

T = Target(namespace="prod", deployment="model", window="30s")


def test_render_error_rate_for_a_track():
    q = render(TEMPLATES["error_rate"][1], T, "canary")
    assert 'model_request_errors_total{namespace="prod",deployment="model",track="canary"}[30s]' in q
    assert "or vector(0)" in q


def test_render_latency_quantile():
    q = render(TEMPLATES["latency_p99"][1], T, "stable")
    assert q.startswith("histogram_quantile(0.99, sum by (le) (rate(model_request_latency_seconds_bucket{")
    assert 'track="stable"' in q


def test_pair_query_has_both_tracks():
    q = render(TEMPLATES["score_shift"][1], T)
    assert 'track="canary"' in q and 'track="stable"' in q and "group_left" in q


def test_unknown_placeholder():
    with pytest.raises(InputError, match="unknown placeholder"):
        render("rate(x{{selector}}[{windw}])", T, "canary")


def test_custom_selector_and_names():
    t = Target(
        "ns", "app", "1m", selector='app="{deployment}",track="{track}"', names={"requests": "r_total"}
    )
    assert (
        render("sum(rate({requests}{{selector}}[{window}]))", t, "stable")
        == 'sum(rate(r_total{app="app",track="stable"}[1m]))'
    )


def test_bad_window():
    with pytest.raises(InputError, match="duration"):
        Target("ns", "app", "30 seconds")


def test_metric_specs_builtin_and_custom():
    specs = metric_specs(
        DEFAULT_METRICS
        + [{"name": "qps", "query": "sum(rate(x{{selector}}[{window}]))", "min": 1, "direction": "decrease"}]
    )
    by = {s.name: s for s in specs}
    assert by["error_rate"].critical and by["error_rate"].max == 0.05
    assert by["score_shift"].scope == "pair" and not by["score_shift"].compare
    assert by["qps"].min == 1 and by["qps"].direction == "decrease"


def test_unknown_builtin_needs_query():
    with pytest.raises(InputError, match="not a built-in"):
        metric_specs([{"name": "mystery"}])


def test_duplicate_metric():
    with pytest.raises(InputError, match="twice"):
        metric_specs([{"name": "error_rate"}, {"name": "error_rate"}])
