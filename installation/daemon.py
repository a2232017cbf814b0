"""The daemon's process life: its signals from the first step of its start to its end.

A large collection's first start takes minutes (soundscapes made, reference photos checked, the index
built) before the gallery plays, and systemd may signal it meanwhile. :class:`DaemonSignals` handles them
from before the first step:

* SIGTERM (``systemctl stop``) stops the start at once, with a line in the log; the command exits 0, as
  after a stop while the gallery runs (systemd counts either as a clean stop), and what the start had
  begun (the generator process) is stopped.
* SIGHUP (``systemctl reload``) is logged and remembered: the exhibit is read again as soon as the gallery
  runs. The start goes on with the file as it read it, and an edit made since, which the reload was sent
  for, is applied then rather than lost until someone reloads again (a reload that finds nothing changed
  costs little).
* SIGINT (Ctrl-C) stays Python's, with :func:`~art2mus.installation.cli.shared.interrupt_kept`'s memory of
  it: the start stops at once or at its next step, and the command ends as an interrupted one.

While the gallery runs, SIGINT and SIGTERM stop it and SIGHUP re-reads the exhibit (a file with problems is
reported and the running configuration stays).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from art2mus.installation.logs import progress_logger

logger = logging.getLogger(__name__)
# what happens to a start: shown in the log (and as systemd's status line) without -v, as the start's steps are
start_log = progress_logger("daemon")


class StartStopped(BaseException):
    """SIGTERM during the start. Not an ``Exception``: the steps of the start must not take it for their own
    failure and carry on."""


class DaemonSignals:
    """``with DaemonSignals() as signals:`` the signals handled as the module docstring says, then
    :meth:`run` builds and runs the gallery. Leaving the block restores the previous handlers; a stop
    during the start ends the block quietly (the command exits 0)."""

    def __init__(self) -> None:
        #: set by SIGTERM, and by SIGINT once the gallery runs
        self.stop = threading.Event()
        self._starting = True
        self._gallery: Any = None
        self._reload_asked = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> DaemonSignals:
        self._handle(signal.SIGTERM, self._on_stop)
        if hasattr(signal, "SIGHUP"):
            self._handle(signal.SIGHUP, self._on_reload)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if kind is not None and issubclass(kind, StartStopped):
            return True  # logged when the signal came: a clean stop
        if kind is not None and issubclass(kind, KeyboardInterrupt) and self._starting:
            start_log.info("start interrupted (Ctrl-C)")
        return False

    def _handle(self, sig: int, handler: Callable[[int, Any], None]) -> None:
        previous = signal.signal(sig, handler)
        self._previous.setdefault(sig, previous)

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stop.set()
        if self._starting:
            start_log.info("stopping (signal %d) while starting; the gallery does not start", signum)
            raise StartStopped(signum)
        logger.info("stopping (signal %d)", signum)

    def _on_reload(self, signum: int, _frame: Any) -> None:
        gallery = self._gallery
        if gallery is not None:  # systemctl reload: re-read the exhibit, keep running on the old one if bad
            gallery.request_reload()
            return
        if not self._reload_asked:
            start_log.info(
                "reload asked for (signal %d) while starting: the exhibit is read again once the gallery runs",
                signum,
            )
        self._reload_asked = True

    def check(self) -> None:
        """Between two steps of the start: a stop whose :class:`StartStopped` a step swallowed (a C library's
        callback into Python drops what it raises) ends the start here."""
        if self._starting and self.stop.is_set():
            raise StartStopped(signal.SIGTERM)

    def run(
        self,
        build: Callable[[Callable[[], None]], Any],
        duration: float | None,
        on_ready: Callable[[Any], None] | None = None,
    ) -> None:
        """``build(check)`` the gallery (calling ``check()`` between its steps), then :meth:`Gallery.run` it
        until SIGINT/SIGTERM or ``duration`` seconds; ``on_ready(gallery)`` is called once it runs."""
        gallery = build(self.check)
        try:
            self.check()
            self._starting = False  # from here a SIGTERM sets the stop event and the run ends
        except BaseException:
            gallery.close()
            raise
        self._handle(signal.SIGINT, self._on_stop)
        self._gallery = gallery
        if self._reload_asked:  # after the handler is in place: a SIGHUP from here on reloads directly
            gallery.request_reload()
        gallery.run(self.stop, duration, on_ready=on_ready)
