"""Stopping a training run from outside: Ctrl-C (SIGINT) and SIGTERM (``kill``, systemd, a batch scheduler).

Both end the run through Python's ``KeyboardInterrupt``, so every place that keeps its work on an interrupt
(the extraction's pieces, the trainer's last checkpoint) keeps it on SIGTERM too: :func:`sigterm_interrupts`
turns SIGTERM into :class:`Terminated`, a ``KeyboardInterrupt`` that knows its signal. Each interrupt is
told as one sentence saying what is kept, and the command exits with the shell's status for death by that
signal, 128 + its number (130 for SIGINT, 143 for SIGTERM): a script, systemd or a scheduler reads the
same status as from a process the signal killed, and tells a user's Ctrl-C from a ``kill``.

:func:`signals_held` defers both signals while a checkpoint is written, so an interrupt never leaves a
truncated ``checkpoint.pt`` or a ``best/`` half written: it takes effect once the files are complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python would raise ``KeyboardInterrupt`` for Ctrl-C."""

    signum = signal.SIGTERM


def signal_of(interrupt: BaseException) -> int:
    """The signal an interrupt came from: SIGTERM for :class:`Terminated` (and anything carrying its
    ``signum``), else SIGINT."""
    return int(getattr(interrupt, "signum", signal.SIGINT))


def stopped_by(signum: int) -> str:
    """How a message says what stopped the run (``interrupted`` for Ctrl-C)."""
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


def exit_status(signum: int) -> int:
    """The exit status of a command stopped by ``signum``: 128 + its number, as a shell reports it."""
    return 128 + int(signum)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (on the main thread; elsewhere nothing changes)."""
    if not _on_main_thread():
        yield
        return

    def terminate(_signum, _frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends, then take effect as they would have (on the main
    thread; elsewhere signals are not delivered to the block anyway)."""
    if not _on_main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {
        signum: signal.signal(signum, lambda number, _frame: caught.append(number)) for signum in held
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])
