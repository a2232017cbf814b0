"""``CACHE/in-use/<pid>.json``: the cache keys a running daemon's library plays, so that ``art2mus cache
prune`` never removes them.

``prune`` reads the exhibit file on disk, and a curator may change it without reloading: amber-fields' seed
changed from 11 to 12, ``prune --unused-days 0`` removed the 8.0 MB rendering the daemon played from memory,
and its next start rendered it again (minutes with the model). So the daemon records its library's keys
(artworks, idle ambience, bridges, unseen artworks) as its start begins (before it renders anything) and
after each reload it applies, and removes the record when it stops. ``<pid>.lock`` is locked (``flock``) for as long as the daemon runs:
a record whose process is gone, or whose lock is free (the pid now another program's, after a kill -9), is
ignored.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: the folder of the records, inside the cache folder
IN_USE_FOLDER = "in-use"
#: a record larger than this is not read (1,000 artworks with their bridges: about 200 kB)
MAX_RECORD_BYTES = 16 * 1024 * 1024


class CacheInUse:
    """The record of this process in ``directory/in-use``: :meth:`hold` it as the start begins,
    :meth:`update` it after a reload is applied, :meth:`release` it when the room stops.

    Args:
        cache: the soundscape cache (a :class:`~art2mus.installation.cache.SoundscapeCache`).
    """

    def __init__(self, cache: Any):
        self.cache = cache
        self.folder = Path(cache.directory) / IN_USE_FOLDER
        self.pid = os.getpid()
        self.record = self.folder / f"{self.pid}.json"
        self._lock_file: Any = None
        self._pending: Any = None
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()

    @classmethod
    def hold(cls, cache: Any, exhibit: Any, *, quiet: bool = False) -> CacheInUse | None:
        """The record of ``exhibit``'s keys in ``cache``'s folder, locked and written now; None without a
        cache, or when it cannot be written (logged: ``cache prune`` may then remove what this room plays;
        ``quiet``: a debug line only, for an early try that is made again, e.g. before a damaged unseen
        store has been moved aside by the start)."""
        if cache is None:
            return None
        in_use = cls(cache)
        try:
            in_use.folder.mkdir(parents=True, exist_ok=True)
            in_use._lock_file = open(in_use.folder / f"{in_use.pid}.lock", "a")  # noqa: SIM115 - held while running
            fcntl.flock(in_use._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            in_use._forget_the_dead()
            in_use.write(exhibit)
        except (OSError, ValueError) as exc:
            (logger.debug if quiet else logger.warning)(
                "cache %s: cannot record what this room plays (%s): `cache prune` may remove it",
                cache.directory,
                exc,
            )
            in_use.release()
            return None
        return in_use

    def _forget_the_dead(self) -> None:
        """Remove the records (and locks) of daemons that are gone: a kill -9 or a power cut leaves its
        record, ignored by ``prune`` but kept in the folder for ever. A record is written only once its
        lock is held, so a daemon starting beside this one is never taken for gone."""
        for record in self.folder.glob("*.json"):
            if (
                not record.stem.isdigit()
                or int(record.stem) == self.pid
                or _running(self.folder, int(record.stem))
            ):
                continue
            for path in (record, self.folder / f"{record.stem}.lock"):
                try:
                    path.unlink(missing_ok=True)
                except OSError:  # another user's: left
                    pass
            logger.debug("removed %s: its daemon is gone", record)

    def write(self, exhibit: Any) -> None:
        """Write the record of ``exhibit``'s keys (atomically: a reader finds the old one or the new one).

        Raises:
            OSError: it cannot be written.
            ValueError: the unseen artworks' store cannot be read.
        """
        from art2mus.installation.soundscapes import SoundscapeSource

        record = {
            "pid": self.pid,
            "exhibit": str(exhibit.source_file),
            "written": time.time(),
            "keys": SoundscapeSource(exhibit).keys_in_use({key for key, _, _ in self.cache.entries()}),
        }
        temporary = self.record.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.record)

    def update(self, exhibit: Any) -> None:
        """Write the record of ``exhibit`` (a reload applied) on a thread of its own: computing the keys
        digests the photos of new artworks, and the room's loop must not wait for that. Two quick updates
        leave the second's record."""
        with self._pending_lock:
            self._pending = exhibit
        threading.Thread(target=self._write_pending, name="cache-in-use", daemon=True).start()

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._pending_lock:
                exhibit, self._pending = self._pending, None
            if exhibit is None or self._lock_file is None:
                return
            try:
                self.write(exhibit)
            except (OSError, ValueError):
                logger.warning("cannot record what this room plays after the reload", exc_info=True)

    def release(self) -> None:
        """Remove the record and its lock (the room has stopped)."""
        with self._write_lock:
            self.record.unlink(missing_ok=True)
            if self._lock_file is not None:
                (self.folder / f"{self.pid}.lock").unlink(missing_ok=True)
                self._lock_file.close()
                self._lock_file = None


def _running(folder: Path, pid: int) -> bool:
    """Whether process ``pid`` runs and holds its record's lock."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: its lock says whether it is the room
        pass
    try:
        with open(folder / f"{pid}.lock", "rb") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def held_keys(directory: Path) -> dict[str, list[str]]:
    """Key -> what of a running daemon plays it (``amber-fields (running daemon, pid 812)``), over the
    records in ``directory/in-use`` whose daemon runs.

    Raises:
        ValueError: a running daemon's record cannot be read (then what it plays is unknown).
    """
    folder = Path(directory) / IN_USE_FOLDER
    held: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if not path.stem.isdigit() or not _running(folder, int(path.stem)):
            continue
        try:
            if path.stat().st_size > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES} bytes")
            keys = json.loads(path.read_text())["keys"]
            entries = [(str(key), [str(what) for what in whats]) for key, whats in keys.items()]
        except FileNotFoundError:  # it stopped meanwhile
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"the record of the running daemon (pid {path.stem}) {path} cannot be read: {exc}"
            ) from exc
        for key, whats in entries:
            held.setdefault(key, []).extend(f"{what} (running daemon, pid {path.stem})" for what in whats)
    return held
