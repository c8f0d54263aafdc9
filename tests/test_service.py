"""The example model service in-process (FastAPI TestClient): endpoints, validation, metrics, faults, loading."""

from __future__ import annotations

import ast
import json
import os
import pickle
import random
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
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
GOLDEN = [
    json.loads(line) for line in (ROOT / "examples/service/golden.jsonl").read_text().splitlines() if line
]
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


@pytest.mark.parametrize(
    "change, status, fragment",
    [
        ({"age": None}, 422, "age"),
        ({"age": "forty"}, 422, "column 'age' must be a finite number"),
        ({"age": 17}, 422, "outside [18, 75]"),
        ({"age": 30.5}, 422, "whole numbers"),
        ({"debt_ratio": True}, 422, "debt_ratio"),
        ({"employment": "astronaut"}, 422, "unknown value 'astronaut'"),
        ({"region": None}, 422, "region"),
    ],
)
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
    assert too_many.json()["detail"] == (
        "batch of 101 records exceeds the limit of 100; send at most 100 records per request"
    )
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
    assert (
        value(m, "model_request_errors_total", type="batch_too_large", endpoint="batch_predict", **base) == 1
    )
    assert value(m, "model_request_latency_seconds_count", endpoint="predict", **base) == 11
    assert value(m, "model_prediction_score_count", **base) == 10
    expected_sum = sum(round(r["expected"]["score"], 6) for r in GOLDEN[:10])
    assert value(m, "model_prediction_score_sum", **base) == pytest.approx(expected_sum, abs=1e-3)
    assert value(m, "model_predictions_total", prediction="1", **base) == sum(
        r["expected"]["prediction"] for r in GOLDEN[:10]
    )
    assert value(m, "model_info", **base) == 1 and value(m, "model_ready", **base) == 1
    assert value(m, "model_feature_drift_psi") is None  # fewer than 50 rows: no drift score yet


def _send_frame(c: TestClient, frame, with_groups: bool) -> list[str]:
    ids = []
    columns = features.FEATURES + (["sex"] if with_groups else [])
    for chunk in range(0, len(frame), 100):
        records = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[columns].iloc[chunk : chunk + 100].to_dict("records")
        ]
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
    drift_io = pytest.importorskip("gates.readers.columns")
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
        predicted = np.asarray(
            [
                c.post(
                    "/predict", json={k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                ).json()["prediction"]
                for row in frame[features.FEATURES].to_dict("records")
            ]
        )
    labels = frame["default"].to_numpy()
    assert value(m, "model_rolling_accuracy") == pytest.approx((predicted == labels).mean())
    assert value(m, "model_rolling_labels") == 300
    assert value(m, "model_feedback_total", outcome="matched") == 300
    assert value(m, "model_feedback_total", outcome="unknown_request") == 1
    for sex in ("female", "male"):
        mask = (frame["sex"] == sex).to_numpy()
        assert value(m, "model_group_positive_rate", attribute="sex", group=sex) == pytest.approx(
            predicted[mask].mean()
        )
        assert value(m, "model_group_accuracy", attribute="sex", group=sex) == pytest.approx(
            (predicted[mask] == labels[mask]).mean()
        )
        positives = mask & (labels == 1)
        assert value(m, "model_group_true_positive_rate", attribute="sex", group=sex) == pytest.approx(
            predicted[positives].mean()
        )


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
    s = Settings.from_env(
        {
            "TRACK": "canary",
            "FAULT_ERROR_RATE": "0.1",
            "FAULT_NOT_READY": "1",
            "MODEL_VERSION": "v9",
            "FAULT_SCORE_SHIFT": "-0.3",
        }
    )
    assert (s.track, s.fault_error_rate, s.fault_not_ready, s.model_version, s.fault_score_shift) == (
        "canary",
        0.1,
        True,
        "v9",
        -0.3,
    )
    for env, fragment in (
        ({"TRACK": "blue"}, "TRACK"),
        ({"FAULT_ERROR_RATE": "2"}, "FAULT_ERROR_RATE"),
        ({"FAULT_LATENCY_MS": "soon"}, "expected a number"),
    ):
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
    record = {
        "age": rng.choice([18, 40, 75, 17, 76, 30.0, 30.5, "30", None, True]),
        "income": rng.choice([0.0, 1e7, 1e7 + 1, -1, 5000, float("inf"), float("nan")]),
        "debt_ratio": rng.choice([0, 0.5, 1.5, 1.6, -0.1]),
        "credit_history_years": rng.choice([0, 60, 60.1, 12.3]),
        "num_open_accounts": rng.choice([0, 3, 100, 101, 2.5]),
        "employment": rng.choice(["salaried", "retired", "astronaut", None, 3]),
        "region": rng.choice(["north", "west", "North", ""]),
    }
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

    hits, _ = dockerfile.evaluate(
        (ROOT / "examples/service/Dockerfile").read_text(), "examples/service/Dockerfile"
    )
    errors = [f"{h.rule}: {h.message}" for h in hits if level_of(h.rule, {}) == "error"]
    assert errors == []


# -- the container image, without a container engine --------------------------------------------------------------
# The runtime stage of examples/service/Dockerfile is rebuilt as a directory tree (its COPY instructions, resolved
# against the build context and the other stages), and the image's entrypoint is started from that tree alone, with
# the repository's own packages out of reach. A source file the image forgets, or a dependency requirements.txt
# forgets, fails here instead of in a pod that never becomes ready.
DOCKERFILE = ROOT / "examples/service/Dockerfile"
DOCKERIGNORE = ROOT / "examples/service/Dockerfile.dockerignore"
REQUIREMENTS = ROOT / "examples/service/requirements.txt"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def _stages(text: str) -> list[dict]:
    args: dict[str, str] = {}
    stages: list[dict] = []
    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(
                {
                    "name": name,
                    "base": words[0],
                    "workdir": "/",
                    "copies": [],
                    "env": {},
                    "runs": [],
                    "entrypoint": None,
                    "cmd": None,
                    "args": {},
                }
            )
        elif keyword == "ARG":  # the default value: what `docker build` uses without --build-arg
            key, _, value = rest.partition("=")
            if stages:
                stages[-1]["args"][key] = args.get(key, "") if not value else value
            else:
                args[key] = value
        elif keyword == "COPY":
            words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            flags = {w[2:].partition("=")[0]: w.partition("=")[2] for w in words if w.startswith("--")}
            paths = [w for w in words if not w.startswith("--")]
            stages[-1]["copies"].append(
                {
                    "from": flags.get("from"),
                    "sources": paths[:-1],
                    "dest": paths[-1],
                    "workdir": stages[-1]["workdir"],
                }
            )
        elif keyword == "WORKDIR":
            stages[-1]["workdir"] = os.path.join(stages[-1]["workdir"], rest)
        elif keyword == "ENV":
            known = {**stages[-1]["args"], **stages[-1]["env"]}
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stages[-1]["env"][key] = re.sub(
                    r"\$\{?(\w+)\}?", lambda m, k=known: k.get(m.group(1), ""), value
                )
        elif keyword == "RUN":
            stages[-1]["runs"].append(rest)
        elif keyword in ("ENTRYPOINT", "CMD"):
            stages[-1][keyword.lower()] = (
                json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            )
    return stages


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parent folders wins."""

    def regex(pattern: str) -> re.Pattern:
        out = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", pattern.strip("/"))
        )
        return re.compile(out + r"(/.*)?")

    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if regex(pattern.lstrip("!")).fullmatch(relative):
            ignored = not negated
    return ignored


def _image_files(text: str) -> tuple[dict, dict[str, Path], list[str]]:
    """The final stage, its files {absolute path in the image: source in the repository}, and what it copies from a
    stage that makes it with RUN (a virtualenv: covered by the requirements check, not rebuilt here)."""
    stages = _stages(text)
    by_name = {s["name"]: s for s in stages}

    def files_of(stage: dict) -> tuple[dict[str, Path], list[str]]:
        files: dict[str, Path] = {}
        built: list[str] = []
        for copy in stage["copies"]:
            dest = os.path.join(copy["workdir"], copy["dest"])
            into_folder = copy["dest"].endswith("/") or len(copy["sources"]) > 1
            for source in copy["sources"]:
                if copy["from"] is None:
                    matches = (
                        sorted(ROOT.glob(source)) if any(c in source for c in "*?[") else [ROOT / source]
                    )
                    assert matches and all(m.exists() for m in matches), (
                        f"COPY {source}: not in the build context"
                    )
                    found = {}
                    for match in matches:
                        if match.is_dir():
                            found.update(
                                {str(f.relative_to(match)): f for f in match.rglob("*") if f.is_file()}
                            )
                        else:
                            found[match.name if into_folder else ""] = match
                else:
                    assert copy["from"] in by_name, (
                        f"COPY --from={copy['from']}: not a stage of this Dockerfile"
                    )
                    inner, inner_built = files_of(by_name[copy["from"]])
                    prefix = source.rstrip("/")
                    found = {
                        p[len(prefix) :].lstrip("/"): f
                        for p, f in inner.items()
                        if p == prefix or p.startswith(prefix + "/")
                    }
                    if not found:
                        assert by_name[copy["from"]]["runs"], (
                            f"COPY --from={copy['from']} {source}: nothing there"
                        )
                        built.append(f"{copy['from']}:{source}")
                    built.extend(inner_built)
                for relative, origin in found.items():
                    files[os.path.normpath(os.path.join(dest, relative)) if relative else dest] = origin
        return files, built

    files, built = files_of(stages[-1])
    return stages[-1], files, built


def _third_party_imports(paths: list[Path], first_party: set[str]) -> dict[str, set[str]]:
    """Top-level modules the files import, anywhere in the file, except the standard library, the image's own
    packages, and imports inside ``try: ... except ImportError`` (optional by design). {module: {files}}."""
    found: dict[str, set[str]] = {}

    def optional(handlers) -> bool:
        names = []
        for handler in handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            names += [getattr(k, "id", None) for k in kinds]
        return bool({"ImportError", "ModuleNotFoundError"} & set(names))

    def visit(node, path: Path, guarded: bool) -> None:
        if isinstance(node, ast.Try):
            for child in node.body:
                visit(child, path, guarded or optional(node.handlers))
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, path, guarded)
            return
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.partition(".")[0]
            if (
                not guarded
                and top != "__future__"
                and top not in sys.stdlib_module_names
                and top not in first_party
            ):
                found.setdefault(top, set()).add(path.name)
        for child in ast.iter_child_nodes(node):
            visit(child, path, guarded)

    for path in paths:
        visit(ast.parse(path.read_text(encoding="utf-8")), path, False)
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group(0)
            pins[_normalized(name)] = line[len(name) :].strip()
    return pins


# Import names whose distribution is named otherwise, for modules not installed here (installed ones are looked up).
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "dateutil": "python-dateutil",
    "google": "protobuf",
}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The runtime stage as a tree: {'root': folder standing for /, 'stage', 'files', 'built'}."""
    stage, files, built = _image_files(DOCKERFILE.read_text())
    root = tmp_path_factory.mktemp("image")
    for target, source in files.items():
        path = root / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    return {"root": root, "stage": stage, "files": files, "built": built}


def test_the_image_copies_what_the_build_context_sends_and_builds_only_the_virtualenv(image):
    patterns = [
        p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    sources = {str(f.relative_to(ROOT)) for f in image["files"].values()}
    assert [s for s in sorted(sources) if _ignored(s, patterns)] == []
    assert image["built"] == ["deps:/opt/venv"]  # made by pip from requirements.txt, checked below
    stages = {s["name"]: s for s in _stages(DOCKERFILE.read_text())}
    assert any(c["sources"] == ["examples/service/requirements.txt"] for c in stages["deps"]["copies"])
    assert _ignored("examples/service/golden.jsonl", patterns) and not _ignored(
        "examples/service/app.py", patterns
    )


def test_the_image_entrypoint_starts_and_loads_the_model_from_the_copied_files_alone(image):
    root, stage = image["root"], image["stage"]
    entrypoint = stage["entrypoint"] or stage["cmd"]
    assert entrypoint[:2] == ["python", "-m"], entrypoint
    module = entrypoint[2]
    workdir = root / stage["workdir"].lstrip("/")

    def inside(value: str) -> str:  # absolute paths of the image, under the tree
        return (
            str(root / value.lstrip("/"))
            if value.startswith("/") and (root / value.lstrip("/")).exists()
            else value
        )

    env = {k: inside(v) for k, v in stage["env"].items() if k not in ("PATH",)}
    env.update(
        PATH=os.environ.get("PATH", ""),
        PYTHONPATH=str(workdir),
        PYTHONNOUSERSITE="1",
        HOME=str(root),
        PYTHONDONTWRITEBYTECODE="1",
    )
    # The repository's packages the image does not ship (mlgate's `gates` is installed editable here, not there).
    first_party = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    shipped = {
        Path(t).relative_to(stage["workdir"]).parts[0]
        for t in image["files"]
        if t.startswith(stage["workdir"].rstrip("/") + "/")
    }
    blocked = sorted(first_party - shipped)
    golden = GOLDEN[0]
    script = f"""
import importlib.abc, importlib.util, json, os, sys
class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the image)", name=name)
sys.meta_path.insert(0, NotInTheImage())
main = importlib.import_module({module!r} + ".__main__")   # what `python -m {module}` runs, without serving
import uvicorn
from examples.service.app import Settings, create_app
from examples.service.inputs import records_to_matrix
state = create_app(Settings.from_env(), load_in_background=False).state.service
state.load()
ready, why = state.ready()
scores, predictions = state.score(records_to_matrix([{golden["input"]!r}]))
print(json.dumps({{"ready": ready, "why": why, "score": scores[0], "version": state.version, "sys_path": sys.path,
                  "modules": {{n: getattr(m, "__file__", None) for n, m in sys.modules.items()
                              if n.partition(".")[0] in {sorted(first_party)!r}}}}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    repo = os.path.realpath(ROOT)
    assert [p for p in out["sys_path"] if os.path.realpath(p or str(workdir)) == repo] == []
    assert out["modules"], out
    outside = {
        n: f for n, f in out["modules"].items() if not (f and os.path.realpath(f).startswith(str(root)))
    }
    assert outside == {}, f"modules loaded from outside the image tree: {outside}"
    assert out["ready"] is True, out["why"]
    assert out["version"] == stage["env"]["MODEL_VERSION"] == VERSION
    assert abs(out["score"] - golden["expected"]["score"]) <= golden["tolerance"]["score"]


def test_requirements_cover_every_third_party_import_of_the_image(image):
    sources = [f for t, f in image["files"].items() if t.endswith(".py")]
    first_party = {
        Path(t).relative_to(image["stage"]["workdir"]).parts[0]
        for t in image["files"]
        if t.endswith(".py") and t.startswith(image["stage"]["workdir"].rstrip("/") + "/")
    }
    imports = _third_party_imports(sources, first_party)
    # the import chain of the service, at least: the web stack, metrics, the model loader and the features
    assert {"fastapi", "starlette", "uvicorn", "prometheus_client", "numpy", "pandas", "skops"} <= set(
        imports
    )
    pins = _requirements()
    installed = metadata.packages_distributions()
    missing = {}
    for module, files in sorted(imports.items()):
        names = {_normalized(d) for d in installed.get(module, [])} or {
            _normalized(DISTRIBUTIONS.get(module, module))
        }
        if not names & set(pins):
            missing[module] = f"{' or '.join(sorted(names))} (imported by {', '.join(sorted(files))})"
    assert missing == {}, f"not in {REQUIREMENTS}: {missing}"
    assert all(spec.startswith("==") for spec in pins.values()), pins  # the image's requirements are pinned
    card = json.loads((ROOT / "examples/data/model_card.json").read_text())
    for framework, version in (card.get("framework") or {}).items():  # skops loads with the training versions
        assert pins.get(_normalized(framework)) == f"=={version}", framework
