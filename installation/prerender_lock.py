"""One ``art2mus prerender`` per soundscape cache: ``CACHE/prerender.lock``, held with ``flock`` while it runs.

Two prerenders of one exhibit both rendered every soundscape (each saw the cache without the other's
entries): on a GPU with the real model, hours of work done twice. The second now refuses before any work,
naming the first one's process id and exhibit (the file holds ``PID\\nEXHIBIT\\n``), with Ray as without.
The mechanism is the daemon's (:mod:`art2mus.installation.instance_lock`), on a file of its own: a
prerender beside a running daemon is allowed, it fills the cache the daemon reads. A ``flock`` dies with
its process, so a crash leaves no stale lock; the file stays (removing it could race a starting run).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "prerender.lock"


class CacheInUse(RuntimeError):
    """Another prerender holds the cache folder's lock; the message names it."""


class PrerenderLock:
    """``with PrerenderLock(cache_dir, exhibit):`` holds ``cache_dir/prerender.lock`` for the block.

    Raises :class:`CacheInUse` when another process holds it, ``OSError`` when the folder cannot be made or
    the file not written (a full disk), the lock then released.

    Args:
        cache_dir: the exhibit's soundscape cache folder (created if missing).
        exhibit: the exhibit file being rendered, kept in the lock file for another run's message.
    """

    def __init__(self, cache_dir: Path | str, exhibit: str):
        self.path = Path(cache_dir) / LOCK_NAME
        self.exhibit = " ".join(exhibit.splitlines())
        self._file = None

    def __enter__(self) -> PrerenderLock:
        if self._file is None:  # not yet taken with acquire()
            self.acquire()
        return self

    def acquire(self) -> None:
        """Take the lock (see the class)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        held = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.seek(0)
            holder = held.read(4096).splitlines()
            held.close()
            raise CacheInUse(self._refusal(holder)) from None
        try:  # unbuffered: a line the disk refuses is not left in a buffer that close() would write again
            os.ftruncate(held.fileno(), 0)
            os.pwrite(held.fileno(), f"{os.getpid()}\n{self.exhibit}\n".encode(), 0)
        except OSError:  # a full cache disk: nothing rendered could be stored either, so no prerender
            held.close()
            raise
        self._file = held

    def _refusal(self, holder: list[str]) -> str:
        pid = holder[0].strip() if holder and holder[0].strip() else "unknown"
        theirs = f" of {holder[1].strip()}" if len(holder) > 1 and holder[1].strip() else ""
        return (
            f"another prerender{theirs} (pid {pid}) is rendering into {self.path.parent}: it holds {self.path}; "
            "wait for it to finish (what it renders is then skipped here) or stop it first"
        )

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None
