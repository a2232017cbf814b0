"""A reload prepared beside the running room and swapped in between two camera frames.

A reload reads the exhibit, renders or reads the changed soundscapes, checks new photos and rebuilds the
recognition index: 2.75-6.5 s with the procedural generator in the curator's sweep, minutes when an added
artwork is rendered by the Art2Mus model. Run on the main loop, that froze recognition meanwhile (the
music did not follow visitors, and the idle timer could run out behind it). :class:`BackgroundReload`
runs the preparation (:meth:`GalleryControl.reload`) on a thread of its own while the loop goes on
recognising and deciding with the running configuration; when the preparation is ready it is handed
to the loop (:meth:`BackgroundReload.hand_over`), which applies it between two frames
(:meth:`BackgroundReload.swap_if_ready`, a few milliseconds) so that the director, the vision pipeline
and the engine are only ever changed from the loop's thread.

A stop during the preparation abandons it (:meth:`BackgroundReload.abandon`): the preparation stops at
its next soundscape (:meth:`BackgroundReload.check`), one waiting to be swapped in is not, and the stop
does not wait for a render that is under way longer than ``wait_s``: the thread is a daemon thread, and
the process ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class ReloadAbandoned(Exception):
    """The gallery is stopping: the reload being prepared is dropped, nothing of it applied."""


class BackgroundReload:
    """One reload prepared by ``reload()`` on its own thread (see the module docstring).

    Args:
        reload: prepares the reload and, through :meth:`hand_over`, has it applied; returns whether it was
            applied (:meth:`GalleryControl.reload`).
    """

    def __init__(self, reload: Callable[[], bool]):
        self._reload = reload
        self._abandoned = threading.Event()
        self._lock = threading.Lock()
        self._swap: tuple[Callable[[Any], bool], Any] | None = None
        self._swapped = threading.Event()
        self._swap_outcome = False
        self._swap_error: Exception | None = None
        #: whether the reload was applied; None while it runs (or when it raised)
        self.outcome: bool | None = None
        #: how long the loop paused to apply it (seconds; None: nothing was swapped in)
        self.swap_s: float | None = None
        self._thread = threading.Thread(target=self._run, name="reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.outcome = self._reload()
        except Exception:  # noqa: BLE001 - top of a thread: reload() never raises, but the room must not care
            logger.exception("the reload's thread failed; the room plays on")

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def is_preparing_thread(self) -> bool:
        """Whether the caller is this reload's thread (its preparation hands the swap to the loop)."""
        return threading.current_thread() is self._thread

    def check(self) -> None:
        """Raise :class:`ReloadAbandoned` once the gallery is stopping (the preparation calls this between
        its steps and after each soundscape)."""
        if self._abandoned.is_set():
            raise ReloadAbandoned("the gallery is stopping")

    # ------------------------------------------------------------------ the preparing thread's side
    def hand_over(self, apply: Callable[[Any], bool], prepared: Any) -> bool:
        """Have the loop call ``apply(prepared)`` between two frames and wait for it; its outcome, or
        :class:`ReloadAbandoned` when the gallery stops first (nothing applied)."""
        with self._lock:
            self.check()
            self._swap = (apply, prepared)
        while not self._swapped.wait(0.1):
            self.check()
        if self._swap_error is not None:  # raised where reload() records and logs it, not in the loop
            raise self._swap_error
        return self._swap_outcome

    # ------------------------------------------------------------------ the loop's side
    def swap_if_ready(self) -> bool:
        """On the loop's thread: apply the prepared reload if it is waiting. True when one was applied
        (or refused by ``apply``, or failed in it) now. What ``apply`` raises never reaches the loop: it is
        raised again on the preparing thread by :meth:`hand_over`, whose ``reload()`` logs it and records
        the failed reload, as the in-line reload did (a reload must never stop the room)."""
        with self._lock:
            swap, self._swap = self._swap, None
        if swap is None:
            return False
        apply, prepared = swap
        started = time.perf_counter()
        try:
            self._swap_outcome = apply(prepared)
        except Exception as exc:  # noqa: BLE001 - handed to the preparing thread
            self._swap_outcome, self._swap_error = False, exc
        finally:
            self.swap_s = time.perf_counter() - started
            self._swapped.set()
        logger.info("reload: the new configuration took the loop %.1f ms to swap in", self.swap_s * 1000)
        return True

    def abandon(self, wait_s: float) -> bool:
        """The gallery stops: drop the reload (one waiting to be swapped in is not), and wait at most
        ``wait_s`` seconds for its thread. True when the thread has ended."""
        with self._lock:
            self._abandoned.set()
            self._swap = None
        self._thread.join(wait_s)
        if self._thread.is_alive():
            logger.warning(
                "stopping during a reload: its preparation has not ended within %.0f s; abandoned", wait_s
            )
            return False
        return True
