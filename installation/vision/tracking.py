"""Between two full recognitions: is the picture still, and is the recognised artwork still there?

A full recognition (keypoints of the whole frame matched against the whole index) costs tens of
milliseconds; most of the time the camera sees what it saw a moment ago. Two cheap tests come first:

- :class:`SceneGate`: a thumbnail (80 pixels wide, grey) of the frame against the thumbnail of the frame
  last recognised. When fewer than ``change_fraction`` of its pixels changed by more than a sensor's
  noise, the picture is *still* and the last result holds (the debouncer still hears it every interval,
  so dwell, hold and idle timing keep their meaning).
- :class:`ArtworkTracker`: when the picture moved but an artwork was recognised, its inlier keypoints are
  followed by pyramidal Lucas-Kanade optical flow (forward and back, so a lost point is dropped) and a
  homography from the reference photo is fitted again. Enough agreeing points on a sane outline confirm
  the artwork at a fraction of the cost; otherwise (it left the frame, a visitor covers it) the full
  recognition runs. Either way the result has the recognizer's meaning: the score is a count of
  geometrically agreeing keypoints.
"""

from __future__ import annotations

import cv2
import numpy as np

from art2mus.installation.config.vision import RecognitionConfig
from art2mus.installation.vision.recognizer import (
    GeometryLimits,
    RecognitionResult,
    outline_problem,
)

THUMB_WIDTH = 80
#: a pixel of the thumbnail "changed" when its grey level moved by more than this (sensor noise, video
#: compression and a hand-held camera's tremor stay below it)
PIXEL_CHANGE = 16


def thumbnail(image: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A small grey copy of a BGR or grey frame (``width`` pixels wide), int16 for differences."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.int16)


def _inside_fraction(outline: np.ndarray, size: tuple[int, int]) -> float:
    """Fraction of the convex ``outline``'s area inside a ``size`` (w, h) frame."""
    quad = outline.astype(np.float32).reshape(-1, 1, 2)
    area = float(cv2.contourArea(quad))
    if area <= 0:
        return 0.0
    w, h = size
    frame = np.array([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]], np.float32)
    inter, _ = cv2.intersectConvexConvex(quad, frame)
    return float(inter) / area


class SceneGate:
    """Decides whether a frame differs enough from the last recognised one to be recognised again.

    Args:
        change_fraction: (``recognition.still_change_fraction``) a frame is still while fewer than this fraction of its thumbnail's pixels
            changed (by more than :data:`PIXEL_CHANGE` grey levels) since the reference; 0 turns the gate
            off (every due frame is recognised).
    """

    def __init__(self, change_fraction: float = RecognitionConfig().still_change_fraction):
        if not 0 <= change_fraction < 1:
            raise ValueError(f"change_fraction must be in [0, 1), got {change_fraction}")
        self.change_fraction = change_fraction
        self._reference: np.ndarray | None = None

    def reset(self) -> None:
        self._reference = None

    def changed_fraction(self, thumb: np.ndarray) -> float:
        """Fraction of pixels changed since the reference (1.0 when there is none or sizes differ)."""
        ref = self._reference
        if ref is None or ref.shape != thumb.shape:
            return 1.0
        return float(np.count_nonzero(np.abs(thumb - ref) > PIXEL_CHANGE)) / thumb.size

    def is_still(self, thumb: np.ndarray) -> bool:
        return self.change_fraction > 0 and self.changed_fraction(thumb) < self.change_fraction

    def remember(self, thumb: np.ndarray) -> None:
        """``thumb`` is the frame whose result now holds (recognised or tracked)."""
        self._reference = thumb


class ArtworkTracker:
    """Follows the recognised artwork's inlier keypoints from frame to frame by optical flow.

    Args:
        width: frames are tracked at this width (pixels); the recognizer's first-pass width is enough.
        min_points: fewest agreeing points that confirm the artwork (the recognizer's ``min_inliers``).
        geometry: outline sanity limits (the recognizer's).
        min_inside: fraction of the tracked outline's area that must lie inside the frame (an artwork
            leaving the frame is handed back to the full recognizer).
        reference_sizes: (width, height) of every reference photo in index pixels, ``(n_refs, 2)``.
    """

    #: a point is kept when tracking it back lands within this many pixels (at ``width``) of where it was
    FORWARD_BACK_PX = 1.0
    #: pyramid levels of Lucas-Kanade optical flow above the frame: a camera panning between two due
    #: frames (0.2 s) moves the picture further than two levels reach (a 60 px pan of a 640 px frame kept
    #: 12 of 63 points with two, 45 with three; on the demo walk 22 -> 16 lost trackings)
    LK_LEVELS = 3

    def __init__(
        self,
        reference_sizes: np.ndarray,
        *,
        width: int = 320,
        min_points: int = 8,
        geometry: GeometryLimits | None = None,
        min_inside: float = 0.9,
    ):
        self.reference_sizes = reference_sizes
        self.min_inside = min_inside
        self.width = width
        self.min_points = min_points
        self.geometry = geometry or GeometryLimits()
        self._lk = {
            "winSize": (15, 15),
            "maxLevel": self.LK_LEVELS,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        }
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._ref_xy = np.zeros((0, 2), np.float32)
        self._xy = np.zeros((0, 2), np.float32)
        self._artwork: str | None = None
        self._reference = -1

    @property
    def active(self) -> bool:
        return self._artwork is not None

    @property
    def artwork(self) -> str | None:
        """The artwork followed, or None."""
        return self._artwork

    def _gray(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        s = min(1.0, self.width / w)
        small = image if s >= 1.0 else cv2.resize(image, (round(w * s), max(1, round(h * s))), cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return small, s

    def start(self, image: np.ndarray, result: RecognitionResult) -> None:
        """Follow ``result``'s artwork from ``image`` on (a result without inliers stops tracking)."""
        if result.artwork_id is None or result.inliers is None or len(result.inliers) < self.min_points:
            self.reset()
            return
        self._prev, s = self._gray(image)
        self._ref_xy = np.ascontiguousarray(result.inliers[:, :2])
        self._xy = np.ascontiguousarray(result.inliers[:, 2:] * s)
        self._artwork = result.artwork_id
        self._reference = result.reference

    def track(self, image: np.ndarray) -> RecognitionResult | None:
        """The artwork in ``image`` if its keypoints followed it onto a sane outline, else None (and the
        tracker stops)."""
        if self._prev is None or self._artwork is None:
            return None
        gray, s = self._gray(image)
        if gray.shape != self._prev.shape:
            self.reset()
            return None
        pts = self._xy.reshape(-1, 1, 2)
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(self._prev, gray, pts, None, **self._lk)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, self._prev, nxt, None, **self._lk)
        good = (ok.ravel() == 1) & (ok_back.ravel() == 1)
        good &= np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < self.FORWARD_BACK_PX
        if int(good.sum()) < self.min_points:
            self.reset()
            return None
        ref_xy, xy = self._ref_xy[good], nxt.reshape(-1, 2)[good]
        h, mask = cv2.findHomography(ref_xy, xy, cv2.RANSAC, 3.0)
        if h is None or mask is None or int(mask.sum()) < self.min_points:
            self.reset()
            return None
        inl = mask.ravel().astype(bool)
        w_ref, h_ref = (float(v) for v in self.reference_sizes[self._reference])
        corners = np.array([[[0, 0]], [[w_ref, 0]], [[w_ref, h_ref]], [[0, h_ref]]], np.float32)
        outline = cv2.perspectiveTransform(corners, h).reshape(4, 2)
        size = (gray.shape[1], gray.shape[0])
        if outline_problem(outline, (w_ref, h_ref), size, self.geometry) is not None or (
            _inside_fraction(outline, size) < self.min_inside
        ):
            self.reset()  # gone, or leaving the frame: the full recognizer decides
            return None
        self._prev, self._ref_xy, self._xy = gray, ref_xy[inl], np.ascontiguousarray(xy[inl])
        n = int(inl.sum())
        pairs = np.hstack([self._ref_xy, self._xy / s]).astype(np.float32)
        return RecognitionResult(
            self._artwork,
            float(n),
            (outline / s).astype(np.float32),
            self._artwork,
            matches=n,
            keypoints=n,
            inliers=pairs,
            reference=self._reference,
        )
