"""Who renders which soundscape now: a claim per cache entry, so processes sharing a cache share the work.

A daemon starting and ``art2mus prerender`` on the same cache both rendered every soundscape side by
side (101 of them, each process at about twice a solo run's time). Before rendering the entry ``KEY`` a
process now takes a claim on it: a ``flock`` on ``CACHE/claims/KEY.claim``. ``prerender`` tries without
waiting and, finding it held, renders the next soundscape and comes back to this one later, then reading
it from the cache once the claimant stored it (or rendering it when the claim was let go with no entry:
the claimant failed or died). The daemon's start waits for a held claim (it needs that soundscape before
it opens anyway) and reads the entry after.

A ``flock`` belongs to the open file, so a claim dies with its process (``kill -9`` included) and is
never stale. The file is removed when the claim is let go; a claimant checks after locking that the file
it holds is still the one at the path (another may have removed it meanwhile) and tries again if not.

Ray workers on one machine are processes like any other, so the same holds for them. Several machines
sharing the cache over NFS (v4, or v3 with the lock manager) lock across machines, since Linux maps
``flock`` to NFS byte-range locks; on a shared file system that keeps locks local to each machine (some
FUSE ones), claims only hold within a machine, and two machines may render the same soundscape: the
work is done twice, the entry is still whole (each is written atomically, with the same bytes).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: the folder of claim files, inside the cache folder
CLAIMS_DIR = "claims"


class RenderClaim:
    """A held claim on one cache entry; :meth:`release` (or the ``with`` block's end) lets it go."""

    def __init__(self, path: Path | None, fd: int | None):
        self.path = path
        self._fd = fd

    def release(self) -> None:
        """Let the claim go (the file is removed first, while still held: no one else can hold it then)."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
        self.path = self._fd = None

    def __enter__(self) -> RenderClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RenderClaims:
    """The claims of the cache folder ``cache_dir`` (see the module docstring)."""

    def __init__(self, cache_dir: Path | str):
        self.directory = Path(cache_dir) / CLAIMS_DIR

    def claim(self, key: str, *, wait: bool = False) -> RenderClaim | None:
        """Claim the entry ``key``: the claim, or None when another process holds it (``wait=False``). With
        ``wait`` it blocks until the other lets go (a signal still interrupts it). A folder where no claim
        file can be made (a read-only or full cache disk) gives a claim that holds nothing: that process
        then renders as before, and what it renders cannot be stored by anyone there either."""
        path = self.directory / f"{key}.claim"
        while True:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                logger.debug("cannot claim %s (%s): rendering without a claim", key, exc)
                return RenderClaim(None, None)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            try:  # the claimant before may have removed the file while this one waited: lock the new one
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return RenderClaim(path, fd)
            os.close(fd)
