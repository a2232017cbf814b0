"""The daemon's process life: run a built :class:`~art2mus.installation.gallery.Gallery` until SIGINT or
SIGTERM (systemd's stop) and re-read the exhibit on SIGHUP (systemd's reload).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def run_until_signalled(
    gallery: Any, duration: float | None, on_ready: Callable[[Any], None] | None = None
) -> None:
    """:meth:`Gallery.run` until SIGINT/SIGTERM or ``duration`` seconds; SIGHUP reloads the exhibit.

    ``on_ready(gallery)`` is called once the gallery runs. The previous signal handlers are restored."""
    stop = threading.Event()

    def _stop(signum, _frame):
        logger.info("stopping (signal %d)", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGHUP"):  # systemctl reload: re-read the exhibit, keep running on the old one if bad
        previous[signal.SIGHUP] = signal.signal(
            signal.SIGHUP, lambda _signum, _frame: gallery.request_reload()
        )
    try:
        gallery.run(stop, duration, on_ready=on_ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
