"""Checks of an exhibit's reference photos before a camera ever sees them.

A reference photo can make its artwork unrecognisable, or steal another artwork's visitors, without
being a bad file: a blank or tiny photo has too few keypoints, the same photo under two artworks makes
both ambiguous, a look-alike pair confuses the recognizer. :func:`check_references` finds these:

- ``unreadable``: the file is missing or OpenCV cannot decode it (error);
- ``too_large``: over :data:`MAX_FILE_BYTES` or :data:`MAX_PIXELS` (error: it would cost seconds and
  hundreds of MB at every start), or over :data:`LARGE_PIXELS` (warning);
- ``too_small``: the long side is under :data:`SMALL_LONG_SIDE` pixels (warning);
- ``keypoints``: fewer than :data:`MIN_KEYPOINTS` (error: the index cannot use it) or
  :data:`WEAK_KEYPOINTS` (warning) at the index's own size;
- ``duplicate``: the same picture (identical bytes, or most keypoints matching) under another artwork
  (error, on the later one in file order, so the first keeps being recognised);
- ``lookalike``: another artwork's photo matches with at least ``recognition.accept_inliers`` inliers
  (warning: the pair and the score).

``art2mus validate`` and ``doctor`` report the findings; the daemon leaves a photo with an error out of
recognition (an artwork left with no photo is still playable from the panel) and logs why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from art2mus.installation.config.problems import display_path
from art2mus.installation.vision.index import (
    FeatureSettings,
    ReferencePhoto,
    resize_long_side,
    to_gray,
)

logger = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
#: fewer keypoints than this and the recognition index refuses the photo
MIN_KEYPOINTS = 20
#: fewer than this and the artwork is recognised only from close up and straight on
WEAK_KEYPOINTS = 150
#: the keypoint grades (weak / fair / good) were calibrated on photos described at this long side (pixels);
#: an index built smaller (a museum-scale setting) must not make every photo look weaker to the curator
GRADE_LONG_SIDE = 480
#: a photo whose long side is under this many pixels is too small to hold detail
SMALL_LONG_SIDE = 320
#: larger than this (pixels) only costs time: the index scales photos down to reference_long_side
LARGE_PIXELS = 40_000_000
#: larger than this (pixels, or bytes on disk) is refused: a decompression bomb or a wrong file
MAX_PIXELS = 150_000_000
MAX_FILE_BYTES = 200 * 1024 * 1024
#: a pair matching on this fraction of the smaller photo's keypoints is the same picture
DUPLICATE_FRACTION = 0.25
#: keypoints per photo used for the cross-artwork comparison
COMPARE_FEATURES = 500
#: what to do about a weak photo
ADVICE = "use a sharp, evenly lit photo of the whole artwork, at least 640 px on its long side"


@dataclass(frozen=True)
class PhotoFinding:
    """One thing wrong with a reference photo: ``kind`` (see the module docstring), ``severity``
    (``error``: left out of recognition; ``warning``), a sentence, and the other photo of a pair."""

    artwork_id: str
    path: Path | None
    kind: str
    severity: str
    message: str
    other: Path | None = None
    score: float | None = None


@dataclass
class PhotoReport:
    """One photo's measurements: size in pixels, keypoints at the index's size (None when unreadable)."""

    artwork_id: str
    path: Path | None
    width: int = 0
    height: int = 0
    keypoints: int | None = None
    findings: list[PhotoFinding] = field(default_factory=list)
    reference: ReferencePhoto | None = field(default=None, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def quality(self) -> str:
        """``good``, ``fair``, ``weak`` or ``unusable`` (from keypoints and errors)."""
        if not self.usable or self.keypoints is None:
            return "unusable"
        if self.keypoints < WEAK_KEYPOINTS:
            return "weak"
        return "good" if self.keypoints >= 400 else "fair"


@dataclass
class ReferenceCheck:
    """Every photo's report, in exhibit order, and what follows for recognition."""

    photos: list[PhotoReport]

    @property
    def findings(self) -> list[PhotoFinding]:
        return [f for p in self.photos for f in p.findings]

    @property
    def usable(self) -> list[ReferencePhoto]:
        """The photos the recognition index may use."""
        return [p.reference or ReferencePhoto(p.artwork_id, path=p.path) for p in self.photos if p.usable]

    @property
    def excluded(self) -> dict[str, str]:
        """Artwork id -> why it cannot be recognised, for artworks left with no usable photo."""
        kept = {p.artwork_id for p in self.photos if p.usable}
        reasons: dict[str, list[str]] = {}
        for photo in self.photos:
            if photo.artwork_id not in kept:
                reasons.setdefault(photo.artwork_id, []).extend(
                    f.message for f in photo.findings if f.severity == ERROR
                )
        return {artwork_id: "; ".join(messages) for artwork_id, messages in reasons.items()}


def _name(path: Path | None) -> str:
    return display_path(path) if path is not None else "in-memory photo"


def _load(ref: ReferencePhoto, report: PhotoReport) -> np.ndarray | None:
    """The photo (BGR), or None with an ``unreadable`` / ``too_large`` finding."""

    def fail(kind: str, message: str) -> None:
        report.findings.append(PhotoFinding(ref.artwork_id, ref.path, kind, ERROR, message))

    if ref.image is not None:
        return ref.image
    path = ref.path
    try:
        size = path.stat().st_size if path is not None else 0
    except OSError as exc:
        fail("unreadable", f"{_name(path)}: cannot read the photo of {ref.artwork_id!r} ({exc.strerror})")
        return None
    if size > MAX_FILE_BYTES:
        fail(
            "too_large",
            f"{_name(path)}: {size / 2**20:.0f} MB is too large for a reference photo of "
            f"{ref.artwork_id!r} (at most {MAX_FILE_BYTES // 2**20} MB); export it at about 2000 px",
        )
        return None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        fail(
            "unreadable",
            f"{_name(path)}: not a readable image (photo of {ref.artwork_id!r}; expected PNG, JPEG, "
            "TIFF, WebP or BMP): export it again",
        )
    return image


def inspect_photo(ref: ReferencePhoto, settings: FeatureSettings) -> tuple[PhotoReport, np.ndarray | None]:
    """One photo's size and keypoints (level 0 of the index, at its long side), and its findings;
    also the descriptors for the cross-artwork comparison (None when unusable)."""
    report = PhotoReport(ref.artwork_id, ref.path, reference=ref)
    image = _load(ref, report)
    if image is None:
        return report, None
    report.height, report.width = image.shape[:2]
    name, art = _name(ref.path), ref.artwork_id
    pixels = report.width * report.height
    if pixels > MAX_PIXELS:
        report.findings.append(
            PhotoFinding(
                art,
                ref.path,
                "too_large",
                ERROR,
                (
                    f"{name}: {pixels / 1e6:.0f} megapixels is too large for a reference photo of {art!r} "
                    f"(at most {MAX_PIXELS // 1_000_000}); export it at about 2000 px"
                ),
            )
        )
        return report, None
    if pixels > LARGE_PIXELS:
        report.findings.append(
            PhotoFinding(
                art,
                ref.path,
                "too_large",
                WARNING,
                (
                    f"{name}: {pixels / 1e6:.0f} megapixels slows every start (photos are scaled to "
                    f"{settings.reference_long_side} px); about 2000 px on the long side is plenty"
                ),
            )
        )
    if max(report.width, report.height) < SMALL_LONG_SIDE:
        report.findings.append(
            PhotoFinding(
                art,
                ref.path,
                "too_small",
                WARNING,
                (f"{name}: {report.width}x{report.height} px is small for the photo of {art!r}; {ADVICE}"),
            )
        )
    gray, _ = resize_long_side(to_gray(image), settings.reference_long_side)
    detector = settings.create_detector(settings.reference_features)
    keypoints, desc = detector.detectAndCompute(gray, None)
    report.keypoints = len(keypoints) if desc is not None else 0
    if report.keypoints < MIN_KEYPOINTS:
        report.findings.append(
            PhotoFinding(
                art,
                ref.path,
                "keypoints",
                ERROR,
                (
                    f"{name}: the photo of {art!r} has {report.keypoints} keypoints; at least {MIN_KEYPOINTS} are "
                    f"needed to recognise it (is it blank, out of focus or tiny?): {ADVICE}"
                ),
            )
        )
        return report, None
    if settings.reference_long_side < GRADE_LONG_SIDE:
        graded, _ = resize_long_side(to_gray(image), GRADE_LONG_SIDE)
        report.keypoints = len(detector.detect(graded, None))
    if report.keypoints < WEAK_KEYPOINTS:
        report.findings.append(
            PhotoFinding(
                art,
                ref.path,
                "keypoints",
                WARNING,
                (
                    f"{name}: the photo of {art!r} has only {report.keypoints} keypoints (weak: recognised only "
                    f"from close up); {ADVICE}"
                ),
            )
        )
    # the strongest few are enough to tell two pictures apart
    strongest = np.argsort([-k.response for k in keypoints], kind="stable")[:COMPARE_FEATURES]
    xy = np.array([keypoints[i].pt for i in strongest], np.float32)
    desc = desc[strongest]
    if desc.dtype == np.float32 and settings.root_sift:
        desc = np.sqrt(desc / (desc.sum(axis=1, keepdims=True) + 1e-7))
    return report, (xy, desc) if desc is not None else None


def _content_hash(ref: ReferencePhoto) -> str | None:
    try:
        return ref.content_hash()
    except ValueError:
        return None


def _match_score(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], kind: str) -> int:
    """RANSAC-homography inliers between two photos' features (ratio test 0.75)."""
    (xa, da), (xb, db) = a, b
    if len(da) < 4 or len(db) < 4:
        return 0
    norm = cv2.NORM_L2 if kind == "sift" else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < 8:
        return 0
    src = xa[[m.queryIdx for m in good]]
    dst = xb[[m.trainIdx for m in good]]
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    return int(mask.sum()) if mask is not None else 0


def check_references(
    references: Sequence[ReferencePhoto],
    settings: FeatureSettings | None = None,
    *,
    lookalike_inliers: int = 15,
) -> ReferenceCheck:
    """Check every reference photo alone, then each pair of photos of different artworks.

    Args:
        references: the exhibit's photos, in file order.
        settings: the index's feature settings (keypoints are counted as the index counts them).
        lookalike_inliers: inliers from which another artwork's photo is a look-alike (the exhibit's
            ``recognition.accept_inliers``: a camera frame of one could be taken for the other).
    """
    settings = settings or FeatureSettings()
    reports, features = [], []
    for ref in references:
        report, feats = inspect_photo(ref, settings)
        reports.append(report)
        features.append(feats)
    first_by_hash: dict[str, int] = {}
    for i, ref in enumerate(references):
        digest = _content_hash(ref) if reports[i].usable else None
        if digest is None:
            continue
        j = first_by_hash.setdefault(digest, i)
        if j != i and references[j].artwork_id != ref.artwork_id:
            _pair(reports, i, j, "duplicate", ERROR, None, "is the same file as")
            features[i] = None
    for i in range(len(references)):
        for j in range(i):
            if features[i] is None or features[j] is None:
                continue
            if references[i].artwork_id == references[j].artwork_id:
                continue
            score = _match_score(features[i], features[j], settings.kind)
            smaller = min(len(features[i][0]), len(features[j][0]))
            if score >= DUPLICATE_FRACTION * smaller:
                _pair(reports, i, j, "duplicate", ERROR, score, "shows the same picture as")
                features[i] = None
                break
            if score >= lookalike_inliers:
                _pair(reports, i, j, "lookalike", WARNING, score, "looks like")
    logger.debug(
        "checked %d reference photos: %d findings", len(reports), sum(len(r.findings) for r in reports)
    )
    return ReferenceCheck(reports)


def _pair(
    reports: list[PhotoReport], i: int, j: int, kind: str, severity: str, score: float | None, verb: str
) -> None:
    """A finding on photo ``i`` naming photo ``j`` (the earlier one, which keeps being recognised)."""
    a, b = reports[i], reports[j]
    scored = f" (match score {score:.0f} inliers)" if score is not None else ""
    if kind == "duplicate":
        advice = f"{a.artwork_id!r} is left out of recognition until it has its own photo"
    else:
        advice = "a camera frame of one may be taken for the other; add a photo with more of what differs"
    message = (
        f"{_name(a.path)} (artwork {a.artwork_id!r}) {verb} {_name(b.path)} (artwork "
        f"{b.artwork_id!r}){scored}: {advice}"
    )
    a.findings.append(PhotoFinding(a.artwork_id, a.path, kind, severity, message, other=b.path, score=score))


def check_exhibit_photos(exhibit) -> ReferenceCheck:
    """:func:`check_references` over an exhibit's artworks, with its recognition settings; remembered
    while no photo changes (size and time), so ``validate`` and the daemon's start check once."""
    from art2mus.installation.vision.index import references_from_exhibit

    refs = references_from_exhibit(exhibit)
    key = (
        tuple((r.artwork_id, r.path, _signature(r.path)) for r in refs),
        FeatureSettings.from_config(exhibit.recognition),
        exhibit.recognition.accept_inliers,
    )
    return _checked(key)


def _signature(path: Path | None) -> tuple[int, int] | None:
    try:
        info = path.stat() if path is not None else None
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if info is not None else None


@functools.lru_cache(maxsize=8)
def _checked(key: tuple) -> ReferenceCheck:
    photos, settings, lookalike = key
    refs = [ReferencePhoto(artwork_id, path=path) for artwork_id, path, _ in photos]
    return check_references(refs, settings, lookalike_inliers=lookalike)
