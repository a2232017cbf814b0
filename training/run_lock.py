"""One training run per output folder: ``OUT/.lock``, held with ``flock`` for as long as the run lasts.

Two ``art2mus train`` runs into one ``--out`` both went on: their epochs interleaved in ``history.jsonl``,
each replaced the other's ``checkpoint.pt`` and ``last/``, and ``best/`` held whichever wrote last, not
the best. The second now refuses before any work, naming the first one's process id (and its machine,
when the folder is shared). A ``flock`` dies with its process, so a crash or a power cut leaves nothing
to clean up; the file stays (removing it could race a starting run).

The daemon's :mod:`art2mus.installation.instance_lock` is the same mechanism, not reused: it is the
installation's (training code does not import it), it names another file and another remedy, and it lets
the room play unguarded when its folder cannot hold a lock, where a training run must not write unguarded.

Under ``accelerate launch`` the processes of one run share OUT: only the main process takes the lock
(a second ``flock`` on the file from a process of the same run would refuse it); the caller tells the
others whether it was refused.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

LOCK_FILE = ".lock"


class RunFolderInUse(ValueError):
    """Another run holds the output folder's lock."""


class RunFolderLock:
    """``OUT/.lock`` held by this process: :meth:`acquire`, then :meth:`release` (or ``with``).

    Raises :class:`RunFolderInUse` naming the holder, or ``OSError`` when OUT cannot be created or locked.
    """

    def __init__(self, out: Path | str, what: str = "train"):
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").split()
            os.close(fd)
            raise RunFolderInUse(self._refusal(holder)) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # a full disk fails here, after the flock: the descriptor must not keep the folder locked
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _refusal(self, holder: list[str]) -> str:
        """The sentence for a lock held by the run whose lock file reads ``holder`` (pid, host)."""
        pid = holder[0] if holder else "unknown"
        host = holder[1] if len(holder) > 1 else ""
        on = f" on {host}" if host and host != socket.gethostname() else ""
        return (
            f"{self.out} is in use by another {self.what} (pid {pid}{on}, holding {self.path}); wait for it to "
            "finish or stop it, or give this run another --out"
        )

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunFolderLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
