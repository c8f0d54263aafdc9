"""The verdict on one pickle global: exact names only, deny lists first, names followed to what they really are.

Malicious pickles here are written opcode by opcode and never loaded."""

from __future__ import annotations

import pickle

import pytest

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.security.artifacts import check, require_safe_artifact, status_of
from tests.security.test_artifacts import OS_SYSTEM, _dangerous, _scan


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
        require_safe_artifact(path, allowed_globals=["posix.system", "os.system"])


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
        require_safe_artifact(path, allowed_globals=[f"{module}:{name}"])


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
        (
            "sklearn.utils._openmp_helpers",
            "os",
            "unknown",
            "",
        ),  # compiled: its attribute os is the os module
        ("sklearn", "logging", "unknown", "--allow-global"),
        ("sklearn", "datasets", "dangerous", ""),  # a subpackage on mlgate's deny list
        (
            "sklearn.base",
            "clone",
            "unknown",
            "--allow-global",
        ),  # a function of an allowed package: not allowed
        ("numpy.random._pickle", "__generator_ctor", "allowed", ""),  # numpy writes it for Generators
        ("sklearn.linear_model._logistic", "LogisticRegression", "allowed", ""),
    ],
)
def test_names_are_judged_exactly(module, name, safety, why):
    from gates.security.verdict import judge

    verdict, reason = judge(module, name)
    assert verdict == safety and why in reason


def test_reexport_of_a_deny_listed_function_is_dangerous(tmp_path, monkeypatch):
    """A vetted package that imports a dangerous function passes it on: ('acme.models', 'load') is joblib.load."""
    from gates.security import names
    from gates.security.verdict import judge, parse_allowed

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
    allowed = parse_allowed(["acme.models.Model", "acme.models.Gate", "acme.models.load", "acme.models.run"])
    assert judge("acme.models", "Model", allowed) == ("allowed", "")
    assert judge("acme.models", "Gate", allowed) == ("allowed", "")  # re-exported from acme.layers
    assert judge("acme.models", "load", allowed)[0] == "dangerous"  # joblib.load: the deny list wins
    assert judge("acme.models", "run", allowed)[0] == "dangerous"
    assert judge("acme.models", "subprocess", allowed)[0] == "dangerous"
    assert judge("acme.models", "helper", allowed)[0] == "unknown"
    assert judge("acme.models", "Model.__init__", allowed)[0] == "unknown"
    assert (
        judge("acme.models", "Model.__init__", parse_allowed(["acme.models:Model.__init__"]))[0] == "allowed"
    )
    (tmp_path / "m.pkl").write_bytes(_call("acme.models", "run", TOUCH))
    with pytest.raises(InputError, match=r"acme.models.run is os.system \(imported there\)"):
        require_safe_artifact(tmp_path / "m.pkl", allowed_globals=["acme.models.run"])
    with pytest.raises(InputError, match="a whole module or package cannot be allowed"):
        require_safe_artifact(tmp_path / "m.pkl", allowed_globals=["acme"])
    names._spec.cache_clear()


def test_picklescan_suspicious_is_never_a_reason_to_allow(tmp_path):
    """picklescan rates everything it has no entry for "suspicious", like the unknown module here."""
    from gates.security.verdict import _picklescan_safety

    path = tmp_path / "model.pkl"
    path.write_bytes(_call("acme_unvetted", "build"))
    assert _picklescan_safety("acme_unvetted", "build") == "suspicious"
    report, status = _scan(path)
    assert status is Status.FAIL and report.hits[0].rule == "artifact.unknown-global"
