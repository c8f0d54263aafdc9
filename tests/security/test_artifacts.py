"""Model artifacts: malicious pickles are built here with pickle.dumps (which never calls them) and never loaded."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import h5py
import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.security.artifacts import check, require_safe_artifact, scan_artifact, status_of

EXAMPLE_MODEL = Path(__file__).parents[2] / "examples" / "data" / "model.skops"


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious model file does when it is loaded."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


OS_SYSTEM = Payload(os.system, "echo pwned > /tmp/mlgate-pwned")
SUBPROCESS = Payload(subprocess.check_output, ["id"])
EVAL = Payload(builtins.eval, "__import__('os').system('id')")


_MUTABLE = pickle.dumps({"w": np.arange(3.0), "name": "m"}, protocol=4)


def _zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", _MUTABLE)
        archive.writestr("archive/data/0", bytes(range(64)))
    return buffer.getvalue()


def _tarred() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        for name, body in (("storages", _MUTABLE), ("pickle", _MUTABLE)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()[:2048]


_ARCHIVES = (_zipped(), _tarred())


def _scan(path: Path):
    report = scan_artifact(path)
    return report, status_of(report, {})


def _dangerous(report) -> set[str]:
    return {g.full for g in report.globals if g.safety == "dangerous"}


@pytest.fixture(autouse=True)
def _never_loaded():
    yield
    assert not Path("/tmp/mlgate-pwned").exists(), "a test payload ran: something loaded a malicious pickle"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_calling_os_system_fails_at_every_protocol(tmp_path, protocol):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [0.1, 0.2], "hook": OS_SYSTEM}, protocol=protocol))
    report, status = _scan(path)
    assert status is Status.FAIL
    assert _dangerous(report) == {f"{os.system.__module__}.system"}  # posix.system on Linux
    assert report.hits[0].rule == "artifact.dangerous-global"


@pytest.mark.parametrize(
    "payload, expected", [(SUBPROCESS, "subprocess.check_output"), (EVAL, "builtins.eval")]
)
def test_pickle_calling_subprocess_or_eval_fails(tmp_path, payload, expected):
    path = tmp_path / "model.pickle"
    path.write_bytes(pickle.dumps(payload))
    report, status = _scan(path)
    assert status is Status.FAIL and _dangerous(report) == {expected}


def _sklearn_model():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def test_clean_sklearn_pickle_and_joblib_pass(tmp_path):
    model = _sklearn_model()
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    joblib.dump(model, tmp_path / "model.joblib")
    for name in ("model.pkl", "model.joblib"):
        report, status = _scan(tmp_path / name)
        assert status is Status.PASS, report.hits
        assert any(g.full.startswith("sklearn.linear_model") for g in report.globals)


def test_joblib_global_hidden_after_an_array_is_found(tmp_path):
    """joblib writes raw array bytes into the pickle stream; a plain opcode scan stops at the first array."""
    path = tmp_path / "model.joblib"
    joblib.dump(
        {"coef": np.arange(1000.0), "objects": np.array([1, "a"], dtype=object), "hook": OS_SYSTEM}, path
    )
    from picklescan.scanner import scan_file_path

    plain = scan_file_path(str(path))
    assert plain.scan_err and plain.issues_count == 0  # picklescan alone: a parse error, no dangerous global
    report, status = _scan(path)
    assert status is Status.FAIL and _dangerous(report) == {f"{os.system.__module__}.system"}
    assert report.format == "pickle (joblib)"


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
def test_compressed_joblib_is_decompressed_and_scanned(tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump({"coef": np.ones(10), "hook": SUBPROCESS}, path, compress=(compress, 3))
    report, status = _scan(path)
    assert status is Status.FAIL, report.hits
    assert _dangerous(report) == {"subprocess.check_output"}
    assert compress in report.format


def _torch_zip(path: Path, data_pkl: bytes) -> None:
    """The layout torch.save writes (torch itself is not needed to build or scan it)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
        archive.writestr("archive/version", "3\n")


def test_pytorch_zip_reports_file_and_member(tmp_path):
    path = tmp_path / "model.pt"
    _torch_zip(path, pickle.dumps({"state_dict": {}, "hook": EVAL}, protocol=2))
    report, status = _scan(path)
    assert status is Status.FAIL and report.formats[:2] == ["zip", "pickle"]
    assert report.hits[0].subject == "archive/data.pkl"
    assert _dangerous(report) == {"builtins.eval"}


def test_pytorch_zip_with_tensor_rebuild_passes(tmp_path, monkeypatch):
    """A benign state dict written the way torch.save writes it: tensors rebuilt from persistent storages."""
    import collections
    import sys
    import types

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError("called")

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__ = utils.__name__
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch.FloatStorage, torch._utils = FloatStorage, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Tensor:
        def __reduce__(self):
            return _rebuild_tensor_v2, (Storage(), 0, (4,), (1,), False, collections.OrderedDict())

    class Storage:
        pass

    class TorchPickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 4) if isinstance(obj, Storage) else None

    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=2).dump(collections.OrderedDict(weight=Tensor()))
    path = tmp_path / "model.pt"
    _torch_zip(path, buffer.getvalue())
    report, status = _scan(path)
    assert status is Status.PASS, report.hits
    assert {g.full for g in report.globals} == {
        "torch._utils._rebuild_tensor_v2",
        "torch.FloatStorage",
        "collections.OrderedDict",
    }


def test_numpy_object_arrays(tmp_path):
    np.save(tmp_path / "plain.npy", np.arange(5.0))
    np.save(tmp_path / "objects.npy", np.array([OS_SYSTEM], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "bundle.npz", weights=np.ones(3), hooks=np.array([SUBPROCESS], dtype=object))
    report, status = _scan(tmp_path / "plain.npy")
    assert status is Status.PASS and not report.globals
    report, status = _scan(tmp_path / "objects.npy")
    assert status is Status.FAIL and _dangerous(report) == {f"{os.system.__module__}.system"}
    report, status = _scan(tmp_path / "bundle.npz")
    assert status is Status.FAIL and {"zip", "numpy (.npy)"} <= set(report.formats)
    assert [h.subject for h in report.hits if h.rule == "artifact.dangerous-global"] == [
        "hooks.npy/object array data"
    ]


def _keras_zip(path: Path, layers: list[dict]) -> None:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": layers},
        "registered_name": None,
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2024-07-01@10:00:00"})
        )
        archive.writestr("config.json", json.dumps(config))
        weights = io.BytesIO()
        with h5py.File(weights, "w") as handle:  # what Keras writes: an HDF5 file of weights, no config
            handle.create_dataset("w", data=np.zeros(2))
        archive.writestr("model.weights.h5", weights.getvalue())


DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"name": "dense", "units": 1},
    "registered_name": None,
}
LAMBDA = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "registered_name": None,
    "config": {
        "name": "scale",
        "function": {
            "class_name": "__lambda__",
            "config": {
                "code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA",
                "defaults": None,
                "closure": None,
            },
        },
    },
}


def test_keras_lambda_layer_fails(tmp_path):
    _keras_zip(tmp_path / "good.keras", [DENSE])
    _keras_zip(tmp_path / "lambda.keras", [DENSE, LAMBDA])
    assert _scan(tmp_path / "good.keras")[1] is Status.PASS
    report, status = _scan(tmp_path / "lambda.keras")
    assert status is Status.FAIL and "json" in report.formats
    assert [(h.rule, h.subject) for h in report.hits] == [("artifact.keras-lambda", "config.json")]
    assert "'scale'" in report.hits[0].message


def test_keras_custom_object_from_unknown_module(tmp_path):
    custom = {"module": "acme.layers", "class_name": "Gate", "registered_name": "acme>Gate", "config": {}}
    _keras_zip(tmp_path / "custom.keras", [custom])
    report, status = _scan(tmp_path / "custom.keras")
    assert status is Status.FAIL and report.hits[0].rule == "artifact.unknown-global"


def test_legacy_keras_h5_with_lambda(tmp_path):
    config = json.dumps(
        {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {}}]}}
    )
    import h5py

    with h5py.File(
        tmp_path / "model.h5", "w"
    ) as handle:  # as Keras 2 writes it: the config as a file attribute
        handle.attrs["model_config"] = config.encode()
    report, status = _scan(tmp_path / "model.h5")
    assert status is Status.FAIL and report.hits[0].rule == "artifact.keras-lambda"


@pytest.mark.skipif(not EXAMPLE_MODEL.exists(), reason="examples/data/model.skops not generated")
def test_example_skops_model_passes():
    report, status = _scan(EXAMPLE_MODEL)
    assert status is Status.PASS and "skops" in report.formats, report.hits
    require_safe_artifact(EXAMPLE_MODEL)


def test_safetensors_passes(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    report, status = _scan(tmp_path / "model.safetensors")
    assert status is Status.PASS and report.format == "safetensors"


@pytest.mark.parametrize(
    "name, content, rule",
    [
        ("model.bin", b"\x00\x01\x02 definitely not a model", "artifact.unknown-format"),
        ("model.onnx", b"\x08\x07\x12\x07pytorch", "artifact.unknown-format"),
        ("notes.pkl", b"just some text\n", "artifact.unknown-format"),
        ("empty.pkl", b"", "artifact.unreadable"),
        ("cut.pkl", pickle.dumps({"a": list(range(100))}, protocol=4)[:-30], "artifact.unreadable"),
        ("random.zip", None, "artifact.unknown-format"),
    ],
)
def test_unknown_or_unreadable_is_error(tmp_path, name, content, rule):
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("README.txt", "hello")
    else:
        path.write_bytes(content)
    report, status = _scan(path)
    assert status is Status.ERROR
    assert [h.rule for h in report.hits] == [rule]


def test_require_safe_artifact(tmp_path):
    joblib.dump(_sklearn_model(), tmp_path / "model.joblib")
    require_safe_artifact(tmp_path / "model.joblib")
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(EVAL))
    with pytest.raises(
        InputError, match=r"bad.pkl: refused to load this model artifact: imports builtins.eval"
    ):
        require_safe_artifact(tmp_path / "bad.pkl")
    with pytest.raises(InputError, match="not found"):
        require_safe_artifact(tmp_path / "missing.pkl")
    (tmp_path / "weird.bin").write_bytes(b"\x00" * 32)
    with pytest.raises(InputError, match="not a pickle"):
        require_safe_artifact(tmp_path / "weird.bin")


def test_check_scans_directories_by_content(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    joblib.dump(_sklearn_model(), models / "good.joblib")
    (models / "bad.pkl").write_bytes(pickle.dumps(SUBPROCESS))
    (models / "README.md").write_text("not scanned: no model format")
    ctx = GateContext(base_dir=tmp_path, report_dir=tmp_path / "r")
    part = check({"paths": ["models"]}, ctx, {})
    statuses = {c.name: c.status for c in part.checks}
    assert statuses == {
        "artifact:models/bad.pkl": Status.FAIL,
        "artifact:models/good.joblib": Status.PASS,
        "artifacts:skipped": Status.PASS,
    }
    assert part.summary == {"scanned": 2, "dangerous": 1, "unknown": 0, "skipped": 1}
    assert part.evidence["skipped"] == ["models/README.md"]
    assert [f.message for f in part.findings] == [
        "models/bad.pkl: imports subprocess.check_output, which can run code when loaded"
    ]
    assert str(models / "bad.pkl") in ctx.inputs  # hashed for the audit trail
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no model files"):
        check({"paths": ["empty"]}, ctx, {})
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("just notes")
    with pytest.raises(InputError, match=r"no model files \(none of its 1 file"):
        check({"paths": ["docs"]}, ctx, {})


def _fitted_models():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    return [
        HistGradientBoostingClassifier(max_iter=5).fit(x, y),
        RandomForestClassifier(3, random_state=np.random.RandomState(0)).fit(x, y),
        make_pipeline(StandardScaler(), MLPClassifier(max_iter=5, random_state=0)).fit(x, y),
        OneHotEncoder().fit(x > 0),
        _sklearn_model(),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_real_scikit_learn_models_still_pass(tmp_path):
    for n, model in enumerate(_fitted_models()):
        (tmp_path / f"{n}.pkl").write_bytes(pickle.dumps(model, protocol=5))
        joblib.dump(model, tmp_path / f"{n}.joblib")
    for path in sorted(tmp_path.iterdir()):
        report, status = _scan(path)
        assert status is Status.PASS, (path.name, report.hits)


def test_every_example_artifact_passes():
    """Every model file in examples/, found by content as a directory scan finds it."""
    examples = EXAMPLE_MODEL.parents[1]
    ctx = GateContext(base_dir=examples.parent, report_dir=examples.parent / "mlgate-reports")
    part = check({"paths": ["examples"]}, ctx, {})
    scanned = [c for c in part.checks if c.name.startswith("artifact:")]
    assert scanned and all(c.status is Status.PASS for c in scanned), [(c.name, c.why) for c in scanned]
    if EXAMPLE_MODEL.exists():
        assert "artifact:examples/data/model.skops" in {c.name for c in scanned}


# --- directories are scanned by content, not by suffix ---------------------------------------------------------


def test_pickle_with_an_unlisted_suffix_is_found_in_a_directory(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "k.weights").write_bytes(pickle.dumps(OS_SYSTEM, protocol=2))
    (models / "k2").write_bytes(b"cos\nsystem\n(S'touch /tmp/mlgate-pwned'\ntR.")  # protocol 0: no signature
    joblib.dump({"hook": SUBPROCESS, "w": np.ones(3)}, models / "k3.cfg", compress=3)
    (models / "notes.txt").write_text("config: a text file\nowner: ml team\n")
    (models / "data.csv").write_text("a,b\n1,2\n")
    ctx = GateContext(base_dir=tmp_path, report_dir=tmp_path / "r")
    part = check({"paths": ["models"]}, ctx, {})
    statuses = {c.name: c.status for c in part.checks}
    assert statuses == {
        "artifact:models/k.weights": Status.FAIL,
        "artifact:models/k2": Status.FAIL,
        "artifact:models/k3.cfg": Status.FAIL,
        "artifacts:skipped": Status.PASS,
    }
    assert part.evidence["skipped"] == ["models/data.csv", "models/notes.txt"]


def _onnx_bytes() -> bytes:
    """A minimal ONNX ModelProto: ir_version 8, producer, a graph with a name, opset 17 (protobuf by hand)."""
    graph = b"\x12\x05graph"  # GraphProto.name
    return (
        b"\x08\x08"
        + b"\x12\x07pytorch"
        + b"\x3a"
        + bytes([len(graph)])
        + graph  # ir_version, producer, graph
        + b"\x42\x02\x10\x11"
    )  # opset_import { version: 17 }


def test_onnx_is_recognised_as_a_safe_format(tmp_path):
    (tmp_path / "model.onnx").write_bytes(_onnx_bytes())
    report, status = _scan(tmp_path / "model.onnx")
    assert status is Status.PASS and report.format == "onnx", report.hits
    models = tmp_path / "models"
    models.mkdir()
    (models / "exported").write_bytes(_onnx_bytes())
    part = check({"paths": ["models"]}, GateContext(base_dir=tmp_path, report_dir=tmp_path / "r"), {})
    assert [(c.name, c.status) for c in part.checks] == [("artifact:models/exported", Status.PASS)]


def test_keras_config_is_parsed_as_json_so_escapes_hide_nothing(tmp_path):
    """A Lambda spelled with a JSON escape and odd spacing is still a Lambda: Keras reads the config as JSON."""
    config = (
        '{"module":"keras","class_name":"Sequential","config":{"layers":[ {"module" : "keras.layers",'
        '"class_name" : "\\u004cambda", "config": {"name": "x"}}]}}'
    )
    with zipfile.ZipFile(tmp_path / "escaped.keras", "w") as archive:
        archive.writestr("config.json", config)
    report, status = _scan(tmp_path / "escaped.keras")
    assert status is Status.FAIL and [h.rule for h in report.hits] == ["artifact.keras-lambda"]


def test_keras_function_object_names_what_keras_imports(tmp_path):
    layer = {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}
    _keras_zip(tmp_path / "fn.keras", [layer])
    report, status = _scan(tmp_path / "fn.keras")
    assert status is Status.FAIL and _dangerous(report) == {"os.system"}


def test_duplicate_zip_members_are_an_error(tmp_path):
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.pkl", pickle.dumps([1.0]))
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("data.pkl", pickle.dumps([2.0]))
    report, status = _scan(path)
    assert status is Status.ERROR and "more than once" in report.hits[0].message


def test_a_second_opinion_that_cannot_read_makes_the_scan_an_error(tmp_path, monkeypatch):
    import picklescan.scanner

    def broken(*args, **kwargs):
        raise RuntimeError("cannot parse")

    monkeypatch.setattr(picklescan.scanner, "scan_pickle_bytes", broken)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_sklearn_model()))
    report, status = _scan(path)
    assert status is Status.ERROR and "picklescan (second opinion)" in report.hits[0].message


def test_plain_json_is_no_model(tmp_path):
    (tmp_path / "config.json").write_text('{"a": 1}')
    report, status = _scan(tmp_path / "config.json")
    assert status is Status.ERROR and report.hits[0].rule == "artifact.unknown-format"


def test_dtype_state_with_objects_is_refused():
    """numpy rebuilds the dtype from plain data only; a stand-in inside its state means the walker cannot size it."""
    from gates.security.pickle_walk import walk

    stream = (
        b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(Vdtype\ncnumpy\ndtype\n(Vf8\nI00\nI01\ntR"
        b"(K\x03V<\nNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00cacme\nthing\n)Rtb"
        b"Vshape\nK\x01\x85u" + b"b" + bytes(8) + b"N."
    )
    walked = walk(stream, joblib=True)
    assert walked.error and "not plain data" in walked.error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=300)
    | st.builds(lambda b, i: _MUTABLE[:i] + b + _MUTABLE[i:], st.binary(max_size=8), st.integers(0, 200))
)
def test_any_bytes_give_a_report_never_a_crash(tmp_path, data):
    path = tmp_path / "fuzz.bin"
    path.write_bytes(data)
    report = scan_artifact(path)
    status = status_of(report, {})
    assert status in (Status.PASS, Status.FAIL, Status.ERROR)
    if status is Status.PASS:
        assert report.formats and report.formats != ["json"]


def test_well_formed_legacy_torch_tar_passes_and_every_pickle_in_it_is_read(tmp_path):
    """The storages member is followed through its raw blocks to the views pickle at its end."""
    from tests.security.corpus import legacy_tar, storages_member

    legacy_tar(tmp_path / "ok.pt", storages_member(pickle.dumps([], protocol=2)))
    report, status = _scan(tmp_path / "ok.pt")
    assert status is Status.PASS and "tar" in report.formats, report.hits
    legacy_tar(tmp_path / "bad.pt", storages_member(pickle.dumps(EVAL, protocol=2)))
    report, status = _scan(tmp_path / "bad.pt")
    assert status is Status.FAIL and _dangerous(report) == {"builtins.eval"}
    assert all(h.subject == "storages" for h in report.hits)


def test_hdf5_behind_a_user_block_is_still_read(tmp_path):
    """h5py finds the superblock at 512, 1024, ...: a harmless pickle in front hides nothing."""
    config = json.dumps({"class_name": "Sequential", "config": {"layers": [LAMBDA]}})
    path = tmp_path / "polyglot.h5"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.attrs["model_config"] = config
    data = bytearray(path.read_bytes())
    head = pickle.dumps([1.0], protocol=2)
    data[: len(head)] = head
    path.write_bytes(bytes(data))
    report, status = _scan(path)
    assert status is Status.FAIL and "keras (HDF5)" in report.formats
    assert [h.rule for h in report.hits] == ["artifact.keras-lambda"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from([0, 1]), position=st.integers(0, 2047), value=st.integers(0, 255))
def test_damaged_archives_give_a_report_never_a_crash(tmp_path, which, position, value):
    data = bytearray(_ARCHIVES[which])
    data[position % len(data)] = value
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(data))
    assert status_of(scan_artifact(path), {}) in (Status.PASS, Status.FAIL, Status.ERROR)
