"""Model artifacts: malicious pickles are built here with pickle.dumps (which never calls them) and never loaded."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import struct
import subprocess
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.security.artifacts import check, require_safe_artifact, scan_artifact, status_of

EXAMPLE_MODEL = Path(__file__).parents[1] / "examples" / "data" / "model.skops"


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious model file does when it is loaded."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


OS_SYSTEM = Payload(os.system, "echo pwned > /tmp/mlgate-pwned")
SUBPROCESS = Payload(subprocess.check_output, ["id"])
EVAL = Payload(builtins.eval, "__import__('os').system('id')")


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


class _Unseekable(io.RawIOBase):
    """A stream that can only be read forward (a pipe, a decompressor)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)


def test_pickle_walk_reads_a_stream_that_cannot_seek(tmp_path):
    from gates.security.pickle_walk import walk

    path = tmp_path / "model.joblib"
    joblib.dump(
        {"coef": np.arange(1000.0), "objects": np.array([1, "a"], dtype=object), "hook": OS_SYSTEM}, path
    )
    data = path.read_bytes() + pickle.dumps(SUBPROCESS)
    seekable = walk(io.BytesIO(data))
    forward = walk(io.BufferedReader(_Unseekable(data)))
    assert forward.error is None and forward.pickles == seekable.pickles == 3  # with the object array's
    assert [g[:2] for g in forward.globals] == [g[:2] for g in seekable.globals]
    assert ("subprocess", "check_output") in [g[:2] for g in forward.globals]
    assert {g[2] for g in forward.globals} == {-1}  # no byte offsets without seeking


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
    assert status is Status.FAIL and report.format == "pytorch (zip)"
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
    assert status is Status.FAIL and report.format == "numpy (.npz)"
    assert [h.subject for h in report.hits if h.rule == "artifact.dangerous-global"] == ["hooks.npy"]


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
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)


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
    assert status is Status.FAIL and report.format == "keras"
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
    assert status is Status.PASS and report.format == "skops", report.hits
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


def test_unknown_globals_fail_unless_allowed(tmp_path):
    from collections import Counter

    path = tmp_path / "counts.pkl"
    path.write_bytes(pickle.dumps(Counter("mississippi")))
    report, status = _scan(path)
    assert status is Status.FAIL and report.hits[0].rule == "artifact.unknown-global"
    with pytest.raises(InputError, match="collections.Counter"):
        require_safe_artifact(path)
    require_safe_artifact(path, allowed_globals=["collections.Counter"])
    assert status_of(report, {"artifact.unknown-global": "warning"}) is Status.WARN


def test_allow_list_never_overrides_the_deny_list(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(OS_SYSTEM))
    with pytest.raises(InputError, match="refused to load"):
        require_safe_artifact(path, allowed_globals=["posix", "os"])


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


# --- hand-built pickles: the bytes a malicious file holds, written opcode by opcode (never unpickled) ----------


def _text(value: str) -> bytes:
    data = value.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data


def _call(module: str, name: str, *args: str) -> bytes:
    """Protocol 4: STACK_GLOBAL(module, name)(*args). find_class follows a dotted name attribute by attribute."""
    assert len(args) <= 3
    tuple_op = {0: pickle.EMPTY_TUPLE, 1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}[len(args)]
    return (
        pickle.PROTO
        + b"\x04"
        + _text(module)
        + _text(name)
        + pickle.STACK_GLOBAL
        + b"".join(_text(a) for a in args)
        + tuple_op
        + pickle.REDUCE
        + pickle.STOP
    )


TOUCH = "touch /tmp/mlgate-pwned"


@pytest.mark.parametrize(
    "module, name, reached",
    [
        ("sklearn", "os.system", "os.system"),  # sklearn/__init__.py imports os
        ("numpy", "ctypes.CDLL", "ctypes.CDLL"),  # a chain through a module numpy imports
        ("sklearn", "os.path.join", "os.path.join"),
        ("scipy.sparse", "subprocess.check_output", "subprocess.check_output"),
    ],
)
def test_dotted_name_through_an_allowed_module_is_dangerous(tmp_path, module, name, reached):
    path = tmp_path / "model.pkl"
    path.write_bytes(_call(module, name, TOUCH))
    report, status = _scan(path)
    assert status is Status.FAIL
    assert _dangerous(report) == {f"{module}.{name}"}
    assert f"reaches {reached} through attributes" in report.hits[0].message
    with pytest.raises(InputError, match="refused to load"):
        require_safe_artifact(path)
    with pytest.raises(InputError, match="refused to load"):  # the allow list never overrides the deny list
        require_safe_artifact(path, allowed_globals=[f"{module}:{name}", module])


def test_the_52_byte_sklearn_os_system_pickle_fails_with_every_global_opcode(tmp_path):
    """The audit's proof of concept, with STACK_GLOBAL and with GLOBAL (protocol 4 lets both take dots)."""
    stack = _call("sklearn", "os.system", TOUCH)
    text = (
        pickle.PROTO
        + b"\x04"
        + b"csklearn\nos.system\n"
        + _text(TOUCH)
        + pickle.TUPLE1
        + pickle.REDUCE
        + b"."
    )
    for name, data in (("stack.pkl", stack), ("global.pkl", text)):
        (tmp_path / name).write_bytes(data)
        report, status = _scan(tmp_path / name)
        assert status is Status.FAIL and _dangerous(report) == {"sklearn.os.system"}, name
        ctx = GateContext(base_dir=tmp_path, report_dir=tmp_path / "r")
        assert check({"paths": [name]}, ctx, {}).checks[0].status is Status.FAIL


def test_builtins_getattr_is_dangerous(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(_call("builtins", "getattr", "os", "system"))
    report, status = _scan(path)
    assert status is Status.FAIL and _dangerous(report) == {"builtins.getattr"}


@pytest.mark.parametrize(
    "module, name, safety, why",
    [
        (
            "sklearn",
            "os",
            "dangerous",
            "sklearn.os is the module os",
        ),  # a module object from a deny-listed module
        ("sklearn", "_importlib", "dangerous", "sklearn._importlib is the module importlib"),
        ("sklearn", "logging", "unknown", "sklearn.logging is the module logging"),
        ("sklearn", "datasets", "dangerous", ""),  # a subpackage on mlgate's deny list
        ("sklearn", "no_such_name", "unknown", "module __getattr__"),
        ("sklearn", "base.clone", "unknown", "allow exactly sklearn:base.clone"),
    ],
)
def test_names_are_judged_by_what_the_module_binds(tmp_path, module, name, safety, why):
    from gates.security.artifacts import DEFAULT_ALLOWED, judge

    verdict, reason = judge(module, name, DEFAULT_ALLOWED)
    assert verdict == safety and why in reason


def test_reexport_of_a_deny_listed_function_is_dangerous(tmp_path, monkeypatch):
    """A vetted package that imports a dangerous function passes it on: ('acme.models', 'load') is joblib.load."""
    from gates.security import names
    from gates.security.artifacts import judge

    package = tmp_path / "site" / "acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "from joblib import load\nfrom os import system as run\nimport subprocess\n"
        "from .layers import Gate\n\n\nclass Model:\n    pass\n\n\n"
        "helper = run\n"
    )
    (package / "layers.py").write_text("class Gate:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    names._spec.cache_clear()
    allowed = ("acme",)
    assert judge("acme.models", "Model", allowed) == ("allowed", "")
    assert judge("acme.models", "Gate", allowed) == (
        "allowed",
        "",
    )  # re-exported from acme.layers, also vetted
    assert judge("acme.models", "load", allowed)[0] == "dangerous"
    assert judge("acme.models", "run", allowed)[0] == "dangerous"
    assert judge("acme.models", "subprocess", allowed)[0] == "dangerous"
    assert judge("acme.models", "helper", allowed)[0] == "unknown"  # an assignment: could hold anything
    assert judge("acme.models", "Model.__init__", allowed)[0] == "unknown"
    assert (
        judge("acme.models", "Model.__init__", ("acme:models.x", "acme.models:Model.__init__"))[0]
        == "allowed"
    )
    (tmp_path / "m.pkl").write_bytes(_call("acme.models", "run", TOUCH))
    with pytest.raises(InputError, match=r"acme.models.run is os.system \(imported there\)"):
        require_safe_artifact(tmp_path / "m.pkl", allowed_globals=["acme"])
    names._spec.cache_clear()


def test_picklescan_suspicious_is_never_a_reason_to_allow(tmp_path):
    """picklescan rates everything it has no entry for "suspicious", like the unknown module here."""
    from gates.security.artifacts import _picklescan_safety

    path = tmp_path / "model.pkl"
    path.write_bytes(_call("acme_unvetted", "build"))
    assert _picklescan_safety("acme_unvetted", "build") == "suspicious"
    report, status = _scan(path)
    assert status is Status.FAIL and report.hits[0].rule == "artifact.unknown-global"


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
    (models / "k2").write_bytes(b"cos\nsystem\n(S'" + TOUCH.encode() + b"'\ntR.")  # protocol 0: no signature
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
