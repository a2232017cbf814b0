"""Synthetic camera views of artworks, and distractor images, for recognition tests and benchmarks.

:func:`synthetic_view` places a painting in a camera frame the way a visitor's camera or a wall-mounted
camera sees it: tilted in perspective (up to 45 degrees), scaled to 0.3-1 of the frame, rolled by up to
15 degrees, blurred, with lighting from x0.5 to x1.5, partly hidden by an occluder (up to 30 % of the
painting), with sensor noise and JPEG compression. It returns the frame and the painting's true outline.

:func:`distractor_images` makes things that must *not* be recognised: other paintings in the same
styles, noise, faces drawn from simple shapes, posters and blank walls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from art2mus.exhibits.demo_collection.artworks import render_generated_artworks


@dataclass(frozen=True)
class ViewParams:
    """The distortions applied to one synthetic view (angles in degrees, ``scale`` as a fraction of the
    frame, ``gain`` a brightness factor, ``occlusion`` the fraction of the painting hidden)."""

    tilt_deg: float
    tilt_axis_deg: float
    scale: float
    roll_deg: float
    blur_sigma: float
    motion_blur_px: int
    gain: float
    occlusion: float
    noise_sigma: float
    jpeg_quality: int


@dataclass(frozen=True)
class SyntheticView:
    """A rendered view: BGR uint8 ``frame`` (height, width, 3), the painting's ``outline`` in it
    (TL, TR, BR, BL; ``(4, 2)`` pixels) and the ``params`` used."""

    frame: np.ndarray
    outline: np.ndarray
    params: ViewParams


def random_view_params(
    rng: np.random.Generator,
    max_tilt_deg: float = 45.0,
    scale: tuple[float, float] = (0.3, 1.0),
    max_roll_deg: float = 15.0,
    gain: tuple[float, float] = (0.5, 1.5),
    max_occlusion: float = 0.3,
) -> ViewParams:
    """Draw view parameters uniformly from the given ranges (blur, noise and JPEG quality too).

    A frame is sharp (25 %), out of focus (45 %: Gaussian sigma 0.3-1.5 px) or motion-blurred (30 %: a
    2-7 px streak, a visitor's camera moving during a 1/30 s exposure)."""
    kind = rng.random()
    sigma = float(rng.uniform(0.3, 1.5)) if 0.25 <= kind < 0.7 else 0.0
    motion = int(rng.integers(2, 8)) if kind >= 0.7 else 0
    return ViewParams(
        tilt_deg=float(rng.uniform(0.0, max_tilt_deg)),
        tilt_axis_deg=float(rng.uniform(0.0, 360.0)),
        scale=float(rng.uniform(*scale)),
        roll_deg=float(rng.uniform(-max_roll_deg, max_roll_deg)),
        blur_sigma=sigma,
        motion_blur_px=motion,
        gain=float(rng.uniform(*gain)),
        occlusion=float(rng.uniform(0.0, max_occlusion)) if rng.random() < 0.5 else 0.0,
        noise_sigma=float(rng.uniform(0.0, 6.0)),
        jpeg_quality=int(rng.integers(35, 91)),
    )


def _wall(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A plain gallery wall: a painted colour with soft shading and a light gradient."""
    base = np.array([rng.uniform(120, 235), rng.uniform(120, 235), rng.uniform(120, 235)])
    if rng.random() < 0.6:  # most gallery walls are near white or grey
        base = np.full(3, rng.uniform(150, 235)) + rng.uniform(-10, 10, size=3)
    coarse = rng.normal(0.0, 1.0, size=(height // 40 + 2, width // 40 + 2))
    shade = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    ramp = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(1.0, 1.15), width)[None, :, None]
    return np.clip(base[None, None, :] * ramp + 5.0 * shade, 0, 255).astype(np.uint8)


def _outline_for(params: ViewParams, art_w: int, art_h: int, frame_w: int, frame_h: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Corners of the painting in the frame after tilt, roll, scale and a random position."""
    # the painting as a plane in 3-D, centred at the origin, tilted about an in-plane axis
    corners = np.array([[-art_w / 2, -art_h / 2, 0], [art_w / 2, -art_h / 2, 0], [art_w / 2, art_h / 2, 0],
                        [-art_w / 2, art_h / 2, 0]], dtype=np.float64)
    axis = np.array([math.cos(math.radians(params.tilt_axis_deg)), math.sin(math.radians(params.tilt_axis_deg)), 0.0])
    rvec = axis * math.radians(params.tilt_deg)
    r_tilt, _ = cv2.Rodrigues(rvec)
    roll = math.radians(params.roll_deg)
    r_roll = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    pts = corners @ (r_roll @ r_tilt).T
    f = 1.2 * max(art_w, art_h)  # a normal lens: the painting seen from ~1.2 of its size away
    z = pts[:, 2] + f
    proj = np.column_stack([pts[:, 0] * f / z, pts[:, 1] * f / z])
    span = proj.max(axis=0) - proj.min(axis=0)
    # scale: the painting's extent is `scale` of the frame along its tighter dimension
    k = params.scale * min(frame_w / span[0], frame_h / span[1])
    proj = (proj - proj.min(axis=0)) * k
    span = span * k
    free = np.array([frame_w, frame_h]) - span
    offset = np.array([rng.uniform(0, max(0.0, free[0])), rng.uniform(0, max(0.0, free[1]))])
    return (proj + offset).astype(np.float32)


def synthetic_view(
    artwork: np.ndarray,
    params: ViewParams,
    rng: np.random.Generator,
    frame_size: tuple[int, int] = (640, 480),
    background: np.ndarray | None = None,
) -> SyntheticView:
    """Render ``artwork`` (BGR uint8) into a ``frame_size`` (width, height) camera frame with ``params``.

    The painting gets a picture frame, hangs on a wall (or ``background``), and is then degraded in this
    order: occluder, lighting, blur, noise, JPEG.
    """
    fw, fh = frame_size
    ah, aw = artwork.shape[:2]
    outline = _outline_for(params, aw, ah, fw, fh, rng)
    frame = _wall(rng, fw, fh) if background is None else cv2.resize(background, (fw, fh)).copy()
    # anti-alias the painting before shrinking it
    shrink = max(aw, ah) / max(1.0, float(np.ptp(outline, axis=0).max()))
    src = cv2.GaussianBlur(artwork, (0, 0), 0.45 * shrink) if shrink > 1.5 else artwork
    src_quad = np.array([[0, 0], [aw, 0], [aw, ah], [0, ah]], np.float32)
    h = cv2.getPerspectiveTransform(src_quad, outline)
    # a picture frame: a dark border a little outside the painting
    centre = outline.mean(axis=0)
    border = (outline - centre) * 1.05 + centre
    cv2.fillConvexPoly(frame, border.round().astype(np.int32), tuple(int(v) for v in rng.integers(10, 120, size=3)),
                       cv2.LINE_AA)
    warped = cv2.warpPerspective(src, h, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ah, aw), 255, np.uint8), h, (fw, fh), flags=cv2.INTER_LINEAR)
    a = mask.astype(np.float32)[..., None] / 255.0
    frame = (frame.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a).astype(np.uint8)
    if params.occlusion > 0:  # a visitor's head and shoulder, or a hand, entering from a side
        _occlude(frame, outline, params.occlusion, rng)
    img = frame.astype(np.float32)
    grad = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.15), fw, dtype=np.float32)[None, :, None]
    img *= params.gain * grad
    img = np.clip(img, 0, 255).astype(np.uint8)
    if params.blur_sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), params.blur_sigma)
    if params.motion_blur_px > 1:
        k = params.motion_blur_px | 1
        kernel = np.zeros((k, k), np.float32)
        ang = rng.uniform(0, math.pi)
        d = (math.cos(ang) * k / 2, math.sin(ang) * k / 2)
        cv2.line(kernel, (int(k / 2 - d[0]), int(k / 2 - d[1])), (int(k / 2 + d[0]), int(k / 2 + d[1])), 1.0, 1)
        img = cv2.filter2D(img, -1, kernel / kernel.sum())
    if params.noise_sigma > 0:
        noise = rng.normal(0.0, params.noise_sigma, size=img.shape).astype(np.float32)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return SyntheticView(img, outline, params)


def _occlude(frame: np.ndarray, outline: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    """Cover about ``fraction`` of the painting's area with a dark blob entering from one of its sides."""
    x0, y0 = outline.min(axis=0)
    x1, y1 = outline.max(axis=0)
    w, h = x1 - x0, y1 - y0
    side = int(rng.integers(4))
    colour = tuple(int(v) for v in rng.integers(15, 90, size=3))
    if side in (0, 1):  # from the left or the right: a body-like band
        bw = w * fraction
        xa = x0 if side == 0 else x1 - bw
        pts = np.array([[xa, y0 - 0.2 * h], [xa + bw, y0 - 0.2 * h], [xa + bw, y1 + 0.2 * h], [xa, y1 + 0.2 * h]])
    else:  # from the bottom or the top: a head-and-shoulders
        bh = h * fraction
        ya = y1 - bh if side == 2 else y0
        pts = np.array([[x0 - 0.1 * w, ya], [x1 + 0.1 * w, ya], [x1 + 0.1 * w, ya + bh], [x0 - 0.1 * w, ya + bh]])
    cv2.fillConvexPoly(frame, pts.round().astype(np.int32), colour, cv2.LINE_AA)


# ------------------------------------------------------------------------------------- distractors


def _face(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A visitor's face (or two) close to the camera, drawn from ellipses and lines."""
    img = _wall(rng, width, height)
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = int(rng.integers(width // 4, 3 * width // 4)), int(rng.integers(height // 3, 2 * height // 3))
        r = int(rng.integers(height // 6, height // 3))
        skin = tuple(int(v) for v in rng.integers([60, 90, 120], [180, 200, 240]))
        hair = tuple(int(v) for v in rng.integers(10, 90, size=3))
        cv2.ellipse(img, (cx, cy + int(2.1 * r)), (int(1.6 * r), r), 0, 180, 360, tuple(int(v) for v in rng.integers(20, 200, size=3)), -1, cv2.LINE_AA)
        cv2.ellipse(img, (cx, cy - r // 5), (int(r * 0.85), int(r * 1.05)), 0, 0, 360, hair, -1, cv2.LINE_AA)
        cv2.ellipse(img, (cx, cy), (int(r * 0.75), r), 0, 0, 360, skin, -1, cv2.LINE_AA)
        for sx in (-1, 1):
            e = (cx + sx * int(r * 0.33), cy - int(r * 0.15))
            cv2.ellipse(img, e, (int(r * 0.15), int(r * 0.08)), 0, 0, 360, (240, 240, 240), -1, cv2.LINE_AA)
            cv2.circle(img, e, max(2, int(r * 0.06)), tuple(int(v) for v in rng.integers(20, 140, size=3)), -1, cv2.LINE_AA)
            cv2.line(img, (e[0] - int(r * 0.17), e[1] - int(r * 0.17)), (e[0] + int(r * 0.17), e[1] - int(r * 0.2)), hair, 3, cv2.LINE_AA)
        cv2.line(img, (cx, cy - int(r * 0.05)), (cx - int(r * 0.08), cy + int(r * 0.3)), (60, 70, 110), 2, cv2.LINE_AA)
        cv2.ellipse(img, (cx, cy + int(r * 0.5)), (int(r * 0.3), int(r * 0.1)), 0, 0, 180, (70, 60, 160), 3, cv2.LINE_AA)
        if rng.random() < 0.4:  # glasses
            for sx in (-1, 1):
                cv2.circle(img, (cx + sx * int(r * 0.33), cy - int(r * 0.15)), int(r * 0.22), (20, 20, 20), 2, cv2.LINE_AA)
    return img


def _poster(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An exhibition poster or a printed notice: colour blocks, a circle motif and lines of 'text'."""
    img = _wall(rng, width, height)
    pw, ph = int(width * rng.uniform(0.4, 0.7)), int(height * rng.uniform(0.6, 0.9))
    x0, y0 = int(rng.integers(0, width - pw)), int(rng.integers(0, height - ph))
    paper = tuple(int(v) for v in rng.integers(150, 255, size=3))
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), paper, -1)
    for _ in range(int(rng.integers(2, 6))):
        bx, by = x0 + int(rng.integers(0, pw - 20)), y0 + int(rng.integers(0, ph // 2))
        cv2.rectangle(img, (bx, by), (bx + int(rng.integers(20, pw // 2)), by + int(rng.integers(10, ph // 4))),
                      tuple(int(v) for v in rng.integers(0, 255, size=3)), -1)
    cv2.circle(img, (x0 + pw // 2, y0 + ph // 3), int(min(pw, ph) * rng.uniform(0.1, 0.25)),
               tuple(int(v) for v in rng.integers(0, 255, size=3)), -1, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    words = ["EXHIBITION", "OPEN", "MUSEUM", "GALLERY", "TICKETS", "EXIT", "CAFE", "ROOM 3", "2024", "TOUR"]
    y = y0 + ph // 2 + 30
    while y < y0 + ph - 10:
        text = " ".join(rng.choice(words, size=int(rng.integers(1, 4))))
        cv2.putText(img, text, (x0 + 10, y), font, float(rng.uniform(0.4, 1.0)), (20, 20, 20), int(rng.integers(1, 3)), cv2.LINE_AA)
        y += int(rng.integers(18, 34))
    return img


def _noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Sensor-like or structured noise: white noise, blurred blobs, or salt-and-pepper over grey."""
    kind = int(rng.integers(3))
    if kind == 0:
        return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if kind == 1:
        coarse = rng.uniform(0, 255, size=(height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
        return np.clip(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    img = np.full((height, width, 3), int(rng.integers(60, 200)), np.uint8)
    sp = rng.random((height, width))
    img[sp < 0.03] = 0
    img[sp > 0.97] = 255
    return img


def _blank_wall(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An empty stretch of wall, sometimes with a wall label card, a light switch or an empty frame."""
    img = _wall(rng, width, height)
    extra = int(rng.integers(4))
    if extra == 1:
        x, y = int(rng.integers(0, width - 120)), int(rng.integers(0, height - 80))
        cv2.rectangle(img, (x, y), (x + 110, y + 70), (245, 245, 245), -1)
        for k in range(4):
            cv2.line(img, (x + 8, y + 12 + 14 * k), (x + int(rng.integers(50, 100)), y + 12 + 14 * k), (60, 60, 60), 2)
    elif extra == 2:
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 60))
        cv2.rectangle(img, (x, y), (x + 36, y + 56), (230, 230, 230), -1)
        cv2.rectangle(img, (x + 13, y + 18), (x + 23, y + 38), (200, 200, 200), -1)
    elif extra == 3:
        x0, y0 = int(rng.integers(0, width // 3)), int(rng.integers(0, height // 3))
        cv2.rectangle(img, (x0, y0), (x0 + width // 2, y0 + height // 2), (40, 80, 120), 12)
    return img


def distractor_images(count: int, seed: int = 0, frame_size: tuple[int, int] = (640, 480)) -> list[tuple[str, np.ndarray]]:
    """``count`` images that show none of the demo artworks, as ``(kind, BGR uint8 frame)`` pairs.

    Kinds cycle through: ``generated-art`` (a painting in a demo style from another seed, seen as a
    :func:`synthetic_view`), ``face``, ``poster``, ``noise``, ``blank-wall``; generated art is two of every
    six so that look-alike paintings dominate.
    """
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0xD15)))
    fw, fh = frame_size
    kinds = ["generated-art", "face", "generated-art", "poster", "noise", "blank-wall"]
    n_art = sum(1 for i in range(count) if kinds[i % len(kinds)] == "generated-art")
    paintings = iter(render_generated_artworks(n_art, seed=seed + 1000, long_side=640))
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        if kind == "generated-art":
            params = random_view_params(rng, max_occlusion=0.0)
            img = synthetic_view(next(paintings).image, params, rng, frame_size).frame
        elif kind == "face":
            img = _face(rng, fw, fh)
        elif kind == "poster":
            img = _poster(rng, fw, fh)
        elif kind == "noise":
            img = _noise(rng, fw, fh)
        else:
            img = _blank_wall(rng, fw, fh)
        out.append((kind, img))
    return out
