"""known_globals.json holds every name the installed libraries write for their ordinary objects, and nothing
the deny lists forbid."""

from __future__ import annotations

from gates.security.verdict import _denied, known_globals
from tests.security.pickle_globals import collect


def test_every_name_the_libraries_write_is_known() -> None:
    missing = sorted(f"{m}:{n}" for m, n in collect() - known_globals())
    assert not missing, f"regenerate with `python -m tests.security.pickle_globals --write`: {missing}"


def test_no_known_name_is_deny_listed() -> None:
    assert not [f"{m}.{n}" for m, n in known_globals() if _denied(m, n)]
