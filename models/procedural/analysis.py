"""What the sonifier sees in an image: colour, light, texture, composition and visual rhythm.

Every feature is a plain float in a documented range (or a short fixed-length profile), computed on a
copy of the image resized so its longer side is :data:`ANALYSIS_SIZE` pixels; the features therefore
barely depend on the photo's resolution, and similar images give similar numbers. Colour work happens in
CIE L*a*b* (OpenCV's float conversion: L* in [0, 100], a*/b* roughly [-128, 127]), where distances
follow perceived colour differences.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

#: longer side, in pixels, of the copy of the image that is analysed.
ANALYSIS_SIZE = 256
#: number of vertical bands the horizontal profiles (contour, rhythm) are summarised into.
PROFILE_BANDS = 32
#: number of dominant colours in the palette.
PALETTE_SIZE = 5


@dataclass(frozen=True)
class ImageFeatures:
    """The image's character, every field a JSON-friendly float or list of floats.

    Attributes:
        brightness: mean lightness L*/100, in [0, 1].
        contrast: lightness spread (5th to 95th percentile of L*) / 100, in [0, 1].
        saturation: mean chroma sqrt(a*^2 + b*^2) / 60, clipped to [0, 1] (0 = grey).
        warmth: chroma-weighted lean towards red/orange/yellow (+1) or blue/cyan (-1), in [-1, 1].
        hue_deg: L*a*b* hue angle of the mean colour, in degrees [0, 360); with a small
            lightness-dependent bias so that nearly grey images still get a stable angle.
        hue_strength: |mean (a*, b*)| / mean chroma, in [0, 1]: how much one hue dominates.
        palette_lab: :data:`PALETTE_SIZE` dominant colours as ``[L*, a*, b*]``, most common first.
        palette_weights: share of the pixels each palette colour stands for (sums to 1).
        colour_variety: expected distance (delta E) between the palette colours of two random pixels / 60,
            clipped to [0, 1].
        edge_density: mean Sobel gradient magnitude of L* (per pixel, after a light blur) mapped to
            [0, 1] by ``1 - exp(-g / 6)``.
        texture: fine-scale detail (mean |L* - blurred L*|) mapped to [0, 1] by ``1 - exp(-d / 6)``.
        symmetry: left-right mirror similarity, in [0, 1] (1 = perfectly symmetric).
        centre_x: horizontal centre of visual weight, in [-1, 1] (-1 = left edge, +1 = right edge).
        centre_y: vertical centre of visual weight, in [-1, 1] (-1 = top, +1 = bottom).
        spread: spatial spread of the visual weight relative to an even spread, in [0, 1].
        column_lightness: mean L*/100 of each of :data:`PROFILE_BANDS` vertical bands, left to right.
        column_activity: edge energy of each band relative to the busiest band, in [0, 1].
        rhythm_regularity: how periodic the image is along the horizontal axis (highest autocorrelation
            peak of the column lightness or edge profile after its first zero crossing), in [0, 1].
    """

    brightness: float
    contrast: float
    saturation: float
    warmth: float
    hue_deg: float
    hue_strength: float
    palette_lab: list[list[float]]
    palette_weights: list[float]
    colour_variety: float
    edge_density: float
    texture: float
    symmetry: float
    centre_x: float
    centre_y: float
    spread: float
    column_lightness: list[float]
    column_activity: list[float]
    rhythm_regularity: float

    def to_dict(self, decimals: int = 4) -> dict:
        """The features as a JSON-serialisable dict, floats rounded to ``decimals``."""

        def _round(value):
            if isinstance(value, list):
                return [_round(v) for v in value]
            return round(float(value), decimals)

        return {key: _round(value) for key, value in asdict(self).items()}

    def summary_vector(self) -> np.ndarray:
        """Scalar features as one vector (hue as a unit circle point): shape ``(15,)``, float64."""
        hue = math.radians(self.hue_deg)
        return np.array(
            [
                self.brightness,
                self.contrast,
                self.saturation,
                self.warmth,
                self.hue_strength * math.cos(hue),
                self.hue_strength * math.sin(hue),
                self.colour_variety,
                self.edge_density,
                self.texture,
                self.symmetry,
                self.centre_x,
                self.centre_y,
                self.spread,
                float(np.std(self.column_lightness)),
                self.rhythm_regularity,
            ]
        )


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check and normalise an image to RGB uint8 ``(H, W, 3)``.

    Accepts ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 3)`` RGB and ``(H, W, 4)`` RGBA uint8 arrays.

    Raises:
        ValueError: wrong type, dtype, shape or an image smaller than 4x4 pixels.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (RGB uint8, (H, W, 3)), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8 (RGB 0..255), got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W, 3) (or grey (H, W), RGBA (H, W, 4)), got {image.shape}")
    if image.shape[0] < 4 or image.shape[1] < 4:
        raise ValueError(f"image must be at least 4x4 pixels, got {image.shape[1]}x{image.shape[0]}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image


def _resize_for_analysis(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = ANALYSIS_SIZE / max(h, w)
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interpolation)


def _kmeans_palette(lab_pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means in L*a*b*: farthest-point initialisation from the mean colour, 12 rounds.

    Returns ``(centres (k, 3), weights (k,))`` sorted by weight, most common first.
    """
    x = lab_pixels.astype(np.float64)
    centres = [x.mean(axis=0)]
    dist = np.sum((x - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        # The farthest pixel from the chosen centres: deterministic and spreads the palette.
        centres.append(x[int(np.argmax(dist))])
        dist = np.minimum(dist, np.sum((x - centres[-1]) ** 2, axis=1))
    c = np.array(centres)
    for _ in range(12):
        d = np.sum((x[:, None, :] - c[None, :, :]) ** 2, axis=2)
        label = np.argmin(d, axis=1)
        for j in range(k):
            members = x[label == j]
            if len(members):
                c[j] = members.mean(axis=0)
    d = np.sum((x[:, None, :] - c[None, :, :]) ** 2, axis=2)
    label = np.argmin(d, axis=1)
    weights = np.bincount(label, minlength=k).astype(np.float64) / len(x)
    order = np.argsort(-weights, kind="stable")
    return c[order], weights[order]


def _band_means(values: np.ndarray, bands: int) -> np.ndarray:
    """Mean of each of ``bands`` vertical strips of a 2-D map, left to right."""
    edges = np.linspace(0, values.shape[1], bands + 1).round().astype(int)
    columns = values.mean(axis=0)
    return np.array([columns[a:max(b, a + 1)].mean() for a, b in zip(edges[:-1], edges[1:], strict=False)])


def _periodicity(profile: np.ndarray) -> float:
    """How periodic a 1-D profile is, in [0, 1]: its autocorrelation's highest peak after the first
    zero crossing (a ramp or a single blob has none and scores 0; stripes score near 1)."""
    centred = profile - profile.mean()
    energy = float(np.dot(centred, centred))
    if energy <= 1e-9 * max(1.0, float(np.dot(profile, profile))):
        return 0.0
    n = centred.size
    auto = np.correlate(centred, centred, mode="full")[n - 1 :] / energy
    # Normalise for the shrinking overlap, so a long period is not penalised for its length.
    auto = auto / (1.0 - np.arange(n) / n)
    negative = np.flatnonzero(auto[: n // 2] < 0.0)
    if negative.size == 0:
        return 0.0
    return float(np.clip(auto[negative[0] : n // 2].max(), 0.0, 1.0))


def analyse_image(image: np.ndarray) -> ImageFeatures:
    """Measure an image's colour, light, texture, composition and horizontal rhythm.

    Args:
        image: RGB uint8, ``(H, W, 3)`` (grey ``(H, W)`` and RGBA are accepted too).

    Returns:
        The :class:`ImageFeatures`; deterministic for a given image.
    """
    rgb = _resize_for_analysis(to_rgb_uint8(image))
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).astype(np.float64)
    lightness, a, b = lab[:, :, 0], lab[:, :, 1], lab[:, :, 2]
    chroma = np.hypot(a, b)

    brightness = float(np.clip(lightness.mean() / 100.0, 0.0, 1.0))
    p5, p95 = np.percentile(lightness, [5, 95])
    contrast = float(np.clip((p95 - p5) / 100.0, 0.0, 1.0))
    mean_chroma = float(chroma.mean())
    saturation = float(np.clip(mean_chroma / 60.0, 0.0, 1.0))

    # Warm colours (red, orange, yellow) point towards hue ~60 degrees in the a*b* plane.
    warm_axis = 0.5 * a + 0.866 * b
    warmth = float(np.tanh(warm_axis.mean() / 25.0))

    # The hue of the mean colour; a small bias that turns with lightness (dark: blue, mid: red,
    # bright: yellow) keeps the angle stable, and meaningful, for nearly grey images.
    mean_a, mean_b = float(a.mean()), float(b.mean())
    bias_angle = math.radians(270.0 + 180.0 * brightness)
    bias = 3.0
    hue_deg = math.degrees(math.atan2(mean_b + bias * math.sin(bias_angle), mean_a + bias * math.cos(bias_angle)))
    hue_deg %= 360.0
    if hue_deg >= 360.0:  # a tiny negative angle rounds up to 360.0
        hue_deg = 0.0
    hue_strength = float(np.clip(math.hypot(mean_a, mean_b) / (mean_chroma + 1e-6), 0.0, 1.0))

    thumb = cv2.resize(lab.astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA).reshape(-1, 3)
    palette, weights = _kmeans_palette(thumb, PALETTE_SIZE)
    # Expected colour distance between two random pixels, each replaced by its palette colour: a small
    # accent in a monochrome field counts little, two large contrasting fields count fully.
    pair = np.sqrt(np.sum((palette[:, None, :] - palette[None, :, :]) ** 2, axis=2))
    colour_variety = float(np.clip((pair * weights[:, None] * weights[None, :]).sum() / 60.0, 0.0, 1.0))

    smooth = cv2.GaussianBlur(lightness, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_64F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_64F, 0, 1, ksize=3) / 8.0
    grad = np.hypot(gx, gy)
    edge_density = float(1.0 - math.exp(-grad.mean() / 6.0))
    detail = np.abs(lightness - cv2.GaussianBlur(lightness, (0, 0), 1.5))
    texture = float(1.0 - math.exp(-detail.mean() / 6.0))

    variation = np.abs(lightness - lightness.mean()).mean() + 1e-6
    mirror_diff = np.abs(lightness - lightness[:, ::-1]).mean()
    symmetry = float(np.clip(1.0 - mirror_diff / (2.0 * variation), 0.0, 1.0))

    # Visual weight: what draws the eye -- departures from the mean lightness, colour, and edges.
    weight = (
        np.abs(lightness - np.median(lightness)) / 50.0
        + chroma / 60.0
        + grad / (grad.mean() + 1e-6) * 0.25
        + 1e-3
    )
    h, w = weight.shape
    ys = (np.arange(h) + 0.5) / h * 2.0 - 1.0
    xs = (np.arange(w) + 0.5) / w * 2.0 - 1.0
    total = weight.sum()
    centre_x = float(np.clip((weight.sum(axis=0) * xs).sum() / total, -1, 1))
    centre_y = float(np.clip((weight.sum(axis=1) * ys).sum() / total, -1, 1))
    var_x = (weight.sum(axis=0) * (xs - centre_x) ** 2).sum() / total
    var_y = (weight.sum(axis=1) * (ys - centre_y) ** 2).sum() / total
    # An even spread over [-1, 1] has variance 1/3 per axis.
    spread = float(np.clip(math.sqrt((var_x + var_y) / (2.0 / 3.0)), 0.0, 1.0))

    column_lightness = _band_means(lightness / 100.0, PROFILE_BANDS)
    activity = _band_means(grad, PROFILE_BANDS)
    column_activity = activity / (activity.max() + 1e-9)
    rhythm_regularity = max(_periodicity(lightness.mean(axis=0)), _periodicity(grad.mean(axis=0)))

    features = ImageFeatures(
        brightness=brightness,
        contrast=contrast,
        saturation=saturation,
        warmth=warmth,
        hue_deg=float(hue_deg),
        hue_strength=hue_strength,
        palette_lab=[[float(v) for v in row] for row in palette],
        palette_weights=[float(v) for v in weights],
        colour_variety=colour_variety,
        edge_density=edge_density,
        texture=texture,
        symmetry=symmetry,
        centre_x=centre_x,
        centre_y=centre_y,
        spread=spread,
        column_lightness=[float(v) for v in column_lightness],
        column_activity=[float(v) for v in column_activity],
        rhythm_regularity=rhythm_regularity,
    )
    logger.debug("image features: %s", features.to_dict(3))
    return features
