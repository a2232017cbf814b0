"""Which indexed artwork a camera frame shows: local features and a geometric check.

An :class:`ArtworkRecognizer` matches each frame against *one* FLANN index over all references of a
:class:`~.index.RecognitionIndex` (per-reference matching does not scale: RECIPES.md), keeps matches
that pass Lowe's ratio test, verifies the best candidates with a RANSAC homography, and accepts an
artwork only when enough matches agree on a sane outline (a convex quadrilateral of plausible size and
shape). The result is the artwork id, a score (the RANSAC inlier count) and the artwork's outline in the
frame, or ``unknown``. Its settings are the exhibit's ``recognition:`` section
(:class:`~art2mus.installation.config.vision.RecognitionConfig`): one name and one default each.

A :class:`CandidatePrefilter` may narrow each frame to a few candidate artworks before matching.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from art2mus.installation.config.vision import RecognitionConfig
from art2mus.installation.vision.allocator import retain_frame_buffers
from art2mus.installation.vision.blas import single_threaded_blas
from art2mus.installation.vision.index import RecognitionIndex, detect_features, resize_long_side, to_gray

logger = logging.getLogger(__name__)


class CandidatePrefilter(Protocol):
    """Narrows a frame to a few candidate artworks before matching (for very large collections)."""

    def candidates(self, frame_bgr: np.ndarray) -> set[str] | None:
        """Artwork ids worth verifying for this frame, or None for "all of them"."""


@dataclass(frozen=True)
class RecognitionResult:
    """What the recognizer saw in one frame.

    Attributes:
        artwork_id: the recognised artwork, or None (``unknown``).
        score: RANSAC inliers of the best geometrically sane candidate (0 when there was none); a
            recognised artwork has ``score >= min_inliers``.
        outline: the artwork's corners in the frame (TL, TR, BR, BL), ``(4, 2)`` float32 pixels, or None.
        candidate_id: the best sane candidate even when its score is below ``min_inliers`` (diagnostics).
        matches: feature matches that passed the ratio test (all artworks).
        keypoints: keypoints found in the frame.
        seconds: time spent on this frame.
        inliers: the recognised artwork's inlier pairs, ``(n, 4)`` float32 rows of (reference x, y in
            index pixels, frame x, y in frame pixels), or None: what a tracker follows between recognitions.
        reference: the matched reference photo's number in the index (with ``inliers``), else -1.
        passes: how many passes looked at the frame (1: the first pass answered; more: a quick pass
            handed on, or the refine pass ran; 0: a blank frame, no pass): what a frame's time depends on
            most.
    """

    artwork_id: str | None
    score: float
    outline: np.ndarray | None = None
    candidate_id: str | None = None
    matches: int = 0
    keypoints: int = 0
    seconds: float = 0.0
    inliers: np.ndarray | None = field(default=None, repr=False, compare=False)
    reference: int = -1
    passes: int = field(default=1, compare=False)

    def to_json(self) -> dict:
        """``{"artwork": id or "unknown", "score": inliers, "outline": [[x, y] x4] or null}``."""
        return {
            "artwork": self.artwork_id or "unknown",
            "score": round(float(self.score), 1),
            "outline": None
            if self.outline is None
            else [[round(float(x), 1), round(float(y), 1)] for x, y in self.outline],
        }


@dataclass(frozen=True)
class GeometryLimits:
    """What counts as a sane artwork outline in the frame.

    Attributes:
        min_area_fraction: smallest outline area as a fraction of the frame area.
        max_area_fraction: largest (a close-up may overflow the frame, but not absurdly).
        min_angle_deg, max_angle_deg: bounds of each interior corner angle.
        max_side_ratio: longest over shortest side after correcting for the reference's aspect ratio.
        min_inlier_spread: inliers' convex hull area over the reference area (rejects matches that
            cluster in one small patch, as chance matches do).
    """

    min_area_fraction: float = 0.01
    max_area_fraction: float = 12.0
    min_angle_deg: float = 30.0
    max_angle_deg: float = 150.0
    max_side_ratio: float = 5.0
    min_inlier_spread: float = 0.02


def outline_problem(
    outline: np.ndarray, ref_size: tuple[float, float], frame_size: tuple[int, int], limits: GeometryLimits
) -> str | None:
    """Why ``outline`` (4, 2) is not a plausible view of a flat ``ref_size`` (w, h) picture in a
    ``frame_size`` (w, h) frame, or None when it is.

    Plain float arithmetic on the four corners: numpy's per-call overhead on (4, 2) arrays cost 0.7 ms
    per outline, and every recognition and tracked frame checks one or more."""
    quad = [(float(x), float(y)) for x, y in np.asarray(outline, np.float64).reshape(4, 2)]
    if not all(math.isfinite(v) for corner in quad for v in corner):
        return "outline not finite"
    edges = [(quad[(i + 1) % 4][0] - quad[i][0], quad[(i + 1) % 4][1] - quad[i][1]) for i in range(4)]
    # reference corners TL, TR, BR, BL run clockwise on screen (y down): all cross products > 0
    for i in range(4):
        (ex, ey), (nx, ny) = edges[i], edges[(i + 1) % 4]
        if not ex * ny - ey * nx > 0:
            return "outline not convex or mirrored"
    area = 0.5 * abs(sum(quad[i][0] * quad[(i + 1) % 4][1] - quad[(i + 1) % 4][0] * quad[i][1] for i in range(4)))
    frame_area = float(frame_size[0] * frame_size[1])
    if area < limits.min_area_fraction * frame_area:
        return f"outline too small ({area / frame_area:.4f} of the frame)"
    if area > limits.max_area_fraction * frame_area:
        return f"outline too large ({area / frame_area:.1f} x the frame)"
    lengths = [math.hypot(ex, ey) for ex, ey in edges]
    if min(lengths) < 8:
        return "outline side shorter than 8 px"
    for i in range(4):
        (ax, ay), (bx, by) = edges[i - 1], edges[i]
        cosang = -(ax * bx + ay * by) / (lengths[i - 1] * lengths[i])
        ang = math.degrees(math.acos(max(-1.0, min(1.0, cosang))))
        if not limits.min_angle_deg <= ang <= limits.max_angle_deg:
            return f"outline corner angle {ang:.0f} deg"
    aspect = ref_size[0] / ref_size[1]
    normalised = [length / scale for length, scale in zip(lengths, (aspect, 1.0, aspect, 1.0), strict=True)]
    if max(normalised) / min(normalised) > limits.max_side_ratio:
        return "outline sides too unequal"
    return None


class ArtworkRecognizer:
    """Recognise which indexed artwork a frame shows (not thread-safe: one recognizer per thread).

    Frames are matched coarse to fine: first scaled to ``process_width``; only when that finds no artwork
    with ``accept_inliers`` does a second pass at ``refine_width`` look for small or blurred ones. Most
    frames with an artwork in front of the camera stop after the cheap first pass. In a collection larger
    than ``shortlist``, each pass asks FLANN for a few approximate neighbours per keypoint, narrows the
    collection to the artworks most of them point to, and, when that finds no artwork with
    ``accept_inliers``, matches the frame again exactly against the shortlisted artworks alone.

    Args:
        index: the references.
        config: the exhibit's ``recognition:`` settings (default: the model's defaults). ``ratio_test``
            compares a match's distance with the nearest keypoint of any *other* artwork (repeated motifs
            within one painting are left to RANSAC); ``keep_inliers`` is the fewest RANSAC inliers of a
            recognised artwork (below it: unknown); ``accept_inliers`` the inliers at which the first pass
            is trusted and the refine pass skipped.
        geometry: outline sanity limits.
        prefilter: optional candidate narrowing for very large collections.

    The class attributes below are fixed choices of the method, not exhibit settings.
    """

    #: fewest inliers as a fraction of the candidate's matches (look-alike paintings give many matches
    #: that no single homography explains)
    MIN_INLIER_RATIO = 0.6
    #: inlier tolerance relative to the outline's diagonal (a fixed pixel tolerance is loose for a small view)
    RELATIVE_TOLERANCE = 0.012
    #: SIFT contrast threshold for frames (lower than SIFT's 0.04: dim, blurred views)
    FRAME_CONTRAST = 0.02
    #: SIFT scales per octave for frames; 2 instead of Lowe's 3 builds a smaller scale pyramid (a quarter
    #: less detection time) and still matches references made with 3
    FRAME_OCTAVE_LAYERS = 2
    #: SIFT's first-scale blur in the refine pass (Lowe's); the first pass's is the exhibit's ``process_sigma``
    REFINE_SIGMA = 1.6
    #: references verified geometrically per pass, most matches first
    MAX_CANDIDATES = 4
    #: RANSAC reprojection threshold in pixels at 480 pixels width (scaled with the pass)
    RANSAC_PX = 5.0
    #: leaves visited per FLANN query (speed/recall trade-off: 24 instead of 32 is a twentieth less CPU per
    #: first pass, with the same top-1 at 100 and 1,000 artworks and the same decisions on the demo walk;
    #: 2 trees with 24 checks moved one of them by 0.4 s)
    FLANN_CHECKS = 24
    #: neighbours per frame keypoint when the candidates are narrowed (a shortlist or a prefilter): the
    #: ratio test's second neighbour must be found among the candidates' keypoints within them
    NARROWED_NEIGHBOURS = 4
    #: randomised KD-trees (each costs memory and build time in proportion to the index)
    FLANN_TREES = 4
    #: seed of OpenCV's RNG when the FLANN trees are built (reproducible recognition)
    FLANN_SEED = 14
    #: the refine pass looks only around the first pass's matches: their bounding box widened by this
    #: fraction of the frame's long side on every side (a small or blurred artwork the first pass saw a
    #: few keypoints of lies there; SIFT's cost grows with the pixels it looks at)
    REFINE_MARGIN = 0.25
    #: ... unless that box covers more than this fraction of the frame (then the whole frame is refined)
    REFINE_MAX_AREA = 0.7
    #: ... and only when at least this many of the first pass's matches point to one artwork: a frame of
    #: no artwork matches a little of everything (on the benchmark's distractors at most 3 matches agree,
    #: mostly 1-2; a small view found by the refine pass had at least 3 pointing to it)
    REFINE_MIN_AGREEING = 3
    #: with a shortlist (SIFT), a pass that finds no artwork with accept_inliers matches the frame's
    #: keypoints again, exactly, against the shortlisted artworks' keypoints: FLANN's few approximate
    #: neighbours of a keypoint in a large index mostly lie outside the shortlist (1,000 artworks: top-1
    #: 0.90 -> 0.95 on the benchmark)
    EXACT_SHORTLIST = True
    #: artworks whose search-space descriptors the exact search keeps decoded (two shortlists' worth)
    EXACT_CACHE = 16
    #: after a refine pass that found nothing, how long (seconds of frame time) the same evidence does not
    #: send another frame to it (the demo walk: 45 of 59 refine passes found nothing, most of them in runs
    #: while the visitor walks between paintings, the first pass seeing the same few matches); the same
    #: evidence: matches that point to the same artwork, fewer than REFINE_MIN_AGREEING more of them than
    #: the fruitless pass had (between two frames of one view their count wanders by 1-2)
    REFINE_BACKOFF_S = 1.0
    #: FAST's intensity threshold for the blank-frame test: a frame whose first-pass image has fewer
    #: FAST corners than ``keep_inliers`` cannot show a recognisable artwork (an empty wall, a visitor's
    #: back, a door: a camera panning between paintings), so SIFT, the costly part, is not run on it.
    #: Recognised frames have many more: at least 74 of the benchmark's 950 views at 100 artworks
    #: (perspective, blur, light x0.5, occlusion), 48 at its ranges' worst corner with light x0.4 (a third
    #: of the frame, blur 1.5 px, JPEG 35); 28 of the demo walk's 164 full recognitions fall below 10
    BLANK_FAST_THRESHOLD = 8
    #: the first pass describes only the textured part of the frame: the grid cells (this fraction of the
    #: first-pass image's width on a side) holding at least :attr:`TEXTURE_MIN_CORNERS` of the blank test's
    #: FAST corners, their bounding box widened by :attr:`TEXTURE_MARGIN` of the long side. SIFT's cost
    #: grows with the pixels it looks at, and a wall holds no keypoint worth them: on the benchmark's views
    #: (100 artworks) the box is a median third of the frame and the first pass costs about a third less,
    #: with the same answers; on the demo walk the same decisions (cells of a twentieth and a margin of 3 %:
    #: 5 % more CPU, the same answers)
    TEXTURE_CELL = 1 / 32
    #: ... a cell with fewer corners is wall, sensor noise or a stray edge
    TEXTURE_MIN_CORNERS = 3
    #: ... the box's margin: SIFT ignores a few pixels at an image's edge, and a large keypoint's
    #: descriptor window reaches beyond its corners
    TEXTURE_MARGIN = 0.015
    #: ... and when the box covers more than this fraction of the image, the whole image is described
    TEXTURE_MAX_AREA = 0.8

    def __init__(
        self,
        index: RecognitionIndex,
        config: RecognitionConfig | None = None,
        *,
        geometry: GeometryLimits | None = None,
        prefilter: CandidatePrefilter | None = None,
    ):
        config = config or RecognitionConfig()
        self.config = config
        self.index = index
        self.ratio = config.ratio_test
        self.min_inliers = config.keep_inliers
        self.confident_inliers = config.accept_inliers
        self.min_inlier_ratio = self.MIN_INLIER_RATIO
        self.relative_tolerance = self.RELATIVE_TOLERANCE
        self.max_candidates = self.MAX_CANDIDATES
        self.ransac_px = self.RANSAC_PX
        self.flann_checks = self.FLANN_CHECKS
        self.geometry = geometry or GeometryLimits()
        self.prefilter = prefilter
        self.refine_min_matches = config.refine_min_matches
        self._settings = index.settings
        passes = [(config.process_width, config.process_features)]
        # a quick pass first: large, sharp views are found there at a third of the cost; unlike the
        # process_width pass it never ends the search for want of matches (small views show none at it)
        self._quick_pass = 0 < config.quick_width < config.process_width
        if self._quick_pass:
            passes.insert(0, (config.quick_width, config.process_features))
        if config.refine_width and config.refine_width > config.process_width:
            passes.append((config.refine_width, config.max_features))
        self._passes = [
            (
                w,
                self._settings.create_detector(
                    n,
                    self.FRAME_CONTRAST,
                    self.FRAME_OCTAVE_LAYERS,
                    self.REFINE_SIGMA if w > config.process_width else config.process_sigma,
                ),
            )
            for w, n in passes
        ]
        self._artworks = index.artworks
        # a shortlist narrower than the collection (a small one needs none)
        self._shortlist = config.shortlist if 0 < config.shortlist < len(self._artworks) else 0
        self._artwork_of_ref = np.array([index.artworks.index(a) for a in index.artwork_ids], dtype=np.int32)
        self._artwork_of_kp = self._artwork_of_ref[index.ref_of_keypoint]
        # each artwork's keypoints as ranges: an index keeps each reference's keypoints together, in order
        # (RecognitionIndex.load refuses a file that does not)
        starts = np.searchsorted(index.ref_of_keypoint, np.arange(len(index.artwork_ids) + 1))
        #: per artwork, the keypoint ranges ``(start, stop)`` of its references
        self._ranges_of_artwork: list[list[tuple[int, int]]] = [[] for _ in self._artworks]
        for ref, art in enumerate(self._artwork_of_ref.tolist()):
            self._ranges_of_artwork[art].append((int(starts[ref]), int(starts[ref + 1])))
        self._artwork_number = {a: i for i, a in enumerate(self._artworks)}
        self._exact_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # neighbours per frame keypoint: its match in every photo (and pyramid level) of one artwork, plus
        # one more for the ratio test against the nearest other artwork
        photos_per_artwork = max(np.bincount(self._artwork_of_ref))
        views_per_photo = self._settings.reference_levels + self._settings.reference_tilts
        self._k = int(min(16, 1 + views_per_photo * photos_per_artwork))
        t0 = time.perf_counter()
        # FLANN's randomised trees draw from OpenCV's thread RNG: a fixed seed makes the trees, and so the
        # approximate neighbours and every decision, the same in every process (else they depend on what
        # drew from the RNG before, e.g. an earlier recognizer in the same process)
        cv2.setRNGSeed(self.FLANN_SEED)
        if self._settings.kind == "sift":  # KD-trees (FLANN copies what it indexes: the index keeps codes)
            self._flann = cv2.flann_Index(
                index.search_descriptors(), {"algorithm": 1, "trees": self.FLANN_TREES}
            )
        else:  # LSH for binary descriptors
            self._flann = cv2.flann_Index(
                index.descriptors,
                {"algorithm": 6, "table_number": 12, "key_size": 20, "multi_probe_level": 2},
            )
        self.flann_build_seconds = time.perf_counter() - t0
        self._match_xy = np.zeros((0, 2), np.float32)  # frame pixels of the last pass's matches
        self._agreeing = 0  # the most of the last pass's matches that point to one artwork
        self._agreeing_art = -1  # the artwork they point to (-1: none)
        self._in_vain: tuple[float, int, int] | None = None  # the last refine pass that found nothing
        self._corners = cv2.FastFeatureDetector_create(self.BLANK_FAST_THRESHOLD)
        #: fewer FAST corners than this in the first-pass image: a blank frame (0: every frame is searched)
        self.blank_corners = self.min_inliers

    @classmethod
    def from_config(
        cls,
        config: RecognitionConfig,
        index: RecognitionIndex,
        *,
        prefilter: CandidatePrefilter | None = None,
    ) -> ArtworkRecognizer:
        """A recognizer with the exhibit's settings, as the daemon runs it: ``ArtworkRecognizer(index,
        config)`` in a process whose allocator keeps each frame's buffers for the next
        (:func:`.allocator.retain_frame_buffers`) and whose BLAS products run on the calling thread
        (:func:`.blas.single_threaded_blas`)."""
        retain_frame_buffers()
        single_threaded_blas()
        return cls(index, config, prefilter=prefilter)

    def recognize(
        self, frame_bgr: np.ndarray, t: float | None = None, *, gray: np.ndarray | None = None
    ) -> RecognitionResult:
        """Match one frame (BGR or grey uint8, any size) against the index.

        ``t``: the frame's time in seconds (a camera's frames, in order). Given, a refine pass that found
        nothing is not repeated for :attr:`REFINE_BACKOFF_S` on the same evidence: a first pass whose
        matches point mostly to the same artwork, and not :attr:`REFINE_MIN_AGREEING` more of them.
        ``gray``: the frame already converted to grey (a caller that needs it too converts it once).

        A blank frame (fewer FAST corners than ``keep_inliers`` at ``process_width``: see
        :attr:`BLANK_FAST_THRESHOLD`) is answered without a pass (``passes`` 0)."""
        t0 = time.perf_counter()
        gray = to_gray(frame_bgr) if gray is None else gray
        self._match_xy = np.zeros((0, 2), np.float32)
        self._agreeing, self._agreeing_art = 0, -1
        first = self._first_pass_image(gray)
        corners = self._corners.detect(first[0])
        if self.blank_corners and len(corners) < self.blank_corners:
            return RecognitionResult(None, 0.0, keypoints=0, seconds=time.perf_counter() - t0, passes=0)
        textured = self._textured_box(corners, first[0].shape)
        allowed = self.prefilter.candidates(frame_bgr) if self.prefilter is not None else None
        result = None
        region = None
        passes = 0
        refined_on = None  # the evidence (t, artwork, agreeing matches) a refine pass was run on
        for number, (width, detector) in enumerate(self._passes):
            scaled = first if width == self.config.process_width and region is None else None
            found = self._recognize_at(
                gray, width, detector, allowed, region, scaled, textured if scaled is not None else None
            )
            passes += 1
            if result is None or found.score > result.score or (found.artwork_id and not result.artwork_id):
                result = found
            if result.artwork_id is not None and result.score >= self.confident_inliers:
                break
            if gray.shape[1] <= width:  # the frame is no bigger than this pass: nothing finer to see
                break
            quick = number == 0 and self._quick_pass
            if not quick and (
                found.matches < self.refine_min_matches or self._agreeing < self.REFINE_MIN_AGREEING
            ):
                break  # nothing here resembles any artwork
            if not quick and t is not None:
                if self._refined_in_vain(t):
                    break
                refined_on = (t, self._agreeing_art, self._agreeing)
            # only the refine pass is limited to the region; the first full pass after a quick one sees it all
            region = None if quick else self._match_region(gray.shape)
        if refined_on is not None:
            self._in_vain = refined_on if result.artwork_id is None else None
        return RecognitionResult(
            result.artwork_id,
            result.score,
            result.outline,
            result.candidate_id,
            result.matches,
            result.keypoints,
            time.perf_counter() - t0,
            result.inliers,
            result.reference,
            passes,
        )

    def _first_pass_image(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        """The frame as the ``process_width`` pass sees it, and the scale factor applied."""
        fh, fw = gray.shape[:2]
        return resize_long_side(gray, round(self.config.process_width * max(fw, fh) / max(1, fw)))

    def _textured_box(
        self, corners: Sequence[cv2.KeyPoint], shape: tuple[int, ...]
    ) -> tuple[int, int, int, int] | None:
        """The part of the first-pass image (``shape``) worth describing: see :attr:`TEXTURE_CELL`. Its
        pixels ``(x0, y0, x1, y1)``, or None for the whole image (texture all over it, or nowhere dense)."""
        if not corners:
            return None
        h, w = shape[:2]
        cell = max(4, round(w * self.TEXTURE_CELL))
        columns = -(-w // cell)
        xy = cv2.KeyPoint_convert(corners).astype(np.int64) // cell
        counts = np.bincount(xy[:, 1] * columns + xy[:, 0])
        dense = np.flatnonzero(counts >= self.TEXTURE_MIN_CORNERS)
        if len(dense) == 0:
            return None
        rows, cols = np.divmod(dense, columns)
        margin = round(self.TEXTURE_MARGIN * max(w, h))
        x0, y0 = max(0, int(cols.min()) * cell - margin), max(0, int(rows.min()) * cell - margin)
        x1 = min(w, (int(cols.max()) + 1) * cell + margin)
        y1 = min(h, (int(rows.max()) + 1) * cell + margin)
        if (x1 - x0) * (y1 - y0) > self.TEXTURE_MAX_AREA * w * h:
            return None
        return x0, y0, x1, y1

    def _refined_in_vain(self, t: float) -> bool:
        """Whether a refine pass on this first pass's evidence found nothing moments ago (see
        :meth:`recognize`). A frame whose matches point to another artwork, or at least
        :attr:`REFINE_MIN_AGREEING` more of them to the same one, is refined: a new artwork entering the
        view, or the same one coming closer, is looked for at once."""
        last = self._in_vain
        return (
            last is not None
            and 0.0 <= t - last[0] <= self.REFINE_BACKOFF_S
            and last[1] == self._agreeing_art
            and self._agreeing < last[2] + self.REFINE_MIN_AGREEING
        )

    def _match_region(self, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        """Where the last pass's matches lie: their bounding box in frame pixels (x0, y0, x1, y1), widened
        by :attr:`REFINE_MARGIN` of the frame's long side on every side, or None (the whole frame) when
        that box covers most of the frame anyway."""
        xy = self._match_xy
        if len(xy) == 0:
            return None
        fh, fw = shape[:2]
        m = self.REFINE_MARGIN * max(fw, fh)
        x0, y0 = (max(0, int(v - m)) for v in xy.min(axis=0))
        x1, y1 = (int(min(lim, v + m + 1)) for v, lim in zip(xy.max(axis=0), (fw, fh), strict=True))
        if (x1 - x0) * (y1 - y0) > self.REFINE_MAX_AREA * fw * fh:
            return None
        return x0, y0, x1, y1

    def _recognize_at(
        self,
        gray: np.ndarray,
        width: int,
        detector: cv2.Feature2D,
        allowed: set[str] | None,
        region: tuple[int, int, int, int] | None = None,
        scaled: tuple[np.ndarray, float] | None = None,
        textured: tuple[int, int, int, int] | None = None,
    ) -> RecognitionResult:
        """One pass at ``width`` (``scaled``: the frame already at that width, and its factor;
        ``textured``: the box of that image worth describing, :meth:`_textured_box`)."""
        fh, fw = gray.shape[:2]
        small, s = scaled or resize_long_side(gray, round(width * max(fw, fh) / max(1, fw)))
        view, offset = small, np.zeros(2, np.float32)
        if region is not None:  # keypoints only there, in the whole frame's coordinates
            x0, y0, x1, y1 = (round(v * s) for v in region)
            view, offset = small[y0:y1, x0:x1], np.array([x0, y0], np.float32)
        elif textured is not None:  # the keypoints the whole image would give: the wall has none
            x0, y0, x1, y1 = textured
            view, offset = small[y0:y1, x0:x1], np.array([x0, y0], np.float32)
        n_features = detector.getNFeatures() if region is not None and hasattr(detector, "getNFeatures") else 0
        if n_features:  # the whole frame's keypoint density, not its count, in the region
            detector.setNFeatures(max(1, round(n_features * view.size / small.size)))
        try:
            xy, desc = detect_features(detector, view, self._settings.root_sift)
        finally:
            if n_features:
                detector.setNFeatures(n_features)
        xy += offset
        self._match_xy = np.zeros((0, 2), np.float32)
        self._agreeing, self._agreeing_art = 0, -1
        if desc is None or len(xy) < 8:
            return RecognitionResult(None, 0.0, keypoints=len(xy))
        query = self.index.query_descriptors(desc)
        narrowed = allowed is not None or self._shortlist
        k = min(max(self.NARROWED_NEIGHBOURS, self._k) if narrowed else self._k, len(self.index.keypoints))
        nn_idx, nn_dist = self._flann.knnSearch(query, k, params={"checks": self.flann_checks})
        strict_matches = None
        if self._shortlist:
            # matches as the whole collection judges them: what decides on a refine pass (the shortlist's
            # lenient test lets a frame of nothing match a little of everything)
            strict_q, strict_kp = self._ratio_test(nn_idx, nn_dist, allowed)
            strict_matches = len(strict_q)
            self._agreeing = self._most_agreeing(strict_kp)
            allowed = self._shortlisted(nn_idx, allowed)
        good_q, cand_kp = self._ratio_test(nn_idx, nn_dist, allowed)
        if not self._shortlist:
            self._agreeing = self._most_agreeing(cand_kp)
        self._match_xy = xy[good_q] / s
        counts_kw = {"matches": len(good_q) if strict_matches is None else strict_matches, "keypoints": len(xy)}
        frame_size = (small.shape[1], small.shape[0])
        best = self._best_candidate(good_q, cand_kp, xy, frame_size)
        if (
            self._shortlist
            and self.EXACT_SHORTLIST
            and self._settings.kind == "sift"
            and allowed
            and (best is None or best[0] < self.confident_inliers)
            and self._agreeing >= self.REFINE_MIN_AGREEING
        ):
            # the shortlist's keypoints searched exactly (not for a frame where no 3 matches agree on one
            # artwork: a frame of no artwork). Only a confident answer is taken from it: searched
            # exhaustively, a look-alike's keypoints give a few chance inliers too
            exact = self._best_candidate(
                *self._exact_ratio_test(query, allowed, nn_dist[:, -1]), xy, frame_size
            )
            if exact is not None and exact[0] >= self.confident_inliers:
                best = exact
        if best is None:
            return RecognitionResult(None, 0.0, **counts_kw)
        inliers, ref, outline, pairs = best
        art = self.index.artwork_ids[ref]
        if inliers < self.min_inliers:
            return RecognitionResult(None, float(inliers), None, art, **counts_kw)
        pairs[:, 2:] /= s
        return RecognitionResult(
            art,
            float(inliers),
            (outline / s).astype(np.float32),
            art,
            **counts_kw,
            inliers=pairs,
            reference=ref,
        )

    def _best_candidate(
        self, good_q: np.ndarray, cand_kp: np.ndarray, xy: np.ndarray, frame_size: tuple[int, int]
    ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        """The reference whose matches a homography explains best: ``(inliers, reference, outline, inlier
        pairs)`` in the pass's pixels, or None."""
        if len(good_q) < self.min_inliers:
            return None
        by_ref = self._matches_by_reference(good_q, cand_kp)
        best = None
        ransac_px = self.ransac_px * frame_size[0] / 480.0
        ranked = sorted(by_ref.items(), key=lambda item: -len(item[1][0]))
        for ref, (q_sel, kp_sel) in ranked[: self.max_candidates]:
            if len(q_sel) < self.min_inliers:
                break
            if best is not None and best[0] >= len(q_sel):
                break  # no more inliers than matches: this reference and those after it cannot win
            found = self._verify(ref, self.index.keypoints[kp_sel], xy[q_sel], frame_size, ransac_px)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], ref, found[1], found[2])
        return best

    def _exact_ratio_test(
        self, query: np.ndarray, allowed: set[str], fallback_second: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_ratio_test` on exact distances to the keypoints of the ``allowed`` artworks (a shortlist):
        the same rule and the same output (one neighbour per reference), without FLANN's misses.
        ``fallback_second``: per query, a lower bound of the distance to any other artwork, for a
        shortlist of one."""
        arts = sorted(self._artwork_number[a] for a in allowed)
        blocks = [self._exact_block(a) for a in arts]
        ref_desc = np.concatenate([b[0] for b in blocks]) if len(blocks) > 1 else blocks[0][0]
        ref_sq = np.concatenate([b[1] for b in blocks]) if len(blocks) > 1 else blocks[0][1]
        q = np.ascontiguousarray(query, dtype=np.float32)
        d = q @ ref_desc.T
        d *= -2.0
        d += ref_sq
        d += (q * q).sum(axis=1)[:, None]  # squared distances, as FLANN gives them
        offsets = np.r_[0, np.cumsum([len(b[1]) for b in blocks])]
        per_art = np.minimum.reduceat(d, offsets[:-1], axis=1)  # nearest keypoint of each artwork
        if len(arts) > 1:
            two = np.partition(per_art, 1, axis=1)
            d_best, d_second = two[:, 0], two[:, 1]
        else:
            d_best, d_second = per_art[:, 0], fallback_second
        best = np.argmin(per_art, axis=1)
        limit = (self.ratio**2) * d_second
        q_idx = np.nonzero(d_best < limit)[0]
        width = max(len(self._ranges_of_artwork[a]) for a in arts)
        cand = np.full((len(q_idx), width), -1, dtype=np.int64)
        for j, art in enumerate(arts):
            sel = np.nonzero(best[q_idx] == j)[0]
            if len(sel) == 0:
                continue
            rows = q_idx[sel]
            col = offsets[j]
            for c, (start, stop) in enumerate(self._ranges_of_artwork[art]):
                block = d[rows, col : col + stop - start]
                nearest = np.argmin(block, axis=1)
                ok = block[np.arange(len(rows)), nearest] < limit[rows]
                cand[sel[ok], c] = start + nearest[ok]
                col += stop - start
        return q_idx, cand

    def _exact_block(self, art: int) -> tuple[np.ndarray, np.ndarray]:
        """One artwork's search-space descriptors (float32, its references in order) and their squared
        norms; the last few artworks' are kept (a shortlist changes little from frame to frame)."""
        block = self._exact_cache.pop(art, None)
        if block is None:
            codes = np.concatenate([self.index.descriptors[a:b] for a, b in self._ranges_of_artwork[art]])
            desc = self.index.codec.decode(codes) if self.index.codec is not None else codes.astype(np.float32)
            block = (np.ascontiguousarray(desc), (desc * desc).sum(axis=1))
            if len(self._exact_cache) >= self.EXACT_CACHE:
                self._exact_cache.pop(next(iter(self._exact_cache)))  # the least recently used
        self._exact_cache[art] = block
        return block

    def _most_agreeing(self, cand_kp: np.ndarray) -> int:
        """The most matches (rows of ``cand_kp`` from :meth:`_ratio_test`) that point to one artwork."""
        if len(cand_kp) == 0:
            self._agreeing_art = -1
            return 0
        votes = np.bincount(self._artwork_of_kp[cand_kp.max(axis=1)])
        self._agreeing_art = int(votes.argmax())
        return int(votes.max())

    def _shortlisted(self, nn_idx: np.ndarray, allowed: set[str] | None) -> set[str]:
        """The ``shortlist`` artworks (of ``allowed``) that hold the most frame keypoints' nearest neighbours:
        the ratio test then compares a match only with these, as in a small collection, instead of with
        the many look-alikes of a large one (the geometric check still judges every candidate)."""
        nearest = nn_idx[:, 0]
        votes = np.bincount(self._artwork_of_kp[nearest[nearest >= 0]], minlength=len(self._artworks))
        ranked = [self._artworks[i] for i in np.argsort(-votes, kind="stable") if votes[i] > 0]
        if allowed is not None:
            ranked = [a for a in ranked if a in allowed]
        return set(ranked[: self._shortlist])

    def _ratio_test(
        self, nn_idx: np.ndarray, nn_dist: np.ndarray, allowed: set[str] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matches whose nearest neighbour is clearly nearer than the nearest keypoint of any other artwork
        (Lowe's rule for several objects: the second neighbour must come from another object, or several
        photos and repeated motifs of one artwork would veto each other). FLANN gives squared distances
        (SIFT) or Hamming distances (ORB).

        Returns the passing query indices ``(m,)`` and, per passing query, its neighbours ``(m, k)`` that
        belong to the matched artwork and pass the ratio test themselves (keypoint indices, -1 elsewhere):
        with several photos of one artwork a frame keypoint's nearest neighbour may lie in either photo,
        and each photo's geometric check needs its own match."""
        valid = nn_idx >= 0
        nn_idx = np.where(valid, nn_idx, 0)
        art = self._artwork_of_kp[nn_idx]
        if allowed is not None:  # neighbours outside the candidates are ignored entirely
            allowed_ids = np.array(
                [i for i, a in enumerate(self.index.artworks) if a in allowed], dtype=np.int32
            )
            valid &= np.isin(art, allowed_ids)
        rows = np.arange(len(nn_idx))
        best_col = np.argmax(valid, axis=1)
        keep = valid[rows, best_col]
        d_best = nn_dist[rows, best_col].astype(np.float64)
        a_best = art[rows, best_col]
        # second: the first later neighbour that is not "same artwork, other photo"
        d_second = np.full(len(nn_idx), np.inf)
        found = np.zeros(len(nn_idx), dtype=bool)
        for c in range(nn_idx.shape[1]):
            later = (c > best_col) & valid[:, c] & ~found
            skip = art[:, c] == a_best
            take = later & ~skip
            d_second = np.where(take, nn_dist[:, c], d_second)
            found |= take
        # no qualifying second neighbour within k: the last distance is a lower bound of it
        d_second = np.where(found, d_second, nn_dist[:, -1])
        limit = (self.ratio**2) * d_second if self._settings.kind == "sift" else self.ratio * d_second
        passes = keep & (d_best < limit)
        q = np.nonzero(passes)[0]
        same = valid[q] & (art[q] == a_best[q, None]) & (nn_dist[q] < limit[q, None])
        return q, np.where(same, nn_idx[q], -1)

    def _matches_by_reference(
        self, q: np.ndarray, cand_kp: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Reference number -> (query indices, reference keypoint indices): each query's nearest neighbour in
        that reference, each reference keypoint used once (duplicates make RANSAC overconfident)."""
        cand_ref = np.where(cand_kp >= 0, self.index.ref_of_keypoint[np.maximum(cand_kp, 0)], -1)
        first = cand_ref >= 0
        for c in range(1, cand_ref.shape[1]):  # only a query's nearest neighbour within each reference
            first[:, c] &= np.all(cand_ref[:, :c] != cand_ref[:, c : c + 1], axis=1)
        rows, cols = np.nonzero(first)
        refs = cand_ref[rows, cols]
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for ref in np.unique(refs):
            sel = refs == ref
            kp = cand_kp[rows[sel], cols[sel]]
            _, first_of = np.unique(kp, return_index=True)
            out[int(ref)] = (q[rows[sel][first_of]], kp[first_of])
        return out

    def _verify(
        self,
        ref: int,
        ref_xy: np.ndarray,
        frame_xy: np.ndarray,
        frame_size: tuple[int, int],
        ransac_px: float,
    ) -> tuple[int, np.ndarray, np.ndarray] | None:
        """RANSAC homography reference -> frame; ``(inliers, outline, inlier pairs (n, 4))`` if the outline
        is sane, else None."""
        if len(ref_xy) < 4:
            return None
        h, mask = cv2.findHomography(ref_xy, frame_xy, cv2.RANSAC, ransac_px, maxIters=1000, confidence=0.995)
        if h is None or mask is None:
            return None
        inl = mask.ravel().astype(bool)
        n_in = int(inl.sum())
        if n_in < 4:
            return None
        w, hgt = (float(v) for v in self.index.ref_sizes[ref])
        corners = np.array([[[0, 0]], [[w, 0]], [[w, hgt]], [[0, hgt]]], np.float32)
        outline = cv2.perspectiveTransform(corners, h).reshape(4, 2)
        problem = outline_problem(outline, (w, hgt), frame_size, self.geometry)
        if problem is None:
            # a fixed pixel tolerance is loose for a painting seen small: recount the inliers with a
            # tolerance relative to the outline's size (1.2 % of its diagonal, at least 1.5 px)
            diag = 0.5 * float(
                np.linalg.norm(outline[2] - outline[0]) + np.linalg.norm(outline[3] - outline[1])
            )
            tol = min(ransac_px, max(1.5, self.relative_tolerance * diag))
            projected = cv2.perspectiveTransform(ref_xy.reshape(-1, 1, 2).astype(np.float32), h).reshape(
                -1, 2
            )
            inl = np.linalg.norm(projected - frame_xy, axis=1) < tol
            n_in = int(inl.sum())
        if problem is None and n_in >= 4:
            hull = cv2.convexHull(ref_xy[inl].astype(np.float32))
            spread = float(cv2.contourArea(hull)) / (w * hgt)
            if spread < self.geometry.min_inlier_spread:
                problem = f"inliers cover only {spread:.3f} of the reference"
        if problem is None and n_in < self.min_inlier_ratio * len(ref_xy):
            # look-alike paintings (a repeated motif, a lattice of windows) give many matches of which
            # a homography explains only a minority; the true painting's matches mostly agree
            problem = f"only {n_in} of {len(ref_xy)} matches agree"
        if problem is not None:
            logger.debug("candidate %s rejected: %s (%d inliers)", self.index.artwork_ids[ref], problem, n_in)
            return None
        return n_in, outline, np.hstack([ref_xy[inl], frame_xy[inl]]).astype(np.float32)
