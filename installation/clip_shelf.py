"""The decoded soundscapes a gallery holds in memory, within a budget.

A soundscape in the mix format is float32 at the mix rate: 14.6 MB for 40 s of stereo at 48 kHz. A
library that kept every artwork's clip decoded would hold about 1.5 GB at 100 artworks and 15 GB at
1,000, more than a Jetson's shared 8 GB. :class:`ClipShelf` is the library's artwork id -> clip mapping:
it keeps the clips most recently chosen up to ``budget_bytes`` and lets the others go; a clip let go
is made again when next chosen, by its *reload* (read from the soundscape cache, where a corrupt
entry is detected and rendered again, or from its audio file), so nothing is lost but the memory.

A clip that a voice of the mix still plays (``in_use``: the engine's sounding keys) and the most recently
used ``keep_recent`` clips are never let go, whatever the budget: the one sounding and those still fading
out stay the same objects, so going back to an artwork during a crossfade continues its voice (the
engine resumes a clip *object*), even after two quick changes inside one crossfade; and a clip a voice
holds would not free its memory anyway. A clip without a reload (no cache, or a rendering handed over in
memory) is never let go either.

A reload of the exhibit hands a new shelf the clips that are made the same way as before
(:meth:`ClipShelf.take`): a reload's ``recipe`` attribute, when it has one, names what it reads (the cache
entry or audio file, and the mix format), and an unchanged recipe is the same audio. Before the new shelf
reads what changed, the old one lets go of every clip it will not hand over (:meth:`ClipShelf.let_go`), so
a reload holds about one collection's audio, not two (50 clips of 3 min: 3.5 GB more at the peak).

Thread-safe: the director (vision thread), the control panel and reloads share one shelf; a reload
runs under the shelf's lock (a 40 s clip from the cache: about 0.1 s of CPU).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: the clips most recently used that are never let go: the one sounding and the one fading out (also
#: when the engine's last published status does not show them yet)
KEEP_RECENT = 2

Reload = Callable[[], Any]


@dataclass
class _Entry:
    clip: Any  # AudioClip, or None while let go
    reload: Reload | None
    duration_s: float
    nbytes: int


class ClipShelf(MutableMapping[str, Any]):
    """Artwork id -> :class:`~art2mus.installation.audio.clip.AudioClip`, holding at most
    ``budget_bytes`` of decoded audio (None: every clip; see the module docstring).

    ``shelf[what]`` makes a clip that was let go again (its reload's exceptions pass through, and the
    entry stays, to be tried again at the next choice); :meth:`duration_s` and ``in`` never decode.
    """

    def __init__(
        self,
        clips: dict[str, Any] | None = None,
        *,
        budget_bytes: int | None = None,
        keep_recent: int = KEEP_RECENT,
        in_use: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0 or None, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self.keep_recent = int(keep_recent)
        #: the keys of the clips the mix plays now (never let go); None: only ``keep_recent`` protects
        self.in_use = in_use
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()  # least recent first
        self._lock = threading.RLock()
        #: clips made again after being let go, and clips let go, since the start
        self.reloads = 0
        self.released = 0
        for what, clip in (clips or {}).items():
            self.put(what, clip)

    # ------------------------------------------------------------------ writing
    def put(self, what: str, clip: Any, reload: Reload | None = None) -> None:
        """Hold ``clip`` as ``what``'s, the most recently used; ``reload()`` makes the same audio again
        once the clip has been let go (None: never let it go)."""
        with self._lock:
            self._entries.pop(what, None)
            self._entries[what] = _Entry(clip, reload, *_size(clip))
            self._release_beyond_budget()

    def put_unread(self, what: str, duration_s: float, nbytes: int, reload: Reload) -> None:
        """Know ``what``'s clip without holding it: ``reload()`` makes it when it is first chosen
        (``duration_s`` and ``nbytes`` stand for it until then)."""
        with self._lock:
            self._entries.pop(what, None)
            self._entries[what] = _Entry(None, reload, float(duration_s), int(nbytes))

    def fits(self, nbytes: int) -> bool:
        """Whether a clip of ``nbytes`` more would stay within the budget (always, without one)."""
        with self._lock:
            return self.budget_bytes is None or self.held_bytes() + nbytes <= self.budget_bytes

    def __setitem__(self, what: str, clip: Any) -> None:
        self.put(what, clip)

    def __delitem__(self, what: str) -> None:
        with self._lock:
            del self._entries[what]

    def reload_of(self, what: str) -> Reload | None:
        """How ``what``'s clip is made again (None: it is never let go)."""
        with self._lock:
            return self._entries[what].reload

    def recipe_of(self, what: str) -> Hashable | None:
        """What ``what``'s clip is made from: its reload's ``recipe`` (None: unknown, or no such clip)."""
        with self._lock:
            entry = self._entries.get(what)
            return getattr(entry.reload, "recipe", None) if entry is not None else None

    def take(self, what: str, other: ClipShelf, reload: Reload | None) -> None:
        """Hold ``other``'s clip of ``what`` as it is there (decoded or not, no reading), made again from
        now on by ``reload``: a reload's unchanged soundscape. KeyError when ``other`` has none."""
        with other._lock:
            entry = other._entries[what]
            clip, duration_s, nbytes = entry.clip, entry.duration_s, entry.nbytes
        with self._lock:
            self._entries.pop(what, None)
            self._entries[what] = _Entry(clip, reload, duration_s, nbytes)
            self._release_beyond_budget()

    def let_go(self, keep: Iterable[str] = ()) -> int:
        """Let go of every clip but those in ``keep``, those the mix plays and the ``keep_recent`` used
        last (and those without a reload), whatever the budget: a reload frees what it will not take
        over before it reads the new soundscapes. Returns the bytes let go."""
        with self._lock:
            protected = set(keep) | self._protected()
            freed = 0
            for what, entry in self._entries.items():
                if entry.clip is None or entry.reload is None or what in protected:
                    continue
                entry.clip = None
                freed += entry.nbytes
                self.released += 1
            return freed

    # ------------------------------------------------------------------ reading
    def __getitem__(self, what: str) -> Any:
        with self._lock:
            entry = self._entries[what]
            self._entries.move_to_end(what)
            if entry.clip is None:
                assert entry.reload is not None
                entry.clip = entry.reload()
                entry.duration_s, entry.nbytes = _size(entry.clip)
                self.reloads += 1
                logger.info("soundscape %s read again (%.1f MB)", what, entry.nbytes / 1e6)
                self._release_beyond_budget()
            return entry.clip

    def __contains__(self, what: object) -> bool:
        with self._lock:
            return what in self._entries

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def duration_s(self, what: str) -> float:
        """``what``'s length in seconds, without reading it again."""
        with self._lock:
            return self._entries[what].duration_s

    def is_held(self, what: str) -> bool:
        """Whether ``what``'s clip is decoded now (False: it is made again when chosen)."""
        with self._lock:
            return self._entries[what].clip is not None

    def held_bytes(self) -> int:
        """Bytes of decoded audio held now."""
        with self._lock:
            return sum(e.nbytes for e in self._entries.values() if e.clip is not None)

    def stats(self) -> dict[str, Any]:
        """For status pages: clips, those held decoded, their MB, the budget, reloads and releases."""
        with self._lock:
            held = [e for e in self._entries.values() if e.clip is not None]
            return {
                "clips": len(self._entries),
                "held": len(held),
                "held_mb": round(sum(e.nbytes for e in held) / 1e6, 1),
                "budget_mb": None if self.budget_bytes is None else round(self.budget_bytes / 1e6, 1),
                "reloads": self.reloads,
                "released": self.released,
            }

    # ------------------------------------------------------------------ the budget
    def _release_beyond_budget(self) -> None:
        if self.budget_bytes is None:
            return
        held = sum(e.nbytes for e in self._entries.values() if e.clip is not None)
        if held <= self.budget_bytes:
            return
        names = list(self._entries)
        protected = self._protected()
        for what in names:  # least recently used first
            if held <= self.budget_bytes:
                break
            entry = self._entries[what]
            if entry.clip is None or entry.reload is None or what in protected:
                continue
            entry.clip = None
            held -= entry.nbytes
            self.released += 1
            logger.debug("soundscape %s let go (%.1f MB); read again when chosen", what, entry.nbytes / 1e6)

    def _protected(self) -> set[str]:
        """The clips never let go: the ``keep_recent`` most recently used of those held (an entry not read
        yet was never used) and those the mix plays."""
        held_names = [what for what, entry in self._entries.items() if entry.clip is not None]
        protected = set(held_names[-self.keep_recent :]) if self.keep_recent > 0 else set()
        if self.in_use is not None:
            protected.update(self.in_use())
        return protected


def _size(clip: Any) -> tuple[float, int]:
    """A clip's seconds and bytes of samples (0 for what is not an AudioClip: tests' stand-ins)."""
    nbytes = getattr(clip, "nbytes", None)  # an AudioClip's, decoded or not (a StreamedClip's is not yet)
    if nbytes is None:
        nbytes = getattr(getattr(clip, "samples", None), "nbytes", 0)
    return float(getattr(clip, "duration_s", 0.0)), int(nbytes)


def as_shelf(clips: Any) -> ClipShelf:
    """``clips`` as a :class:`ClipShelf` (a plain dict becomes one that keeps every clip)."""
    return clips if isinstance(clips, ClipShelf) else ClipShelf(dict(clips))
