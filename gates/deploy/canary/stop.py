"""Stopping a canary run cleanly: SIGTERM or SIGINT sets a flag that every wait checks every 0.2 s, so the run
records its state and exits with the traffic at the recorded step's weight (a re-run resumes from there)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Stop:
    """A stop flag set by SIGTERM / SIGINT; waits poll it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.event.is_set()

    def set(self, name: str = "stop") -> None:
        self.signal = name
        self.event.set()

    def install(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(
                    sig, lambda num, frame: self.set(signal.Signals(num).name)
                )
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the stop flag cut it short."""
        return self.event.wait(max(0.0, seconds))


class Interrupted(Exception):
    pass
