"""Artwork recognition by local features and a geometric check; works with no model weights.

Build a :class:`RecognitionIndex` once from every artwork's reference photos (SIFT or ORB keypoints,
several photos per artwork allowed); an :class:`ArtworkRecognizer` then matches each camera frame
against *one* FLANN index over all references (per-reference matching does not scale: RECIPES.md),
keeps matches that pass Lowe's ratio test, verifies the best candidates with a RANSAC homography, and
accepts an artwork only when enough matches agree on a sane outline (a convex quadrilateral of
plausible size and shape). The result is the artwork id, a score (the RANSAC inlier count) and the
artwork's outline in the frame, or ``unknown``.

The index is persisted next to the exhibit (``<exhibit>/.art2mus/recognition-index.npz``) and rebuilt
whenever a reference photo, the list of artworks or the feature settings change: the file records a
SHA-256 fingerprint of all of them (:meth:`RecognitionIndex.load_or_build`).

For collections of thousands of artworks a :class:`CandidatePrefilter` (for instance
:class:`EmbeddingPrefilter`: an image encoder plus a nearest-neighbour search) can narrow each frame
to a few candidate artworks before the geometric check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from art2mus.installation.config.exhibit import ExhibitConfig
    from art2mus.installation.config.vision import RecognitionConfig

logger = logging.getLogger(__name__)

#: Bumped when the index layout or the feature extraction changes; part of the fingerprint.
INDEX_FORMAT = 1
INDEX_FILENAME = "recognition-index.npz"


# ------------------------------------------------------------------------------------ features


@dataclass(frozen=True)
class FeatureSettings:
    """How the reference photos are described (everything that goes into the stored index).

    Attributes:
        kind: ``"sift"`` (float descriptors, KD-tree FLANN; robust to blur and perspective) or ``"orb"``
            (binary descriptors, LSH FLANN; faster, less robust).
        reference_features: keypoints kept per reference photo at full size (strongest first).
        reference_long_side: reference photos are scaled so their long side is at most this (pixels).
        reference_levels: each reference is also described at 1/2, 1/4... of its size (this many levels
            in all, half the keypoints per level), so that small, blurred views find coarse features.
        root_sift: RootSIFT (L1-normalise, square root) descriptors, which match better than raw SIFT.
    """

    kind: str = "sift"
    reference_features: int = 1000
    reference_long_side: int = 480
    reference_levels: int = 2
    root_sift: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("sift", "orb"):
            raise ValueError(f"feature kind must be 'sift' or 'orb', got {self.kind!r}")
        if self.reference_features < 50:
            raise ValueError(f"reference_features must be >= 50 keypoints, got {self.reference_features}")
        if self.reference_long_side < 160:
            raise ValueError(f"reference_long_side must be >= 160 pixels, got {self.reference_long_side}")
        if not 1 <= self.reference_levels <= 4:
            raise ValueError(f"reference_levels must be 1..4, got {self.reference_levels}")

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "reference_features": self.reference_features,
            "reference_long_side": self.reference_long_side,
            "reference_levels": self.reference_levels,
            "root_sift": self.root_sift,
        }

    def create_detector(
        self, n_features: int, contrast: float = 0.04, octave_layers: int = 3
    ) -> cv2.Feature2D:
        """A detector keeping the ``n_features`` strongest keypoints; ``contrast`` is SIFT's threshold and
        ``octave_layers`` its scales per octave (ORB ignores both)."""
        if self.kind == "sift":
            return cv2.SIFT_create(
                nfeatures=n_features, nOctaveLayers=octave_layers, contrastThreshold=contrast
            )
        return cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=12)


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a grey or BGR(A) image, got an array of shape {image.shape}")


def _resize_long_side(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Scale down so the long side is at most ``long_side``; returns the image and the factor applied."""
    h, w = gray.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s >= 1.0:
        return gray, 1.0
    return cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def _detect(
    detector: cv2.Feature2D, gray: np.ndarray, root_sift: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Keypoint positions ``(n, 2)`` float32 and descriptors ``(n, d)`` (None when there are none);
    SIFT descriptors come back as float32, RootSIFT-transformed when ``root_sift``."""
    kps, desc = detector.detectAndCompute(gray, None)
    if desc is None or len(kps) == 0:
        return np.zeros((0, 2), np.float32), None
    xy = np.array([kp.pt for kp in kps], dtype=np.float32)
    if desc.dtype == np.float32 and root_sift:
        desc = np.sqrt(desc / (desc.sum(axis=1, keepdims=True) + 1e-7))
    return xy, desc


# --------------------------------------------------------------------------------------- index


@dataclass(frozen=True)
class ReferencePhoto:
    """One reference photo of an artwork: a file, or an in-memory BGR image (``image``)."""

    artwork_id: str
    path: Path | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def load(self) -> np.ndarray:
        if self.image is not None:
            return self.image
        if self.path is None:
            raise ValueError(f"reference of {self.artwork_id!r} has neither a path nor an image")
        img = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(
                f"{self.path}: cannot read reference photo of artwork {self.artwork_id!r} "
                "(expected a PNG/JPEG image OpenCV can decode)"
            )
        return img

    def content_hash(self) -> str:
        h = hashlib.sha256()
        if self.image is not None:
            h.update(str(self.image.shape).encode())
            h.update(np.ascontiguousarray(self.image).tobytes())
        elif self.path is not None:
            try:
                with open(self.path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            except OSError as exc:
                raise ValueError(
                    f"{self.path}: cannot read reference photo of artwork {self.artwork_id!r}: {exc}"
                ) from exc
        return h.hexdigest()


def references_fingerprint(references: Sequence[ReferencePhoto], settings: FeatureSettings) -> str:
    """SHA-256 over the index format, the feature settings, and each (artwork id, photo content)."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"format": INDEX_FORMAT, "opencv": cv2.__version__.split(".")[0], **settings.as_dict()},
            sort_keys=True,
        ).encode()
    )
    for ref in references:
        h.update(ref.artwork_id.encode())
        h.update(b"\0")
        h.update(ref.content_hash().encode())
    return h.hexdigest()


@dataclass
class RecognitionIndex:
    """Keypoints and descriptors of every reference photo, stacked.

    Attributes:
        settings: how the features were made.
        artwork_ids: artwork id per reference photo, ``(n_refs,)``.
        ref_sizes: reference image size (width, height) in the index's pixels, ``(n_refs, 2)``.
        ref_scales: factor from original reference pixels to index pixels, ``(n_refs,)``.
        keypoints: keypoint positions in index pixels, ``(n_kp, 2)`` float32.
        descriptors: ``(n_kp, 128)`` float32 (SIFT) or ``(n_kp, 32)`` uint8 (ORB).
        ref_of_keypoint: reference number per keypoint, ``(n_kp,)`` int32.
        fingerprint: :func:`references_fingerprint` of the inputs.
    """

    settings: FeatureSettings
    artwork_ids: list[str]
    ref_sizes: np.ndarray
    ref_scales: np.ndarray
    keypoints: np.ndarray
    descriptors: np.ndarray
    ref_of_keypoint: np.ndarray
    fingerprint: str
    build_seconds: float = 0.0

    @property
    def artworks(self) -> list[str]:
        """Distinct artwork ids, in first-seen order."""
        return list(dict.fromkeys(self.artwork_ids))

    @property
    def nbytes(self) -> int:
        return int(self.keypoints.nbytes + self.descriptors.nbytes + self.ref_of_keypoint.nbytes)

    @classmethod
    def build(
        cls,
        references: Sequence[ReferencePhoto],
        settings: FeatureSettings | None = None,
        fingerprint: str | None = None,
    ) -> RecognitionIndex:
        """Extract features from every reference photo. Raises ``ValueError`` naming a photo that cannot be
        read or that has too few keypoints (< 20) to be recognised."""
        settings = settings or FeatureSettings()
        if not references:
            raise ValueError("cannot build a recognition index from no reference photos")
        t0 = time.perf_counter()
        ids, sizes, scales, kps, descs, owners = [], [], [], [], [], []
        for n, ref in enumerate(references):
            gray, s = _resize_long_side(_to_gray(ref.load()), settings.reference_long_side)
            xy_levels, desc_levels = [], []
            level_img = gray
            for level in range(settings.reference_levels):
                if level:
                    if min(level_img.shape[:2]) < 64:
                        break
                    level_img = cv2.resize(
                        level_img,
                        (level_img.shape[1] // 2, level_img.shape[0] // 2),
                        interpolation=cv2.INTER_AREA,
                    )
                detector = settings.create_detector(max(50, settings.reference_features >> level))
                lxy, ldesc = _detect(detector, level_img, settings.root_sift)
                if ldesc is not None:
                    xy_levels.append(lxy * np.float32(gray.shape[1] / level_img.shape[1]))
                    desc_levels.append(ldesc)
            xy = np.concatenate(xy_levels) if xy_levels else np.zeros((0, 2), np.float32)
            desc = np.concatenate(desc_levels) if desc_levels else None
            if desc is None or len(xy) < 20:
                where = ref.path or f"in-memory image #{n}"
                raise ValueError(
                    f"{where}: reference photo of artwork {ref.artwork_id!r} has {len(xy)} keypoints; "
                    "at least 20 are needed (is it blank or tiny?)"
                )
            ids.append(ref.artwork_id)
            sizes.append((gray.shape[1], gray.shape[0]))
            scales.append(s)
            kps.append(xy)
            descs.append(desc.astype(np.float32) if settings.kind == "sift" else desc)
            owners.append(np.full(len(xy), n, np.int32))
        index = cls(
            settings=settings,
            artwork_ids=ids,
            ref_sizes=np.array(sizes, np.float32),
            ref_scales=np.array(scales, np.float32),
            keypoints=np.concatenate(kps),
            descriptors=np.ascontiguousarray(np.concatenate(descs)),
            ref_of_keypoint=np.concatenate(owners),
            fingerprint=fingerprint or references_fingerprint(references, settings),
            build_seconds=time.perf_counter() - t0,
        )
        logger.info(
            "built recognition index: %d artworks, %d photos, %d keypoints in %.2f s",
            len(index.artworks),
            len(ids),
            len(index.keypoints),
            index.build_seconds,
        )
        return index

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (``.npz``) atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": INDEX_FORMAT,
            "fingerprint": self.fingerprint,
            "artwork_ids": self.artwork_ids,
            "settings": self.settings.as_dict(),
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps(meta)),
                ref_sizes=self.ref_sizes,
                ref_scales=self.ref_scales,
                keypoints=self.keypoints,
                descriptors=self.descriptors,
                ref_of_keypoint=self.ref_of_keypoint,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> RecognitionIndex:
        """Read an index written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != INDEX_FORMAT:
                raise ValueError(
                    f"{path}: recognition index format {meta.get('format')}, expected {INDEX_FORMAT}"
                )
            return cls(
                settings=FeatureSettings(**meta["settings"]),
                artwork_ids=list(meta["artwork_ids"]),
                ref_sizes=data["ref_sizes"],
                ref_scales=data["ref_scales"],
                keypoints=data["keypoints"],
                descriptors=data["descriptors"],
                ref_of_keypoint=data["ref_of_keypoint"],
                fingerprint=meta["fingerprint"],
            )

    @classmethod
    def load_or_build(
        cls, references: Sequence[ReferencePhoto], path: Path | None, settings: FeatureSettings | None = None
    ) -> RecognitionIndex:
        """The index stored at ``path`` if it was built from exactly these photos and settings, else a new
        one (saved to ``path`` when it is writable; a read-only exhibit folder only costs a rebuild)."""
        settings = settings or FeatureSettings()
        fingerprint = references_fingerprint(references, settings)
        if path is not None and path.is_file():
            try:
                stored = cls.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("ignoring unreadable recognition index %s: %s", path, exc)
            else:
                if stored.fingerprint == fingerprint:
                    logger.info("loaded recognition index %s (%d artworks)", path, len(stored.artworks))
                    return stored
                logger.info("reference photos or settings changed: rebuilding %s", path)
        index = cls.build(references, settings, fingerprint)
        if path is not None:
            try:
                index.save(path)
            except OSError as exc:
                logger.warning(
                    "could not save recognition index to %s (%s); it will be rebuilt next start", path, exc
                )
        return index


def references_from_pairs(
    pairs: Iterable[tuple[str, Iterable[Path | str | np.ndarray]]],
) -> list[ReferencePhoto]:
    """``[(artwork_id, [path or BGR image, ...]), ...]`` -> reference photos."""
    refs = []
    for artwork_id, items in pairs:
        for item in items:
            if isinstance(item, np.ndarray):
                refs.append(ReferencePhoto(artwork_id, image=item))
            else:
                refs.append(ReferencePhoto(artwork_id, path=Path(item)))
    return refs


def references_from_exhibit(exhibit: ExhibitConfig) -> list[ReferencePhoto]:
    """Every reference photo of every artwork in a loaded exhibit (paths already absolute)."""
    return [ReferencePhoto(art.id, path=Path(p)) for art in exhibit.artworks for p in art.images]


# ----------------------------------------------------------------------------------- prefilter


class CandidatePrefilter(Protocol):
    """Narrows a frame to a few candidate artworks before matching (for very large collections)."""

    def candidates(self, frame_bgr: np.ndarray) -> set[str] | None:
        """Artwork ids worth verifying for this frame, or None for "all of them"."""


class NearestNeighbourSearch(Protocol):
    """A vector search over L2-normalised embeddings (FAISS, hnswlib or the exact numpy search)."""

    def add(self, vectors: np.ndarray, labels: Sequence[str]) -> None:
        """Add ``(n, dim)`` float32 vectors with one label each."""

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest labels to a ``(dim,)`` vector with their cosine similarity, best first."""


class ExactCosineSearch:
    """Brute-force cosine search in numpy; fine up to tens of thousands of vectors."""

    def __init__(self) -> None:
        self._vectors = np.zeros((0, 0), np.float32)
        self._labels: list[str] = []

    def add(self, vectors: np.ndarray, labels: Sequence[str]) -> None:
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(labels):
            raise ValueError(
                f"expected (n, dim) vectors with n labels, got {vectors.shape} and {len(labels)} labels"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
        self._vectors = vectors if self._vectors.size == 0 else np.concatenate([self._vectors, vectors])
        self._labels.extend(labels)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self._labels:
            return []
        v = np.asarray(vector, np.float32).ravel()
        sims = self._vectors @ (v / max(float(np.linalg.norm(v)), 1e-12))
        order = np.argsort(-sims)[: max(1, k)]
        return [(self._labels[i], float(sims[i])) for i in order]


class ImageEmbedder(Protocol):
    """What the prefilter needs from an image encoder (``art2mus.models.encoders.base.ImageEncoder``)."""

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images -> ``(batch, dim)`` float32 embeddings."""


class EmbeddingPrefilter:
    """Keep the artworks whose reference embeddings are nearest to the frame's embedding.

    Args:
        encoder: turns RGB images into embeddings (the model issue provides ImageBind/CLIP encoders).
        search: a nearest-neighbour search; :class:`ExactCosineSearch` by default.
        top_k: how many nearest reference photos to keep (their artworks become the candidates).
    """

    def __init__(self, encoder: ImageEmbedder, search: NearestNeighbourSearch | None = None, top_k: int = 10):
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.encoder = encoder
        self.search = search or ExactCosineSearch()
        self.top_k = top_k

    def add_references(self, references: Sequence[ReferencePhoto]) -> None:
        images = [cv2.cvtColor(ref.load(), cv2.COLOR_BGR2RGB) for ref in references]
        self.search.add(self.encoder.embed(images), [ref.artwork_id for ref in references])

    def candidates(self, frame_bgr: np.ndarray) -> set[str] | None:
        vec = self.encoder.embed([cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)])[0]
        return {label for label, _ in self.search.search(vec, self.top_k)}


# ----------------------------------------------------------------------------------- recognition


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
    ``frame_size`` (w, h) frame, or None when it is."""
    quad = np.asarray(outline, np.float64)
    if not np.all(np.isfinite(quad)):
        return "outline not finite"
    edges = np.roll(quad, -1, axis=0) - quad
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    # reference corners TL, TR, BR, BL run clockwise on screen (y down): all cross products > 0
    if not np.all(cross > 0):
        return "outline not convex or mirrored"
    area = 0.5 * abs(
        float(np.sum(quad[:, 0] * np.roll(quad[:, 1], -1) - np.roll(quad[:, 0], -1) * quad[:, 1]))
    )
    frame_area = float(frame_size[0] * frame_size[1])
    if area < limits.min_area_fraction * frame_area:
        return f"outline too small ({area / frame_area:.4f} of the frame)"
    if area > limits.max_area_fraction * frame_area:
        return f"outline too large ({area / frame_area:.1f} x the frame)"
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    if lengths.min() < 8:
        return "outline side shorter than 8 px"
    for i in range(4):
        a, b = -edges[i - 1], edges[i]
        cosang = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        ang = math.degrees(math.acos(max(-1.0, min(1.0, cosang))))
        if not limits.min_angle_deg <= ang <= limits.max_angle_deg:
            return f"outline corner angle {ang:.0f} deg"
    aspect = ref_size[0] / ref_size[1]
    normalised = lengths / np.array([aspect, 1.0, aspect, 1.0])
    if normalised.max() / normalised.min() > limits.max_side_ratio:
        return "outline sides too unequal"
    return None


class ArtworkRecognizer:
    """Recognise which indexed artwork a frame shows (not thread-safe: one recognizer per thread).

    Frames are matched coarse to fine: first scaled to ``process_width``; only when that finds no artwork
    with ``confident_inliers`` does a second pass at ``refine_width`` look for small or blurred ones. Most
    frames with an artwork in front of the camera stop after the cheap first pass.

    Args:
        index: the references.
        ratio: ratio test threshold: a match's distance over the distance to the nearest keypoint of any
            *other* artwork (repeated motifs within one painting are left to RANSAC).
        min_inliers: fewest RANSAC inliers for a recognised artwork (below it: unknown).
        confident_inliers: inliers at which the first pass is trusted and the refine pass skipped.
        min_inlier_ratio: fewest inliers as a fraction of the candidate's matches (look-alike paintings
            give many matches that no single homography explains).
        process_width, refine_width: frame widths (pixels) of the two passes; ``refine_width=0`` turns
            the second pass off.
        process_features: keypoints kept (strongest first) in the first pass.
        refine_features: keypoints kept in the refine pass.
        frame_contrast: SIFT contrast threshold for frames (lower than SIFT's 0.04: dim, blurred views).
        frame_octave_layers: SIFT scales per octave for frames; 2 instead of Lowe's 3 builds a smaller
            scale pyramid (a quarter less detection time) and still matches references made with 3.
        refine_min_matches: the refine pass runs only when the first pass found at least this many
            ratio-test matches (0: always); a frame that matches nothing at all is a wall, a visitor or
            a painting not in the index, and the refine pass would cost four times the first for nothing.
        max_candidates: references verified geometrically per pass, most matches first.
        ransac_px: RANSAC reprojection threshold in pixels at 480 pixels width (scaled with the pass).
        flann_checks: leaves visited per FLANN query (speed/recall trade-off).
        geometry: outline sanity limits.
        prefilter: optional candidate narrowing (embedding search) for very large collections.
    """

    def __init__(
        self,
        index: RecognitionIndex,
        *,
        ratio: float = 0.85,
        min_inliers: int = 8,
        confident_inliers: int = 12,
        min_inlier_ratio: float = 0.6,
        relative_tolerance: float = 0.012,
        process_width: int = 320,
        refine_width: int = 640,
        process_features: int = 100,
        refine_features: int = 1000,
        frame_contrast: float = 0.02,
        frame_octave_layers: int = 2,
        refine_min_matches: int = 2,
        max_candidates: int = 4,
        ransac_px: float = 5.0,
        flann_checks: int = 32,
        geometry: GeometryLimits | None = None,
        prefilter: CandidatePrefilter | None = None,
    ):
        if not 0.3 < ratio < 1.0:
            raise ValueError(f"ratio must be in (0.3, 1.0), got {ratio}")
        if min_inliers < 4:
            raise ValueError(f"min_inliers must be >= 4 (a homography needs 4 points), got {min_inliers}")
        if process_width < 160 or (refine_width and refine_width < process_width):
            raise ValueError(
                f"need 160 <= process_width <= refine_width (or refine_width 0), got "
                f"{process_width} and {refine_width}"
            )
        if min(process_features, refine_features) < 50:
            raise ValueError(
                f"process_features and refine_features must be >= 50 keypoints, got {process_features} "
                f"and {refine_features}"
            )
        if not 1 <= frame_octave_layers <= 5:
            raise ValueError(f"frame_octave_layers must be 1..5, got {frame_octave_layers}")
        self.index = index
        self.ratio = ratio
        self.min_inliers = min_inliers
        self.confident_inliers = max(confident_inliers, min_inliers)
        self.min_inlier_ratio = min_inlier_ratio
        self.relative_tolerance = relative_tolerance
        self.max_candidates = max_candidates
        self.ransac_px = ransac_px
        self.flann_checks = flann_checks
        self.geometry = geometry or GeometryLimits()
        self.prefilter = prefilter
        self.refine_min_matches = refine_min_matches
        self._settings = index.settings
        passes = [(process_width, process_features)]
        if refine_width and refine_width > process_width:
            passes.append((refine_width, refine_features))
        self._passes = [
            (w, self._settings.create_detector(n, frame_contrast, frame_octave_layers)) for w, n in passes
        ]
        self._artwork_of_ref = np.array([index.artworks.index(a) for a in index.artwork_ids], dtype=np.int32)
        self._artwork_of_kp = self._artwork_of_ref[index.ref_of_keypoint]
        # neighbours per frame keypoint: its match in every photo (and pyramid level) of one artwork, plus
        # one more for the ratio test against the nearest other artwork
        photos_per_artwork = max(np.bincount(self._artwork_of_ref))
        self._k = int(min(16, 1 + self._settings.reference_levels * photos_per_artwork))
        t0 = time.perf_counter()
        if self._settings.kind == "sift":
            self._flann = cv2.flann_Index(index.descriptors, {"algorithm": 1, "trees": 4})  # KD-tree
        else:  # LSH for binary descriptors
            self._flann = cv2.flann_Index(
                index.descriptors,
                {"algorithm": 6, "table_number": 12, "key_size": 20, "multi_probe_level": 2},
            )
        self.flann_build_seconds = time.perf_counter() - t0

    @classmethod
    def from_config(
        cls,
        config: RecognitionConfig,
        index: RecognitionIndex,
        *,
        prefilter: CandidatePrefilter | None = None,
    ) -> ArtworkRecognizer:
        """A recognizer with the exhibit's settings: ``keep_inliers`` is the recognition floor and
        ``accept_inliers`` the confidence that skips the refine pass (the debouncer applies both)."""
        return cls(
            index,
            ratio=config.ratio_test,
            min_inliers=config.keep_inliers,
            confident_inliers=config.accept_inliers,
            process_width=config.process_width,
            refine_width=config.refine_width,
            process_features=config.process_features,
            refine_features=config.max_features,
            refine_min_matches=config.refine_min_matches,
            prefilter=prefilter,
        )

    def recognize(self, frame_bgr: np.ndarray) -> RecognitionResult:
        """Match one frame (BGR or grey uint8, any size) against the index."""
        t0 = time.perf_counter()
        gray = _to_gray(frame_bgr)
        allowed = self.prefilter.candidates(frame_bgr) if self.prefilter is not None else None
        result = None
        for width, detector in self._passes:
            found = self._recognize_at(gray, width, detector, allowed)
            if result is None or found.score > result.score or (found.artwork_id and not result.artwork_id):
                result = found
            if result.artwork_id is not None and result.score >= self.confident_inliers:
                break
            if gray.shape[1] <= width:  # the frame is no bigger than this pass: nothing finer to see
                break
            if found.matches < self.refine_min_matches:  # nothing here resembles any artwork
                break
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
        )

    def _recognize_at(
        self, gray: np.ndarray, width: int, detector: cv2.Feature2D, allowed: set[str] | None
    ) -> RecognitionResult:
        fh, fw = gray.shape[:2]
        small, s = _resize_long_side(gray, round(width * max(fw, fh) / max(1, fw)))
        xy, desc = _detect(detector, small, self._settings.root_sift)
        if desc is None or len(xy) < 8:
            return RecognitionResult(None, 0.0, keypoints=len(xy))
        query = desc.astype(np.float32) if self._settings.kind == "sift" else desc
        k = min(self._k if allowed is None else max(8, self._k), len(self.index.keypoints))
        nn_idx, nn_dist = self._flann.knnSearch(query, k, params={"checks": self.flann_checks})
        good_q, cand_kp = self._ratio_test(nn_idx, nn_dist, allowed)
        counts_kw = {"matches": len(good_q), "keypoints": len(xy)}
        if len(good_q) < self.min_inliers:
            return RecognitionResult(None, 0.0, **counts_kw)
        by_ref = self._matches_by_reference(good_q, cand_kp)
        best: tuple[int, int, np.ndarray, np.ndarray] | None = None  # (inliers, ref, outline, pairs)
        ransac_px = self.ransac_px * small.shape[1] / 480.0
        ranked = sorted(by_ref.items(), key=lambda item: -len(item[1][0]))
        for ref, (q_sel, kp_sel) in ranked[: self.max_candidates]:
            if len(q_sel) < self.min_inliers:
                break
            found = self._verify(
                ref, self.index.keypoints[kp_sel], xy[q_sel], (small.shape[1], small.shape[0]), ransac_px
            )
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], ref, found[1], found[2])
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
