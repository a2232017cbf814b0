"""The director: which soundscape should sound now.

:class:`Director` turns vision decisions, the control panel's overrides and the opening hours into
engine commands: the chosen artwork's soundscape, or the idle ambience once no artwork has been chosen
for ``idle.after_seconds``, or silence outside opening hours. It starts on the idle ambience, so a
gallery switched on during opening hours is never silent. It only decides; where a soundscape comes
from is :mod:`art2mus.installation.soundscapes`' business, and what runs when is the gallery's.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from art2mus.installation.audio.clip import AudioClip
from art2mus.installation.audio.engine import AudioEngine
from art2mus.installation.soundscapes import IDLE_KEY, SoundscapeLibrary
from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision
from art2mus.installation.vision.unseen import UNSEEN_PREFIX

logger = logging.getLogger(__name__)

#: a soundscape whose clip could not be read again is not tried again for this long (seconds)
UNREADABLE_RETRY_S = 60.0

#: what a director event names when the room falls silent outside opening hours
CLOSED_KEY = "silence"

#: seconds after an artwork's soundscape stopped during which going back to it is a return, which the
#: camera must confirm for a whole crossfade (a visitor hesitating between two artworks, not walking on)
RETURN_WINDOW_S = 30.0


class NoSoundscapeError(KeyError):
    """A known artwork that has no soundscape to play (it was left out: its audio cannot be read, its
    rendering failed), as against an id no artwork has (a plain :class:`KeyError`)."""

    def __init__(self, what: str, reason: str):
        super().__init__(what)
        self.what = what
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.what} has no soundscape: {self.reason}"


@dataclass(frozen=True)
class DirectorEvent:
    """One thing the director told the engine: at time ``t`` (seconds), play ``what`` (an artwork id or
    ``idle``; ``silence`` outside opening hours), because of ``reason``: ``start``, ``camera`` (an artwork
    was chosen), ``idle`` (none for ``idle.after_seconds``), ``manual`` (the control panel), ``open`` or
    ``closed`` (opening hours)."""

    t: float
    what: str
    reason: str = "camera"

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 2), "play": self.what, "reason": self.reason}


def _same_audio(a: AudioClip, b: AudioClip) -> bool:
    """The same soundscape, give or take the cache's 24-bit rounding (about 1e-7).

    Asked at a reload's swap, on the main loop: comparing two 40 s stereo clips whole took 70 ms there, twice
    for a reload that changed only recognition (the clip kept is the same object), and a new rendering of
    the same length differs in its first second already."""
    if a is b:
        return True
    if a.samples.shape != b.samples.shape or a.loop != b.loop:
        return False
    head = slice(0, 48_000)  # a second at the usual mix rate
    return bool(
        np.allclose(a.samples[head], b.samples[head], rtol=0.0, atol=1e-5)
        and np.allclose(a.samples, b.samples, rtol=0.0, atol=1e-5)
    )


def _renamed(what: str, old: SoundscapeLibrary, library: SoundscapeLibrary) -> str | None:
    """The id under which ``library`` (a reload's) holds ``old``'s soundscape of ``what``, an artwork whose
    id is gone: the one new id made the same way (the same cache entry or audio file, see
    :func:`~art2mus.installation.soundscapes.clip_recipe`; without one, the same audio held in memory).
    None when no new id, or more than one, is."""
    if what not in old.clips:
        return None
    new = [n for n in library.clips if n not in old.clips and not n.startswith(UNSEEN_PREFIX)]
    recipe = old.clips.recipe_of(what)
    if recipe is not None:
        same = [n for n in new if library.clips.recipe_of(n) == recipe]
    else:
        clip = old.clips[what]
        same = [n for n in new if library.clips.is_held(n) and _same_audio(clip, library.clips[n])]
    return same[0] if len(same) == 1 else None


def _carry(what: str, old: SoundscapeLibrary, library: SoundscapeLibrary) -> None:
    """Take ``old``'s soundscape of the unseen artwork ``what`` into ``library`` as it is (its clip, gain,
    maker, and the generator-process job whose rendering will replace its bridge)."""
    library.clips.take(what, old.clips, old.clips.reload_of(what))
    library.gains_db[what] = old.gains_db.get(what, 0.0)
    if what in old.made_by:
        library.made_by[what] = old.made_by[what]
    if what in old.pending:
        library.pending[what] = old.pending[what]
    if what in old.from_cache:
        library.from_cache.add(what)


class Director:
    """Turns vision decisions into engine commands: the chosen artwork, else the idle ambience.

    Args:
        engine: the audio engine to command.
        library: what can be played.
        idle_after_s: seconds without a chosen artwork before the idle ambience takes over.
        on_event: called with every :class:`DirectorEvent` (for the CLI's output and the control panel).
    """

    def __init__(
        self,
        engine: AudioEngine,
        library: SoundscapeLibrary,
        *,
        idle_after_s: float,
        on_event: Callable[[DirectorEvent], None] | None = None,
    ):
        self.engine = engine
        self.library = library
        self.idle_after_s = float(idle_after_s)
        self.on_event = on_event
        self.playing: str | None = None
        #: the latest events (bounded: a daemon runs for months)
        self.events: collections.deque[DirectorEvent] = collections.deque(maxlen=500)
        self._artwork_last_seen: float | None = None
        #: when what plays began to play (the crossfade to it is under way for the crossfade's length)
        self._playing_since: float | None = None
        #: artwork id -> when its soundscape last stopped playing (a switch back to it is a return)
        self._left_at: dict[str, float] = {}
        #: the artwork the camera chose that does not play yet, and since when it has been chosen
        self._candidate: tuple[str, float] | None = None
        self._override: str | None = None
        self._closed = False
        #: the opening hours' ramp (seconds; None: none told yet, the crossfade's length)
        self._ramp_s: float | None = None
        #: when opening hours last began (what plays fades in over the ramp from then)
        self._opened_at: float | None = None
        #: artwork id -> when its clip last failed to be read again (tried again after UNREADABLE_RETRY_S)
        self._unreadable: dict[str, float] = {}
        # the main loop (update) and the control panel's threads (override) both decide
        self._lock = threading.Lock()

    @property
    def override(self) -> str | None:
        """What the control panel has fixed (an artwork id or ``idle``), or None while following the camera."""
        return self._override

    @property
    def closed(self) -> bool:
        """Outside opening hours: silent, and the camera is not followed."""
        return self._closed

    def start(self, now: float, *, open_: bool = True) -> None:
        """Begin on the idle ambience (a gallery switched on during opening hours is not silent), or
        silent when it starts outside them."""
        self.engine.set_idle(self.library.idle, self.library.idle_gain_db)
        with self._lock:
            if open_:
                self._play(IDLE_KEY, now, "start")
            else:
                self._closed = True
                self._record(DirectorEvent(now, CLOSED_KEY, "closed"))

    def set_open(self, open_: bool, now: float, ramp_s: float) -> None:
        """Opening hours begin (the idle ambience, or what the control panel fixed while closed, fades in
        over ``ramp_s`` seconds) or end (everything fades out over ``ramp_s`` seconds, and the control
        panel's choice ends with the day: a choice left on at closing played all night, and the next
        morning follows the camera from the idle ambience, as a gallery switched on does)."""
        with self._lock:
            if open_ == (not self._closed):
                return
            self._closed = not open_
            self._ramp_s = float(ramp_s)
            self._candidate = None
            if open_:
                self._artwork_last_seen = now
                self._opened_at = now
                self._play(self._override or IDLE_KEY, now, "open", fade_s=ramp_s)
                return
            if self._override is not None:
                logger.info("closing: the control panel's choice (%s) ends with the day", self._override)
                self._override = None
            self._fade_out(now, ramp_s)

    def set_override(self, what: str | None, now: float) -> None:
        """Play ``what`` (an artwork id or ``idle``) whatever the camera sees, until called with None, which
        goes back to following the camera (the idle wait starts again from ``now``).

        Raises:
            NoSoundscapeError: ``what`` is an artwork left out of the library (``library.problems``).
            KeyError: ``what`` is neither ``idle`` nor an artwork of the library.
        """
        if what is not None and what != IDLE_KEY and what not in self.library.clips:
            reason = self.library.problems.get(what)
            if reason is not None:
                raise NoSoundscapeError(what, reason)
            raise KeyError(what)
        with self._lock:
            self._override = what
            if what is None:
                self._artwork_last_seen = now
                logger.info("following the camera again")
                if self._closed and self.playing is not None:  # a test outside opening hours has ended
                    self._fade_out(now, self._ramp_s)
            elif self.playing != what:
                self._play(what, now, "manual")

    def update(self, decision: VisionDecision, now: float) -> None:
        """Follow one vision decision made at time ``now`` (seconds)."""
        with self._lock:
            if self._override is not None or self._closed:
                return
            artwork = decision.artwork_id if decision.kind == ARTWORK else None
            if artwork is not None and artwork in self.library.clips:
                self._artwork_last_seen = now
                if self.playing == artwork:
                    self._candidate = None
                    return
                if self._candidate is None or self._candidate[0] != artwork:
                    self._candidate = (artwork, now)
                chosen_since = self._candidate[1]
                if now - chosen_since >= self._confirm_s(artwork, chosen_since):
                    self._play(artwork, now, "camera")
                return
            self._candidate = None
            if self.playing not in (IDLE_KEY, None):
                last = self._artwork_last_seen if self._artwork_last_seen is not None else now
                if now - last >= self.idle_after_s:
                    self._play(IDLE_KEY, now, "idle")

    def replace_library(self, library: SoundscapeLibrary, idle_after_s: float, now: float) -> None:
        """A reloaded exhibit's soundscapes: what sounds goes on if it is unchanged (renamed too: its
        artwork's new id plays the same clip on), crossfades to its new rendering if it changed, and gives
        way to the idle ambience if its artwork is gone. An unseen artwork's soundscape is not the
        exhibit's: the one that sounds (or that the panel fixed) is carried into ``library``."""
        with self._lock:
            old = self.library
            self.idle_after_s = float(idle_after_s)
            for what in {self.playing, self._override} - {None, IDLE_KEY}:
                if what.startswith(UNSEEN_PREFIX) and what in old.clips and what not in library.clips:
                    _carry(what, old, library)  # it went to idle, and came back from 0 if still in view
            was = self.playing
            playing = was
            if was not in (None, IDLE_KEY) and was not in library.clips:
                playing = _renamed(was, old, library) or was  # it went to idle with a 4 dB dip, 3 voices
            # what sounds is heard as before (same audio, same gain): a reload that changed nothing for
            # it is no change of what plays, and the panel's "Recent changes" listed one at every Reload
            unchanged = False
            if playing not in (None, IDLE_KEY) and playing in library.clips and was in old.clips:
                # the same cache entry or audio file is the same audio: no sample compared (a renamed
                # artwork's 45 s clip compared whole took the loop 200 ms at the swap), nothing read again
                recipe = old.clips.recipe_of(was)
                same = recipe is not None and recipe == library.clips.recipe_of(playing)
                if same or _same_audio(old.clips[was], library.clips[playing]):
                    # keep its voice (no crossfade to itself), and how the new library reads it again
                    library.clips.put(playing, old.clips[was], library.clips.reload_of(playing))
                    unchanged = old.gains_db.get(was, 0.0) == library.gains_db.get(playing, 0.0)
            if old.idle is not None and library.idle is not None and _same_audio(old.idle, library.idle):
                library.idle = old.idle
                unchanged = unchanged or (playing == IDLE_KEY and old.idle_gain_db == library.idle_gain_db)
            self.library = library
            self.engine.set_idle(library.idle, library.idle_gain_db)
            self._follow_override(old, library, was, playing, now)
            if playing != was:
                logger.info("reload: %s is now called %s; its soundscape plays on", was, playing)
                self.playing = playing
            if unchanged:
                if playing != was:  # the same voice, under its new name
                    self._record(DirectorEvent(now, playing, "reload"))
            elif playing == IDLE_KEY or (playing is not None and playing not in library.clips):
                self._play(IDLE_KEY, now, "reload")
            elif playing is not None:
                self._play(playing, now, "reload")

    def _follow_override(
        self,
        old: SoundscapeLibrary,
        library: SoundscapeLibrary,
        was: str | None,
        playing: str | None,
        now: float,
    ) -> None:
        """The control panel's choice after a reload: it follows its artwork renamed (``was`` -> ``playing``
        when it is what sounds); it ends, said in the log, when its artwork is gone (it was dropped
        silently, and the room went to idle)."""
        override = self._override
        if override in (None, IDLE_KEY) or override in library.clips:
            return
        renamed = playing if override == was and playing != was else _renamed(override, old, library)
        if renamed is not None:
            logger.info("reload: the control panel's choice follows %s, now called %s", override, renamed)
            self._override = renamed
            return
        logger.warning(
            "reload: the control panel's choice (%s) ends: the exhibit no longer has an artwork of that id "
            "(a rename is followed only when its soundscape is unchanged: a new photo or soundscape setting "
            "makes it another artwork); following the camera again",
            override,
        )
        self._override = None
        self._artwork_last_seen = now

    def generation_failed(self, what: str) -> None:
        """The live rendering of ``what`` failed: its bridge stays, and the nightly retry may try again."""
        with self._lock:
            self.library.pending.pop(what, None)

    def replace_clip(
        self, what: str, clip: AudioClip, made_by: str, reload: Callable[[], AudioClip] | None = None
    ) -> None:
        """A better rendering of ``what`` (an artwork id or ``idle``) has arrived: use it from now on, and if
        it is sounding, crossfade to it (same soundscape, new rendering). ``reload`` reads it again once
        the library has let it go (None: it is held)."""
        with self._lock:
            library = self.library
            library.made_by[what] = made_by
            library.pending.pop(what, None)
            if what == IDLE_KEY:
                library.idle = clip
                self.engine.set_idle(clip, library.idle_gain_db)
                if self.playing == IDLE_KEY:
                    self.engine.play_idle()
            else:
                library.clips.put(what, clip, reload)
                if self.playing == what:
                    self.engine.play(clip, gain_db=library.gains_db.get(what, 0.0))
        logger.info("%s: the %s rendering replaces its bridge", what, made_by)

    def _confirm_s(self, artwork: str, chosen_since: float) -> float:
        """How long the camera must go on choosing ``artwork`` (seconds) before it replaces the artwork
        that plays: at once, unless it was chosen while the crossfade to what plays was still under way,
        or it is a return to an artwork heard within ``RETURN_WINDOW_S``; those wait a whole crossfade.
        A visitor flickering between two artworks (one chosen every 1-3 s) swung the room back and
        forth 20 times in 58 s; one walking on to the next artwork is followed as soon as it is chosen."""
        if self.playing in (None, IDLE_KEY):
            return 0.0  # a visitor arriving: the ambience gives way at once
        in_crossfade = (
            self._playing_since is not None and chosen_since - self._playing_since < self._crossfade_s()
        )
        left_at = self._left_at.get(artwork)
        returning = left_at is not None and chosen_since - left_at < RETURN_WINDOW_S
        return self._crossfade_s() if in_crossfade or returning else 0.0

    def _crossfade_s(self) -> float:
        return float(self.engine.crossfade_seconds)

    def _fade_out(self, now: float, seconds: float | None) -> None:
        """Silence outside opening hours, faded over ``seconds`` (None: the crossfade's length)."""
        self.engine.fade_to_silence(seconds)
        if self.playing not in (None, IDLE_KEY):
            self._left_at[self.playing] = now
        self.playing = None
        self._record(DirectorEvent(now, CLOSED_KEY, "closed"))

    def _opening_fade_left(self, now: float) -> float | None:
        """Seconds left of the fade in at opening when more than a crossfade is (None: none under way).
        What is chosen meanwhile fades in over what is left of it: the camera's artwork, chosen 10 ms
        after opening (the camera saw it while closed), came in over 4 s at the old volume (-200 to
        -31 dBFS in 4 s) instead of from silence over ``schedule.ramp_seconds``."""
        if self._opened_at is None or self._ramp_s is None or self._closed:
            return None
        left = self._ramp_s - (now - self._opened_at)
        return left if left > self._crossfade_s() else None

    def _play(self, what: str, now: float, reason: str, *, fade_s: float | None = None) -> None:
        """Play ``what`` (an artwork id or ``idle``), crossfading over ``fade_s`` seconds (None: the
        engine's crossfade, or what is left of the fade in at opening; the opening hours' ramp at
        opening)."""
        if fade_s is None:
            fade_s = self._opening_fade_left(now)
        fade = {} if fade_s is None else {"crossfade_s": fade_s}
        if what == IDLE_KEY:
            self.engine.play_idle(**fade)
        else:
            failed_at = self._unreadable.get(what)
            if failed_at is not None and now - failed_at < UNREADABLE_RETRY_S:
                return
            try:
                clip = self.library.clips[what]  # read again here when the library had let it go
            except Exception:  # noqa: BLE001 - e.g. its audio file deleted: what sounds goes on
                self._unreadable[what] = now
                logger.exception(
                    "%s cannot be read again; what sounds now plays on (next try in %g s)",
                    what,
                    UNREADABLE_RETRY_S,
                )
                return
            self._unreadable.pop(what, None)
            self.engine.play(clip, gain_db=self.library.gains_db.get(what, 0.0), **fade)
        if self.playing not in (None, IDLE_KEY, what):
            self._left_at[self.playing] = now
        if self.playing != what:
            self._playing_since = now
        self.playing = what
        self._candidate = None
        self._record(DirectorEvent(now, what, reason))

    def _record(self, event: DirectorEvent) -> None:
        self.events.append(event)
        logger.info("now playing: %s (%s, at %.2f s)", event.what, event.reason, event.t)
        if self.on_event is not None:
            self.on_event(event)
