"""The clocks the audio engine is paced by: the system's monotonic clock, or a manual one for tests.

The engine only needs two things from a clock: the time now (seconds, monotonic) and a way to wait
that also wakes when a stop event is set. A :class:`ManualClock` advances only when told (or when
something waits on it), so tests and ``simulate`` run a whole afternoon of mixing in seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time in seconds and an interruptible wait."""

    def monotonic(self) -> float:
        """Seconds since an arbitrary fixed point; never goes backwards."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``event``; True if it is set."""


class SystemClock:
    """The real clock: ``time.monotonic`` and ``Event.wait``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))


class ManualClock:
    """A clock that moves only when :meth:`advance` is called or something waits on it.

    ``wait`` advances the time by ``timeout`` at once (it never sleeps for real), so a loop paced by
    this clock runs as fast as the machine allows while seeing consistent times.
    """

    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the time forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards: advance({seconds})")
        with self._lock:
            self._now += seconds
            return self._now

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.advance(max(0.0, timeout))
        # Let other threads run: a loop that only waits on a manual clock would otherwise spin.
        event.wait(0.0005)
        return event.is_set()
