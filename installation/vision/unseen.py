"""Artworks the room has never seen: a framed picture that recognition calls unknown, found, rectified and
described, so the gallery can give it a soundscape of its own and know it again.

- :func:`find_picture`: the largest convex quadrilateral of the frame's edges that looks like a framed
  picture seen in perspective (corner angles, opposite sides alike, not cut by the frame's edge, a
  textured, sharp inside that is not printed matter); walls (even a doorway: a flat inside), visitors (no
  four straight sides), blurred frames (no sharp inside) and framed posters or notices (dark strokes on a
  flat, colourless ground: :func:`looks_printed`) do not qualify.
- :func:`rectify`: the picture warped to a fronto-parallel crop (the only image of it ever kept), at the
  picture's own size in the frame (:func:`crop_long_side`).
- :func:`describe` / :meth:`PictureDescriptor.distance`: a compact descriptor, robust to the angle left
  after rectification and to light: a 63-bit DCT hash of the grey crop and a 4x4 grid of its chroma
  (a, b of Lab with the lightness removed).
- :class:`UnseenWatcher`: the dwell: the same picture in view for ``dwell_seconds``, then (once) a look-up
  in the :class:`~art2mus.installation.unseen_store.UnseenStore`, which gives its id; like a listed artwork
  it rides out misses (a passer-by, a shaken camera) for ``presence.hold_seconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from art2mus.installation.config.vision import PresenceConfig

logger = logging.getLogger(__name__)

#: what the director plays for an unseen artwork: ``unseen:<id>``
UNSEEN_PREFIX = "unseen:"
#: frames are searched at this width (pixels)
SEARCH_WIDTH = 320
#: the rectified crop's long side (pixels) at least: a picture seen smaller is scaled up to it ...
CROP_LONG_SIDE = 256
#: ... and at most: the crop is the artwork's image for good (its soundscape is made from it, and
#: ``art2mus unseen promote`` makes it the reference photo), so it keeps the detail the camera saw up to
#: what a reference photo needs (the photo checks ask for 640 px; the index describes photos at 480 by
#: default); beyond that it only costs disk
KEEP_LONG_SIDE = 1024
#: a picture's inside must be at least this textured (grey-level standard deviation) ...
MIN_INSIDE_STD = 18.0
#: ... and this sharp (:func:`sharpness`; a frame blurred by a 5-pixel Gaussian falls below it)
MIN_SHARPNESS = 0.08
#: a pixel is colourless (paper, ink) below this chroma (Lab, 8-bit units: sqrt(a'^2 + b'^2))
NEUTRAL_CHROMA = 12.0
#: printed matter (:func:`looks_printed`): at least this share of the inside colourless (a framed poster on
#: the 90 s test walk: 0.94-0.95; the demo's paintings at most 0.56, the Mondrian-like
#: composition-with-signals; the walk's paintings, dim light included, at most 0.48) ...
PRINTED_NEUTRAL_SHARE = 0.8
#: ... at least this share one flat level, the ground (the poster: 0.41-0.68; the paintings: 0.08-0.43) ...
PRINTED_GROUND_SHARE = 0.3
#: ... and at most this share lighter than the ground: marks are darker than their paper (the poster: 0;
#: the demo's paintings drained of their colour: 0.14 and more, but for composition-with-signals, line art)
PRINTED_ABOVE_GROUND_SHARE = 0.05


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Four points as TL, TR, BR, BL (clockwise on screen, y down)."""
    pts = np.asarray(quad, np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # clockwise from the left (y down)
    start = int(np.argmin(pts.sum(axis=1)))  # top-left: the smallest x + y
    return np.roll(pts, -start, axis=0)


def _corner_angles(quad: np.ndarray) -> np.ndarray:
    prev = np.roll(quad, 1, axis=0) - quad
    nxt = np.roll(quad, -1, axis=0) - quad
    cos = (prev * nxt).sum(axis=1) / (np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def plausible_view(quad: np.ndarray, size: tuple[int, int], *, margin: float = 3.0) -> bool:
    """Whether ``quad`` (TL, TR, BR, BL) can be a flat rectangle seen in perspective in a ``size`` (w, h)
    frame: corners between 55 and 125 degrees, opposite sides within 1.6 x of each other, an aspect ratio
    between 1:3 and 3:1, and no corner on the frame's edge (a picture cut by the edge is not whole)."""
    w, h = size
    if np.any(quad[:, 0] < margin) or np.any(quad[:, 1] < margin):
        return False
    if np.any(quad[:, 0] > w - 1 - margin) or np.any(quad[:, 1] > h - 1 - margin):
        return False
    angles = _corner_angles(quad)
    if np.any(angles < 55) or np.any(angles > 125):
        return False
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    if sides.min() < 8:
        return False
    if max(sides[0], sides[2]) / min(sides[0], sides[2]) > 1.6:
        return False
    if max(sides[1], sides[3]) / min(sides[1], sides[3]) > 1.6:
        return False
    aspect = (sides[0] + sides[2]) / (sides[1] + sides[3])
    return 1 / 3 <= aspect <= 3


def rectify(image: np.ndarray, quad: np.ndarray, long_side: int = CROP_LONG_SIDE) -> np.ndarray:
    """The picture inside ``quad`` (TL, TR, BR, BL, frame pixels) warped fronto-parallel, its long side
    ``long_side`` pixels and its aspect ratio the mean of its opposite sides'."""
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    aspect = (sides[0] + sides[2]) / max(1e-6, sides[1] + sides[3])
    w, h = (
        (long_side, max(8, round(long_side / aspect)))
        if aspect >= 1
        else (max(8, round(long_side * aspect)), long_side)
    )
    target = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(quad, np.float32), target)
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def crop_long_side(quad: np.ndarray) -> int:
    """The long side (pixels) to rectify the picture inside ``quad`` (TL, TR, BR, BL, frame pixels) at:
    its own long side in the frame (the mean of its opposite sides), within :data:`CROP_LONG_SIDE` and
    :data:`KEEP_LONG_SIDE`: no detail the camera saw is thrown away, none it did not see is made up
    beyond the smallest crop."""
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    seen = max(sides[0] + sides[2], sides[1] + sides[3]) / 2
    return int(min(KEEP_LONG_SIDE, max(CROP_LONG_SIDE, round(float(seen)))))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the crop's grey copy at 128 px over its variance: the share of fine
    detail in its contrast, low for a blurred picture whatever its light."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(grey.astype(np.float64), (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var() / (small.var() + 1e-6))


def printed_matter(crop: np.ndarray) -> tuple[float, float, float]:
    """What tells printed matter from a painting in a BGR crop, at 128 x 128: the share of its pixels that
    are colourless (chroma below :data:`NEUTRAL_CHROMA`), the share within 8 levels of lightness (of 255)
    of the most common lightness (its ground), and the share lighter than that."""
    small = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness = lab[..., 0]
    neutral = float((np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0) < NEUTRAL_CHROMA).mean())
    levels = np.bincount((lightness // 4).astype(np.int64).ravel(), minlength=64)
    ground = (int(np.argmax(levels)) + 0.5) * 4
    return (
        neutral,
        float((np.abs(lightness - ground) < 8).mean()),
        float((lightness >= ground + 8).mean()),
    )


def looks_printed(crop: np.ndarray) -> bool:
    """Whether a BGR crop is text or line art (a framed poster, a notice): dark marks on a light ground,
    without colour: mostly colourless (:data:`PRINTED_NEUTRAL_SHARE`), much of it one flat level
    (:data:`PRINTED_GROUND_SHARE`) and next to nothing lighter (:data:`PRINTED_ABOVE_GROUND_SHARE`). A
    monochrome painting or photograph has lights above its commonest tone, and still counts."""
    if crop.ndim != 3:
        return False  # a grey camera shows no colour to judge by
    neutral, ground, above = printed_matter(crop)
    return (
        neutral >= PRINTED_NEUTRAL_SHARE
        and ground >= PRINTED_GROUND_SHARE
        and above <= PRINTED_ABOVE_GROUND_SHARE
    )


def find_picture(image: np.ndarray, min_area_fraction: float) -> np.ndarray | None:
    """The framed picture of ``image`` (BGR), as its corners (TL, TR, BR, BL) in frame pixels, or None.

    The largest convex quadrilateral of the edges whose area is at least ``min_area_fraction`` of the
    frame, whose shape is a :func:`plausible_view` and whose inside is textured, sharp and not printed
    matter (:func:`looks_printed`)."""
    h, w = image.shape[:2]
    s = min(1.0, SEARCH_WIDTH / w)
    small = (
        image
        if s >= 1
        else cv2.resize(image, (round(w * s), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    )
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 30, 90)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sh, sw = grey.shape[:2]
    least = min_area_fraction * sw * sh
    for contour in sorted(contours, key=cv2.contourArea, reverse=True):
        area = cv2.contourArea(contour)
        if area < least:
            break
        approx = cv2.approxPolyDP(contour, 0.03 * cv2.arcLength(contour, True), True)
        if len(approx) != 4 or not cv2.isContourConvex(approx):
            continue
        quad = order_corners(approx)
        if not plausible_view(quad, (sw, sh)):
            continue
        crop = rectify(small, quad, 128)
        grey_crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        if float(grey_crop.std()) < MIN_INSIDE_STD or sharpness(crop) < MIN_SHARPNESS:
            continue  # a doorway, a blank panel or a blurred view
        if looks_printed(crop):
            continue  # a framed poster or notice: not an artwork to give a soundscape
        return (quad / s).astype(np.float32)
    return None


#: a descriptor's chroma values: a and b of each cell of the 4 x 4 grid
CHROMA_VALUES = 32


@dataclass(frozen=True)
class PictureDescriptor:
    """A compact, light- and angle-robust description of a rectified picture.

    Attributes:
        bits: 63-bit hash: the signs of the low-frequency DCT coefficients (8 x 8 less DC) of the grey
            crop at 32 x 32, against their median.
        chroma: the mean a and b (Lab) of a 4 x 4 grid, 32 values in [-1, 1].
    """

    bits: int
    chroma: tuple[float, ...]

    def distance(self, other: PictureDescriptor) -> float:
        """0 for the same picture, about 1 for unrelated ones: hash bits that differ (of 63) plus the
        chroma grids' mean absolute difference (scaled so 0.1 counts as much as all the bits)."""
        hamming = bin(self.bits ^ other.bits).count("1") / 63.0
        chroma = float(np.abs(np.array(self.chroma) - np.array(other.chroma)).mean()) * 10.0
        return 0.6 * hamming + 0.4 * min(1.0, chroma)

    def to_json(self) -> dict:
        return {"bits": f"{self.bits:016x}", "chroma": [round(v, 4) for v in self.chroma]}

    @classmethod
    def from_json(cls, data: dict) -> PictureDescriptor:
        """Read :meth:`to_json`'s dict. Raises ValueError for one that :func:`describe` cannot have made:
        the store reads it at start, and a bad one would otherwise fail every later match."""
        descriptor = cls(int(data["bits"], 16), tuple(float(v) for v in data["chroma"]))
        if descriptor.bits >> 63 or len(descriptor.chroma) != CHROMA_VALUES:
            raise ValueError(
                f"not a picture descriptor: {len(descriptor.chroma)} chroma values, expected {CHROMA_VALUES}, "
                f"and bits {data['bits']!r}, expected 63"
            )
        return descriptor


def describe(crop: np.ndarray) -> PictureDescriptor:
    """The :class:`PictureDescriptor` of a rectified BGR crop."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = (small - small.mean()) / (small.std() + 1e-6)  # light: gain and offset removed
    coeffs = cv2.dct(small)[:8, :8].ravel()[1:]
    bits = 0
    for bit in coeffs > np.median(coeffs):
        bits = (bits << 1) | int(bit)
    lab = cv2.cvtColor(cv2.resize(crop, (4, 4), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB).astype(
        np.float32
    )
    chroma = ((lab[..., 1:] - 128.0) / 128.0).ravel()
    return PictureDescriptor(bits, tuple(float(v) for v in chroma))


#: :class:`ListedLook` compares pictures at this size (w, h): blur and a crop's few pixels of slack vanish
LOOK_SIZE = (24, 18)
#: ... leaving out cells this light (Lab L, 0-100): a glare on the glass, which hides the picture under it
GLARE_LIGHTNESS = 88.0
#: ... and trying the crop with this much of each side cut off (a crop may hold the frame, the photo not)
LOOK_INSETS = (0.0, 0.04, 0.08)
#: a crop this near a listed photo (:meth:`ListedLook.nearest`) ... On the demo: a listed painting's crops
#: 0.15-0.20, behind a glare on 13 % of the frame 0.40-0.46, blurred 0.41; the unseen walk's unlisted
#: landscape 0.64-0.69 from its nearest listed one
LISTED_LOOK_DISTANCE = 0.55
#: ... and this much nearer it than to any other listed photo (the glare crops: 0.27-0.30; the unlisted
#: landscape: 0.02-0.18)
LISTED_LOOK_MARGIN = 0.2


def _look(image: np.ndarray) -> np.ndarray:
    """``image`` (BGR) at :data:`LOOK_SIZE` in Lab (float32, L 0-100)."""
    small = cv2.resize(image, LOOK_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return cv2.cvtColor(small, cv2.COLOR_BGR2LAB)


class ListedLook:
    """Whether a rectified crop looks like a listed artwork's photo, by its whole picture: what keeps a
    listed painting the recognizer missed (a glare on the glass, a blurred camera) from being made an
    unseen artwork. Keypoints fail there; a tiny picture of the crop, its glare left out, does not.

    Args:
        references: (artwork id, BGR photo) pairs, read when first needed (an exhibit's photos).
    """

    def __init__(self, references: Callable[[], list[tuple[str, np.ndarray]]]):
        self._references = references
        self._looks: list[tuple[str, np.ndarray]] | None = None

    def _listed(self) -> list[tuple[str, np.ndarray]]:
        if self._looks is None:
            self._looks = [(artwork_id, _look(image)) for artwork_id, image in self._references()]
        return self._looks

    def nearest(self, crop: np.ndarray) -> list[tuple[float, str]]:
        """``(distance, artwork id)`` of each listed artwork, nearest first: the mean difference of the
        crop's lightness (gain and offset removed, in standard deviations) and chroma (/ 20) from the
        photo's over the cells that no glare hides; about 0.7 for an unrelated picture."""
        h, w = crop.shape[:2]
        crops = [
            _look(crop[round(h * f) : h - round(h * f), round(w * f) : w - round(w * f)]) for f in LOOK_INSETS
        ]
        best: dict[str, float] = {}
        for look in crops:
            seen = look[..., 0] <= GLARE_LIGHTNESS
            if seen.mean() < 0.4:
                continue  # mostly glare: nothing to compare
            lightness = look[..., 0][seen]
            lightness = (lightness - lightness.mean()) / (lightness.std() + 1e-3)
            chroma = look[..., 1:][seen]
            for artwork_id, photo in self._listed():
                other = photo[..., 0][seen]
                other = (other - other.mean()) / (other.std() + 1e-3)
                distance = (
                    float(np.abs(lightness - other).mean())
                    + float(np.abs(chroma - photo[..., 1:][seen]).mean()) / 10.0
                ) / 3.0
                best[artwork_id] = min(distance, best.get(artwork_id, np.inf))
        return sorted((d, a) for a, d in best.items())

    def match(self, crop: np.ndarray) -> str | None:
        """The listed artwork ``crop`` looks like (:data:`LISTED_LOOK_DISTANCE`, with
        :data:`LISTED_LOOK_MARGIN` to the next), else None."""
        ranked = self.nearest(crop)
        if not ranked or ranked[0][0] > LISTED_LOOK_DISTANCE:
            return None
        if len(ranked) > 1 and ranked[1][0] - ranked[0][0] < LISTED_LOOK_MARGIN:
            return None
        return ranked[0][1]


@dataclass(frozen=True)
class UnseenSighting:
    """An unseen picture that has stayed in view for the dwell time: its crop (BGR) and descriptor."""

    crop: np.ndarray
    descriptor: PictureDescriptor
    outline: np.ndarray


#: a picture whose outline moved further than ``max_shift`` between two looks (a camera shaken, a view
#: seen again after a miss) is still the same if its outline moved at most this many times ``max_shift``
#: and its look is within :data:`SAME_LOOK_DISTANCE` of what it was
SAME_OUTLINE_SLACK = 3.0
#: the same picture's 128-px crops on the 90 s test walk, 0.2-1.6 s apart: 0.01-0.05; a smaller quadrilateral
#: inside it (a shaken frame's partial outline): 0.21-0.25
SAME_LOOK_DISTANCE = 0.12
_PRESENCE = PresenceConfig()


@dataclass
class _Picture:
    """A picture the watcher follows: its latest outline (frame pixels), when it was first and last seen
    (seconds) and its descriptor when first seen (128-px crop)."""

    outline: np.ndarray
    since: float
    seen: float
    look: PictureDescriptor
    #: the store said this picture is ignored (``art2mus unseen ignore``): not asked again while it is held
    ignored: bool = False


class UnseenWatcher:
    """Waits for an unknown framed picture to stay still in view for ``dwell_s``, then names it.

    A picture missed for a moment (a passer-by before it, a frame too blurred to pass
    :func:`find_picture`, a corner out of view) is kept for ``hold_s``, as the debouncer keeps a listed
    artwork: its dwell goes on, its id stays. Another picture takes over once it has dwelt, or the first
    is gone.

    Args:
        min_area_fraction: (``unseen.min_size_fraction``) smallest picture, as a fraction of the frame.
        dwell_s: (``unseen.dwell_seconds``) how long it must stay in view, unmoved.
        name: gives the id of a sighting (the store's look-up, which remembers new ones), or None for a
            picture the curator ignored (asked once while that picture stays in view).
        is_listed: whether a crop shows an artwork of the exhibit after all (the recognizer on the crop):
            those are never unseen.
        max_shift: how far (a fraction of the frame's diagonal) a corner may move between two looks and
            still be the same, still picture.
        store: the store whose ``name`` this is (kept for the gallery: crops and listing).
        hold_s: (``presence.hold_seconds``) how long a picture may go unseen before it is dropped.
    """

    def __init__(
        self,
        *,
        min_area_fraction: float,
        dwell_s: float,
        name: Callable[[UnseenSighting], str | None],
        is_listed: Callable[[np.ndarray], bool] | None = None,
        max_shift: float = 0.03,
        store: Any = None,
        hold_s: float = _PRESENCE.hold_seconds,
    ):
        if hold_s < 0:
            raise ValueError(f"hold_s ({hold_s}) must be at least 0")
        self.min_area_fraction = min_area_fraction
        self.dwell_s = dwell_s
        self.name = name
        self.is_listed = is_listed
        self.max_shift = max_shift
        self.hold_s = hold_s
        #: the :class:`~art2mus.installation.unseen_store.UnseenStore` behind ``name``, if any
        self.store = store
        #: how many pictures were named (a look-up in the store)
        self.sightings = 0
        self.reset()

    def reset(self) -> None:
        self._held: _Picture | None = None
        self._other: _Picture | None = None
        self._id: str | None = None

    def take_over(self, previous: UnseenWatcher) -> None:
        """Go on with ``previous``'s store, the watcher a reload replaces, when both remember in the same
        folder: the running memory, with what it learned while the reload was prepared, stays the room's
        (:meth:`~art2mus.installation.unseen_store.UnseenStore.reloaded`); the store this watcher read
        from the folder then is let go."""
        store, running = self.store, previous.store
        if store is None or running is None or store.directory != running.directory:
            return
        if self.name != store.name:  # named by something else than its store: nothing to hand over
            return
        running.reloaded(store.remember)
        self.store, self.name = running, running.name

    def _same(self, picture: _Picture, outline: np.ndarray, image: np.ndarray) -> bool:
        """Whether ``outline`` in ``image`` is ``picture`` again: barely moved, or moved a little and
        looking the same."""
        shift = float(np.abs(outline - picture.outline).max()) / float(np.hypot(*image.shape[:2]))
        if shift <= self.max_shift:
            return True
        if shift > SAME_OUTLINE_SLACK * self.max_shift:
            return False
        return describe(rectify(image, outline, 128)).distance(picture.look) <= SAME_LOOK_DISTANCE

    def _follow(self, image: np.ndarray, t: float) -> bool:
        """Update the held and the other picture with what ``image`` shows at ``t``; whether it shows the
        held one."""
        outline = find_picture(image, self.min_area_fraction)
        if outline is None:
            return False
        for picture in (self._held, self._other):
            if picture is not None and t - picture.seen <= self.hold_s and self._same(picture, outline, image):
                picture.outline, picture.seen = outline, t
                if picture is self._held:
                    self._other = None  # the held picture is back: what showed instead was a stray outline
                return picture is self._held
        self._other = _Picture(outline, t, t, describe(rectify(image, outline, 128)))
        return False

    def observe(self, image: np.ndarray, t: float) -> str | None:
        """The id (without prefix) of the unseen picture in view at ``t`` once it has dwelt, else None;
        a named picture keeps its id while it is missed for up to ``hold_s``."""
        if self._held is not None and t < self._held.seen:
            self.reset()  # time went back: a looping video
        seen = self._follow(image, t)
        held, other = self._held, self._other
        if other is not None and t - other.seen > self.hold_s:
            other = self._other = None
        if held is not None and t - held.seen > self.hold_s:
            if self._id is not None:
                logger.info("unseen artwork %s missed for %.2f s: dropped", self._id, t - held.seen)
            held = None
        if other is not None and (
            held is None or (t - other.since >= self.dwell_s and t - held.seen >= self.dwell_s / 2)
        ):
            held, self._other, self._id = other, None, None  # the held picture is gone, or replaced
            seen = held.seen == t
        self._held = held
        if held is None:
            self._id = None
            return None
        if self._id is not None or not seen or held.ignored:
            return self._id  # a dwell goes on through a miss; a picture is named from a frame that shows it
        if t - held.since < self.dwell_s:
            return None
        crop = rectify(image, held.outline, crop_long_side(held.outline))
        if self.is_listed is not None and self.is_listed(crop):
            held.since = t  # a listed artwork the recognizer missed in the whole frame: not unseen
            return None
        self.sightings += 1
        self._id = self.name(UnseenSighting(crop, describe(crop), held.outline))
        if self._id is None:  # an ignored picture: nothing, until another picture takes its place
            held.ignored = True
            logger.debug("an ignored unseen picture in view at %.2f s", t)
            return None
        logger.info("unseen artwork %s in view at %.2f s", self._id, t)
        return self._id
