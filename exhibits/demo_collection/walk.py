"""The demo camera video: a slow walk past the demo artworks hung on a gallery wall, with its ground truth.

A pinhole camera (height 1.55 m, horizontal field of view 62 degrees) moves along a virtual wall on which
the eight demo artworks hang in frames, with wall labels, spotlights, a bench and two long stretches of
empty wall. The camera stops before each artwork (sometimes from the side, up to ~40 degrees of
perspective), sways a little as a hand-held camera does, and walks on. Each frame gets the wall seen
through the camera's homography, a lighting change (slow drift plus a passing cloud), motion blur
along the direction of motion, sensor noise, and now and then a passer-by (a dark silhouette) who
crosses the frame and hides part of the view.

:func:`walk_timeline` computes the ground truth (which artwork is centred and fully in view when, and
when only empty wall is seen) from the walk script alone, without rendering, so tests can check the
daemon's debounced decisions against it. :func:`write_walk_video` renders the video (mp4v, since H.264
writing is not available in OpenCV's wheels); :func:`ensure_walk_video` does so only when the file is
missing or was made from a different script version.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from art2mus.exhibits.demo_collection.artworks import (
    DEMO_ARTWORKS,
    DemoArtwork,
    demo_exhibit_dir,
    render_demo_artwork,
)

logger = logging.getLogger(__name__)

#: Bumped whenever the walk script or the rendering changes; stored next to the video.
WALK_VERSION = 1

PX_PER_M = 420.0  # wall texture resolution (pixels per metre)
WALL_HEIGHT_M = 3.0
EYE_HEIGHT_M = 1.55
HFOV_DEG = 62.0


@dataclass(frozen=True)
class HungArtwork:
    """Where an artwork hangs: centre ``x_m`` along the wall and ``y_m`` below the ceiling line, size in metres."""

    artwork: DemoArtwork
    x_m: float
    y_m: float
    width_m: float
    height_m: float
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def corners_m(self) -> np.ndarray:
        """The painted surface's corners (TL, TR, BR, BL) on the wall, ``(4, 2)`` metres."""
        x0, x1 = self.x_m - self.width_m / 2, self.x_m + self.width_m / 2
        y0, y1 = self.y_m - self.height_m / 2, self.y_m + self.height_m / 2
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


@dataclass(frozen=True)
class Keyframe:
    """Camera pose at time ``t`` (seconds): position ``x_m`` along the wall, distance ``d_m`` from it, and
    the wall point ``look_x_m`` the camera is aimed at (at eye height). Poses are eased between keyframes."""

    t: float
    x_m: float
    d_m: float
    look_x_m: float


@dataclass(frozen=True)
class PasserBy:
    """A visitor crossing the frame from ``start_s`` for ``duration_s``; ``width`` is the body width as a
    fraction of the frame width, ``left_to_right`` the direction, ``colour`` BGR."""

    start_s: float
    duration_s: float
    width: float
    left_to_right: bool
    colour: tuple[int, int, int]


@dataclass
class WalkScript:
    """Everything that defines the walk: hung artworks, camera keyframes, passers-by, lighting, video format."""

    hung: list[HungArtwork]
    keyframes: list[Keyframe]
    passers_by: list[PasserBy]
    wall_length_m: float
    width: int = 640
    height: int = 360
    fps: float = 10.0
    noise_sigma: float = 2.0
    lens_blur_sigma: float = 0.7
    seed: int = 20240611

    @property
    def duration_s(self) -> float:
        return self.keyframes[-1].t

    @property
    def frame_count(self) -> int:
        return int(round(self.duration_s * self.fps))


def default_walk_script() -> WalkScript:
    """The demo walk: ~77 s at 10 fps, 640x360, past all eight artworks in :data:`DEMO_ARTWORKS` order."""
    return walk_script(DEMO_ARTWORKS)


#: artwork centres along the wall (metres) of the first eight; wider gaps after the 4th and 6th are
#: empty wall (a bench, a doorway); further artworks follow every 2.3 m
_CENTRES_M = [3.0, 5.3, 7.6, 9.9, 15.6, 17.9, 21.6, 23.9]
#: (camera offset from the artwork, distance, dwell seconds) per stop; offsets give side views
_STOPS = [(0.0, 2.1, 3.5), (-0.9, 2.0, 3.5), (0.3, 1.8, 4.0), (1.3, 1.8, 3.5),
          (0.0, 2.3, 3.5), (-1.4, 1.6, 4.0), (0.4, 1.9, 3.5), (0.0, 2.0, 3.5)]


def walk_script(artworks, images=None) -> WalkScript:
    """A walk past ``artworks`` (objects with ``id``, ``width``, ``height`` and ``year`` or None) hung in
    that order; ``images`` (BGR, one per artwork) are hung instead of the demo's paintings. The first
    eight hang and are visited as in the demo walk; more continue along a longer wall."""
    images = list(images) if images is not None else [None] * len(artworks)
    centres = [_CENTRES_M[i] if i < len(_CENTRES_M) else _CENTRES_M[-1] + 2.3 * (i - len(_CENTRES_M) + 1)
               for i in range(len(artworks))]
    hung = []
    for art, cx, image in zip(artworks, centres, images, strict=True):
        long_m = 1.05
        scale = long_m / max(art.width, art.height)
        hung.append(HungArtwork(art, cx, 1.5, art.width * scale, art.height * scale, image))
    stops = [_STOPS[i % len(_STOPS)] for i in range(len(hung))]
    kf = [Keyframe(0.0, 0.2, 2.2, 0.2), Keyframe(3.5, 0.8, 2.2, 0.8)]  # empty wall at the start
    dwell_starts = []
    t = kf[-1].t
    for i, (h, (off, d, dwell)) in enumerate(zip(hung, stops, strict=True)):
        prev_x = kf[-1].x_m
        travel = abs(h.x_m + off - prev_x)
        t += max(2.5, travel / 0.75)  # a slow walk, about 0.75 m/s at most
        kf.append(Keyframe(t, h.x_m + off, d, h.x_m))
        dwell_starts.append(t)
        t += dwell
        kf.append(Keyframe(t, h.x_m + off + 0.05, d + 0.05, h.x_m))
        if i == 3 and len(hung) > 4:  # a long look along the empty wall before the next artwork
            t += 3.0
            kf.append(Keyframe(t, 12.5, 2.4, 12.5))
            t += 6.0
            kf.append(Keyframe(t, 13.3, 2.4, 13.3))
        if i == 5 and len(hung) > 6:  # past the doorway
            t += 2.5
            kf.append(Keyframe(t, 19.75, 2.2, 19.75))
            t += 0.5
            kf.append(Keyframe(t, 19.85, 2.2, 19.85))
    end_x = max(27.0, centres[-1] + 3.1)
    t += 3.0
    kf.append(Keyframe(t, end_x, 2.2, end_x))
    t += 5.5
    kf.append(Keyframe(t, end_x + 0.5, 2.2, end_x + 0.5))
    # passers-by cross while the camera dwells on artworks 2, 3, 6 and 8, and once along the empty wall
    crossings = [(1, 1.0, 2.6, 0.22, True, (40, 40, 60)), (2, 1.2, 3.0, 0.30, False, (70, 50, 30)),
                 (3, 6.5, 2.4, 0.26, True, (30, 30, 30)), (5, 1.0, 2.8, 0.32, False, (50, 70, 90)),
                 (7, 1.0, 2.6, 0.28, True, (60, 40, 70))]
    passers = [PasserBy(dwell_starts[k] + delay, *rest) for k, delay, *rest in crossings if k < len(dwell_starts)]
    return WalkScript(hung=hung, keyframes=kf, passers_by=passers, wall_length_m=end_x + 1.5)


# ------------------------------------------------------------------------------------------ geometry


def _ease(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, u)))


def camera_pose(script: WalkScript, t: float) -> tuple[float, float, float, float, float]:
    """``(x_m, d_m, look_x_m, pitch_rad, roll_rad)`` at time ``t``; eased keyframes plus hand-held sway."""
    kf = script.keyframes
    if t <= kf[0].t:
        a = b = kf[0]
        u = 0.0
    elif t >= kf[-1].t:
        a = b = kf[-1]
        u = 0.0
    else:
        j = next(i for i in range(1, len(kf)) if kf[i].t >= t)
        a, b = kf[j - 1], kf[j]
        u = _ease((t - a.t) / (b.t - a.t))
    x = a.x_m + (b.x_m - a.x_m) * u
    d = a.d_m + (b.d_m - a.d_m) * u
    look = a.look_x_m + (b.look_x_m - a.look_x_m) * u
    # hand-held sway: a few centimetres and a fraction of a degree, deterministic in t
    x += 0.015 * math.sin(2 * math.pi * 0.37 * t) + 0.008 * math.sin(2 * math.pi * 1.1 * t + 1.0)
    pitch = math.radians(1.2 * math.sin(2 * math.pi * 0.23 * t + 0.5))
    roll = math.radians(1.5 * math.sin(2 * math.pi * 0.17 * t + 2.0))
    return x, d, look, pitch, roll


def wall_to_frame_homography(script: WalkScript, t: float) -> np.ndarray:
    """3x3 homography mapping wall coordinates in metres ``(x, y)`` (y down from the ceiling line) to
    frame pixels at time ``t``."""
    x, d, look, pitch, roll = camera_pose(script, t)
    f = (script.width / 2) / math.tan(math.radians(HFOV_DEG) / 2)
    k = np.array([[f, 0, script.width / 2], [0, f, script.height / 2], [0, 0, 1]], dtype=np.float64)
    yaw = math.atan2(look - x, d)
    cy, sy = math.cos(yaw), math.sin(yaw)
    r_yaw = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])  # world -> camera, camera turned by yaw
    cp, sp = math.cos(pitch), math.sin(pitch)
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    cr, sr = math.cos(roll), math.sin(roll)
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    r = r_roll @ r_pitch @ r_yaw
    c = np.array([x, EYE_HEIGHT_M, -d])  # camera centre; the wall is the plane z = 0, viewed from z < 0
    tvec = -r @ c
    return k @ np.column_stack([r[:, 0], r[:, 1], tvec])


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return p[:, :2] / p[:, 2:3]


# ----------------------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth for one frame.

    Attributes:
        t: time in the video (seconds, ``index / fps``).
        artwork_id: the artwork centred and fully in view, or None.
        visible: fraction (0..1) of each artwork's surface inside the frame, by id (only those > 0).
        outline: the centred artwork's corners in the frame (TL, TR, BR, BL) in pixels, or None.
        occluded: fraction of the frame covered by a passer-by.
    """

    t: float
    artwork_id: str | None
    visible: dict[str, float]
    outline: list[list[float]] | None
    occluded: float


@dataclass(frozen=True)
class TimelineSegment:
    """A stretch of the walk: ``kind`` is ``artwork`` (``artwork_id`` centred and fully in view), ``empty``
    (no artwork in the frame at all) or ``partial`` (artworks entering or leaving); times in seconds."""

    start_s: float
    end_s: float
    kind: str
    artwork_id: str | None = None


@dataclass
class WalkTimeline:
    """The walk's ground truth: per-frame truth and the segments made from it."""

    fps: float
    frames: list[FrameTruth] = field(default_factory=list)
    segments: list[TimelineSegment] = field(default_factory=list)

    def artwork_sequence(self) -> list[str]:
        """Artwork ids in the order they are visited."""
        return [s.artwork_id for s in self.segments if s.kind == "artwork"]

    def to_json(self) -> dict:
        return {"fps": self.fps, "segments": [asdict(s) for s in self.segments]}


def _passer_mask_x(script: WalkScript, p: PasserBy, t: float) -> tuple[float, float] | None:
    """Horizontal span (pixels) of a passer-by's body at ``t``, or None when not in the frame."""
    u = (t - p.start_s) / p.duration_s
    if not 0.0 <= u <= 1.0:
        return None
    w = p.width * script.width
    span = script.width + w
    cx = -w / 2 + span * u if p.left_to_right else script.width + w / 2 - span * u
    return cx - w / 2, cx + w / 2


def walk_timeline(script: WalkScript | None = None) -> WalkTimeline:
    """Ground truth of the walk computed from the script alone (no rendering; ~10 ms per 100 frames)."""
    script = script or default_walk_script()
    frame_rect = np.array([[0, 0], [script.width, 0], [script.width, script.height], [0, script.height]], np.float32)
    frame_area = float(script.width * script.height)
    frames = []
    for i in range(script.frame_count):
        t = i / script.fps
        h = wall_to_frame_homography(script, t)
        visible: dict[str, float] = {}
        best = None
        for art in script.hung:
            quad = _project(h, art.corners_m()).astype(np.float32)
            area = abs(float(cv2.contourArea(quad)))
            inter, _ = cv2.intersectConvexConvex(quad, frame_rect)
            frac = float(inter) / area if area > 0 else 0.0
            if frac > 1e-3:
                visible[art.artwork.id] = round(min(1.0, frac), 4)
            cx = float(quad[:, 0].mean())
            if frac >= 0.97 and 0.2 * script.width <= cx <= 0.8 * script.width and area > 0.08 * frame_area:
                best = (art.artwork.id, quad)
        occluded = 0.0
        for p in script.passers_by:
            span = _passer_mask_x(script, p, t)
            if span:
                occluded += max(0.0, min(span[1], script.width) - max(span[0], 0.0)) / script.width * 0.85
        frames.append(FrameTruth(
            t=round(t, 6),
            artwork_id=best[0] if best else None,
            visible=visible,
            outline=best[1].round(1).tolist() if best else None,
            occluded=round(occluded, 4),
        ))
    timeline = WalkTimeline(fps=script.fps, frames=frames)
    # segments: runs of equal labels
    def label(fr: FrameTruth) -> tuple[str, str | None]:
        if fr.artwork_id:
            return ("artwork", fr.artwork_id)
        return ("empty", None) if not fr.visible else ("partial", None)

    start = 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or label(frames[i]) != label(frames[start]):
            kind, art_id = label(frames[start])
            timeline.segments.append(TimelineSegment(frames[start].t, round(i / script.fps, 6), kind, art_id))
            start = i
    return timeline


# ---------------------------------------------------------------------------------------- render


def _render_wall(script: WalkScript) -> np.ndarray:
    """The wall texture (BGR uint8, ``(WALL_HEIGHT_M * PX_PER_M, wall_length_m * PX_PER_M, 3)``)."""
    rng = np.random.default_rng(script.seed)
    hpx, wpx = int(WALL_HEIGHT_M * PX_PER_M), int(script.wall_length_m * PX_PER_M)
    # plaster: smooth low-frequency shading (upsampled coarse noise) on an off-white paint
    coarse = rng.normal(0.0, 1.0, size=(hpx // 60 + 2, wpx // 60 + 2))
    shade = cv2.resize(coarse, (wpx, hpx), interpolation=cv2.INTER_CUBIC)
    base = np.array([212.0, 222.0, 228.0])
    wall = np.clip(base[None, None, :] + 4.0 * shade[..., None], 0, 255)
    # spotlights: warm light cones on each artwork
    ys = np.arange(hpx, dtype=np.float64)[:, None] / PX_PER_M
    xs = np.arange(wpx, dtype=np.float64)[None, :] / PX_PER_M
    light = np.zeros((hpx, wpx))
    for art in script.hung:
        light += np.exp(-(((xs - art.x_m) / 0.9) ** 2) - (((ys - art.y_m + 0.2) / 1.0) ** 2))
    wall = wall * (0.82 + 0.25 * light[..., None])
    wall = np.clip(wall, 0, 255).astype(np.uint8)
    px = lambda v: int(round(v * PX_PER_M))  # noqa: E731
    # skirting board and a bench along the first long empty stretch, a doorway along the second
    cv2.rectangle(wall, (0, hpx - px(0.12)), (wpx, hpx), (150, 160, 170), -1)
    cv2.rectangle(wall, (px(11.9), px(2.35)), (px(13.7), px(2.45)), (60, 80, 110), -1)
    for lx in (12.05, 13.5):
        cv2.rectangle(wall, (px(lx), px(2.45)), (px(lx + 0.06), px(2.88)), (40, 50, 60), -1)
    cv2.rectangle(wall, (px(19.3), px(0.75)), (px(20.3), hpx - px(0.12)), (120, 130, 135), -1)
    cv2.rectangle(wall, (px(19.36), px(0.81)), (px(20.24), hpx - px(0.12)), (70, 75, 80), -1)
    cv2.rectangle(wall, (px(19.55), px(0.5)), (px(20.05), px(0.66)), (60, 160, 60), -1)  # exit sign
    for art in script.hung:
        img = art.image if art.image is not None else render_demo_artwork(art.artwork)
        w, h = px(art.width_m), px(art.height_m)
        x0, y0 = px(art.x_m - art.width_m / 2), px(art.y_m - art.height_m / 2)
        frame_w = px(0.05)
        year = getattr(art.artwork, "year", None)
        frame_colour = (30, 110, 160) if year is not None and year < 1900 else (35, 35, 35)
        cv2.rectangle(wall, (x0 - frame_w, y0 - frame_w), (x0 + w + frame_w, y0 + h + frame_w), frame_colour, -1)
        cv2.rectangle(wall, (x0 - frame_w, y0 - frame_w), (x0 + w + frame_w, y0 + h + frame_w), (20, 20, 20), 2)
        wall[y0:y0 + h, x0:x0 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        # wall label: a white card with lines of "text"
        lx, ly = x0 + w + px(0.2), y0 + h - px(0.18)
        cv2.rectangle(wall, (lx, ly), (lx + px(0.2), ly + px(0.12)), (245, 245, 245), -1)
        for k in range(4):
            cv2.line(wall, (lx + 6, ly + 8 + k * 10), (lx + px(0.2) - int(rng.integers(8, 30)), ly + 8 + k * 10),
                     (60, 60, 60), 2)
    return wall


def _draw_passer(frame: np.ndarray, script: WalkScript, p: PasserBy, t: float) -> None:
    span = _passer_mask_x(script, p, t)
    if span is None:
        return
    h, w = frame.shape[:2]
    x0, x1 = span
    cx = (x0 + x1) / 2
    bw = x1 - x0
    bob = 4 * math.sin(2 * math.pi * 1.8 * t)
    mask = np.zeros((h, w), np.uint8)
    body = np.array([[cx - bw * 0.5, h + 5], [cx - bw * 0.42, h * 0.42 + bob], [cx - bw * 0.25, h * 0.3 + bob],
                     [cx + bw * 0.25, h * 0.3 + bob], [cx + bw * 0.42, h * 0.42 + bob], [cx + bw * 0.5, h + 5]])
    cv2.fillPoly(mask, [body.round().astype(np.int32)], 255, cv2.LINE_AA)
    cv2.ellipse(mask, (int(cx), int(h * 0.17 + bob)), (int(bw * 0.2), int(bw * 0.25)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    # out of focus: the visitor is much closer than the wall
    mask = cv2.GaussianBlur(mask, (0, 0), 4)
    a = mask.astype(np.float32)[..., None] / 255.0
    colour = np.array(p.colour, np.float32)[None, None, :]
    frame[...] = (frame.astype(np.float32) * (1 - a) + colour * a).astype(np.uint8)


def _lighting(t: float) -> float:
    """Overall brightness factor: a slow drift and a cloud passing the skylight around t = 32-42 s."""
    cloud = 0.35 * math.exp(-(((t - 37.0) / 4.0) ** 2))
    return 1.0 + 0.18 * math.sin(2 * math.pi * t / 41.0) - cloud


def render_walk_frames(script: WalkScript | None = None, start: int = 0, stop: int | None = None):
    """Yield ``(t, frame)`` for frames ``start..stop`` of the walk; frame is BGR uint8 ``(height, width, 3)``."""
    script = script or default_walk_script()
    wall = _render_wall(script)
    to_px = np.diag([PX_PER_M, PX_PER_M, 1.0])
    stop = script.frame_count if stop is None else min(stop, script.frame_count)
    size = (script.width, script.height)
    for i in range(start, stop):
        t = i / script.fps
        rng = np.random.default_rng((script.seed, i))
        h = wall_to_frame_homography(script, t) @ np.linalg.inv(to_px)  # wall pixels -> frame pixels
        # crop the wall to what the frame sees, then warp only that part
        corners = _project(np.linalg.inv(h), np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], float))
        x0 = int(max(0, math.floor(corners[:, 0].min()) - 4))
        x1 = int(min(wall.shape[1], math.ceil(corners[:, 0].max()) + 4))
        y0 = int(max(0, math.floor(corners[:, 1].min()) - 4))
        y1 = int(min(wall.shape[0], math.ceil(corners[:, 1].max()) + 4))
        shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], float)
        crop = wall[y0:y1, x0:x1]
        # the wall is drawn sharper than the camera resolves: pre-blur by the downscale factor
        scale = (x1 - x0) / size[0]
        if scale > 1.3:
            crop = cv2.GaussianBlur(crop, (0, 0), 0.4 * scale)
        frame = cv2.warpPerspective(crop, h @ shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # motion blur along the image motion of the frame centre during a 1/2-frame exposure
        h_next = wall_to_frame_homography(script, t + 0.5 / script.fps) @ np.linalg.inv(to_px)
        centre_wall = _project(np.linalg.inv(h), np.array([[size[0] / 2, size[1] / 2]]))
        motion = _project(h_next, centre_wall)[0] - np.array([size[0] / 2, size[1] / 2])
        length = float(np.hypot(*motion))
        if length > 1.5:
            k = int(math.ceil(length)) | 1
            kernel = np.zeros((k, k), np.float32)
            c = k // 2
            d = motion / length * (k / 2)
            cv2.line(kernel, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))), 1.0, 1)
            kernel /= kernel.sum()
            frame = cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        # lens softness; also what keeps the mp4v file small enough to commit
        frame = cv2.GaussianBlur(frame, (0, 0), script.lens_blur_sigma)
        for p in script.passers_by:
            _draw_passer(frame, script, p, t)
        gain = _lighting(t)
        # lighting change + sensor noise; slightly warmer when darker (tungsten fill light)
        tint = np.array([1.0 - 0.05 * (1 - gain), 1.0, 1.0 + 0.05 * (1 - gain)], np.float32)
        noisy = frame.astype(np.float32) * (gain * tint)[None, None, :]
        noisy += rng.normal(0.0, script.noise_sigma, size=(size[1], size[0], 1)).astype(np.float32)
        yield t, np.clip(noisy, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class WalkVideo:
    """A rendered walk: the mp4 file, its timeline JSON, frame rate (fps), length (s) and frame size (px)."""

    path: Path
    timeline_path: Path
    fps: float
    duration_s: float
    frame_count: int
    width: int
    height: int


def default_walk_path() -> Path:
    """``exhibits/demo/camera/walk.mp4`` of the demo exhibit."""
    return demo_exhibit_dir() / "camera" / "walk.mp4"


def write_walk_video(path: Path | None = None, script: WalkScript | None = None) -> WalkVideo:
    """Render the walk to ``path`` (mp4v) and its timeline to ``<path stem>.json``; about 20 s on 1 core."""
    script = script or default_walk_script()
    path = Path(path or default_walk_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), script.fps, (script.width, script.height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write an mp4v video at {tmp}")
    try:
        for _, frame in render_walk_frames(script):
            writer.write(frame)
    finally:
        writer.release()
    tmp.replace(path)
    timeline = walk_timeline(script)
    meta = {"version": WALK_VERSION, "fps": script.fps, "frame_count": script.frame_count,
            "width": script.width, "height": script.height, **timeline.to_json()}
    timeline_path = path.with_suffix(".json")
    timeline_path.write_text(json.dumps(meta, indent=1) + "\n")
    logger.info("wrote %s (%d frames, %.1f s) and %s", path, script.frame_count, script.duration_s, timeline_path)
    return WalkVideo(path, timeline_path, script.fps, script.duration_s, script.frame_count, script.width, script.height)


def ensure_walk_video(path: Path | None = None) -> WalkVideo:
    """The demo walk video at ``path`` (default ``exhibits/demo/camera/walk.mp4``), rendered first if it is
    missing or its timeline JSON records another :data:`WALK_VERSION`. For ``art2mus demo``."""
    script = default_walk_script()
    path = Path(path or default_walk_path())
    timeline_path = path.with_suffix(".json")
    try:
        meta = json.loads(timeline_path.read_text())
        current = path.is_file() and meta.get("version") == WALK_VERSION
    except (OSError, ValueError):
        current = False
    if not current:
        return write_walk_video(path, script)
    return WalkVideo(path, timeline_path, script.fps, script.duration_s, script.frame_count, script.width, script.height)
