"""Progress of a query that runs outside Python (DuckDB, Spark), read by polling while the call blocks.

A GROUP BY over 10^8 rows is one blocking call, so the engine cannot count rows as the local engine does;
both engines can say how far along they are from another thread (DuckDB's `query_progress()`, Spark's
status tracker). `polled` runs that read on a daemon thread and feeds gates.core.progress, which decides
whether anything shows (a live line, a plain line every ~10 s in CI, or nothing). Reading progress never fails
or slows the work: an error from the read stops the polling, and with the display off no thread starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gates.core import progress

EVERY = 0.25  # seconds between reads of the engine's progress

# (done, total or None, note or None); None when the engine has nothing running to report
Reading = tuple[float, float | None, str | None] | None


@contextmanager
def polled(what: str, unit: str, read: Callable[[], Reading], every: float | None = None) -> Iterator[None]:
    """Show the engine's progress, read every `every` seconds (default EVERY), while the `with` block runs."""
    period = EVERY if every is None else every
    with progress.task(what, unit=unit) as shown:
        if shown.display == "off":
            yield
            return
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(period):
                try:
                    reading = read()
                except Exception:  # noqa: BLE001 - a progress read must never fail the query it watches
                    return
                if reading is not None:
                    done, shown.total, note = reading
                    shown.update(done, note)

        watcher = threading.Thread(target=poll, name="mlgate-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
