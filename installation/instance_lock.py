"""One daemon per exhibit: a lock file in the exhibit's cache folder, held with ``flock`` while it runs.

Two daemons on the same exhibit would both drive the speakers, both render into the same cache and both
answer the same control panel port. The second one refuses to start with a sentence naming the lock file,
the first daemon's process id and the exhibit it runs (the file holds both and the panel's port:
``PID\nEXHIBIT\nPORT\n``; two exhibits can share a cache folder, and then the message names the other one;
``art2mus status`` finds a daemon started with ``--panel-port`` by the port). ``flock`` locks die with their process, so a crash or a power cut
leaves no stale lock to clean up; the file itself stays (removing it could race a starting daemon).
"""

from __future__ import annotations

import contextlib
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
        what: what is being run (the exhibit file), kept in the lock file for another daemon's message.
        port: the control panel's port (None: off, 0: any free one), kept for ``art2mus status``.
    """

    def __init__(self, folder: Path | str, what: str, port: int | None = None):
        self.path = Path(folder) / LOCK_NAME
        self.what = what
        self.port = port
        self._fd: int | None = None
        self._tried = False  # acquire() ran: a folder it found unusable is not tried (and logged) again

    def acquire(self) -> bool:
        """Take the lock; True when held (a full disk that takes no process id included: logged), False
        when the folder is unusable (logged: the room still plays, unguarded). Raises
        :class:`AlreadyRunning` when another process holds it."""
        self._tried = True
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
            held = os.pread(fd, 4096, 0).decode(errors="replace").splitlines()
            os.close(fd)
            raise AlreadyRunning(self._refusal(held)) from None
        except OSError as exc:  # a filesystem without flock (ENOLCK): as unusable as one without the file
            os.close(fd)
            logger.warning("cannot lock %s (%s); not guarding against a second daemon", self.path, exc)
            return False
        self._fd = fd
        self._write_holder(fd)
        return True

    def _write_holder(self, fd: int) -> None:
        """Write ``PID\nEXHIBIT\nPORT\n`` into the held lock file. The flock is the guard, the lines only
        name this daemon in another's refusal and its panel's port for ``art2mus status``: a full disk (the cache filled by renders, a small tmpfs) refused the
        start with a traceback, and under ``Restart=always`` a silent room restarting in a loop."""
        what = " ".join(self.what.splitlines())
        try:
            os.ftruncate(fd, 0)
            port = "" if self.port is None else f"{self.port}\n"  # no line for a panel that is off
            os.pwrite(fd, f"{os.getpid()}\n{what}\n{port}".encode(), 0)
        except OSError as exc:
            with contextlib.suppress(OSError):  # a part of the line would name a wrong pid
                os.ftruncate(fd, 0)
            reason = exc.strerror or str(exc)
            logger.warning(
                "cannot write this daemon's process id into %s (%s: %s); a second daemon is still refused, "
                "but its message cannot name this one",
                self.path,
                self.path.parent,
                reason[:1].lower() + reason[1:],
            )

    def _refusal(self, held: list[str]) -> str:
        """The sentence for a lock held by the daemon whose lock file reads ``held`` (its lines)."""
        pid = held[0].strip() if held and held[0].strip() else "unknown"
        theirs = held[1].strip() if len(held) > 1 else ""
        advice = "stop it first (systemctl stop art2mus)"
        if not theirs:  # a daemon from before the file named its exhibit, or one that is just writing it
            running = f"already running with the cache folder {self.path.parent}"
        elif theirs == self.what:
            running = f"already running {theirs}"
        else:  # two exhibits, one cache folder
            running = f"already running {theirs}, whose cache folder {self.path.parent} is also {self.what}'s"
            advice += " or give each exhibit its own cache.dir"
        return f"another art2mus daemon (pid {pid}) is {running}: it holds {self.path}; {advice}"

    def release(self) -> None:
        self._tried = False
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        if not self._tried:  # not yet taken (or found unusable) with acquire()
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(folder: Path | str) -> tuple[int, str, int | None] | None:
    """``(pid, exhibit, panel port)`` of the live process named in ``folder/daemon.lock`` (the port None
    when the file names none: off, or a daemon from before it was written); None when there is no such
    file or its process has ended. The file is only read: taking its flock to test it could make a
    daemon starting at that moment refuse to start."""
    try:
        held = (Path(folder) / LOCK_NAME).read_text(errors="replace").splitlines()
        pid = int(held[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # another user's process (the daemon's): alive
        pass
    try:  # a lock file left by a crash may name a pid since given to another program
        if b"art2mus" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except OSError:  # no /proc
        pass
    port = held[2].strip() if len(held) > 2 else ""
    return pid, held[1].strip() if len(held) > 1 else "", int(port) if port.isdigit() else None
