"""The recognition index: local features of every artwork's reference photos, built once and stored.

A :class:`RecognitionIndex` holds the keypoints and descriptors (SIFT or ORB, several photos per artwork
allowed, each described at a few scales) of every reference photo, stacked, so that the recognizer
(:mod:`.recognizer`) can search them all with one FLANN index.

At museum scale (1,000 artworks) the index must stay small: each reference keeps at most
``FeatureSettings.keep_keypoints`` keypoints, the strongest spread over the picture (a grid, round robin
by response), and SIFT descriptors are stored compressed (:class:`DescriptorCodec`): RootSIFT projected on
the collection's principal components and quantised to int8, a quarter of float32 at 64 dimensions of 128.
FLANN keeps its own float32 copy of what it searches, so the index's copy is the compact one.

The index is persisted next to the exhibit (``<exhibit>/.art2mus/recognition-index.npz``) and rebuilt
whenever a reference photo, the list of artworks or the feature settings change: the file records a
SHA-256 fingerprint of all of them (:meth:`RecognitionIndex.load_or_build`).
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
from typing import TYPE_CHECKING

import cv2
import numpy as np

from art2mus.common.digests import file_sha256
from art2mus.common.whole_files import fsync_directory
from art2mus.installation.logs import progress_logger

if TYPE_CHECKING:
    from art2mus.installation.config.exhibit import ExhibitConfig
    from art2mus.installation.config.vision import RecognitionConfig

logger = logging.getLogger(__name__)
progress = progress_logger("index")
#: a progress line every this many reference photos described (and the build's summary as progress from here)
PROGRESS_EVERY = 100

#: Bumped when the index layout or the feature extraction changes; part of the fingerprint.
INDEX_FORMAT = 2
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
        keep_keypoints: keypoints kept per reference photo, all levels together, chosen spread over the
            picture (:func:`spread_order`); 0 keeps every detected one.
        descriptor_dims: SIFT descriptors are stored as this many principal components, int8
            (:class:`DescriptorCodec`); 0 keeps raw float32 (128 dimensions).
        reference_tilts: each reference is also described as seen at an angle: squeezed by
            :data:`TILT` along this many directions over 180 degrees (0: none; 2: across and along; 4: the
            diagonals too),
            as ASIFT simulates tilts, so that steep views match keypoints described at their own slant.
    """

    kind: str = "sift"
    reference_features: int = 1000
    reference_long_side: int = 480
    reference_levels: int = 2
    root_sift: bool = True
    keep_keypoints: int = 0
    descriptor_dims: int = 0
    reference_tilts: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("sift", "orb"):
            raise ValueError(f"feature kind must be 'sift' or 'orb', got {self.kind!r}")
        if self.reference_features < 50:
            raise ValueError(f"reference_features must be >= 50 keypoints, got {self.reference_features}")
        if self.reference_long_side < 160:
            raise ValueError(f"reference_long_side must be >= 160 pixels, got {self.reference_long_side}")
        if not 1 <= self.reference_levels <= 4:
            raise ValueError(f"reference_levels must be 1..4, got {self.reference_levels}")
        if self.keep_keypoints and self.keep_keypoints < 50:
            raise ValueError(f"keep_keypoints must be 0 or >= 50 keypoints, got {self.keep_keypoints}")
        if self.descriptor_dims and not 16 <= self.descriptor_dims <= 128:
            raise ValueError(f"descriptor_dims must be 0 or 16..128, got {self.descriptor_dims}")
        if not 0 <= self.reference_tilts <= 4:
            raise ValueError(f"reference_tilts must be 0..4, got {self.reference_tilts}")

    @classmethod
    def from_config(cls, config: RecognitionConfig) -> FeatureSettings:
        """The exhibit's ``recognition:`` feature settings (the rest are fixed choices)."""
        return cls(
            kind=config.features,
            reference_features=config.max_features,
            reference_long_side=config.reference_long_side,
            reference_levels=config.reference_levels,
            keep_keypoints=config.reference_keypoints,
            descriptor_dims=config.descriptor_dims if config.features == "sift" else 0,
            reference_tilts=config.reference_tilts,
        )

    def as_dict(self) -> dict:
        settings = {
            "kind": self.kind,
            "reference_features": self.reference_features,
            "reference_long_side": self.reference_long_side,
            "reference_levels": self.reference_levels,
            "root_sift": self.root_sift,
            "keep_keypoints": self.keep_keypoints,
            "descriptor_dims": self.descriptor_dims,
        }
        if self.reference_tilts:  # only then: indexes stored before the setting existed stay valid
            settings["reference_tilts"] = self.reference_tilts
        return settings

    def create_detector(
        self, n_features: int, contrast: float = 0.04, octave_layers: int = 3, sigma: float = 1.6
    ) -> cv2.Feature2D:
        """A detector keeping the ``n_features`` strongest keypoints; ``contrast`` is SIFT's threshold,
        ``octave_layers`` its scales per octave and ``sigma`` its first scale's blur (ORB ignores them)."""
        if self.kind == "sift":
            return cv2.SIFT_create(
                nfeatures=n_features, nOctaveLayers=octave_layers, contrastThreshold=contrast, sigma=sigma
            )
        return cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=12)


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a grey or BGR(A) image, got an array of shape {image.shape}")


def resize_long_side(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Scale down so the long side is at most ``long_side``; returns the image and the factor applied."""
    h, w = gray.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s >= 1.0:
        return gray, 1.0
    return cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def detect_features(
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


#: cells per side of the grid over which a reference's kept keypoints are spread
SPREAD_GRID = 4


def spread_order(
    xy: np.ndarray, response: np.ndarray, size: tuple[int, int], grid: int | None = None
) -> np.ndarray:
    """Keypoint indices, best first: the strongest (by ``response``) of each of ``grid`` x ``grid`` cells of a
    ``size`` (w, h) image, then the second strongest of each, and so on. Taking the first n keeps keypoints
    over the whole picture, so an occluded or cropped view still finds some, where the n strongest may
    crowd into one busy corner."""
    grid = grid or SPREAD_GRID
    by_response = np.argsort(-response, kind="stable")
    cx = np.clip((xy[by_response, 0] * grid / max(1, size[0])).astype(np.int64), 0, grid - 1)
    cy = np.clip((xy[by_response, 1] * grid / max(1, size[1])).astype(np.int64), 0, grid - 1)
    cell = cy * grid + cx
    by_cell = np.argsort(cell, kind="stable")  # within a cell, still strongest first
    sorted_cells = cell[by_cell]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_cells)])
    rank = np.empty(len(cell), np.int64)
    rank[by_cell] = np.arange(len(cell)) - np.repeat(starts, lengths)
    return by_response[np.lexsort((np.arange(len(cell)), rank))]


#: how much a slanted reference view is squeezed (ASIFT's first tilt: the view from 45 degrees)
TILT = math.sqrt(2.0)


def tilt_directions(count: int) -> list[float]:
    """The directions (degrees) along which ``count`` slanted views squeeze a reference."""
    return [180.0 * k / count for k in range(count)]


def tilted(gray: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` as seen at a slant: turned by ``angle_deg`` and squeezed by :data:`TILT` across (an area
    resize, which averages what it squeezes, so nothing aliases), and the ``(2, 3)`` affine map from its
    pixels back to ``gray``'s. SIFT does not mind the turn; the squeeze is what a tilted view adds."""
    h, w = gray.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ turn.T
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    turn[:, 2] -= lo
    size = (max(1, round(hi[0] - lo[0])), max(1, round(hi[1] - lo[1])))
    turned = gray if angle_deg % 360 == 0 else cv2.warpAffine(
        gray, turn, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    out = cv2.resize(turned, (max(1, round(size[0] / TILT)), size[1]), interpolation=cv2.INTER_AREA)
    forward = np.diag([out.shape[1] / size[0], 1.0]) @ turn
    return out, cv2.invertAffineTransform(forward).astype(np.float32)


@dataclass(frozen=True)
class DescriptorCodec:
    """RootSIFT descriptors compressed for the index: projected on the collection's first ``dims``
    principal components and quantised to int8 with one scale per component.

    Distances between projected descriptors approximate the full 128-d ones (the components left out
    carry little of the variance), so the ratio test and FLANN work on them unchanged; frames are
    projected (:meth:`project`) but not quantised.

    Attributes:
        mean: ``(128,)`` float32, subtracted before projecting.
        basis: ``(128, dims)`` float32, orthonormal columns (principal directions, largest first).
        scale: ``(dims,)`` float32, int8 steps per unit of each component.
    """

    mean: np.ndarray
    basis: np.ndarray
    scale: np.ndarray

    #: descriptors used to fit the components (a deterministic stride over all of them)
    FIT_SAMPLES = 100_000

    @property
    def dims(self) -> int:
        return int(self.basis.shape[1])

    @classmethod
    def fit(cls, descriptors: np.ndarray, dims: int) -> DescriptorCodec:
        """Principal components of ``descriptors`` ``(n, 128)`` (any dtype, RootSIFT scale)."""
        sample = descriptors[:: max(1, len(descriptors) // cls.FIT_SAMPLES)].astype(np.float64)
        mean = sample.mean(axis=0)
        centred = sample - mean
        # OpenCV's products, not numpy's: OpenBLAS would spin a thread per core (CPU time, not speed)
        values, vectors = np.linalg.eigh(cv2.gemm(centred, centred, 1.0, None, 0.0, flags=cv2.GEMM_1_T))
        basis = vectors[:, np.argsort(values)[::-1][:dims]]
        # eigenvectors' signs are the LAPACK build's choice: fix them so every machine builds one index
        basis *= np.where(basis[np.argmax(np.abs(basis), axis=0), np.arange(dims)] < 0, -1.0, 1.0)
        peak = np.abs(cv2.gemm(centred, basis, 1.0, None, 0.0)).max(axis=0)
        return cls(
            mean.astype(np.float32),
            basis.astype(np.float32),
            (127.0 / np.maximum(peak, 1e-6)).astype(np.float32),
        )

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """``(n, 128)`` -> ``(n, dims)`` float32 (not quantised)."""
        return cv2.gemm(descriptors.astype(np.float32) - self.mean, self.basis, 1.0, None, 0.0)

    def encode(self, descriptors: np.ndarray) -> np.ndarray:
        """``(n, 128)`` -> ``(n, dims)`` int8."""
        return np.clip(np.rint(self.project(descriptors) * self.scale), -127, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``(n, dims)`` int8 -> float32 in the projected space."""
        return codes.astype(np.float32) / self.scale


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
                return file_sha256(self.path)  # the file's bytes, read once per process while unchanged
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
        descriptors: ``(n_kp, dims)`` int8 codes of ``codec`` (SIFT, compressed), ``(n_kp, 128)`` float32
            (SIFT, ``descriptor_dims`` 0) or ``(n_kp, 32)`` uint8 (ORB).
        ref_of_keypoint: reference number per keypoint, ``(n_kp,)`` int32.
        fingerprint: :func:`references_fingerprint` of the inputs.
        codec: how ``descriptors`` were compressed, or None.
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
    codec: DescriptorCodec | None = None

    @property
    def artworks(self) -> list[str]:
        """Distinct artwork ids, in first-seen order."""
        return list(dict.fromkeys(self.artwork_ids))

    @property
    def nbytes(self) -> int:
        return int(self.keypoints.nbytes + self.descriptors.nbytes + self.ref_of_keypoint.nbytes)

    def search_descriptors(self) -> np.ndarray:
        """What FLANN indexes: float32 (SIFT, decoded when compressed) or uint8 (ORB). A new array when
        compressed: FLANN copies it, and the caller should not keep it."""
        if self.codec is not None:
            return self.codec.decode(self.descriptors)
        return self.descriptors

    def query_descriptors(self, descriptors: np.ndarray) -> np.ndarray:
        """A frame's descriptors in the space of :meth:`search_descriptors` (projected when compressed)."""
        if self.codec is not None:
            return self.codec.project(descriptors)
        return descriptors.astype(np.float32) if self.settings.kind == "sift" else descriptors

    @staticmethod
    def _describe(
        ref: ReferencePhoto, n: int, settings: FeatureSettings
    ) -> tuple[np.ndarray, np.ndarray, tuple]:
        """One reference photo's kept keypoints ``(m, 2)`` and descriptors, and its (w, h, scale)."""
        gray, s = resize_long_side(to_gray(ref.load()), settings.reference_long_side)
        # the kept keypoints are shared between levels as their detector budgets are (1, 1/2, 1/4...)
        weights = [0.5**level for level in range(settings.reference_levels)]
        # the slanted views: each with the keypoint budget and the share of kept keypoints of level 1
        weights += [0.5] * settings.reference_tilts
        xy_levels, desc_levels = [], []
        level_img = gray
        views = [(level, None) for level in range(settings.reference_levels)]
        views += [(0, angle) for angle in tilt_directions(settings.reference_tilts)]
        for number, (level, tilt) in enumerate(views):
            if tilt is not None:
                level_img, to_ref = tilted(gray, tilt)
                budget = max(50, settings.reference_features >> 1)
            else:
                if level:
                    if min(level_img.shape[:2]) < 64:
                        continue
                    level_img = cv2.resize(
                        level_img,
                        (level_img.shape[1] // 2, level_img.shape[0] // 2),
                        interpolation=cv2.INTER_AREA,
                    )
                to_ref = np.float32(gray.shape[1] / level_img.shape[1]) * np.eye(2, 3, dtype=np.float32)
                budget = max(50, settings.reference_features >> level)
            detector = settings.create_detector(budget)
            kps, ldesc = detector.detectAndCompute(level_img, None)
            if ldesc is None or not kps:
                continue
            lxy = np.array([kp.pt for kp in kps], dtype=np.float32)
            if settings.keep_keypoints:
                quota = max(1, round(settings.keep_keypoints * weights[number] / sum(weights)))
                response = np.array([kp.response for kp in kps], dtype=np.float32)
                keep = spread_order(lxy, response, (level_img.shape[1], level_img.shape[0]))[:quota]
                lxy, ldesc = lxy[keep], ldesc[keep]
            if ldesc.dtype == np.float32 and settings.root_sift:
                ldesc = np.sqrt(ldesc / (ldesc.sum(axis=1, keepdims=True) + 1e-7))
            if settings.descriptor_dims and settings.kind == "sift":
                # kept as bytes until the codec is fitted on the whole collection (RootSIFT is in [0, 1])
                ldesc = np.rint(ldesc * 255.0).astype(np.uint8)
            lxy = lxy @ to_ref[:, :2].T + to_ref[:, 2]  # in the reference's pixels
            if tilt is not None:  # a slanted view's corners are filled in: nothing there is the picture
                inside = np.all((lxy >= 0) & (lxy <= (gray.shape[1] - 1, gray.shape[0] - 1)), axis=1)
                lxy, ldesc = lxy[inside], ldesc[inside]
            xy_levels.append(lxy.astype(np.float32))
            desc_levels.append(ldesc)
        xy = np.concatenate(xy_levels) if xy_levels else np.zeros((0, 2), np.float32)
        if not desc_levels or len(xy) < 20:
            where = ref.path or f"in-memory image #{n}"
            raise ValueError(
                f"{where}: reference photo of artwork {ref.artwork_id!r} has {len(xy)} keypoints; "
                "at least 20 are needed (is it blank or tiny?)"
            )
        desc = np.concatenate(desc_levels)
        return (
            xy,
            desc.astype(np.float32) if desc.dtype == np.float32 else desc,
            (gray.shape[1], gray.shape[0], s),
        )

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
            if n and n % PROGRESS_EVERY == 0:
                progress.info(
                    "recognition index: described %d of %d reference photos (%.0f s)",
                    n,
                    len(references),
                    time.perf_counter() - t0,
                )
            xy, desc, (w, h, s) = cls._describe(ref, n, settings)
            ids.append(ref.artwork_id)
            sizes.append((w, h))
            scales.append(s)
            kps.append(xy)
            descs.append(desc)
            owners.append(np.full(len(xy), n, np.int32))
        descriptors = np.concatenate(descs)
        del descs
        codec = None
        if settings.descriptor_dims and settings.kind == "sift":
            fitted = DescriptorCodec.fit(descriptors, settings.descriptor_dims)
            # the codec works on RootSIFT's own scale: fitted on bytes, its mean and spread are 255 times it
            codec = DescriptorCodec(fitted.mean / 255.0, fitted.basis, fitted.scale * 255.0)
            descriptors = np.concatenate(
                [
                    codec.encode(descriptors[i : i + 65536].astype(np.float32) / 255.0)
                    for i in range(0, len(descriptors), 65536)
                ]
            )
        index = cls(
            settings=settings,
            artwork_ids=ids,
            ref_sizes=np.array(sizes, np.float32),
            ref_scales=np.array(scales, np.float32),
            keypoints=np.concatenate(kps),
            descriptors=np.ascontiguousarray(descriptors),
            ref_of_keypoint=np.concatenate(owners),
            fingerprint=fingerprint or references_fingerprint(references, settings),
            build_seconds=time.perf_counter() - t0,
            codec=codec,
        )
        (progress if len(ids) >= PROGRESS_EVERY else logger).info(
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
        codec = {}
        if self.codec is not None:
            codec = {
                "codec_mean": self.codec.mean,
                "codec_basis": self.codec.basis,
                "codec_scale": self.codec.scale,
            }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    meta=np.array(json.dumps(meta)),
                    ref_sizes=self.ref_sizes,
                    ref_scales=self.ref_scales,
                    keypoints=self.keypoints,
                    descriptors=self.descriptors,
                    ref_of_keypoint=self.ref_of_keypoint,
                    **codec,
                )
                # on disk before the rename: a power cut soon after a rebuild leaves the old file or
                # the new one, never an empty one in its place
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written index beside the real one
        fsync_directory(path.parent)

    @classmethod
    def load(cls, path: Path) -> RecognitionIndex:
        """Read an index written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != INDEX_FORMAT:
                raise ValueError(
                    f"{path}: recognition index format {meta.get('format')}, expected {INDEX_FORMAT}"
                )
            codec = None
            if "codec_basis" in data:
                codec = DescriptorCodec(data["codec_mean"], data["codec_basis"], data["codec_scale"])
            owners = data["ref_of_keypoint"]
            n_refs = len(meta["artwork_ids"])
            if not (
                len(owners) == len(data["keypoints"]) == len(data["descriptors"])
                and np.all(np.diff(owners) >= 0)
                and (len(owners) == 0 or 0 <= owners[0] <= owners[-1] < n_refs)
            ):
                raise ValueError(
                    f"{path}: ref_of_keypoint must give each keypoint's reference (0..{n_refs - 1}), "
                    "each reference's keypoints together and in order"
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
                codec=codec,
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
            # a rebuildable cache: whatever numpy and zipfile raise for an empty or cut-off file
            # (EOFError, BadZipFile, zlib.error, ...) must cost a rebuild, never the start
            except Exception as exc:
                logger.warning(
                    "ignoring unreadable recognition index %s (%s: %s); rebuilding it",
                    path,
                    type(exc).__name__,
                    exc,
                )
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
