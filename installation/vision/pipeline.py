"""From frames to a stable decision: "artwork X is in front of the camera" / "a visitor is present" /
"nothing".

:class:`VisionPipeline` feeds each frame to presence (every frame) and to the recognizer (at most every
``interval_s`` of frame time), debounces the recognitions, and returns a :class:`VisionDecision`:

- ``artwork``: the debouncer has chosen an artwork;
- ``unknown``: no artwork is chosen but a visitor is present (motion or a sensor);
- ``none``: nothing.

:func:`recognition_index_for_exhibit` builds (or loads) the exhibit's recognition index, stored in
``<recognition.index_dir>/recognition-index.npz`` (``<exhibit folder>/.art2mus/`` by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from art2mus.installation.vision.debounce import ArtworkDebouncer
from art2mus.installation.vision.presence import PresenceMonitor
from art2mus.installation.vision.recognition import (
    INDEX_FILENAME,
    ArtworkRecognizer,
    CandidatePrefilter,
    FeatureSettings,
    RecognitionIndex,
    RecognitionResult,
    references_from_exhibit,
)
from art2mus.installation.vision.sources import Frame

if TYPE_CHECKING:
    from art2mus.installation.config.exhibit import ExhibitConfig

logger = logging.getLogger(__name__)

ARTWORK, UNKNOWN, NONE = "artwork", "unknown", "none"


@dataclass(frozen=True)
class VisionDecision:
    """The debounced state after a frame.

    Attributes:
        t: the frame's timestamp (seconds).
        kind: ``artwork``, ``unknown`` (a visitor, no artwork) or ``none``.
        artwork_id: the chosen artwork (kind ``artwork`` only).
        score: the chosen artwork's latest score (RANSAC inliers), else 0.
    """

    t: float
    kind: str
    artwork_id: str | None = None
    score: float = 0.0

    @property
    def label(self) -> str:
        """The artwork id, or ``unknown`` / ``none``."""
        return self.artwork_id if self.kind == ARTWORK and self.artwork_id else self.kind

    def same_state(self, other: VisionDecision | None) -> bool:
        return other is not None and other.kind == self.kind and other.artwork_id == self.artwork_id

    def to_json(self) -> dict:
        return {"t": round(self.t, 2), "artwork": self.label, "score": round(float(self.score), 1)}


class VisionPipeline:
    """Recognition + presence + debounce for one camera.

    Args:
        recognizer: matches frames against the exhibit's artworks.
        debouncer: dwell/hold and hysteresis over recognitions.
        presence: visitor presence (motion and sensors), or None (then ``unknown`` is never reported).
        interval_s: least frame time between two recognitions (0: every frame); presence sees every frame.
    """

    def __init__(
        self,
        recognizer: ArtworkRecognizer,
        debouncer: ArtworkDebouncer,
        presence: PresenceMonitor | None = None,
        *,
        interval_s: float = 0.0,
    ):
        self.recognizer = recognizer
        self.debouncer = debouncer
        self.presence = presence
        self.interval_s = interval_s
        self.last_result: RecognitionResult | None = None
        self.decision: VisionDecision | None = None
        self._last_recognition_t: float | None = None

    @classmethod
    def from_config(
        cls,
        exhibit: ExhibitConfig,
        *,
        index: RecognitionIndex | None = None,
        prefilter: CandidatePrefilter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> VisionPipeline:
        """Everything from an exhibit: the index (loaded or built), recognizer, debouncer and presence."""
        index = index or recognition_index_for_exhibit(exhibit)
        return cls(
            ArtworkRecognizer.from_config(exhibit.recognition, index, prefilter=prefilter),
            ArtworkDebouncer.from_config(exhibit.presence, exhibit.recognition),
            PresenceMonitor.from_config(exhibit.presence, clock=clock),
            interval_s=exhibit.recognition.interval_seconds,
        )

    def process(self, frame: Frame) -> VisionDecision:
        """Feed one frame; returns the decision after it (also kept in :attr:`decision`)."""
        t = frame.timestamp
        if self._last_recognition_t is not None and t < self._last_recognition_t:
            self._last_recognition_t = None  # a looping video restarted
        if self.presence is not None:
            self.presence.update_frame(frame.image, t)
        due = self._last_recognition_t is None or t - self._last_recognition_t >= self.interval_s - 1e-9
        if due:
            self._last_recognition_t = t
            self.last_result = self.recognizer.recognize(frame.image)
            current = self.debouncer.update(self.last_result.artwork_id, self.last_result.score, t)
        else:
            current = self.debouncer.current
        if current is not None:
            decision = VisionDecision(t, ARTWORK, current, self.debouncer.current_score)
        elif self.presence is not None and self.presence.state(t).present:
            decision = VisionDecision(t, UNKNOWN)
        else:
            decision = VisionDecision(t, NONE)
        if not decision.same_state(self.decision):
            logger.info("vision: %s at %.2f s", decision.label, t)
        self.decision = decision
        return decision


def recognition_index_path(exhibit: ExhibitConfig) -> Path:
    """``<recognition.index_dir>/recognition-index.npz`` (the loader has made ``index_dir`` absolute)."""
    index_dir = Path(exhibit.recognition.index_dir)
    if not index_dir.is_absolute():
        index_dir = exhibit.base_dir / index_dir
    return index_dir / INDEX_FILENAME


def recognition_index_for_exhibit(exhibit: ExhibitConfig, path: Path | None = None) -> RecognitionIndex:
    """The exhibit's recognition index: loaded from ``path`` (default :func:`recognition_index_path`) when it
    matches the current reference photos and settings, else built and saved there."""
    settings = FeatureSettings(
        kind=exhibit.recognition.features, reference_features=exhibit.recognition.max_features
    )
    refs = references_from_exhibit(exhibit)
    if not refs:
        raise ValueError(
            f"{exhibit.source_file or 'exhibit'}: no artworks with reference photos to recognise"
        )
    return RecognitionIndex.load_or_build(refs, path or recognition_index_path(exhibit), settings)
