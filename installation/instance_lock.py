"""One daemon per exhibit: a lock file in the exhibit's cache folder, held with ``flock`` while it runs.

Two daemons on the same exhibit would both drive the speakers, both render into the same cache and both
answer the same control panel port. The second one refuses to start with a sentence naming the lock file
and the first daemon's process id. ``flock`` locks die with their process, so a crash or a power cut
leaves no stale lock to clean up; the file itself stays (removing it could race a starting daemon).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_NAME = "daemon.lock"


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock."""


class InstanceLock:
    """``with InstanceLock(folder, what):`` holds ``folder/daemon.lock`` or raises :class:`AlreadyRunning`.

    Args:
        folder: where the lock file lives (the exhibit's cache folder; created if missing).
        what: what is being run, for the message (the exhibit file).
    """

    def __init__(self, folder: Path | str, what: str):
        self.path = Path(folder) / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; True when held, False when the folder is unusable (logged: the room still
        plays, unguarded). Raises :class:`AlreadyRunning` when another process holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            logger.warning(
                "cannot create the lock file %s (%s); not guarding against a second daemon", self.path, exc
            )
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another art2mus daemon (pid {holder}) is already running {self.what}: it holds {self.path}; "
                "stop it first (systemctl stop art2mus)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        if self._fd is None:  # not yet taken with acquire()
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
