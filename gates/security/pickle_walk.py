"""List every global a pickle stream imports, without importing or calling any of them.

This is the Python documentation's "restricting globals" pattern taken to the end: `find_class` never returns a
real object, only an inert stand-in that records what was asked for. The opcodes are run by CPython's own
pure-Python unpickler, so the walker meets exactly the imports a loader would meet, in the same order.

A file is read the way each loader reads it, one reading per call of `walk`:
- plain (`pickle.load`, `pandas.read_pickle`, `numpy.load(allow_pickle=True)`, legacy `torch.load`): every
  pickle in the file, one after the other, until the end of the file;
- joblib (`joblib.load`): the same, except that after each `NumpyArrayWrapper` BUILD the array's raw bytes are
  stepped over exactly as joblib does, with the element size numpy computes from the rebuilt dtype (never the
  size the pickle claims), and object arrays followed as nested pickles.

A stretch that imports nothing is harmless whatever it is (without a global a pickle cannot call anything), so
bytes that stop being a pickle before any import are recorded as the place where pickles end. A stretch that
imports something and then cannot be followed is an error: the walker does not know what a loader would do next.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

_MAX_GLOBALS = 100_000
_MAX_PICKLES = 100_000
_MAX_NESTING = 8
JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_JOBLIB_LEGACY = {"NDArrayWrapper", "ZNDArrayWrapper"}


@dataclass
class Segment:
    """One pickle as a loader reads it: its byte range, the stretches inside it that are not opcodes
    (joblib array data and nested pickles), and the globals it imports (module, name, byte offset)."""

    start: int
    end: int = -1
    holes: list[tuple[int, int]] = field(default_factory=list)
    globals: list[tuple[str, str, int]] = field(default_factory=list)
    error: str | None = None
    wrapper_at: int | None = (
        None  # offset of the first joblib array wrapper built (plain reading: array bytes follow)
    )

    def opcodes(self, data: bytes) -> bytes:
        """The segment's bytes without its holes: a pickle stream any opcode scanner can read."""
        out, pos = [], self.start
        for start, end in sorted(self.holes):
            out.append(data[pos:start])
            pos = end
        out.append(data[pos : self.end])
        return b"".join(out)


@dataclass
class Walk:
    """Everything one reading of a stream met."""

    segments: list[Segment] = field(default_factory=list)
    joblib_arrays: int = 0
    error: str | None = None  # a segment that imported something broke off: the reading is unfinished
    tail: int | None = None  # offset where bytes that are no pickle start (nothing after it is read)
    tail_error: str | None = None  # why the bytes at `tail` are no pickle
    error_after_wrapper: bool = False  # the break came after a joblib array wrapper (plain reading of joblib)

    def after_wrapper(self) -> list[tuple[str, str, int]]:
        """Globals met after the first joblib array wrapper: where a plain reading reads joblib's array data."""
        first = next((s.wrapper_at for s in self.segments if s.wrapper_at is not None), None)
        return [] if first is None else [g for g in self.globals if g[2] > first]

    @property
    def globals(self) -> list[tuple[str, str, int]]:
        return [g for segment in self.segments for g in segment.globals]

    @property
    def pickles(self) -> int:
        return sum(1 for s in self.segments if s.error is None and s.end >= 0)


class Stub:
    """An inert stand-in for whatever a pickle asked for: it accepts every operation and does nothing."""

    _mlgate_global: ClassVar[tuple[str, str]] = ("?", "?")

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:  # noqa: PYI034
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._state: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Stub:
        return Stub(*args)

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
        return f"<{'.'.join(self._mlgate_global)}>"


_STUB_CLASSES: dict[tuple[str, str], type[Stub]] = {}


def _stub_class(module: str, name: str) -> type[Stub]:
    key = (module, name)
    if key not in _STUB_CLASSES:
        _STUB_CLASSES[key] = type("Stub", (Stub,), {"_mlgate_global": key})
    return _STUB_CLASSES[key]


def _plain(value: Any, depth: int = 0) -> Any:
    """A dtype's pickled state with every nested dtype stand-in rebuilt; anything else but plain data refused."""
    if depth > 32:
        raise ValueError("dtype nests too deep")
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return value
    if isinstance(value, tuple):
        return tuple(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Stub) and value._mlgate_global == ("numpy", "dtype"):
        return real_dtype(value, depth + 1)
    raise ValueError(f"dtype state holds {type(value).__name__}, not plain data")


def real_dtype(stub: Any, depth: int = 0) -> Any:
    """The numpy dtype a loader would build from this stand-in (numpy.dtype(code) and its __setstate__).

    Sizes and the object flag must be numpy's, not the pickle's word: numpy recomputes the element size of
    built-in types and ignores the flags a pickle claims, so trusting the pickled state lets a file hide bytes.
    A fresh copy is built (copy=True), so the scanner's own numpy is never changed.
    """
    import numpy as np

    if not isinstance(stub, Stub) or stub._mlgate_global != ("numpy", "dtype"):
        raise ValueError(f"joblib array wrapper whose dtype is {stub!r}, not numpy.dtype")
    code = stub._args[0] if stub._args else None
    if not isinstance(code, str):
        raise ValueError(f"numpy dtype built from {code!r}, not a type code")  # noqa: TRY004 - bad data
    try:
        dtype = np.dtype(code, False, True)
        if stub._state is not None:
            dtype.__setstate__(_plain(stub._state, depth))  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"numpy rejects the dtype {code!r}: {exc}") from None
    return dtype


class _Walker(pickle._Unpickler):
    """pickle's pure-Python unpickler with every import replaced by a recording stand-in."""

    # Set by pickle._Unpickler.load(); typeshed leaves these undocumented attributes out, and types the
    # dispatch table's handlers as taking the C Unpickler.
    proto: int
    stack: list[Any]
    read: Callable[[int], bytes]
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = pickle._Unpickler.dispatch.copy()

    def __init__(self, file: IO[bytes], walk: Walk, joblib: bool, depth: int = 0) -> None:
        super().__init__(file, fix_imports=False)
        self._raw = file
        self._walk = walk
        self._joblib = joblib
        self._depth = depth
        self.segment = Segment(start=file.tell())
        walk.segments.append(self.segment)

    def find_class(self, module: str, name: str) -> Any:
        offset = self._raw.tell()
        if self.proto < 3 and (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif self.proto < 3 and module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if not importable(module) or not all(part.isidentifier() for part in name.split(".")):
            # the loader stops here too, before importing anything
            raise ValueError(f"asks for {module!r}.{name!r}, which no module can provide")
        if len(self.segment.globals) < _MAX_GLOBALS:
            self.segment.globals.append((module, name, offset))
        return _stub_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        """Only the ids some loader takes: torch's loaders take tuples (storages whose bytes live elsewhere in
        the file), its legacy tar format also integers; pickle, joblib, numpy and pandas define no
        persistent_load and stop at any id. Taking every id would read on through bytes no loader reads, such
        as a zip archive's header (`PK`: a text PERSID), and invent imports from them."""
        if isinstance(pid, tuple):
            return Stub(pid)
        try:
            int(pid)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"persistent id {str(pid)[:40]!r}: no loader takes it") from None
        return Stub(pid)

    def _load_ext(self, code: int) -> None:
        """Extension codes name globals through the loading process's copyreg registry. CPython's is empty
        and no loader fills it, so pickle.load raises at any code, as this reading does: what follows is not
        read, and an import before it makes the stretch unreadable (never a pass). Naming a made-up
        "extension" global instead turned bytes that merely look like the opcode into a failed scan."""
        raise ValueError(f"copyreg extension code {code}: unregistered, so every loader stops here")

    def _load_ext1(self) -> None:
        self._load_ext(self.read(1)[0])

    def _load_ext2(self) -> None:
        self._load_ext(int.from_bytes(self.read(2), "little"))

    def _load_ext4(self) -> None:
        self._load_ext(int.from_bytes(self.read(4), "little"))

    def _load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        kind = getattr(self.stack[-1], "_mlgate_global", None)
        if kind == JOBLIB_WRAPPER:
            if self.segment.wrapper_at is None:
                self.segment.wrapper_at = self._raw.tell()
            if self._joblib:
                self._skip_joblib_array(self.stack[-1]._state)
        elif self._joblib and kind and kind[1] in _JOBLIB_LEGACY:
            raise ValueError("legacy joblib format (arrays kept in separate files next to the pickle)")

    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.EXT1[0]] = _load_ext1
    dispatch[pickle.EXT2[0]] = _load_ext2
    dispatch[pickle.EXT4[0]] = _load_ext4

    def _skip_joblib_array(self, state: Any) -> None:
        """Step over the array joblib reads right after this BUILD, exactly as joblib reads it."""
        if not isinstance(state, dict):
            raise ValueError("joblib array wrapper without a state dict")  # noqa: TRY004 - bad data
        dtype = real_dtype(state.get("dtype"))
        shape = state.get("shape")
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"joblib array wrapper with shape {shape!r}")
        self._walk.joblib_arrays += 1
        start = self._raw.tell()
        if dtype.hasobject:
            if self._depth >= _MAX_NESTING:
                raise ValueError("object arrays nested too deep")
            inner = _Walker(self._raw, self._walk, True, self._depth + 1)
            inner.load()
            inner.segment.end = self._raw.tell()
            self.segment.holes.append((start, inner.segment.end))
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self._raw.read(1)
            if len(padding) != 1:
                raise ValueError("stream ends inside a joblib array")
            _read_exactly(self._raw, padding[0])
        count = 1
        for n in shape:
            count *= n
        if count >= 1 << 63:
            raise ValueError(f"joblib array of shape {shape} overflows joblib's element count")
        _read_exactly(self._raw, count * int(dtype.itemsize))
        self.segment.holes.append((start, self._raw.tell()))


def importable(module: str) -> bool:
    """A dotted name the import system could resolve (anything else stops a loader with an error)."""
    return bool(module) and all(part.isidentifier() for part in module.split("."))


def _read_exactly(handle: IO[bytes], size: int) -> None:
    here = handle.tell()
    end = handle.seek(0, io.SEEK_END)
    if here + size > end:
        raise ValueError(f"stream ends {here + size - end} bytes early inside a joblib array")
    handle.seek(here + size)


def walk(data: bytes, joblib: bool = False) -> Walk:
    """Read every pickle in `data` as the plain loaders do (or as joblib does) and return what they import."""
    result = Walk()
    handle = io.BytesIO(data)
    while handle.tell() < len(data):
        if len(result.segments) >= _MAX_PICKLES:
            result.error = f"more than {_MAX_PICKLES} pickles in one stream"
            return result
        walker = _Walker(handle, result, joblib)
        try:
            walker.load()
        except RecursionError:
            walker.segment.error = "pickle nests too deep to follow"
        except Exception as exc:  # noqa: BLE001 - a malformed stream is a finding, not a crash
            walker.segment.error = f"{type(exc).__name__}: {exc}"[:300]
        segment = walker.segment
        segment.end = handle.tell()
        if segment.error is None:
            continue
        imported = [s for s in result.segments if s.start >= segment.start and s.globals]
        if not imported:
            result.tail, result.tail_error = segment.start, segment.error  # no import: nothing can run
            del result.segments[result.segments.index(segment) :]
        else:
            result.error = segment.error
            result.error_after_wrapper = not joblib and any(s.wrapper_at is not None for s in result.segments)
        return result
    return result


def walk_one(data: bytes, offset: int) -> tuple[Segment, Any]:
    """The one pickle at `offset`, read as a loader that calls pickle.load once there reads it.

    For layouts that put raw bytes between pickles (legacy torch's tar members): the caller steps over those
    bytes itself. The segment's error is set when the pickle cannot be followed; the value is then None.
    """
    handle = io.BytesIO(data)
    handle.seek(offset)
    walker = _Walker(handle, Walk(), False)
    try:
        value = walker.load()
    except RecursionError:
        walker.segment.error = "pickle nests too deep to follow"
        return walker.segment, None
    except Exception as exc:  # noqa: BLE001 - a malformed stream is a finding, not a crash
        walker.segment.error = f"{type(exc).__name__}: {exc}"[:300]
        return walker.segment, None
    walker.segment.end = handle.tell()
    return walker.segment, value
