"""mlgate's own hostile corpus: model artifacts built to run code under a real loader, and ordinary ones.

Every hostile case names the loader it targets and carries a payload that only creates a marker file
(`mlgate-marker`, relative to the working directory). `prove(case)` runs that loader on the file in a separate
interpreter (`python -I`, a fresh temporary working directory, a timeout) and reports whether the marker
appeared: a hostile case counts only if its payload really runs. Benign cases are what the libraries write by
default for ordinary models; they must pass.

    python -m tests.security.corpus OUT_DIR [--prove]    # build (and prove) the corpus, print a table
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "mlgate-marker"

# What each loader does with the file (argv[1]); run in a sandboxed interpreter by `prove`.
LOADERS = {
    "pickle": "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
    "pickle-all": "import pickle,sys\nf=open(sys.argv[1],'rb')\nwhile True:\n try: pickle.load(f)\n except EOFError: break",
    "joblib": "import joblib,sys; joblib.load(sys.argv[1])",
    "pandas": "import pandas,sys; pandas.read_pickle(sys.argv[1])",
    "pandas-zip": "import pandas,sys; pandas.read_pickle(sys.argv[1], compression='zip')",
    "pandas-tar": "import pandas,sys; pandas.read_pickle(sys.argv[1], compression='tar')",
    "numpy": "import numpy,sys\nz=numpy.load(sys.argv[1],allow_pickle=True)\n[z[k] for k in z.files] if hasattr(z,'files') else z",
    "torch": "import torch,sys; torch.load(sys.argv[1], weights_only=False)",
}


@dataclass(frozen=True)
class Case:
    name: str
    hostile: bool
    loader: str  # the loader the case is built for (for hostile cases a key of LOADERS, which proves it)
    build: Callable[[Path], None]
    what: str
    needs: tuple[str, ...] = ()  # modules needed to build or prove it beyond mlgate's own (torch)


# --- pickle opcodes, written by hand so that no payload is ever pickled from (or called as) a live object --------


def _glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _call(module: str, name: str, *args: str) -> bytes:
    """Opcodes that push module.name(*args) (string arguments), protocol 0 style."""
    return _glob(module, name) + b"(" + b"".join(b"V" + a.encode() + b"\n" for a in args) + b"tR"


PAYLOADS = {
    "exec": _call("builtins", "exec", f"open('{MARKER}','w').close()"),
    "system": _call("os", "system", f"touch {MARKER}"),
    "run": _glob("subprocess", "run") + b"((Vtouch\nV" + MARKER.encode() + b"\nltR",
}


def _neutral(size: int) -> bytes:
    """`size` bytes (>= 2) of opcodes that leave the stack as they found it."""
    out = b"K\x000" if size % 2 else b""
    return out + b"N0" * ((size - len(out)) // 2)


def _dtype(code: str, state: tuple[object, ...] | None = None) -> bytes:
    ops = (
        _glob("numpy", "dtype") + b"(V" + code.encode() + b"\nI00\nI01\ntR"
    )  # numpy.dtype(code, False, True)
    if state is not None:
        ops += pickle.dumps(state, protocol=2)[2:-1] + b"b"
    return ops


def _wrapper(dtype: bytes, count: int) -> bytes:
    """A joblib NumpyArrayWrapper for a 1-d array of `count` elements, built (BUILD) and ready for its data."""
    state = (
        b"}(Vsubclass\n" + _glob("numpy", "ndarray") + b"Vshape\nJ" + struct.pack("<i", count) + b"\x85"
        b"Vorder\nVC\nVdtype\n" + dtype + b"Vallow_mmap\nI00\nu"
    )
    return _glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"


# --- hostile builders -----------------------------------------------------------------------------------------


def _write(data: bytes) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(data)

    return build


def _plain_with_joblib_skip(path: Path) -> None:
    """A plain pickle that uses joblib's array wrapper to make a scanner skip the payload pickle.load runs."""
    hidden = b"0" + PAYLOADS["exec"] + b"."
    path.write_bytes(b"\x80\x02" + _wrapper(_dtype("i1"), len(hidden)) + hidden + b".")


def _joblib_elsize_lie(path: Path) -> None:
    """joblib file whose dtype state claims 16-byte elements; numpy (and joblib) use 8, then run the payload."""
    count = 8
    payload = b"0" + PAYLOADS["exec"] + b"0"
    payload += _neutral(count * 8 - len(payload)) if len(payload) < count * 8 else b""
    if len(payload) > count * 8:
        raise ValueError("payload too long for the lie")
    lie = (3, "<", None, None, None, 16, 1, 0)
    path.write_bytes(b"\x80\x02" + _wrapper(_dtype("f8", lie), count) + bytes(count * 8) + payload + b"N.")


def _joblib_object_flag(path: Path) -> None:
    """joblib file whose 'f8' dtype carries numpy's object flags: joblib reads a nested pickle, not raw bytes."""
    flags = (3, "<", None, None, None, 8, 1, 63)
    nested = b"\x80\x02" + PAYLOADS["exec"] + b"."
    path.write_bytes(b"\x80\x02" + _wrapper(_dtype("f8", flags), len(nested) // 8 + 1) + nested + b"N.")


def _onnx_polyglot(path: Path) -> None:
    """A valid ONNX ModelProto layout (opset, graph, IR version) whose bytes are also a pickle."""
    body = b"X" + PAYLOADS["exec"] + b"."
    proto = b"B\x03\x00\x00\x00" + b"B" + bytes([len(body)]) + body + b":\x02\x0a\x00" + b"\x08\x07"
    path.write_bytes(proto)


def _safetensors_zip_polyglot(path: Path) -> None:
    """A safetensors file with a zip appended: pandas (compression='zip') unpickles the zip's member."""
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("weights", b"\x80\x02" + PAYLOADS["exec"] + b".")
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 4 + buffer.getvalue())


def _torch_duplicate_member(path: Path) -> None:
    """torch zip with data.pkl twice (benign, then hostile): which copy a loader reads depends on its zip reader."""
    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as out:
        warnings.simplefilter("ignore")
        for info, body in members:
            out.writestr(info, body)
            if info.filename.endswith("data.pkl"):
                out.writestr(info.filename, b"\x80\x02" + PAYLOADS["exec"] + b".")


def _torch_zip(path: Path) -> None:
    """torch zip whose data.pkl runs the payload (torch.load with weights_only=False)."""
    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            body = source.read(info)
            if info.filename.endswith("data.pkl"):
                body = b"\x80\x02" + PAYLOADS["system"] + b"."
            out.writestr(info, body)


def _npz_with_config(path: Path) -> None:
    """An .npz holding a config.json (once read as Keras) and an object array whose pickle runs the payload."""
    buffer = io.BytesIO()
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {}}')
        archive.writestr("metadata.json", "{}")
        archive.writestr("a.npy", npy + b"\x80\x02" + PAYLOADS["exec"] + b"\x85.")
    path.write_bytes(buffer.getvalue())


def _npy_object(path: Path) -> None:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    path.write_bytes(npy + b"\x80\x02" + PAYLOADS["exec"] + b"\x85.")


def _many_pickles(path: Path) -> None:
    """Twenty harmless pickles, then one that runs the payload: read by a loader that loads until EOF."""
    path.write_bytes(pickle.dumps([1.0, 2.0], protocol=2) * 20 + b"\x80\x02" + PAYLOADS["exec"] + b".")


def legacy_tar(path: Path, storages: bytes) -> None:
    """A legacy torch tar file (the layout torch.load still reads) around the given `storages` member."""
    members = {
        "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        "storages": storages,
        "tensors": pickle.dumps(0, protocol=2),
        "pickle": pickle.dumps({}, protocol=2),
    }
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))


def storages_member(views: bytes) -> bytes:
    """One float storage of two elements (pickle, raw count and bytes), then `views` as the views pickle."""
    entry = b"\x80\x02(V0\nVcpu\n" + _glob("torch", "FloatStorage") + b"t."
    return pickle.dumps(1, protocol=2) + entry + struct.pack("<q", 2) + bytes(8) + views


def _legacy_torch_tar(path: Path) -> None:
    """The legacy torch tar layout; the payload sits in the 'storages' member's first pickle."""
    legacy_tar(path, b"\x80\x02" + PAYLOADS["exec"] + b"0K\x00.")


def _legacy_torch_tar_views(path: Path) -> None:
    """The legacy torch tar layout; the payload is the storage views pickle, behind a raw storage block."""
    legacy_tar(path, storages_member(b"\x80\x02" + PAYLOADS["exec"] + b"0]."))


def _pandas_tar(path: Path) -> None:
    with tarfile.open(path, "w:") as archive:
        body = b"\x80\x02" + PAYLOADS["exec"] + b"."
        info = tarfile.TarInfo("frame.pkl")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))


def _compressed(kind: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        data = b"\x80\x02" + PAYLOADS["system"] + b"."
        if kind == "gzip":
            import gzip

            path.write_bytes(gzip.compress(data))
        elif kind == "lz4":
            import lz4.frame

            path.write_bytes(lz4.frame.compress(data))
        else:
            import zlib

            path.write_bytes(zlib.compress(data))

    return build


def _joblib_after_arrays(path: Path) -> None:
    """A real joblib.dump whose payload follows large arrays (a plain opcode scan stops at the first array)."""
    import joblib
    import numpy as np

    class Hook:
        def __reduce__(self) -> tuple[object, ...]:
            return exec, (f"open('{MARKER}','w').close()",)

    joblib.dump(
        {"coef": np.arange(1000.0), "objects": np.array([1, "a"], dtype=object), "hook": Hook()}, path
    )


def _joblib_nested_object(path: Path) -> None:
    """The payload inside an object array, which joblib unpickles as a nested pickle."""
    import joblib
    import numpy as np

    class Hook:
        def __reduce__(self) -> tuple[object, ...]:
            return exec, (f"open('{MARKER}','w').close()",)

    joblib.dump({"objects": np.array([1, Hook()], dtype=object)}, path)


def _popen(path: Path) -> None:
    path.write_bytes(b"\x80\x02" + PAYLOADS["run"] + b".")


HOSTILE = [
    Case("plain-exec.pkl", True, "pickle", _write(b"\x80\x02" + PAYLOADS["exec"] + b"."), "builtins.exec"),
    Case("proto0-system.pkl", True, "pickle", _write(PAYLOADS["system"] + b"."), "os.system, protocol 0"),
    Case("subprocess-run.pkl", True, "pickle", _popen, "subprocess.run"),
    Case(
        "pandas-exec.pkl", True, "pandas", _write(b"\x80\x02" + PAYLOADS["exec"] + b"."), "pandas.read_pickle"
    ),
    Case("joblib-after-arrays.joblib", True, "joblib", _joblib_after_arrays, "payload after raw arrays"),
    Case("joblib-nested.joblib", True, "joblib", _joblib_nested_object, "payload in an object array"),
    Case("plain-joblib-skip.pkl", True, "pickle", _plain_with_joblib_skip, "joblib skip in a plain pickle"),
    Case("joblib-elsize-lie.joblib", True, "joblib", _joblib_elsize_lie, "dtype state lies about elsize"),
    Case(
        "joblib-object-flag.joblib",
        True,
        "joblib",
        _joblib_object_flag,
        "dtype flags make it an object array",
    ),
    Case("onnx-polyglot.onnx", True, "pickle", _onnx_polyglot, "valid ONNX layout that is also a pickle"),
    Case("safetensors-zip.safetensors", True, "pandas-zip", _safetensors_zip_polyglot, "safetensors + zip"),
    Case(
        "torch-duplicate.pt",
        True,
        "torch",
        _torch_duplicate_member,
        "duplicate data.pkl in a torch zip",
        ("torch",),
    ),
    Case("torch-zip.pt", True, "torch", _torch_zip, "torch zip data.pkl", ("torch",)),
    Case("npz-config.npz", True, "numpy", _npz_with_config, ".npz with a config.json"),
    Case("object.npy", True, "numpy", _npy_object, "object .npy"),
    Case("many-pickles.bin", True, "pickle-all", _many_pickles, "payload in the 21st pickle"),
    Case("legacy-tar.pt", True, "torch", _legacy_torch_tar, "legacy torch tar layout", ("torch",)),
    Case(
        "legacy-tar-views.pt", True, "torch", _legacy_torch_tar_views, "pickle behind raw storage", ("torch",)
    ),
    Case("pandas.tar", True, "pandas-tar", _pandas_tar, "pandas tar member"),
    Case("gzip.joblib", True, "joblib", _compressed("gzip"), "gzip stream"),
    Case("lz4.joblib", True, "joblib", _compressed("lz4"), "lz4 stream"),
    Case("zlib.joblib", True, "joblib", _compressed("zlib"), "zlib stream"),
]


# --- benign: what the libraries write by default ----------------------------------------------------------------


def _pipeline() -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tests.security.pickle_globals import _frame

    frame = _frame()
    prep = ColumnTransformer([("n", StandardScaler(), ["x", "i"]), ("c", OneHotEncoder(), ["s", "c"])])
    model = Pipeline([("prep", prep), ("model", HistGradientBoostingClassifier(max_iter=3))])
    return model.fit(frame[["x", "i", "s", "c"]], frame["y"])


def _joblib_dump(compress: object) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import joblib

        joblib.dump(_pipeline(), path, compress=compress)  # type: ignore[arg-type]

    return build


def _pickled(make: Callable[[], object]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(pickle.dumps(make()))

    return build


def _log1p() -> object:
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(np.log1p).fit([[1.0]])


def _frame_obj() -> object:
    from tests.security.pickle_globals import _frame

    return _frame()


def _frame_to_pickle(path: Path) -> None:
    from tests.security.pickle_globals import _frame

    _frame().to_pickle(path)


def _torch_weights(legacy: bool) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import torch

        state = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).state_dict()
        torch.save(state, path, _use_new_zipfile_serialization=not legacy)

    return build


def _npz(path: Path) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.savez_compressed(handle, a=np.arange(10.0), b=np.eye(3, dtype="i4"))


def _skops(path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    sio.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)


def _safetensors(path: Path) -> None:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))


def _sparse() -> object:
    import scipy.sparse as sp

    return sp.random(5, 5, density=0.3, format="csr", random_state=0)


BENIGN = [
    *(
        Case(f"pipeline-{c}.joblib", False, "joblib", _joblib_dump(c), f"joblib.dump compress={c}")
        for c in (0, 3, "zlib", "gzip", "bz2", "xz", "lzma", "lz4")
    ),
    Case("log1p.pkl", False, "pickle", _pickled(_log1p), "FunctionTransformer(numpy.log1p)"),
    Case("frame.pkl", False, "pickle", _pickled(_frame_obj), "pickled DataFrame of every dtype"),
    Case("frame.pkl.gz", False, "pandas", _frame_to_pickle, "DataFrame.to_pickle (gzip)"),
    Case("pipeline.pkl", False, "pickle", _pickled(_pipeline), "pickled ColumnTransformer pipeline"),
    Case("sparse.pkl", False, "pickle", _pickled(_sparse), "scipy sparse matrix"),
    Case("weights.pt", False, "torch", _torch_weights(False), "torch.save state_dict", ("torch",)),
    Case(
        "weights-legacy.pt", False, "torch", _torch_weights(True), "legacy torch.save state_dict", ("torch",)
    ),
    Case("arrays.npz", False, "numpy", _npz, "numpy.savez_compressed"),
    Case("model.skops", False, "skops", _skops, "skops.io.dump"),
    Case("weights.safetensors", False, "safetensors", _safetensors, "safetensors"),
]

CASES = HOSTILE + BENIGN


def build(case: Case, directory: Path) -> Path:
    path = directory / case.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.build(path)
    return path


def prove(case: Case, path: Path, timeout: float = 120) -> bool:
    """Whether the case's payload runs under its loader: a sandboxed interpreter, the marker file as evidence."""
    with tempfile.TemporaryDirectory(prefix="mlgate-proof-") as sandbox:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": sandbox}
        try:
            subprocess.run(
                [sys.executable, "-I", "-c", LOADERS[case.loader], str(path.resolve())],
                cwd=sandbox,
                env=env,
                timeout=timeout,
                capture_output=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return (Path(sandbox) / MARKER).exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--prove", action="store_true", help="run each hostile case under its loader")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        path = build(case, args.out)
        proven = prove(case, path) if args.prove and case.hostile else None
        print(f"{case.name:32} {'hostile' if case.hostile else 'benign':8} {case.loader:10} {proven}")


if __name__ == "__main__":
    main()
