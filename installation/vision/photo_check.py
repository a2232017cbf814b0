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

Pairs are compared among the artworks the recognizer would compare a camera frame of the photo with
(its ``recognition.shortlist``, see :func:`pair_candidates`), so a collection of 1,000 photos is checked
in minutes, not an hour; the findings are stored beside the recognition index and read back while no
photo and no setting changes (:func:`check_exhibit_photos`).

``art2mus validate`` and ``doctor`` report the findings; the daemon leaves a photo with an error out of
recognition (an artwork left with no photo is still playable from the panel) and logs why.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from art2mus.installation.config.problems import display_path
from art2mus.installation.logs import progress_logger
from art2mus.installation.vision.index import (
    FeatureSettings,
    ReferencePhoto,
    resize_long_side,
    to_gray,
)

logger = logging.getLogger(__name__)
progress = progress_logger("photo_check")

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
#: neighbours each descriptor looks at to find its nearest one in another artwork (pair_candidates)
CANDIDATE_NEIGHBOURS = 8
#: the stored check's file, beside the recognition index, and its format (raise it when findings change)
CHECK_FILENAME = "photo-check.json"
CHECK_FORMAT = 1
#: a progress line every this many photos (a large collection's first check takes minutes)
PROGRESS_EVERY = 100
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
    """Every photo's report, in exhibit order, and what follows for recognition; ``pairs_compared``: how
    many pairs of photos were matched with each other (None when read from the store)."""

    photos: list[PhotoReport]
    pairs_compared: int | None = None

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
    if kind == "sift":  # squared distances by one matrix product: a third of BFMatcher's time
        d2 = (da * da).sum(axis=1)[:, None] - 2.0 * (da @ db.T) + (db * db).sum(axis=1)[None, :]
        rows = np.arange(len(da))
        nearest = d2.argmin(axis=1)
        first = d2[rows, nearest]
        d2[rows, nearest] = np.inf
        good_q = np.flatnonzero(np.maximum(first, 0.0) < 0.75**2 * d2.min(axis=1))
        good_t = nearest[good_q]
    else:
        pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
        good_q = np.array([m.queryIdx for m in good], np.int64)
        good_t = np.array([m.trainIdx for m in good], np.int64)
    if len(good_q) < 8:
        return 0
    src, dst = xa[good_q], xb[good_t]
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    return int(mask.sum()) if mask is not None else 0


def check_references(
    references: Sequence[ReferencePhoto],
    settings: FeatureSettings | None = None,
    *,
    lookalike_inliers: int = 15,
    shortlist: int = 8,
) -> ReferenceCheck:
    """Check every reference photo alone, then pairs of photos of different artworks.

    Args:
        references: the exhibit's photos, in file order.
        settings: the index's feature settings (keypoints are counted as the index counts them).
        lookalike_inliers: inliers from which another artwork's photo is a look-alike (the exhibit's
            ``recognition.accept_inliers``: a camera frame of one could be taken for the other).
        shortlist: the exhibit's ``recognition.shortlist``. With more other artworks than this, a photo is
            compared only with the photos of the ``shortlist`` artworks that hold most of its keypoints'
            nearest neighbours, and of those whose own shortlist holds it (:func:`pair_candidates`): the
            artworks the recognizer compares a camera frame of it with. Every pair is compared otherwise
            (0: always), which costs O(n^2): about 38 s of CPU at 100 photos, an hour at 1,000.
    """
    settings = settings or FeatureSettings()
    reports, features = [], []
    started = time.monotonic()
    # every photo's descriptors in one buffer as they come: the shortlist's search reads them there,
    # without a second copy (1,000 photos: 256 MB of SIFT descriptors)
    stack: np.ndarray | None = None
    filled = 0
    for number, ref in enumerate(references, 1):
        report, feats = inspect_photo(ref, settings)
        if feats is not None and len(feats[1]):
            if stack is None:
                stack = np.empty((len(references) * COMPARE_FEATURES, feats[1].shape[1]), feats[1].dtype)
            part = stack[filled : filled + len(feats[1])]
            part[...] = feats[1]
            feats, filled = (feats[0], part), filled + len(part)
        reports.append(report)
        features.append(feats)
        if number % PROGRESS_EVERY == 0:
            progress.info(
                "checked %d of %d reference photos (%.0f s)",
                number,
                len(references),
                time.monotonic() - started,
            )
    first_by_hash: dict[str, int] = {}
    for i, ref in enumerate(references):
        digest = _content_hash(ref) if reports[i].usable else None
        if digest is None:
            continue
        j = first_by_hash.setdefault(digest, i)
        if j != i and references[j].artwork_id != ref.artwork_id:
            _pair(reports, i, j, "duplicate", ERROR, None, "is the same file as")
            features[i] = None
    candidates = pair_candidates(references, features, settings.kind, shortlist, stack)
    del stack
    compared = 0
    for i in range(len(references)):
        for j in range(i) if candidates is None else sorted(candidates[i]):
            if features[i] is None or features[j] is None:
                continue
            if references[i].artwork_id == references[j].artwork_id:
                continue
            score = _match_score(features[i], features[j], settings.kind)
            compared += 1
            smaller = min(len(features[i][0]), len(features[j][0]))
            if score >= DUPLICATE_FRACTION * smaller:
                _pair(reports, i, j, "duplicate", ERROR, score, "shows the same picture as")
                features[i] = None
                break
            if score >= lookalike_inliers:
                _pair(reports, i, j, "lookalike", WARNING, score, "looks like")
    (progress.info if len(references) >= PROGRESS_EVERY else logger.debug)(
        "checked %d reference photos in %.1f s: %d findings, %d pairs compared",
        len(reports),
        time.monotonic() - started,
        sum(len(r.findings) for r in reports),
        compared,
    )
    return ReferenceCheck(reports, compared)


def pair_candidates(
    references: Sequence[ReferencePhoto],
    features: Sequence[tuple[np.ndarray, np.ndarray] | None],
    kind: str,
    shortlist: int,
    buffer: np.ndarray | None = None,
) -> list[set[int]] | None:
    """For each photo ``i``, the earlier photos ``j < i`` to compare it with, or None for every pair.

    None when ``shortlist`` is 0 or no photo has more than ``shortlist`` other artworks to be compared
    with. Else every photo's descriptors search all the photos' together (FLANN, as the recognizer
    searches its index); each descriptor votes for the artwork of its nearest neighbour outside its own
    artwork, and the photo's ``shortlist`` artworks with most votes are the ones the recognizer would
    compare a frame of it with. A pair is compared when either photo's shortlist holds the other's artwork:
    a copy or a look-alike draws most of the votes, while a pair that no shortlist joins is never
    compared with each other in recognition either.

    ``buffer``: an array holding the descriptors' rows (in photo order, each photo's as a view of it), to
    stack them in place instead of in a new array; the photos' descriptors become views of the stack."""
    usable = [i for i, f in enumerate(features) if f is not None and len(f[1])]
    artworks = sorted({references[i].artwork_id for i in usable})
    if shortlist <= 0 or len(artworks) - 1 <= shortlist:
        return None
    art_of = {a: n for n, a in enumerate(artworks)}
    photo_art = np.array([art_of[references[i].artwork_id] for i in usable], np.int32)
    counts = [len(features[i][1]) for i in usable]
    if buffer is None or len(buffer) < sum(counts):
        buffer = np.empty((sum(counts), features[usable[0]][1].shape[1]), features[usable[0]][1].dtype)
    start = 0
    for i, count in zip(usable, counts, strict=True):  # photos left out close their gaps (rows move up)
        part = buffer[start : start + count]
        part[...] = features[i][1]
        features[i] = (features[i][0], part)
        start += count
    stacked = buffer[:start]
    owner = np.repeat(photo_art, counts)
    if kind == "sift":
        search = cv2.flann_Index(stacked, {"algorithm": 1, "trees": 4})
    else:
        search = cv2.flann_Index(
            stacked, {"algorithm": 6, "table_number": 12, "key_size": 20, "multi_probe_level": 2}
        )
    k = min(CANDIDATE_NEIGHBOURS, len(stacked))
    nn, _ = search.knnSearch(stacked, k, params={"checks": 32})
    neighbour_art = np.where(nn >= 0, owner[np.maximum(nn, 0)], -1)
    other = (neighbour_art != owner[:, None]) & (neighbour_art >= 0)
    first_other = np.argmax(other, axis=1)
    has_other = other[np.arange(len(other)), first_other]
    voted = neighbour_art[np.arange(len(other)), first_other]
    photo_of_row = np.repeat(np.arange(len(usable)), counts)
    votes = np.zeros((len(usable), len(artworks)), np.int32)
    np.add.at(votes, (photo_of_row[has_other], voted[has_other]), 1)
    top = np.argsort(-votes, axis=1, kind="stable")[:, :shortlist]
    in_shortlist = np.zeros_like(votes, bool)
    np.put_along_axis(in_shortlist, top, np.take_along_axis(votes, top, axis=1) > 0, axis=1)
    joined = in_shortlist[:, photo_art]  # [a, b]: b's artwork is on a's shortlist
    joined |= joined.T
    candidates: list[set[int]] = [set() for _ in references]
    for a, i in enumerate(usable):
        candidates[i] = {usable[b] for b in np.flatnonzero(joined[a, :a])}
    return candidates


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
    while no photo changes (path, size and modification time) and the settings stay the same: in this
    process, and on disk beside the recognition index (:data:`CHECK_FILENAME`), so ``validate`` and every
    start of the daemon after the first read the findings instead of checking again (a minute or more for
    hundreds of photos). A stored check that is unreadable or for other photos is checked again and
    replaced; a read-only folder only costs the check."""
    from art2mus.installation.vision.index import references_from_exhibit
    from art2mus.installation.vision.pipeline import recognition_index_path

    refs = references_from_exhibit(exhibit)
    key = (
        tuple((r.artwork_id, r.path, _signature(r.path)) for r in refs),
        FeatureSettings.from_config(exhibit.recognition),
        exhibit.recognition.accept_inliers,
        exhibit.recognition.shortlist,
    )
    return _checked(key, recognition_index_path(exhibit).with_name(CHECK_FILENAME))


def _signature(path: Path | None) -> tuple[int, int] | None:
    try:
        info = path.stat() if path is not None else None
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if info is not None else None


@functools.lru_cache(maxsize=8)
def _checked(key: tuple, store: Path | None = None) -> ReferenceCheck:
    photos, settings, lookalike, shortlist = key
    refs = [ReferencePhoto(artwork_id, path=path) for artwork_id, path, _ in photos]
    digest = _key_digest(key)
    if store is not None:
        stored = _load_check(store, digest, refs)
        if stored is not None:
            return stored
    check = check_references(refs, settings, lookalike_inliers=lookalike, shortlist=shortlist)
    if store is not None:
        try:
            _save_check(store, digest, check)
        except OSError as exc:
            logger.warning(
                "could not save the reference photo check to %s (%s); it runs again next start", store, exc
            )
    return check


def _key_digest(key: tuple) -> str:
    """SHA-256 over what decides a check's findings: the photos (artwork, path, size, time), the
    settings, and this module's thresholds and format."""
    photos, settings, lookalike, shortlist = key
    described = {
        "format": CHECK_FORMAT,
        "opencv": cv2.__version__.split(".")[0],
        "settings": settings.as_dict(),
        "lookalike_inliers": lookalike,
        "shortlist": shortlist,
        "thresholds": [
            MIN_KEYPOINTS,
            WEAK_KEYPOINTS,
            GRADE_LONG_SIDE,
            SMALL_LONG_SIDE,
            LARGE_PIXELS,
            MAX_PIXELS,
            MAX_FILE_BYTES,
            DUPLICATE_FRACTION,
            COMPARE_FEATURES,
            CANDIDATE_NEIGHBOURS,
        ],
        "photos": [[artwork_id, str(path), list(sig) if sig else None] for artwork_id, path, sig in photos],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


# photo names in stored messages: the display form depends on the current folder, so it is put back on load.
# A message names a photo at its start (``NAME: ...``) or before its artwork (``NAME (artwork 'ID')``); only
# there is a name replaced, so an artwork id or other text that equals a photo's name stays as it is
_PATH_MARK, _OTHER_MARK = "\x00path\x00", "\x00other\x00"
_NAMED_AT = r"(?=: | \(artwork )"


def _save_check(store: Path, digest: str, check: ReferenceCheck) -> None:
    """Write ``check`` to ``store`` (JSON) atomically, keyed by ``digest``."""
    photos = []
    for report in check.photos:
        findings = []
        for f in report.findings:
            message = f.message
            names = [(_name(f.path), _PATH_MARK)] if f.path is not None else []
            if f.other is not None:
                names.append((_name(f.other), _OTHER_MARK))
            for name, mark in sorted(names, key=lambda item: -len(item[0])):
                message = re.sub(rf"(?:^|(?<= )){re.escape(name)}{_NAMED_AT}", mark, message)
            findings.append(
                {
                    "artwork_id": f.artwork_id,
                    "kind": f.kind,
                    "severity": f.severity,
                    "message": message,
                    "other": str(f.other) if f.other is not None else None,
                    "score": f.score,
                }
            )
        photos.append(
            {
                "artwork_id": report.artwork_id,
                "width": report.width,
                "height": report.height,
                "keypoints": report.keypoints,
                "findings": findings,
            }
        )
    from art2mus.common.whole_files import write_whole

    store.parent.mkdir(parents=True, exist_ok=True)
    # flushed before its rename: read at every start (validate's too), it must never be left empty
    write_whole(store, json.dumps({"format": CHECK_FORMAT, "key": digest, "photos": photos}).encode())


def _load_check(store: Path, digest: str, refs: Sequence[ReferencePhoto]) -> ReferenceCheck | None:
    """The check stored at ``store`` for ``digest`` (these photos and settings), or None."""
    try:
        stored = json.loads(store.read_text())
        if not isinstance(stored, dict) or stored.get("key") != digest:
            if store.exists():
                logger.info("reference photos or settings changed: checking the photos again")
            return None
        photos = stored["photos"]
        if len(photos) != len(refs):
            raise ValueError(f"{len(photos)} photos stored, {len(refs)} expected")
        reports = []
        for ref, photo in zip(refs, photos, strict=True):
            if photo["artwork_id"] != ref.artwork_id:
                raise ValueError(f"photo of {photo['artwork_id']!r} where {ref.artwork_id!r} was expected")
            findings = []
            for f in photo["findings"]:
                other = Path(f["other"]) if f["other"] is not None else None
                message = f["message"].replace(_PATH_MARK, _name(ref.path))
                if other is not None:
                    message = message.replace(_OTHER_MARK, _name(other))
                findings.append(
                    PhotoFinding(
                        ref.artwork_id,
                        ref.path,
                        str(f["kind"]),
                        str(f["severity"]),
                        message,
                        other=other,
                        score=f["score"],
                    )
                )
            reports.append(
                PhotoReport(
                    ref.artwork_id,
                    ref.path,
                    int(photo["width"]),
                    int(photo["height"]),
                    photo["keypoints"],
                    findings,
                    reference=ref,
                )
            )
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the check is made again
        logger.warning(
            "ignoring unreadable reference photo check %s (%s): checking the photos again", store, exc
        )
        return None
    logger.info("reference photo check read from %s (%d photos)", store, len(reports))
    return ReferenceCheck(reports)
