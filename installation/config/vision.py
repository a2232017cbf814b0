"""The recognition and presence sections of the exhibit config (the camera's configs live beside the
camera sources, :mod:`art2mus.installation.vision.sources`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from art2mus.installation.config.base import OutputPath, StrictModel, seconds

# the camera backends declare their configs beside their sources; the union is their registry's
from art2mus.installation.vision.sources import (  # noqa: F401 - re-exported for the exhibit model
    CameraConfig,
    DeviceCameraConfig,
    PathCameraConfig,
    StreamCameraConfig,
    VideoCameraConfig,
)


class RecognitionConfig(StrictModel):
    """How artworks are recognised in camera frames (local features + geometric check)."""

    features: Literal["sift", "orb"] = Field(
        "sift", description="Local feature type (SIFT is more robust, ORB faster)."
    )
    max_features: int = Field(
        1000, ge=100, le=10000, description="Keypoints kept per reference photo and per refine-pass frame."
    )
    reference_keypoints: int = Field(
        0,
        ge=0,
        le=10000,
        description="Keypoints kept per reference photo in the index, its scales together: the strongest "
        "spread over the picture (fewer: a smaller index, faster to build and search; 0: all that "
        "max_features detects).",
    )
    reference_long_side: int = Field(
        480,
        ge=160,
        le=2000,
        description="Reference photos are described at this long side (pixels). Hundreds of artworks: 240 "
        "(with reference_levels 1 and descriptor_dims 64) builds 4x faster in a fraction of the memory, but "
        "small views need the refine pass more often (the demo walk costs 2.5x the CPU).",
    )
    reference_levels: int = Field(
        2,
        ge=1,
        le=4,
        description="Each reference photo is also described at 1/2, 1/4... of its size (this many levels in "
        "all), so that small, blurred views find coarse features.",
    )
    descriptor_dims: int = Field(
        0,
        ge=0,
        le=128,
        description="SIFT descriptors are stored as this many principal components of the collection's, "
        "int8 (64: an eighth of the memory of 128 float32, for collections of hundreds of artworks; "
        "fewer frames are confident at the first pass, so more need the refine pass); 0: raw float32.",
    )
    reference_tilts: int = Field(
        0,
        ge=0,
        le=4,
        description="Each reference photo is also described as seen from 45 degrees, squeezed along this many "
        "directions evenly spread over 180 degrees (0: none; 2: across and along; 4: the diagonals too), as "
        "ASIFT does: steep views then match. Costs index memory and build time in proportion.",
    )
    shortlist: int = Field(
        8,
        ge=0,
        le=1000,
        description="Large collections: each frame is compared only with this many artworks, those that hold "
        "most of its keypoints' nearest neighbours, so that look-alikes elsewhere in the collection do not "
        "veto its matches; when that finds no artwork with accept_inliers, the frame's keypoints are matched "
        "again exactly against these artworks' keypoints (0: with every artwork). The reference photo "
        "check likewise compares each photo only with the photos of its shortlist's artworks.",
    )
    process_features: int = Field(
        100, ge=50, le=10000, description="Keypoints kept per frame in the first pass (fewer is faster)."
    )
    process_sigma: float = Field(
        1.6,
        ge=0.7,
        le=2.0,
        description="SIFT's first-scale blur in the first pass (Lowe's 1.6; the refine pass keeps 1.6). 1.0 "
        "blurs the doubled first octave, most of the pass's cost, with shorter filters: on the benchmark "
        "about a sixth less CPU per frame and fewer frames refined, the same top-1 at 100 and 1,000 "
        "artworks, one more of 100 demo views missed (0.98), and the demo walk's decisions the same; the "
        "demo exhibit sets it. Its finer keypoints also match a look-alike painting more readily: with a "
        "lenient ratio_test (0.85) and accept_inliers 12, one generated look-alike of 300 was accepted.",
    )
    ratio_test: float = Field(
        0.75, gt=0.3, lt=1.0, description="Lowe's ratio test threshold for feature matches."
    )
    accept_inliers: int = Field(
        15, ge=4, le=2000, description="Geometric inliers needed to accept an artwork that is not yet chosen."
    )
    keep_inliers: int = Field(
        10,
        ge=4,
        le=2000,
        description="Inliers enough to keep an artwork already chosen (hysteresis; <= accept).",
    )
    process_width: int = Field(
        320,
        ge=160,
        le=3840,
        description="Frames are first matched at this width (pixels); most frames with an artwork stop there.",
    )
    quick_width: int = Field(
        0,
        ge=0,
        le=3840,
        description="A cheaper pass at this width (pixels) before process_width: a large, sharp view found "
        "there with accept_inliers skips the others (0: none; else below process_width).",
    )
    refine_width: int = Field(
        640,
        ge=0,
        le=3840,
        description="A second pass at this width (pixels) looks for small or blurred artworks when the first "
        "finds none with accept_inliers (0: no second pass; else >= process_width).",
    )
    refine_min_matches: int = Field(
        3,
        ge=0,
        le=1000,
        description="The refine pass runs only when the first pass found at least this many feature matches "
        "(0: whenever the first pass is not confident) and at least 3 of them point to one artwork; a frame "
        "matching nothing, or a little of everything, shows no artwork.",
    )
    interval_seconds: float = seconds(0.2, "Time between two recognitions of the newest frame.", ge=0, le=10)
    still_change_fraction: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="A frame counts as still when less than this fraction of its pixels changed since the "
        "last recognised one; a still frame keeps the last result without recognition (0: recognise every "
        "interval).",
    )
    tracking: bool = Field(
        True,
        description="Follow the recognised artwork's keypoints (chosen, or dwelling with accept_inliers) by "
        "optical flow between full recognitions (far cheaper than searching every artwork).",
    )
    verify_seconds: float = seconds(
        1.0, "Longest time between two full recognitions while the chosen artwork is tracked.", gt=0, le=60
    )
    index_dir: OutputPath = Field(
        Path(".art2mus"),
        description="Where the recognition index is kept (rebuilt when reference photos change).",
    )
    threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Threads OpenCV may use for recognition and motion detection (0: one per core, OpenCV's "
        "default). One costs the least CPU: a pool's worker threads wait actively after each parallel step "
        "(0.7 % of a core on a still scene, 2 cores); more shorten a full recognition on a many-core board.",
    )

    @model_validator(mode="after")
    def _thresholds_and_widths(self) -> RecognitionConfig:
        if self.keep_inliers > self.accept_inliers:
            raise ValueError(
                f"keep_inliers ({self.keep_inliers}) must not exceed accept_inliers ({self.accept_inliers})"
            )
        if self.descriptor_dims and self.descriptor_dims < 16:
            raise ValueError(f"descriptor_dims ({self.descriptor_dims}) must be 0 or at least 16")
        if self.reference_keypoints and self.reference_keypoints < 50:
            raise ValueError(f"reference_keypoints ({self.reference_keypoints}) must be 0 or at least 50")
        if self.quick_width and not 80 <= self.quick_width < self.process_width:
            raise ValueError(
                f"quick_width ({self.quick_width}) must be 0 or from 80 to below process_width "
                f"({self.process_width})"
            )
        if self.refine_width and self.refine_width < self.process_width:
            raise ValueError(
                f"refine_width ({self.refine_width}) must be 0 or at least process_width ({self.process_width})"
            )
        return self


class PresenceConfig(StrictModel):
    """When a visitor counts as present and an artwork as chosen (debounce)."""

    dwell_seconds: float = seconds(
        1.5, "An artwork must be seen this long before its soundscape starts.", ge=0, le=60
    )
    hold_seconds: float = seconds(
        6.0, "An artwork must be missed this long before it is dropped (longer than dwell).", ge=0, le=600
    )
    motion: bool = Field(
        True, description="Detect visitors by motion in the camera image (background subtraction)."
    )
    motion_min_area: float = Field(
        0.01, gt=0, le=1, description="Fraction of the frame that must move to count as a visitor."
    )
    motion_hold_seconds: float = seconds(
        3.0, "A visitor counts as present for this long after the last frame with motion.", ge=0, le=600
    )
    sensor_hold_seconds: float = seconds(
        20.0, "A presence event from an external sensor (e.g. PIR) counts for this long.", ge=0, le=3600
    )

    @model_validator(mode="after")
    def _hold_not_below_dwell(self) -> PresenceConfig:
        if self.hold_seconds < self.dwell_seconds:
            raise ValueError(
                f"hold_seconds ({self.hold_seconds}) must be at least dwell_seconds ({self.dwell_seconds})"
            )
        return self
