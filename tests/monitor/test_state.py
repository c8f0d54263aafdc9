"""The monitor's state file is a reader of bytes from an artifact or cache: any bytes give a state or one
InputError line naming the file, never a traceback; a saved state reads back the same."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.monitor import state as st_


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda d: json.dumps(d).encode(),
            st.dictionaries(
                st.sampled_from([*st_.fresh(), "x"]),
                st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
            ),
        ),
    )
)
def test_any_bytes_are_a_state_or_one_input_error(tmp_path_factory, content):
    path = Path(tmp_path_factory.mktemp("state")) / "monitor.json"
    path.write_bytes(content)
    try:
        loaded = st_.load(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert loaded["format"] == st_.FORMAT


def test_save_then_load_round_trips_and_keeps_the_last_alarms(tmp_path):
    path = tmp_path / "deep" / "monitor.json"
    assert st_.load(path) == {**st_.fresh(), "created": st_.load(path)["created"]}  # missing: a first run
    state = st_.fresh()
    state["alarms"] = [{"n": i} for i in range(st_.KEPT_ALARMS + 5)]
    st_.save(path, state)
    again = st_.load(path)
    assert len(again["alarms"]) == st_.KEPT_ALARMS and again["alarms"][0] == {"n": 5}
    assert [p.name for p in path.parent.iterdir()] == ["monitor.json"]  # no temporary file left
