"""List every global a pickle stream imports, without importing or calling any of them.

This is the Python documentation's "restricting globals" pattern taken to the end: `find_class` never returns a
real object, only an inert stand-in that records what was asked for. Calling, building or filling a stand-in
only records more. The one thing evaluated for real is the shape of numpy dtypes (type code and size, from
plain strings and integers), which joblib needs: joblib writes each array's raw bytes into the middle of the
pickle stream, so a scanner that does not know an array's byte size (picklescan, for one) stops at the first
array and never sees what follows it.

Handled: pickle protocols 0-5, several pickles in one stream, joblib (raw arrays, object arrays as nested
pickles, alignment padding), PyTorch persistent ids. Nothing here imports the modules it names.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

_MAX_GLOBALS = 100_000


@dataclass
class Walk:
    """What one stream held: globals in order of appearance (module, name, byte offset) and any problem."""

    globals: list[tuple[str, str, int]] = field(default_factory=list)
    pickles: int = 0
    joblib_arrays: int = 0
    error: str | None = None
    values: list[Any] = field(default_factory=list)  # the top-level values, as inert stand-ins

    def add(self, module: str, name: str, offset: int) -> None:
        if len(self.globals) < _MAX_GLOBALS:
            self.globals.append((module, name, offset))


class Stub:
    """An inert stand-in for whatever a pickle asked for: it accepts every operation and does nothing."""

    _mlgate_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:  # noqa: PYI034
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._state: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Stub:
        return Stub()

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def add(self, value: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{self._mlgate_global}>"


class DType:
    """A numpy dtype reduced to what joblib needs: its type code, item size and whether it holds objects."""

    _mlgate_global = "numpy.dtype"
    _CODE = re.compile(r"^[<>|=]?([a-zA-Z])(\d*)(\[[a-zA-Z0-9]+\])?$")

    def __init__(self, code: Any = None, *args: Any) -> None:
        self.code = code if isinstance(code, str) else None
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def _parts(self) -> tuple[Any, Any, int]:
        """(subarray, fields, elsize) from the pickled state (version 3 and 4 layouts share the prefix)."""
        if isinstance(self.state, tuple) and len(self.state) >= 6:
            elsize = self.state[5] if isinstance(self.state[5], int) else -1
            return self.state[2], self.state[4], elsize
        return None, None, -1

    @property
    def hasobject(self) -> bool:
        if self.code is None:
            raise ValueError("dtype without a type code")
        if self.code.lstrip("<>|=").startswith("O"):
            return True
        subarray, fields, _ = self._parts()
        if (
            isinstance(subarray, tuple)
            and subarray
            and isinstance(subarray[0], DType)
            and subarray[0].hasobject
        ):
            return True
        if isinstance(fields, dict):
            return any(
                isinstance(v, tuple) and v and isinstance(v[0], DType) and v[0].hasobject
                for v in fields.values()
            )
        return False

    @property
    def itemsize(self) -> int:
        _, _, elsize = self._parts()
        if elsize > 0:
            return elsize
        match = self._CODE.match(self.code or "")
        if not match:
            raise ValueError(f"dtype code {self.code!r} not understood")
        kind, digits = match.group(1), match.group(2)
        if digits:
            return int(digits) * (4 if kind == "U" else 1)
        import numpy as np  # only for built-in codes such as 'f8' or 'b1': a plain string, no object

        return int(np.dtype(kind).itemsize)


_STUB_CLASSES: dict[tuple[str, str], type] = {}


def _stub_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STUB_CLASSES:
        _STUB_CLASSES[key] = type("Stub", (Stub,), {"_mlgate_global": f"{module}.{name}"})
    return _STUB_CLASSES[key]


_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_JOBLIB_LEGACY = (
    "joblib.numpy_pickle.NDArrayWrapper",
    "joblib.numpy_pickle.ZNDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
)
_CHUNK = 1 << 24


class _Walker(pickle._Unpickler):
    """pickle's pure-Python unpickler with every import replaced by a recording stand-in."""

    # Set by pickle._Unpickler.load(); typeshed leaves these undocumented attributes out, and types the
    # dispatch table's handlers as taking the C Unpickler.
    proto: int
    stack: list[Any]
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = pickle._Unpickler.dispatch.copy()

    def __init__(self, file: IO[bytes], walk: Walk, depth: int = 0) -> None:
        super().__init__(file, fix_imports=False)
        self._raw = file
        self._walk = walk
        self._depth = depth

    def find_class(self, module: str, name: str) -> Any:
        offset = self._raw.tell() if self._raw.seekable() else -1
        if self.proto < 3 and (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif self.proto < 3 and module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        self._walk.add(module, name, offset)
        if (module, name) == ("numpy", "dtype"):
            return DType
        return _stub_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        return Stub()  # PyTorch storages: the bytes live in other archive members, not in the pickle

    def _load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        obj = self.stack[-1]
        kind = getattr(obj, "_mlgate_global", None)
        if kind == _JOBLIB_WRAPPER:
            self._skip_joblib_array(obj._state)
        elif kind in _JOBLIB_LEGACY:
            raise ValueError("legacy joblib format (arrays kept in separate .npy files next to the pickle)")

    dispatch[pickle.BUILD[0]] = _load_build

    def _skip_joblib_array(self, state: Any) -> None:
        """Step over the array joblib wrote right after this BUILD, exactly as joblib would read it."""
        if not isinstance(state, dict) or not isinstance(state.get("dtype"), DType):
            raise ValueError("joblib array wrapper without a readable dtype")  # noqa: TRY004 - bad data
        shape = state.get("shape")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError(f"joblib array wrapper with shape {shape!r}")
        self._walk.joblib_arrays += 1
        dtype: DType = state["dtype"]
        if dtype.hasobject:
            if self._depth > 8:
                raise ValueError("object arrays nested too deep")
            inner = _Walker(self._raw, self._walk, self._depth + 1)
            inner.load()
            self._walk.pickles += 1
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self._raw.read(1)
            if len(padding) != 1:
                raise ValueError("stream ends inside a joblib array")
            _read_exactly(self._raw, padding[0])
        count = 1
        for n in shape:
            count *= n
        _read_exactly(self._raw, count * dtype.itemsize)


def _read_exactly(handle: IO[bytes], size: int) -> None:
    remaining = size
    while remaining > 0:
        got = len(handle.read(min(remaining, _CHUNK)))
        if got == 0:
            raise ValueError(f"stream ends {remaining} bytes early inside a joblib array")
        remaining -= got


def walk(handle: IO[bytes], max_pickles: int = 16, stop_after: int | None = None) -> Walk:
    """Walk every pickle in the stream (until it ends, or after `stop_after` pickles) and return what they import.

    A stream that is not a pickle at all gives `error` and no globals; a stream that breaks in the middle keeps
    the globals seen before the break, with the error.
    """
    result = Walk()
    while result.pickles < max_pickles and (stop_after is None or result.pickles < stop_after):
        start = handle.tell() if handle.seekable() else None
        first = handle.read(1)
        if not first:
            break
        if start is not None:
            handle.seek(start)
        else:
            handle = io.BufferedReader(_Prepend(first, handle))
        try:
            value = _Walker(handle, result).load()
        except RecursionError:
            result.error = "pickle nests too deep to follow"
            break
        except Exception as exc:  # noqa: BLE001 - a malformed stream is a finding, not a crash
            if result.pickles:
                break  # bytes after a complete pickle that are no pickle: loaders never read them
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            break
        result.pickles += 1
        result.values.append(value)
    return result


class _Prepend(io.RawIOBase):
    """A non-seekable stream with its first byte put back."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
