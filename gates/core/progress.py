"""Progress of long work on stderr: a live line on a terminal, a plain line every ~10 s in CI logs, else nothing.

A gate on 10^8 rows, a bootstrap of many resamples, a directory of models or a canary of several steps can take
minutes; without a sign of life a reviewer cannot tell slow from stuck. The work calls `task(...)` around its loop
and `update` / `advance` inside it; this module decides whether and how that shows:

- MLGATE_PROGRESS=auto (default): a live, redrawn line when stderr is a terminal; plain lines when it is not
  (CI logs, files), at most one per PLAIN_EVERY seconds, the first only after that long, so quick work prints
  nothing at all;
- MLGATE_PROGRESS=bar or lines forces one of them; off (or MLGATE_QUIET=1) prints nothing.

Progress never touches stdout (the verdict table and machine-readable output stay clean) and never fails the
work: a closed or broken stderr silently stops the display. It is imported by the engine, the statistics and the
delivery loop, so it imports nothing of mlgate.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

PLAIN_EVERY = 10.0  # seconds between plain lines (CI logs)
LIVE_EVERY = 0.1  # seconds between redraws of the live line
MODES = ("auto", "bar", "lines", "off")
T = TypeVar("T")


def mode(environ: dict[str, str] | None = None, stream: TextIO | None = None) -> str:
    """bar, lines or off, from MLGATE_PROGRESS / MLGATE_QUIET and whether the stream is a terminal."""
    env = os.environ if environ is None else environ
    if env.get("MLGATE_QUIET", "").strip().lower() in ("1", "true", "yes", "on"):
        return "off"
    wanted = env.get("MLGATE_PROGRESS", "auto").strip().lower() or "auto"
    if wanted not in MODES:
        wanted = "auto"
    if wanted != "auto":
        return wanted
    stream = stream or sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):  # closed or unusual streams
        return "off"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 or value == 0 else f"{value:.3g}"


class Task:
    """One piece of long work. Thread-safe: worker threads may call update / advance."""

    def __init__(
        self,
        what: str,
        total: float | None,
        unit: str,
        display: str,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what, self.total, self.unit = what, total, unit
        self.display, self.stream, self.clock = display, stream, clock
        self.done = 0.0
        self.note = ""
        self.started = clock()
        self._shown_at = self.started  # plain lines: the first waits a full period
        self._drawn = False
        self._lock = threading.Lock()

    def advance(self, amount: float = 1, note: str | None = None) -> None:
        with self._lock:
            self.done += amount
            self._changed(note)

    def update(self, done: float, note: str | None = None) -> None:
        with self._lock:
            self.done = done
            self._changed(note)

    def text(self) -> str:
        """'what: 1,234 / 2,000 unit (62%), note, 3.1 s'"""
        done = f"{_count(self.done)}"
        if self.total:
            done += f" / {_count(self.total)}"
        done += f" {self.unit}" if self.unit else ""
        if self.total:
            done += f" ({min(self.done / self.total, 1.0):.0%})"
        parts = [f"{self.what}: {done}"] + ([self.note] if self.note else [])
        parts.append(f"{self.clock() - self.started:.1f} s")
        return ", ".join(parts)

    def _changed(self, note: str | None) -> None:
        if note is not None:
            self.note = note
        if self.display == "off":
            return
        now = self.clock()
        every = LIVE_EVERY if self.display == "bar" else PLAIN_EVERY
        if now - self._shown_at < every:
            return
        self._shown_at = now
        self._write(f"\r\x1b[Kmlgate: {self.text()}" if self.display == "bar" else f"mlgate: {self.text()}\n")

    def close(self) -> None:
        """Clear the live line; in CI, end with one line when any was printed (so the log shows it finished)."""
        with self._lock:
            if self._drawn and self.display == "bar":
                self._write("\r\x1b[K")
            elif self._drawn and self.display == "lines":
                self._write(f"mlgate: {self.text()}, done\n")
            self.display = "off"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):  # stderr closed or broken: stop showing, never fail the work
            self.display = "off"


@contextmanager
def task(
    what: str,
    total: float | None = None,
    unit: str = "",
    *,
    stream: TextIO | None = None,
    display: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Task]:
    """Show the progress of the work inside the `with` block (see the module docstring for when it shows)."""
    out = stream or sys.stderr
    current = Task(what, total, unit, display or mode(stream=out), out, clock)
    try:
        yield current
    finally:
        current.close()


def each(
    items: Iterable[T], what: str, unit: str = "", note: Callable[[T], str] | None = None
) -> Iterator[T]:
    """The items of a sized collection, one at a time, counting them as progress (`note(item)` names the one
    being worked on): one line of change to a loop."""
    listed = list(items)
    with task(what, len(listed), unit) as shown:
        for item in listed:
            shown.update(shown.done, note(item) if note else None)
            yield item
            shown.advance()


def waiting(what: str, seconds: float, stream: TextIO | None = None) -> None:
    """One line before a long wait ('canary step 2/4 at 25%: next analysis in 60 s'), so a log shows what
    the silence is; waits under a second are not worth a line."""
    out = stream or sys.stderr
    if seconds < 1 or mode(stream=out) == "off":
        return
    try:
        out.write(f"mlgate: {what} in {seconds:g} s\n")
        out.flush()
    except (OSError, ValueError):
        pass
