"""Debounce: turn per-frame recognitions into a stable "artwork X is in front of the camera".

An artwork is *chosen* after it has been seen (score >= ``accept_score``) for ``dwell_s`` seconds with
no gap longer than ``max_gap_s``; it is *kept* while it is seen at the lower ``keep_score``
(hysteresis) and *dropped* only after it has been missed for ``hold_s`` seconds. Another artwork takes
over once it has dwelt for ``dwell_s`` and the chosen one has not been seen for half a dwell, so two
artworks flickering in one view do not swap back and forth. A single stray frame never starts or ends
anything: a new artwork needs ``min_hits`` accepted frames, and one missing frame is just a gap. A chosen
artwork the caller reports hidden (:meth:`ArtworkDebouncer.hidden`: visitors standing before it) is not
dropped while it stays hidden, for at most ``max_hidden_s`` after it was last seen.

Time comes from the caller (frame timestamps, in seconds), never from the wall clock, so a video can be
processed faster than real time with the same decisions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from art2mus.installation.config.vision import PresenceConfig, RecognitionConfig

logger = logging.getLogger(__name__)

# the defaults are the exhibit's: one default per setting, in the config models
_PRESENCE, _RECOGNITION = PresenceConfig(), RecognitionConfig()


@dataclass
class _Streak:
    start: float
    last: float
    hits: int
    score: float


class ArtworkDebouncer:
    """Hysteresis and dwell/hold timing over per-frame recognitions.

    Args:
        dwell_s: seconds an artwork must be seen before it is chosen.
        hold_s: seconds a chosen artwork may go unseen before it is dropped (>= dwell_s).
        accept_score: score (RANSAC inliers) that counts as a sighting of a new artwork.
        keep_score: score that keeps a chosen artwork (<= accept_score).
        max_gap_s: longest gap between sightings that still continues a dwell.
        min_hits: accepted frames needed before an artwork can be chosen.
        max_hidden_s: longest time after its last sighting that a chosen artwork reported hidden is kept.
    """

    #: a group may stand before an artwork for a while, but a picture taken down must end in the end
    MAX_HIDDEN_S = 60.0

    def __init__(
        self,
        *,
        dwell_s: float = _PRESENCE.dwell_seconds,
        hold_s: float = _PRESENCE.hold_seconds,
        accept_score: float = _RECOGNITION.accept_inliers,
        keep_score: float = _RECOGNITION.keep_inliers,
        max_gap_s: float = 0.8,
        min_hits: int = 2,
        max_hidden_s: float = MAX_HIDDEN_S,
    ):
        if dwell_s < 0 or hold_s < dwell_s:
            raise ValueError(f"need 0 <= dwell_s <= hold_s, got dwell_s={dwell_s}, hold_s={hold_s}")
        if keep_score > accept_score:
            raise ValueError(f"keep_score ({keep_score}) must not exceed accept_score ({accept_score})")
        self.dwell_s = dwell_s
        self.hold_s = hold_s
        self.accept_score = accept_score
        self.keep_score = keep_score
        self.max_gap_s = max_gap_s
        self.min_hits = min_hits
        self.max_hidden_s = max_hidden_s
        self.reset()

    @classmethod
    def from_config(cls, presence: PresenceConfig, recognition: RecognitionConfig) -> ArtworkDebouncer:
        """Dwell and hold from the exhibit's ``presence`` section, thresholds from ``recognition``."""
        return cls(
            dwell_s=presence.dwell_seconds,
            hold_s=presence.hold_seconds,
            accept_score=recognition.accept_inliers,
            keep_score=recognition.keep_inliers,
        )

    def reset(self) -> None:
        """Forget everything (e.g. when a looping video starts again)."""
        self.current: str | None = None
        self.current_score = 0.0
        self.current_since = 0.0
        self._current_seen = 0.0
        self._current_hidden = 0.0
        self._streaks: dict[str, _Streak] = {}
        self._last_t: float | None = None

    def hidden(self, t: float) -> None:
        """The chosen artwork is not seen at ``t`` because something stands before it (the caller's
        judgement: the view around it unchanged): it is not dropped for that, within ``max_hidden_s`` of
        its last sighting. Another artwork still takes over as from one missed."""
        if self.current is not None and t - self._current_seen <= self.max_hidden_s:
            self._current_hidden = t

    def update(self, artwork_id: str | None, score: float, t: float) -> str | None:
        """Feed one recognition (``artwork_id`` or None, its score) made at time ``t`` (seconds);
        returns the chosen artwork after it, or None."""
        if self._last_t is not None and t < self._last_t - 1e-6:
            logger.debug("time went back from %.3f to %.3f s: debounce state reset", self._last_t, t)
            self.reset()
        self._last_t = t
        if artwork_id is not None and artwork_id == self.current and score >= self.keep_score:
            self._current_seen = t
            self.current_score = score
        elif artwork_id is not None and artwork_id != self.current:
            streak = self._streaks.get(artwork_id)
            if streak is not None and t - streak.last <= self.max_gap_s and score >= self.keep_score:
                streak.last = t
                streak.score = score
                if score >= self.accept_score:
                    streak.hits += 1
            elif score >= self.accept_score:
                self._streaks[artwork_id] = _Streak(t, t, 1, score)
        for art in [a for a, s in self._streaks.items() if t - s.last > self.max_gap_s]:
            del self._streaks[art]
        if self.current is not None and t - max(self._current_seen, self._current_hidden) > self.hold_s:
            logger.debug("artwork %s missed for %.1f s: dropped", self.current, t - self._current_seen)
            self.current = None
            self.current_score = 0.0
            self.current_since = t
        ready = [
            (s.hits, art, s)
            for art, s in self._streaks.items()
            if t - s.start >= self.dwell_s and s.hits >= self.min_hits
        ]
        if ready:
            _, art, streak = max(ready, key=lambda r: (r[0], r[2].score))
            if self.current is None or t - self._current_seen >= self.dwell_s / 2:
                logger.debug(
                    "artwork %s chosen after %.1f s (%d sightings)", art, t - streak.start, streak.hits
                )
                self.current = art
                self.current_score = streak.score
                self.current_since = t
                self._current_seen = t
                self._current_hidden = 0.0
                del self._streaks[art]
        return self.current
