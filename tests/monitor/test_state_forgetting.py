"""The monitor state's list of consumed log files stays small without ever counting a row twice or dropping a
new file in silence (gates.monitor.state: entries of present files are kept, entries of files gone for
`forget_after_days` are folded into a high-water mark of (modification time, name)).

Known truth: every row carries a unique id, so the ids the detectors were fed tell exactly what was read, against
what was written. Runs go through the real reader (gates.monitor.sources.read_logs on JSON Lines files), the
state's bookkeeping and a save / load of the state file, as a scheduled run does; modification times come from
a simulated clock (os.utime), so months pass in a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.settings.monitor import Source
from gates.monitor import state as st_
from gates.monitor.sources import read_logs

DAY = 86400.0
FORGET_DAYS = 3.0
SOURCE = Source(kind="logs", predictions="logs/*.jsonl", features=["rid"])


class World:
    """A log folder, an archive beside it (where deleted files wait to be restored), a clock, a state file."""

    def __init__(self, root: Path):
        self.root, self.logs, self.archive = root, root / "logs", root / "archive"
        self.logs.mkdir(parents=True)
        self.archive.mkdir()
        (root / "work").mkdir()
        self.state_path = root / "state.json"
        self.clock = 1_700_000_000.0
        self.next_id = 0
        self.files = 0
        self.written: dict[str, list[int]] = {}  # file name -> ids written to it
        self.fed: list[int] = []  # ids the detectors were given, over all runs
        self.flagged: set[str] = set()  # files a run named as forgotten and come back
        self.absent_at_a_run: set[str] = set()  # files that were not in the folder during some run
        self.late: set[str] = set()  # new files written with an old modification time

    def tick(self, seconds: float = 1.0) -> None:
        self.clock += seconds

    def write(self, name: str, rows: int, mtime: float | None = None) -> None:
        ids = list(range(self.next_id, self.next_id + rows))
        self.next_id += rows
        path = self.logs / name
        with path.open("a") as out:
            out.writelines(json.dumps({"score": (i % 997) / 997, "rid": float(i)}) + "\n" for i in ids)
        stamp = int((self.clock if mtime is None else mtime) * st_.NS)
        os.utime(path, ns=(stamp, stamp))
        self.written.setdefault(name, []).extend(ids)

    def new(self, rows: int, late: bool = False) -> None:
        self.files += 1
        name = f"f{self.files:05d}.jsonl"
        self.write(name, rows, mtime=self.clock - 100 * DAY if late else None)
        if late:
            self.late.add(name)
        self.tick()

    def present(self) -> list[str]:
        return sorted(p.name for p in self.logs.iterdir())

    def archived(self) -> list[str]:
        return sorted(p.name for p in self.archive.iterdir())

    def move(self, name: str, to: Path) -> None:
        os.replace(self.logs / name if to == self.archive else self.archive / name, to / name)  # keeps mtime

    def run(self, days: float) -> dict:
        self.tick(days * DAY)
        state = st_.load(self.state_path)
        evidence = read_logs(SOURCE, self.root, ["score", "rid"], state, self.root / "work")
        self.fed += [int(v) for v in evidence.values.get("rid", [])]
        self.flagged |= {Path(n).name for n in evidence.forgotten_back}
        st_.remember_files(state, evidence.files, self.clock, FORGET_DAYS * DAY)
        st_.save(self.state_path, state)
        names = set(self.present())
        self.absent_at_a_run |= set(self.written) - names
        return st_.load(self.state_path)

    def check(self, state: dict) -> None:
        """The invariants after every run."""
        assert len(self.fed) == len(set(self.fed)), "a row was counted twice"
        written_ids = {i for ids in self.written.values() for i in ids}
        assert set(self.fed) <= written_ids
        present = {f"logs/{n}" for n in self.present()}
        for name, entry in state["processed"].items():
            # kept only while present or gone for less than the forgetting time
            assert name in present or self.clock - entry["seen"] < FORGET_DAYS * DAY, name
        for name in self.present():
            # a file present at this run was read to its end, or named as forgotten-and-back
            if name in self.flagged:
                assert name in self.absent_at_a_run or name in self.late, f"{name} flagged but always present"
            else:
                assert set(self.written[name]) <= set(self.fed), f"{name}: rows never read"
        for name in self.flagged:  # a flagged file's rows were read before, or it is the named late arrival
            assert (
                name in self.late or set(self.written[name]) & set(self.fed) or name in self.absent_at_a_run
            )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(1, 4)),
        st.tuples(st.just("late"), st.integers(1, 3)),
        st.tuples(st.just("append"), st.integers(0, 50), st.integers(1, 3)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("restore"), st.integers(0, 50)),
        st.tuples(st.just("run"), st.sampled_from([0.1, 1.0, 2.0, 4.0])),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_any_history_of_logs_is_counted_once_and_the_state_stays_small(tmp_path_factory, ops):
    world = World(Path(tmp_path_factory.mktemp("forget")))
    for op in ops:
        if op[0] in ("new", "late"):
            world.new(op[1], late=op[0] == "late")
        elif op[0] == "append" and world.present():
            world.write(world.present()[op[1] % len(world.present())], op[2])
            world.tick()
        elif op[0] == "delete" and world.present():
            world.move(world.present()[op[1] % len(world.present())], world.archive)
        elif op[0] == "restore" and world.archived():
            world.move(world.archived()[op[1] % len(world.archived())], world.logs)
        elif op[0] == "run":
            world.check(world.run(op[1]))
    world.check(world.run(0.1))


def test_a_year_of_daily_files_keeps_the_state_bounded(tmp_path):
    """A file a day, kept 10 days by the log retention, run daily for a year: every row read once, the state
    holds the 10 files present plus those gone for less than the forgetting time, and a restore of an old file
    from the backup is named and not counted again."""
    world = World(tmp_path)
    sizes = []
    for day in range(365):
        world.new(5)
        for name in world.present()[:-10]:
            world.move(name, world.archive)
        if day == 200:
            world.move(world.archived()[0], world.logs)  # someone restores day 1 from the backup
        state = world.run(1.0)
        world.check(state)
        sizes.append(len(state["processed"]))
    assert max(sizes) <= 10 + 1 + FORGET_DAYS
    assert world.flagged == {"f00001.jsonl"}
    # each file is either remembered or folded into the mark (day 1's twice: it came back and went again)
    assert len(state["processed"]) + state["forgotten"]["files"] == world.files + 1
    assert sorted(world.fed) == list(range(world.next_id))  # every row, once
    assert len(world.state_path.read_bytes()) < 4000


def test_a_state_from_before_the_mark_loads_and_starts_the_absence_clock(tmp_path):
    """Entries written by an earlier mlgate (rows only) are kept one forgetting time from the first new run,
    then forgotten by when they were last seen."""
    path = tmp_path / "state.json"
    old = st_.fresh()
    del old["forgotten"]
    old["processed"] = {"logs/gone.jsonl": {"rows": 3}, "logs/here.jsonl": {"rows": 2}}
    path.write_text(json.dumps(old))
    state = st_.load(path)
    assert state["forgotten"] is None
    now = 1_800_000_000.0
    here = {"logs/here.jsonl": {"rows": 2, "mtime_ns": int((now - 10) * st_.NS)}}
    assert st_.remember_files(state, here, now, FORGET_DAYS * DAY) == []
    assert state["processed"]["logs/gone.jsonl"]["seen"] == now
    later = now + FORGET_DAYS * DAY
    assert st_.remember_files(state, here, later, FORGET_DAYS * DAY) == ["logs/gone.jsonl"]
    assert state["forgotten"] == {"mtime_ns": int(now * st_.NS), "name": "logs/gone.jsonl", "files": 1}
    assert st_.was_forgotten(state, "logs/gone.jsonl", int((now - 1) * st_.NS))
    assert not st_.was_forgotten(state, "logs/new.jsonl", int((later - 1) * st_.NS))
    assert not st_.was_forgotten(state, "logs/here.jsonl", 0)  # an entry always wins over the mark


@pytest.mark.parametrize(
    "mark",
    [
        {"mtime_ns": "1", "name": "a", "files": 1},
        {"name": "a"},
        [1],
        3,
        {"mtime_ns": 1, "name": 2, "files": 1},
    ],
)
def test_a_damaged_mark_is_one_input_error(tmp_path, mark):
    from gates.core.errors import InputError

    path = tmp_path / "state.json"
    path.write_text(json.dumps({**st_.fresh(), "forgotten": mark}))
    with pytest.raises(InputError, match="'forgotten'") as caught:
        st_.load(path)
    assert "\n" not in str(caught.value)
