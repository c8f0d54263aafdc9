"""The example model service in-process (FastAPI TestClient): endpoints, validation, metrics, faults, loading."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("skops")
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from examples.credit import data, features
from examples.service.app import MAX_BATCH, Settings, create_app
from examples.service.inputs import records_to_matrix

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = [json.loads(line) for line in (ROOT / "examples/service/golden.jsonl").read_text().splitlines() if line]
MODEL = ROOT / "examples/data/model.skops"
VERSION = "credit-default-hgb-2.0.0"


def client_for(**settings) -> TestClient:
    app = create_app(Settings(**settings), load_in_background=False)
    return TestClient(app)


@pytest.fixture(scope="module")
def client():
    with client_for() as c:
        yield c


def samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict, name: str, **labels) -> float | None:
    want = set(labels.items())
    found = [v for (n, lbl), v in metrics.items() if n == name and want <= set(lbl)]
    return sum(found) if found else None


def test_health_and_ready_report_version_track_and_scan(client):
    assert client.get("/health").json() == {"status": "ok", "model_version": VERSION, "track": "stable"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and len(body["artifact_sha256"]) == 64
    assert body["scan"]["format"].startswith("skops")
    assert body["scan"]["scanner"] in (None, "gates.security.artifacts")


def test_predict_matches_every_golden_row_and_echoes_the_request_id(client):
    for row in GOLDEN:
        response = client.post("/predict", json=row["input"], headers={"X-Request-ID": "golden-1"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["request_id"] == "golden-1" == response.headers["x-request-id"]
        assert body["model_version"] == VERSION and body["track"] == "stable"
        assert abs(body["score"] - row["expected"]["score"]) <= row["tolerance"]["score"]
        assert body["prediction"] == row["expected"]["prediction"]


def test_a_made_up_request_id_is_replaced(client):
    response = client.post("/predict", json=GOLDEN[0]["input"], headers={"X-Request-ID": "bad id; <script>"})
    assert response.json()["request_id"] != "bad id; <script>" and len(response.json()["request_id"]) == 32


@pytest.mark.parametrize("change, status, fragment", [
    ({"age": None}, 422, "age"),
    ({"age": "forty"}, 422, "column 'age' must be a finite number"),
    ({"age": 17}, 422, "outside [18, 75]"),
    ({"age": 30.5}, 422, "whole numbers"),
    ({"debt_ratio": True}, 422, "debt_ratio"),
    ({"employment": "astronaut"}, 422, "unknown value 'astronaut'"),
    ({"region": None}, 422, "region"),
])
def test_invalid_records_are_refused_with_a_message_naming_the_column(client, change, status, fragment):
    response = client.post("/predict", json={**GOLDEN[0]["input"], **change})
    assert response.status_code == status
    assert response.json()["error"] == "validation"
    assert fragment in response.json()["detail"]


def test_missing_columns_not_json_and_not_an_object(client):
    record = dict(GOLDEN[0]["input"])
    del record["income"]
    response = client.post("/predict", json=record)
    assert response.status_code == 422 and "missing required column(s): income" in response.json()["detail"]
    response = client.post("/predict", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "bad_json"
    assert client.post("/predict", json=[1, 2]).status_code == 422


def test_batch_limit_is_a_400_with_a_clear_message(client):
    records = [row["input"] for row in GOLDEN]
    batch = (records * 5)[:MAX_BATCH]
    response = client.post("/batch_predict", json={"records": batch}, headers={"X-Request-ID": "b"})
    assert response.status_code == 200
    items = response.json()["predictions"]
    assert len(items) == MAX_BATCH and items[1]["request_id"] == "b-1"
    assert [round(i["score"], 4) for i in items[:24]] == [round(r["expected"]["score"], 4) for r in GOLDEN]
    too_many = client.post("/batch_predict", json={"records": batch + [records[0]]})
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == ("batch of 101 records exceeds the limit of 100; send at most 100 records "
                                         "per request")
    assert client.post("/batch_predict", json={"records": []}).status_code == 422
    bad = client.post("/batch_predict", json=[records[0], {**records[1], "age": 200}])
    assert bad.status_code == 422 and bad.json()["detail"].startswith("record 1:")


def test_metrics_count_requests_errors_latency_and_scores():
    with client_for(model_version="m-7", track="canary") as c:
        for row in GOLDEN[:10]:
            c.post("/predict", json=row["input"])
        c.post("/predict", json={"age": 1})
        c.post("/batch_predict", json={"records": [GOLDEN[0]["input"]] * 101})
        m = samples(c)
    base = {"model_version": "m-7", "track": "canary"}
    assert value(m, "model_requests_total", endpoint="predict", code="200", **base) == 10
    assert value(m, "model_requests_total", endpoint="predict", code="422", **base) == 1
    assert value(m, "model_request_errors_total", type="validation", **base) == 1
    assert value(m, "model_request_errors_total", type="batch_too_large", endpoint="batch_predict", **base) == 1
    assert value(m, "model_request_latency_seconds_count", endpoint="predict", **base) == 11
    assert value(m, "model_prediction_score_count", **base) == 10
    expected_sum = sum(round(r["expected"]["score"], 6) for r in GOLDEN[:10])
    assert value(m, "model_prediction_score_sum", **base) == pytest.approx(expected_sum, abs=1e-3)
    assert value(m, "model_predictions_total", prediction="1", **base) == sum(
        r["expected"]["prediction"] for r in GOLDEN[:10])
    assert value(m, "model_info", **base) == 1 and value(m, "model_ready", **base) == 1
    assert value(m, "model_feature_drift_psi") is None  # fewer than 50 rows: no drift score yet


def _send_frame(c: TestClient, frame, with_groups: bool) -> list[str]:
    ids = []
    columns = features.FEATURES + (["sex"] if with_groups else [])
    for chunk in range(0, len(frame), 100):
        records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                   for row in frame[columns].iloc[chunk:chunk + 100].to_dict("records")]
        response = c.post("/batch_predict", json={"records": records}, headers={"X-Request-ID": f"r{chunk}"})
        assert response.status_code == 200, response.text
        ids += [p["request_id"] for p in response.json()["predictions"]]
    return ids


def test_drift_scores_are_small_on_training_like_data_and_large_on_drifted_data():
    with client_for() as c:
        _send_frame(c, data.generate(400, seed=11), with_groups=False)
        calm = samples(c)
    with client_for() as c:
        _send_frame(c, data.generate(400, seed=11, drift=2.0), with_groups=False)
        drifted = samples(c)
    for feature in features.FEATURES:
        assert value(calm, "model_feature_drift_psi", feature=feature) < 0.1
    for feature, least in (("income", 0.25), ("debt_ratio", 0.25), ("employment", 0.1), ("region", 0.1)):
        assert value(drifted, "model_feature_drift_psi", feature=feature) > least
    # age is not shifted by the drift knob
    assert value(drifted, "model_feature_drift_psi", feature="age") < 0.1
    assert value(calm, "model_drift_window_rows") == 400


def test_the_drift_profile_is_the_drift_gates_own_format():
    drift_io = pytest.importorskip("gates.drift_io")
    from examples.service.profile import PROFILE_PATH, load_profile

    profiles, document = drift_io.load_profile(PROFILE_PATH)  # the drift gate reads it
    assert set(profiles) == set(features.FEATURES) and document["rows"] == 8000
    mine = load_profile()
    stored = json.loads(PROFILE_PATH.read_text())["columns"]
    assert mine["numeric"]["income"]["edges"] == stored["income"]["bins"]["edges"]
    assert sum(mine["categorical"]["region"]["proportions"]) == pytest.approx(1)


def test_feedback_feeds_rolling_accuracy_and_per_group_gauges():
    frame = data.generate(300, seed=5)
    with client_for() as c:
        ids = _send_frame(c, frame, with_groups=True)
        feedback = [{"request_id": i, "label": int(y)} for i, y in zip(ids, frame["default"])]
        answer = c.post("/feedback", json={"feedback": feedback + [{"request_id": "nope", "label": 1}]})
        assert answer.json() == {"accepted": 300, "unknown": 1}
        assert c.post("/feedback", json={"request_id": "x", "label": 2}).status_code == 422
        m = samples(c)
        predicted = np.asarray([c.post("/predict", json={k: (v.item() if hasattr(v, "item") else v) for k, v in
                                                         row.items()}).json()["prediction"]
                                for row in frame[features.FEATURES].to_dict("records")])
    labels = frame["default"].to_numpy()
    assert value(m, "model_rolling_accuracy") == pytest.approx((predicted == labels).mean())
    assert value(m, "model_rolling_labels") == 300
    assert value(m, "model_feedback_total", outcome="matched") == 300
    assert value(m, "model_feedback_total", outcome="unknown_request") == 1
    for sex in ("female", "male"):
        mask = (frame["sex"] == sex).to_numpy()
        assert value(m, "model_group_positive_rate", attribute="sex", group=sex) == pytest.approx(
            predicted[mask].mean())
        assert value(m, "model_group_accuracy", attribute="sex", group=sex) == pytest.approx(
            (predicted[mask] == labels[mask]).mean())
        positives = mask & (labels == 1)
        assert value(m, "model_group_true_positive_rate", attribute="sex", group=sex) == pytest.approx(
            predicted[positives].mean())


def test_fault_error_rate_fails_exactly_that_share_of_prediction_requests():
    with client_for(fault_error_rate=0.25) as c:
        codes = [c.post("/predict", json=GOLDEN[i % 24]["input"]).status_code for i in range(100)]
        m = samples(c)
    assert codes.count(500) == 25 and codes.count(200) == 75
    assert value(m, "model_request_errors_total", type="injected") == 25


def test_fault_score_shift_latency_and_not_ready():
    with client_for(fault_score_shift=0.2, fault_latency_ms=60) as c:
        for row in GOLDEN[:5]:
            body = c.post("/predict", json=row["input"]).json()
            assert body["score"] == pytest.approx(min(1.0, row["expected"]["score"] + 0.2), abs=1e-4)
        m = samples(c)
    assert value(m, "model_request_latency_seconds_sum") >= 5 * 0.06
    with client_for(fault_not_ready=True) as c:
        response = c.get("/ready")
        assert response.status_code == 503 and "FAULT_NOT_READY" in response.json()["reason"]
        assert c.get("/health").status_code == 200


def test_settings_from_env_validates_values():
    s = Settings.from_env({"TRACK": "canary", "FAULT_ERROR_RATE": "0.1", "FAULT_NOT_READY": "1", "MODEL_VERSION": "v9",
                           "FAULT_SCORE_SHIFT": "-0.3"})
    assert (s.track, s.fault_error_rate, s.fault_not_ready, s.model_version, s.fault_score_shift) == \
        ("canary", 0.1, True, "v9", -0.3)
    for env, fragment in (({"TRACK": "blue"}, "TRACK"), ({"FAULT_ERROR_RATE": "2"}, "FAULT_ERROR_RATE"),
                          ({"FAULT_LATENCY_MS": "soon"}, "expected a number")):
        with pytest.raises(ValueError, match=fragment):
            Settings.from_env(env)


def test_an_artifact_with_untrusted_types_or_an_unsafe_format_is_never_loaded(tmp_path):
    card = json.loads((ROOT / "examples/data/model_card.json").read_text())
    shutil.copy(MODEL, tmp_path / "model.skops")
    (tmp_path / "model_card.json").write_text(json.dumps({**card, "skops_trusted_types": []}))
    with client_for(model_path=tmp_path / "model.skops") as c:
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert "TreePredictor" in ready.json()["reason"]
        assert c.post("/predict", json=GOLDEN[0]["input"]).status_code == 503

    class Evil:
        def __reduce__(self):
            return (print, ("this would run",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    with client_for(model_path=tmp_path / "evil.pkl", card_path=tmp_path / "model_card.json") as c:
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert "evil.pkl" in ready.json()["reason"]


def _random_record(rng: random.Random) -> dict:
    record = {"age": rng.choice([18, 40, 75, 17, 76, 30.0, 30.5, "30", None, True]),
              "income": rng.choice([0.0, 1e7, 1e7 + 1, -1, 5000, float("inf"), float("nan")]),
              "debt_ratio": rng.choice([0, 0.5, 1.5, 1.6, -0.1]),
              "credit_history_years": rng.choice([0, 60, 60.1, 12.3]),
              "num_open_accounts": rng.choice([0, 3, 100, 101, 2.5]),
              "employment": rng.choice(["salaried", "retired", "astronaut", None, 3]),
              "region": rng.choice(["north", "west", "North", ""])}
    if rng.random() < 0.6:  # mostly a valid record with at most one field from the list above
        base = dict(rng.choice(GOLDEN)["input"])
        if rng.random() < 0.5:
            key = rng.choice(list(record))
            base[key] = record[key]
        record = base
    if rng.random() < 0.1:
        del record[rng.choice(list(record))]
    return record


def test_fast_input_path_accepts_and_builds_exactly_what_the_training_code_does():
    rng = random.Random(3)
    accepted = 0
    for _ in range(1500):
        records = [_random_record(rng) for _ in range(rng.choice([1, 1, 2]))]
        try:
            reference = features.to_matrix(features.from_records(records))
        except (ValueError, TypeError):
            reference = None
        try:
            fast = records_to_matrix(records)
        except ValueError:
            fast = None
        assert (reference is None) == (fast is None), records
        if fast is not None:
            assert np.array_equal(fast, reference)
            accepted += 1
    assert accepted > 20


def test_dockerfile_passes_the_security_gates_dockerfile_policy():
    dockerfile = pytest.importorskip("gates.security.dockerfile")
    from gates.security.rules import level_of

    hits, _ = dockerfile.evaluate((ROOT / "examples/service/Dockerfile").read_text(), "examples/service/Dockerfile")
    errors = [f"{h.rule}: {h.message}" for h in hits if level_of(h.rule, {}) == "error"]
    assert errors == []
