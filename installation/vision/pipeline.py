"""From frames to a stable decision: "artwork X is in front of the camera" / "a visitor is present" /
"nothing".

:class:`VisionPipeline` feeds each frame to presence (whose motion detector looks at one every 0.2 s)
and, at most every ``interval_s`` of frame time, decides what the camera sees, cheapest test first
(:mod:`.tracking`): a still picture keeps the last result; a moving picture of the chosen artwork is
confirmed by following its keypoints; only otherwise (and at least every ``verify_s`` while tracking) does the full recognizer search the index.
Each of these results is debounced like a recognition, and the pipeline returns a :class:`VisionDecision`:

- ``artwork``: the debouncer has chosen an artwork;
- ``unknown``: no artwork is chosen but a visitor is present (motion or a sensor);
- ``none``: nothing.

:func:`recognition_index_for_exhibit` builds (or loads) the exhibit's recognition index, stored in
``<recognition.index_dir>/recognition-index.npz`` (``<exhibit folder>/.art2mus/`` by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from art2mus.installation.config.vision import RecognitionConfig
from art2mus.installation.vision.debounce import ArtworkDebouncer
from art2mus.installation.vision.index import (
    INDEX_FILENAME,
    FeatureSettings,
    RecognitionIndex,
    ReferencePhoto,
    references_from_exhibit,
    to_gray,
)
from art2mus.installation.vision.photo_check import check_exhibit_photos
from art2mus.installation.vision.presence import PresenceMonitor
from art2mus.installation.vision.recognizer import ArtworkRecognizer, CandidatePrefilter, RecognitionResult
from art2mus.installation.vision.sources import Frame
from art2mus.installation.vision.tracking import ArtworkTracker, SceneGate, thumbnail
from art2mus.installation.vision.unseen import UNSEEN_PREFIX, ListedLook, UnseenWatcher

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


@dataclass
class VisionStats:
    """How each due frame was decided: ``recognized`` (the full index search), ``tracked`` (the chosen
    artwork followed by optical flow), ``still`` (the picture had not changed: the last result held)."""

    recognized: int = 0
    tracked: int = 0
    still: int = 0

    def as_dict(self) -> dict:
        return {"recognized": self.recognized, "tracked": self.tracked, "still": self.still}


class VisionPipeline:
    """Recognition + presence + debounce for one camera.

    Args:
        recognizer: matches frames against the exhibit's artworks.
        debouncer: dwell/hold and hysteresis over recognitions.
        presence: visitor presence (motion and sensors), or None (then ``unknown`` is never reported).
        interval_s: least frame time between two recognitions (0: every frame); presence is fed every frame.
        gate: skips recognition while the picture is still (None: recognise every due frame).
        tracker: follows the chosen artwork between full recognitions (None: no tracking).
        verify_s: longest frame time between two full recognitions while tracking.
        unseen: finds framed pictures that are not in the exhibit while no artwork is chosen (None: off);
            such a picture is decided as the artwork ``unseen:<id>``.
    """

    def __init__(
        self,
        recognizer: ArtworkRecognizer,
        debouncer: ArtworkDebouncer,
        presence: PresenceMonitor | None = None,
        *,
        interval_s: float = 0.0,
        gate: SceneGate | None = None,
        tracker: ArtworkTracker | None = None,
        verify_s: float = RecognitionConfig().verify_seconds,
        unseen: UnseenWatcher | None = None,
    ):
        self.recognizer = recognizer
        self.debouncer = debouncer
        self.presence = presence
        self.interval_s = interval_s
        self.gate = gate
        self.tracker = tracker
        self.verify_s = verify_s
        self.unseen = unseen
        self._unseen_id: str | None = None
        self.stats = VisionStats()
        self.last_result: RecognitionResult | None = None
        #: artwork id -> why it is left out of recognition (its reference photos failed the checks of
        #: :mod:`.photo_check`); such an artwork still plays when chosen from the control panel
        self.excluded: dict[str, str] = {}
        self.decision: VisionDecision | None = None
        self._last_recognition_t: float | None = None
        self._last_full_t = 0.0
        #: the chosen artwork's outline and the frame's thumbnail when it was last seen
        self._sighting: tuple[np.ndarray, np.ndarray] | None = None
        #: whether it stood where it was seen before that (not a camera turning away from it)
        self._steady = False

    @classmethod
    def from_config(
        cls,
        exhibit: ExhibitConfig,
        *,
        index: RecognitionIndex | None = None,
        prefilter: CandidatePrefilter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> VisionPipeline:
        """Everything from an exhibit: the index (loaded or built), recognizer, debouncer and presence.

        Without ``index``, the reference photos are checked first (:func:`.photo_check.check_exhibit_photos`)
        and only the usable ones are indexed: an artwork whose photos all fail is left out of recognition
        and listed in :attr:`excluded`, so one bad photo never stops the room."""
        # OpenCV's thread count is the process's: the daemon runs one camera, so its recognition decides it
        cv2.setNumThreads(exhibit.recognition.threads or -1)  # -1: OpenCV's default, one per core
        excluded: dict[str, str] = {}
        if index is None:
            check = check_exhibit_photos(exhibit)
            excluded = check.excluded
            for finding in check.findings:
                if finding.severity != "error":
                    logger.warning("reference photo: %s", finding.message)
            for artwork_id, reason in excluded.items():
                logger.error("artwork %r is left out of recognition (still playable from the panel): %s",
                             artwork_id, reason)
            index = recognition_index_for_exhibit(exhibit, references=check.usable)
        config = exhibit.recognition
        recognizer = ArtworkRecognizer.from_config(config, index, prefilter=prefilter)
        tracker = None
        if config.tracking:
            tracker = ArtworkTracker(
                index.ref_sizes,
                width=config.process_width,
                min_points=config.keep_inliers,
                geometry=recognizer.geometry,
            )
        unseen = None
        if exhibit.unseen.enabled:
            from art2mus.installation.unseen_store import UnseenStore, unseen_dir

            # a damaged list of optional extras is moved aside: it must never keep the room from playing
            store = UnseenStore(unseen_dir(exhibit), exhibit.unseen.remember, set_aside_damaged=True)
            unseen = UnseenWatcher(
                min_area_fraction=exhibit.unseen.min_size_fraction,
                dwell_s=exhibit.unseen.dwell_seconds,
                name=store.name,
                is_listed=listed_crop_check(recognizer, exhibit),
                store=store,
                hold_s=exhibit.presence.hold_seconds,
            )
        pipeline = cls(
            recognizer,
            ArtworkDebouncer.from_config(exhibit.presence, config),
            PresenceMonitor.from_config(exhibit.presence, clock=clock),
            interval_s=config.interval_seconds,
            gate=SceneGate(config.still_change_fraction) if config.still_change_fraction > 0 else None,
            tracker=tracker,
            verify_s=config.verify_seconds,
            unseen=unseen,
        )
        pipeline.excluded = excluded
        return pipeline

    def take_over(self, previous: VisionPipeline, *, same_presence: bool) -> None:
        """Go on from ``previous``, the pipeline a reload replaces because recognition changed: its
        debouncer (with this pipeline's timing and thresholds) keeps the artwork it has chosen and the
        sightings under way, its decision and timing carry on, and so does its memory of unseen pictures
        (:meth:`.unseen.UnseenWatcher.take_over`); with ``same_presence`` (the ``presence`` section
        unchanged) its presence model too. Built afresh, the room had nothing chosen until the artwork
        had dwelt again, and the idle timer ran meanwhile (idle 1.5 s after a reload in
        the daemon, back to the artwork 1.5 s later). A chosen artwork left out of the new index is
        dropped as one no longer seen, ``presence.hold_seconds`` later."""
        debouncer = previous.debouncer
        for setting in ("dwell_s", "hold_s", "accept_score", "keep_score", "max_gap_s", "min_hits"):
            setattr(debouncer, setting, getattr(self.debouncer, setting))
        self.debouncer = debouncer
        if same_presence:
            self.presence = previous.presence
        if self.unseen is not None and previous.unseen is not None:  # what it remembered meanwhile stays
            self.unseen.take_over(previous.unseen)
        self.decision = previous.decision
        self.last_result = previous.last_result
        self._last_recognition_t = previous._last_recognition_t

    def _see(self, image, gray, t: float) -> RecognitionResult:
        """What the camera sees at ``t`` (``image`` and its ``gray``): the last result while the picture is
        still, the chosen artwork while its keypoints follow it, else a full recognition."""
        thumb = thumbnail(gray) if self.gate is not None else None
        if self.gate is not None and self.last_result is not None and self.gate.is_still(thumb):
            self.stats.still += 1
            return self.last_result
        tracked = None
        if self.tracker is not None and self.tracker.active and t - self._last_full_t < self.verify_s:
            tracked = self.tracker.track(gray)
            # the chosen artwork is kept by any tracked result (the tracker needs keep_inliers points);
            # one still dwelling must be tracked as a sighting (accept_inliers), else the full
            # recognition decides, as it would have without tracking
            if (
                tracked is not None
                and tracked.artwork_id != self.debouncer.current
                and tracked.score < self.debouncer.accept_score
            ):
                tracked = None
        if tracked is not None:
            self.stats.tracked += 1
            result = tracked
        else:
            self.stats.recognized += 1
            self._last_full_t = t
            result = self.recognizer.recognize(image, t, gray=gray)
            incumbent = self._incumbent(result, gray)
            if incumbent is not None:
                result = incumbent
            elif self.tracker is not None:
                self.tracker.start(gray, result)
        if self.gate is not None:
            self.gate.remember(thumb)
        return result

    def _incumbent(self, result: RecognitionResult, gray) -> RecognitionResult | None:
        """The chosen artwork, followed by the tracker, when the full recognition ``result`` names another
        while the chosen one is still whole in view (the tracker's ``keep_inliers`` points, nine tenths
        inside the frame), else None. The recognizer reports the artwork with the most inliers, so a
        painting coming into view beside the one a visitor stands at took over after half a dwell: the
        room played evening-regatta while amber-fields stood in full view. The newcomer wins once the
        chosen one leaves the frame (a walk's pan) or its points are lost."""
        current = self.debouncer.current
        if (
            self.tracker is None
            or current is None
            or self.tracker.artwork != current
            or result.artwork_id is None
            or result.artwork_id == current
        ):
            return None
        return self.tracker.track(gray)

    def _look_for_hidden(self, gray, t: float) -> None:
        """Remember where the chosen artwork was last seen; when it is missed there, steady and whole in the
        frame, and the view of it changed while most of the view around it did not, visitors stand before
        it: the debouncer keeps it (:meth:`.ArtworkDebouncer.hidden`). A group standing 20 s before
        amber-fields got the idle ambience after hold_seconds. A camera turning away moves the artwork
        first (on the demo walk the same decisions as before); a light change alters the surroundings."""
        current = self.debouncer.current
        result = self.last_result
        if current is None:
            self._sighting = None
        elif result.artwork_id == current and result.outline is not None:
            before = self._sighting[0] if self._sighting is not None else None
            self._steady = (
                before is not None
                and float(np.abs(result.outline - before).max()) <= HIDDEN_STEADY * gray.shape[1]
            )
            self._sighting = (result.outline, thumbnail(gray))
        elif (
            self._sighting is not None
            and self._steady
            and view_hidden(*self._sighting, thumbnail(gray), gray.shape)
        ):
            self.debouncer.hidden(t)

    def process(self, frame: Frame) -> VisionDecision:
        """Feed one frame; returns the decision after it (also kept in :attr:`decision`)."""
        t = frame.timestamp
        if self._last_recognition_t is not None and t < self._last_recognition_t:
            self._last_recognition_t = None  # a looping video restarted
            self.last_result = None
            if self.tracker is not None:
                self.tracker.reset()
        due = self._last_recognition_t is None or t - self._last_recognition_t >= self.interval_s - 1e-9
        wanted = self.presence is not None and self.presence.wants(t)
        # once: presence, the gate, the tracker and the recognizer all see grey (a frame none of them
        # wants, between two recognitions, is not converted)
        gray = to_gray(frame.image) if due or wanted else None
        if self.presence is not None:
            self.presence.update_frame(gray, t)
        if due:
            self._last_recognition_t = t
            self.last_result = self._see(frame.image, gray, t)
            self._look_for_hidden(gray, t)
            current = self.debouncer.update(self.last_result.artwork_id, self.last_result.score, t)
        else:
            current = self.debouncer.current
        if self.unseen is not None and due:
            unknown = current is None and self.last_result.artwork_id is None
            self._unseen_id = self.unseen.observe(frame.image, t) if unknown else None
            if not unknown:
                self.unseen.reset()
        if current is not None:
            decision = VisionDecision(t, ARTWORK, current, self.debouncer.current_score)
        elif self._unseen_id is not None:
            decision = VisionDecision(t, ARTWORK, UNSEEN_PREFIX + self._unseen_id)
        elif self.presence is not None and self.presence.state(t).present:
            decision = VisionDecision(t, UNKNOWN)
        else:
            decision = VisionDecision(t, NONE)
        if not decision.same_state(self.decision):
            logger.info("vision: %s at %.2f s", decision.label, t)
        self.decision = decision
        return decision


#: a thumbnail pixel changed by more than this many grey levels counts as changed (the sensor's noise and
#: a compressed video's blocks stay below it once averaged into a thumbnail)
HIDDEN_CHANGE = 12
#: the artwork is hidden when at least this share of its outline's pixels changed ...
HIDDEN_INSIDE = 0.3
#: ... and at most this share of the rest of the frame, beyond a margin of this fraction of the frame's
#: width (a group of three before amber-fields, in the middle of the frame: 0.6 of the rest) ...
HIDDEN_OUTSIDE = 0.75
HIDDEN_MARGIN = 0.05
#: ... while its outline had moved at most this fraction of the frame's width between its last two sightings
HIDDEN_STEADY = 0.01


def whole_in_frame(outline: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether ``outline`` ((4, 2) pixels) lies inside a frame of ``shape`` (h, w, ...), give or take
    :data:`HIDDEN_MARGIN` of its width."""
    h, w = shape[:2]
    m = HIDDEN_MARGIN * w
    xs, ys = outline[:, 0], outline[:, 1]
    return bool(xs.min() >= -m and ys.min() >= -m and xs.max() <= w + m and ys.max() <= h + m)


def view_hidden(outline: np.ndarray, then: np.ndarray, now: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether the picture inside ``outline`` ((4, 2) frame pixels, a frame of ``shape``) changed between
    the thumbnails ``then`` and ``now`` (:func:`.tracking.thumbnail`) while most of the view around it did
    not. An artwork cut by the frame's edge, or one filling the frame (too little around it to tell): False."""
    if not whole_in_frame(outline, shape):
        return False
    scale = now.shape[1] / shape[1]
    region = np.zeros(now.shape, np.uint8)
    cv2.fillConvexPoly(region, np.round(outline * scale).astype(np.int32), 1)
    margin = max(1, round(HIDDEN_MARGIN * now.shape[1]))
    around = cv2.dilate(region, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) == 0
    inside = region == 1
    if inside.sum() == 0 or around.mean() < 0.2:
        return False
    changed = np.abs(now - then) > HIDDEN_CHANGE
    return bool(changed[inside].mean() >= HIDDEN_INSIDE and changed[around].mean() <= HIDDEN_OUTSIDE)


def listed_crop_check(recognizer: ArtworkRecognizer, exhibit: ExhibitConfig) -> Callable[[object], bool]:
    """Whether a framed picture's rectified crop (BGR) shows a listed artwork after all: recognised in the
    crop, or looking like an artwork's reference photo (:class:`.unseen.ListedLook`). The recognizer has
    just missed it in the whole frame, and misses it in the crop too behind a glare on the glass or through
    a blurred lens (the demo walk with a glare on 13 % of the frame: night-over-the-village played as a new
    unseen artwork for 7 s, remembered for good); its whole picture still gives it away."""

    def photos() -> list[tuple[str, object]]:
        loaded = []
        for ref in references_from_exhibit(exhibit):
            try:
                loaded.append((ref.artwork_id, ref.load()))
            except ValueError as exc:  # the photo checks have said so at start
                logger.debug("not compared with unseen pictures: %s", exc)
        return loaded

    look = ListedLook(photos)

    def is_listed(crop) -> bool:
        if recognizer.recognize(crop).artwork_id is not None:
            return True
        listed = look.match(crop)
        if listed is not None:
            logger.info("a framed picture looks like the listed %s: not an unseen artwork", listed)
        return listed is not None

    return is_listed


def recognition_inputs(exhibit: ExhibitConfig) -> tuple:
    """What :meth:`VisionPipeline.from_config` reads of ``exhibit``: its recognition, presence and unseen
    settings, the folders they name, and each artwork's reference photos (path, size, modification
    time). Two exhibits with equal inputs build the same pipeline, so a reload keeps the running one."""
    photos = []
    for artwork in exhibit.artworks:
        for image in artwork.images:
            try:
                info = Path(image).stat()
            except OSError:
                photos.append((artwork.id, str(image), None))
            else:
                photos.append((artwork.id, str(image), info.st_size, info.st_mtime_ns))
    return (
        exhibit.recognition,
        exhibit.presence,
        exhibit.unseen,
        exhibit.base_dir,
        recognition_index_path(exhibit),
        tuple(photos),
    )


def recognition_index_path(exhibit: ExhibitConfig) -> Path:
    """``<recognition.index_dir>/recognition-index.npz`` (the loader has made ``index_dir`` absolute)."""
    index_dir = Path(exhibit.recognition.index_dir)
    if not index_dir.is_absolute():
        index_dir = exhibit.base_dir / index_dir
    return index_dir / INDEX_FILENAME


def recognition_index_for_exhibit(
    exhibit: ExhibitConfig, path: Path | None = None, references: Sequence[ReferencePhoto] | None = None
) -> RecognitionIndex:
    """The exhibit's recognition index: loaded from ``path`` (default :func:`recognition_index_path`) when it
    matches the current reference photos and settings, else built and saved there. ``references``: the
    photos to index (default: all of the exhibit's)."""
    settings = FeatureSettings.from_config(exhibit.recognition)
    refs = list(references) if references is not None else references_from_exhibit(exhibit)
    if not refs:
        raise ValueError(
            f"{exhibit.source_file or 'exhibit'}: no artworks with usable reference photos to recognise"
        )
    return RecognitionIndex.load_or_build(refs, path or recognition_index_path(exhibit), settings)
