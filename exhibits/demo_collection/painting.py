"""Procedural "paintings": eight styles drawn with seeded NumPy and OpenCV's integer drawing functions.

Every style is a function ``(rng, width, height) -> BGR uint8 image (height, width, 3)``. The same seed
gives the same pixels on every run: the random numbers come from NumPy's PCG64 (platform independent),
shapes are drawn with OpenCV's fixed-point rasteriser, blending is done in integer arithmetic and
float maths stays in float64 (whose rounding to uint8 does not depend on the CPU's SIMD level). No
resampling (``cv2.resize``) is used, because its float paths may differ between CPUs.

The styles are made for recognition by local features: each is full of small, seed-dependent
structure (brush strokes, stars, windows, petals) so that SIFT/ORB find many distinctive keypoints,
and two paintings of the same style (different seeds) share no layout.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

AA = cv2.LINE_AA

Palette = list[tuple[int, int, int]]


def _jitter(rng: np.random.Generator, colour, amount: int) -> tuple[int, int, int]:
    """``colour`` (B, G, R) moved by up to ``amount`` per channel, clipped to 0..255."""
    c = np.asarray(colour, dtype=np.int64) + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _pick(rng: np.random.Generator, palette: Palette, amount: int = 0) -> tuple[int, int, int]:
    colour = palette[int(rng.integers(len(palette)))]
    return _jitter(rng, colour, amount) if amount else tuple(int(v) for v in colour)


def _blend(canvas: np.ndarray, overlay: np.ndarray, alpha_256: int) -> None:
    """``canvas = canvas * (1 - a) + overlay * a`` in place, with ``a = alpha_256 / 256`` (exact integers)."""
    mixed = (canvas.astype(np.int32) * (256 - alpha_256) + overlay.astype(np.int32) * alpha_256 + 128) >> 8
    canvas[...] = mixed.astype(np.uint8)


def _vertical_gradient(width: int, height: int, top, bottom, y0: int = 0, y1: int | None = None) -> np.ndarray:
    """A (height, width, 3) uint8 image fading from ``top`` to ``bottom`` between rows y0 and y1."""
    y1 = height if y1 is None else y1
    t = np.clip((np.arange(height, dtype=np.float64) - y0) / max(1, y1 - y0), 0.0, 1.0)[:, None]
    col = np.asarray(top, np.float64)[None, :] * (1.0 - t) + np.asarray(bottom, np.float64)[None, :] * t
    img = np.floor(col + 0.5).astype(np.uint8)[:, None, :]
    return np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)))


def _strokes(
    canvas: np.ndarray,
    rng: np.random.Generator,
    count: int,
    box: tuple[int, int, int, int],
    colour_fn: Callable[[], tuple[int, int, int]],
    length: tuple[int, int] = (6, 22),
    thickness: tuple[int, int] = (1, 3),
    angle: tuple[float, float] = (0.0, np.pi),
    mask: np.ndarray | None = None,
) -> None:
    """Short straight brush strokes inside ``box`` = (x0, y0, x1, y1); where ``mask`` is given, only
    strokes starting on a non-zero mask pixel are drawn. Angles in radians."""
    x0, y0, x1, y1 = box
    xs = rng.integers(x0, max(x0 + 1, x1), size=count)
    ys = rng.integers(y0, max(y0 + 1, y1), size=count)
    lens = rng.integers(length[0], length[1] + 1, size=count)
    ths = rng.integers(thickness[0], thickness[1] + 1, size=count)
    angs = rng.uniform(angle[0], angle[1], size=count)
    for x, y, n, th, a in zip(xs, ys, lens, ths, angs, strict=True):
        colour = colour_fn()
        if mask is not None and not mask[min(int(y), mask.shape[0] - 1), min(int(x), mask.shape[1] - 1)]:
            continue
        dx, dy = int(round(np.cos(a) * n / 2)), int(round(np.sin(a) * n / 2))
        cv2.line(canvas, (int(x) - dx, int(y) - dy), (int(x) + dx, int(y) + dy), colour, int(th), AA)


def _ragged_rect(rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int, rough: int) -> np.ndarray:
    """Polygon (N, 2) int32 tracing a rectangle whose edges wobble by up to ``rough`` pixels."""
    step = 7
    top = [(x, y0 + int(rng.integers(-rough, rough + 1))) for x in range(x0, x1, step)]
    right = [(x1 + int(rng.integers(-rough, rough + 1)), y) for y in range(y0, y1, step)]
    bottom = [(x, y1 + int(rng.integers(-rough, rough + 1))) for x in range(x1, x0, -step)]
    left = [(x0 + int(rng.integers(-rough, rough + 1)), y) for y in range(y1, y0, -step)]
    return np.array(top + right + bottom + left, dtype=np.int32)


def _random_palette(rng: np.random.Generator, base: Palette, amount: int = 35) -> Palette:
    """The style's base palette shifted per seed so that paintings of one style differ in colour too."""
    return [_jitter(rng, c, amount) for c in base]


# --------------------------------------------------------------------------------------------- styles


def _shade(rng: np.random.Generator, colour, lum: int, chroma: int = 8) -> tuple[int, int, int]:
    """``colour`` made lighter or darker by up to ``lum`` (all channels together) plus a small hue jitter:
    strokes that differ in brightness survive conversion to grey, where local features are found."""
    d = int(rng.integers(-lum, lum + 1))
    c = np.asarray(colour, dtype=np.int64) + d + rng.integers(-chroma, chroma + 1, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def colour_field(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Rothko-like stacked colour fields with ragged, brushed edges, scumbled patches and drips."""
    pal = _random_palette(rng, [(40, 40, 150), (30, 110, 200), (60, 30, 90), (20, 150, 220), (90, 60, 40)], 45)
    ground = _pick(rng, pal, 20)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = ground
    _strokes(img, rng, 1400, (0, 0, width, height), lambda: _shade(rng, ground, 40), (10, 40), (3, 7))
    n_fields = int(rng.integers(2, 4))
    margin_x = int(width * rng.uniform(0.07, 0.12))
    # split the height into stacked fields separated by narrow bands of ground
    cuts = np.sort(rng.uniform(0.2, 0.8, size=n_fields - 1))
    edges = [0.06, *cuts.tolist(), 0.94]
    for i in range(n_fields):
        gap = rng.uniform(0.015, 0.035)
        fy0 = int((edges[i] + (gap if i else 0.0)) * height)
        fy1 = int((edges[i + 1] - (gap if i < n_fields - 1 else 0.0)) * height)
        if fy1 - fy0 < 30:
            fy1 = fy0 + 30
        colour = _pick(rng, pal, 25)
        poly = _ragged_rect(rng, margin_x, fy0, width - margin_x, fy1, rough=int(rng.integers(6, 14)))
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [poly], 255, AA)
        layer = img.copy()
        cv2.fillPoly(layer, [poly], colour, AA)
        area = (width - 2 * margin_x) * (fy1 - fy0)
        _strokes(layer, rng, area // 260, (margin_x, fy0, width - margin_x, fy1), lambda c=colour: _shade(rng, c, 50),
                 (14, 60), (3, 9), (-0.3, 0.3), mask=mask)
        for _ in range(area // 4000):  # scumbled patches: blotches of lighter or darker paint
            c = (int(rng.integers(margin_x, width - margin_x)), int(rng.integers(fy0, fy1)))
            if mask[c[1], c[0]]:
                cv2.ellipse(layer, c, (int(rng.integers(5, 22)), int(rng.integers(4, 14))), int(rng.integers(0, 180)),
                            0, 360, _shade(rng, colour, 60), -1, AA)
        # torn edge: a second wobbly outline in a darker tone
        cv2.polylines(layer, [poly], True, _shade(rng, colour, 70), int(rng.integers(3, 7)), AA)
        _blend(img, layer, int(rng.integers(215, 250)))
        # drips and scratches that make each field unique
        for _ in range(int(rng.integers(30, 55))):
            x = int(rng.integers(margin_x, width - margin_x))
            y = int(rng.integers(fy0, fy1))
            cv2.line(img, (x, y), (x + int(rng.integers(-6, 7)), y + int(rng.integers(10, 50))),
                     _shade(rng, colour, 80), int(rng.integers(2, 5)), AA)
    return img


def geometric(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A Mondrian/Kandinsky-like composition: a black grid with filled cells, rings, triangles, lines."""
    pal = _random_palette(rng, [(30, 30, 200), (200, 80, 20), (20, 200, 230), (40, 40, 40), (120, 170, 40)], 30)
    paper = _jitter(rng, (225, 235, 240), 12)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = paper
    _strokes(img, rng, 1500, (0, 0, width, height), lambda: _jitter(rng, paper, 18), (5, 18), (1, 3))
    xs = np.sort(rng.choice(np.arange(40, width - 40, 10), size=int(rng.integers(3, 6)), replace=False))
    ys = np.sort(rng.choice(np.arange(40, height - 40, 10), size=int(rng.integers(3, 6)), replace=False))
    gx = [0, *xs.tolist(), width]
    gy = [0, *ys.tolist(), height]
    for i in range(len(gx) - 1):
        for j in range(len(gy) - 1):
            if rng.random() < 0.35:
                cv2.rectangle(img, (gx[i], gy[j]), (gx[i + 1], gy[j + 1]), _pick(rng, pal, 20), -1)
    for x in xs:
        cv2.line(img, (int(x), 0), (int(x), height), (20, 20, 20), int(rng.integers(4, 10)))
    for y in ys:
        cv2.line(img, (0, int(y)), (width, int(y)), (20, 20, 20), int(rng.integers(4, 10)))
    for _ in range(int(rng.integers(5, 9))):  # Kandinsky rings
        c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        r = int(rng.integers(20, 90))
        for k in range(int(rng.integers(2, 6))):
            rr = max(3, r - k * int(rng.integers(6, 16)))
            cv2.circle(img, c, rr, _pick(rng, pal, 40), -1 if k == 0 else int(rng.integers(2, 6)), AA)
    for _ in range(int(rng.integers(4, 8))):  # triangles
        pts = rng.integers([0, 0], [width, height], size=(3, 2)).astype(np.int32)
        if rng.random() < 0.5:
            cv2.fillPoly(img, [pts], _pick(rng, pal, 30), AA)
        else:
            cv2.polylines(img, [pts], True, _pick(rng, pal, 30), int(rng.integers(2, 5)), AA)
    for _ in range(int(rng.integers(10, 20))):  # crossing lines and arcs
        p = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        q = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(img, p, q, _pick(rng, pal, 20), int(rng.integers(1, 4)), AA)
    for _ in range(int(rng.integers(5, 10))):
        c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(15, 80)), int(rng.integers(15, 80)))
        a0 = int(rng.integers(0, 360))
        cv2.ellipse(img, c, axes, int(rng.integers(0, 180)), a0, a0 + int(rng.integers(60, 270)),
                    _pick(rng, pal, 20), int(rng.integers(2, 5)), AA)
    for _ in range(int(rng.integers(2, 4))):  # small checkerboards
        x0, y0 = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        s = int(rng.integers(6, 14))
        n = int(rng.integers(3, 7))
        c1, c2 = _pick(rng, pal, 20), (20, 20, 20)
        for a in range(n):
            for b in range(n):
                cv2.rectangle(img, (x0 + a * s, y0 + b * s), (x0 + (a + 1) * s, y0 + (b + 1) * s),
                              c1 if (a + b) % 2 else c2, -1)
    return img


def _hill_profile(rng: np.random.Generator, width: int, base: float, amp: float) -> np.ndarray:
    x = np.arange(width + 1, dtype=np.float64)
    y = np.full(width + 1, float(base))
    for k in range(1, 5):
        y += amp / k * np.sin(2 * np.pi * x * rng.uniform(0.5, 2.0) * k / width + rng.uniform(0, 2 * np.pi))
    return y


def _fill_below(img: np.ndarray, profile: np.ndarray, colour) -> np.ndarray:
    h, w = img.shape[:2]
    pts = [(int(x), int(round(profile[x]))) for x in range(0, w + 1, 4)]
    poly = np.array([(0, h), *pts, (w, h)], dtype=np.int32)
    cv2.fillPoly(img, [poly], colour, AA)
    return poly


def landscape(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Rolling hills in layers under a sky with clouds; trees, a house and grass strokes in front."""
    sky_top = _jitter(rng, (200, 140, 90), 30)
    sky_low = _jitter(rng, (235, 215, 200), 20)
    horizon = int(height * rng.uniform(0.35, 0.5))
    img = _vertical_gradient(width, height, sky_top, sky_low, 0, horizon + 40)
    for _ in range(int(rng.integers(4, 8))):  # clouds: clusters of ellipses
        cx, cy = int(rng.integers(0, width)), int(rng.integers(10, max(20, horizon - 40)))
        layer = img.copy()
        for _ in range(int(rng.integers(4, 9))):
            cv2.ellipse(layer, (cx + int(rng.integers(-50, 50)), cy + int(rng.integers(-12, 12))),
                        (int(rng.integers(18, 45)), int(rng.integers(8, 20))), 0, 0, 360,
                        _jitter(rng, (245, 245, 245), 10), -1, AA)
        _blend(img, layer, 200)
    greens = _random_palette(rng, [(120, 150, 110), (70, 140, 80), (50, 120, 60), (30, 90, 40)], 25)
    for layer_i in range(4):
        base = horizon + layer_i * (height - horizon) * 0.22
        profile = _hill_profile(rng, width, base, 25 + 10 * layer_i)
        colour = greens[layer_i]
        poly = _fill_below(img, profile, colour)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(mask, [poly], 255)
        _strokes(img, rng, 600 + 300 * layer_i, (0, int(base) - 40, width, height),
                 lambda c=colour: _jitter(rng, c, 28), (4, 12 + 4 * layer_i), (1, 2 + layer_i // 2), mask=mask)
        for _ in range(int(rng.integers(4, 12))):  # trees on this hill
            x = int(rng.integers(0, width))
            y = int(round(profile[x])) + int(rng.integers(2, 12))
            s = int((8 + 6 * layer_i) * rng.uniform(0.7, 1.5))
            cv2.line(img, (x, y), (x, y - s), (30, 50, 70), max(1, s // 6), AA)
            foliage = _jitter(rng, (40, 100 + 10 * layer_i, 40), 30)
            if rng.random() < 0.5:
                cv2.circle(img, (x, y - s), max(3, s // 2 + 2), foliage, -1, AA)
                cv2.circle(img, (x - s // 4, y - s - s // 4), max(2, s // 3), _jitter(rng, foliage, 25), -1, AA)
            else:
                tri = np.array([(x - s // 2, y - s // 3), (x + s // 2, y - s // 3), (x, y - 2 * s)], np.int32)
                cv2.fillPoly(img, [tri], foliage, AA)
        if layer_i == 2:  # a house on the third hill
            x = int(rng.integers(width // 8, width - width // 8))
            y = int(round(profile[x])) + 10
            w, h = int(rng.integers(40, 70)), int(rng.integers(30, 45))
            wall = _jitter(rng, (180, 200, 220), 25)
            cv2.rectangle(img, (x, y - h), (x + w, y), wall, -1)
            roof = np.array([(x - 6, y - h), (x + w + 6, y - h), (x + w // 2, y - h - int(h * 0.8))], np.int32)
            cv2.fillPoly(img, [roof], _jitter(rng, (40, 50, 150), 25), AA)
            for k in range(2):
                wx = x + 8 + k * (w // 2)
                cv2.rectangle(img, (wx, y - h + 8), (wx + 9, y - h + 18), (60, 60, 40), -1)
            cv2.rectangle(img, (x + w // 2 - 5, y - 16), (x + w // 2 + 5, y), (40, 50, 80), -1)
    _strokes(img, rng, 1200, (0, int(height * 0.85), width, height), lambda: _jitter(rng, greens[3], 45),
             (8, 24), (1, 2), (np.pi * 0.35, np.pi * 0.65))
    flower_pal = _random_palette(rng, [(60, 60, 230), (240, 240, 250), (40, 220, 250), (200, 90, 200)], 20)
    for _ in range(int(rng.integers(60, 110))):  # meadow flowers in front
        c = (int(rng.integers(0, width)), int(rng.integers(int(height * 0.82), height)))
        cv2.circle(img, c, int(rng.integers(2, 5)), _pick(rng, flower_pal, 20), -1, AA)
    fy = int(height * rng.uniform(0.86, 0.93))  # a fence across the foreground
    fx0, fx1 = sorted(int(v) for v in rng.integers(0, width, size=2))
    wood = _jitter(rng, (60, 90, 120), 20)
    for x in range(fx0, fx1, int(rng.integers(18, 30))):
        cv2.line(img, (x, fy), (x + int(rng.integers(-2, 3)), fy - int(rng.integers(28, 40))), wood, 4, AA)
    cv2.line(img, (fx0, fy - 12), (fx1, fy - 14), wood, 3, AA)
    cv2.line(img, (fx0, fy - 25), (fx1, fy - 26), wood, 3, AA)
    return img


def seascape(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Sea under an evening sky: sun with halo, wave strokes, an island, sailboats, birds and rocks."""
    horizon = int(height * rng.uniform(0.38, 0.52))
    img = _vertical_gradient(width, height, _jitter(rng, (150, 110, 210), 35), _jitter(rng, (170, 200, 250), 20),
                             0, horizon)
    sea = _vertical_gradient(width, height - horizon, _jitter(rng, (140, 110, 60), 25), _jitter(rng, (90, 60, 20), 20))
    img[horizon:] = sea
    sx, sy = int(rng.integers(width // 6, width - width // 6)), int(horizon * rng.uniform(0.35, 0.8))
    for r, a in ((70, 60), (50, 90), (32, 140)):
        layer = img.copy()
        cv2.circle(layer, (sx, sy), r, (170, 230, 255), -1, AA)
        _blend(img, layer, a)
    cv2.circle(img, (sx, sy), 22, _jitter(rng, (120, 220, 255), 15), -1, AA)
    # island
    ix = int(rng.integers(0, width - 200))
    iw = int(rng.integers(120, 260))
    prof = _hill_profile(rng, iw, horizon - 6, 8)
    pts = [(ix + x, int(round(prof[x] - 25 * np.sin(np.pi * x / iw)))) for x in range(0, iw + 1, 4)]
    cv2.fillPoly(img, [np.array([(ix, horizon), *pts, (ix + iw, horizon)], np.int32)], _jitter(rng, (90, 80, 70), 20), AA)
    # waves: rows of short light/dark arcs, larger towards the viewer
    rows = np.linspace(horizon + 4, height - 4, 34)
    for i, y in enumerate(rows):
        s = 2 + i * 0.6
        for x in rng.integers(0, width, size=int(28 + i)):
            c = (int(x), int(y + rng.integers(-3, 4)))
            colour = _jitter(rng, (230, 210, 180) if rng.random() < 0.5 else (70, 40, 10), 25)
            cv2.ellipse(img, c, (int(s * rng.uniform(2, 4)), max(1, int(s * 0.6))), 0, 180, 360, colour,
                        max(1, int(s / 4)), AA)
    # reflection of the sun
    for k in range(20):
        y = horizon + 4 + k * 6
        w = int(30 * rng.uniform(0.4, 1.2) * (1 + k / 10))
        cv2.line(img, (sx - w // 2 + int(rng.integers(-8, 9)), y), (sx + w // 2, y), (150, 220, 250), 2, AA)
    for _ in range(int(rng.integers(2, 5))):  # sailboats
        bx = int(rng.integers(20, width - 60))
        by = int(rng.integers(horizon + 15, height - 40))
        s = 0.5 + (by - horizon) / (height - horizon)
        hull = np.array([(bx, by), (bx + int(50 * s), by), (bx + int(42 * s), by + int(9 * s)), (bx + int(8 * s), by + int(9 * s))], np.int32)
        cv2.fillPoly(img, [hull], _jitter(rng, (40, 40, 90), 25), AA)
        mast = bx + int(25 * s)
        cv2.line(img, (mast, by), (mast, by - int(55 * s)), (40, 40, 40), max(1, int(2 * s)), AA)
        sail = np.array([(mast + 2, by - int(52 * s)), (mast + 2, by - 3), (mast + int(28 * s), by - 3)], np.int32)
        cv2.fillPoly(img, [sail], _jitter(rng, (235, 240, 245), 10), AA)
        sail2 = np.array([(mast - 2, by - int(45 * s)), (mast - 2, by - 3), (mast - int(18 * s), by - 3)], np.int32)
        cv2.fillPoly(img, [sail2], _jitter(rng, (90, 140, 220), 30), AA)
    for _ in range(int(rng.integers(6, 14))):  # birds
        bx, by = int(rng.integers(0, width)), int(rng.integers(10, max(20, horizon - 20)))
        s = int(rng.integers(4, 10))
        cv2.ellipse(img, (bx - s, by), (s, s // 2 + 1), 0, 200, 340, (40, 40, 40), 1, AA)
        cv2.ellipse(img, (bx + s, by), (s, s // 2 + 1), 0, 200, 340, (40, 40, 40), 1, AA)
    for _ in range(int(rng.integers(3, 6))):  # rocks in front
        c = (int(rng.integers(0, width)), int(rng.integers(height - 50, height + 10)))
        axes = (int(rng.integers(25, 70)), int(rng.integers(15, 35)))
        cv2.ellipse(img, c, axes, 0, 180, 360, _jitter(rng, (60, 70, 80), 20), -1, AA)
        _strokes(img, rng, 60, (c[0] - axes[0], c[1] - axes[1], c[0] + axes[0], c[1]),
                 lambda: _jitter(rng, (100, 110, 120), 40), (3, 8), (1, 2))
    return img


def night_sky(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A starry night: swirling sky, stars with halos, a crescent moon, a cypress and a village."""
    img = _vertical_gradient(width, height, _jitter(rng, (90, 30, 15), 15), _jitter(rng, (150, 90, 40), 20))
    swirl_pal = _random_palette(rng, [(180, 120, 50), (220, 180, 100), (140, 80, 30), (200, 200, 150)], 30)
    for _ in range(int(rng.integers(6, 10))):  # swirls: nested arcs
        c = (int(rng.integers(0, width)), int(rng.integers(0, int(height * 0.65))))
        for k in range(int(rng.integers(4, 9))):
            r = 12 + k * int(rng.integers(7, 13))
            a0 = int(rng.integers(0, 360))
            cv2.ellipse(img, c, (r, int(r * rng.uniform(0.5, 1.0))), int(rng.integers(0, 180)), a0,
                        a0 + int(rng.integers(120, 300)), _pick(rng, swirl_pal, 25), int(rng.integers(2, 5)), AA)
    _strokes(img, rng, 1600, (0, 0, width, int(height * 0.75)), lambda: _pick(rng, swirl_pal, 35), (8, 22), (2, 3),
             (-0.6, 0.6))
    for _ in range(int(rng.integers(90, 140))):  # stars
        c = (int(rng.integers(0, width)), int(rng.integers(0, int(height * 0.7))))
        r = int(rng.integers(1, 5))
        colour = _jitter(rng, (200, 245, 255), 15)
        if r >= 3:
            layer = img.copy()
            cv2.circle(layer, c, r * 4, (120, 200, 230), -1, AA)
            _blend(img, layer, 90)
            cv2.line(img, (c[0] - 2 * r, c[1]), (c[0] + 2 * r, c[1]), colour, 1, AA)
            cv2.line(img, (c[0], c[1] - 2 * r), (c[0], c[1] + 2 * r), colour, 1, AA)
        cv2.circle(img, c, r, colour, -1, AA)
    mx, my, mr = int(rng.integers(width // 2, width - 60)), int(rng.integers(50, 140)), int(rng.integers(28, 45))
    layer = img.copy()
    cv2.circle(layer, (mx, my), mr * 2, (140, 220, 240), -1, AA)
    _blend(img, layer, 70)
    cv2.circle(img, (mx, my), mr, (150, 235, 255), -1, AA)
    cv2.circle(img, (mx + mr // 2, my - mr // 3), int(mr * 0.85), tuple(int(v) for v in img[my, min(width - 1, mx + 2 * mr)]), -1, AA)
    # village on the skyline
    base = int(height * 0.8)
    x = 0
    while x < width:
        w = int(rng.integers(25, 60))
        h = int(rng.integers(20, 70))
        colour = _jitter(rng, (60, 40, 30), 15)
        cv2.rectangle(img, (x, base - h), (x + w, height), colour, -1)
        if rng.random() < 0.6:
            roof = np.array([(x - 3, base - h), (x + w + 3, base - h), (x + w // 2, base - h - int(rng.integers(10, 30)))], np.int32)
            cv2.fillPoly(img, [roof], _jitter(rng, (50, 30, 30), 10), AA)
        for _ in range(int(rng.integers(1, 5))):
            wx, wy = x + int(rng.integers(3, max(4, w - 10))), base - h + int(rng.integers(5, max(6, h)))
            cv2.rectangle(img, (wx, wy), (wx + 6, wy + 7), _jitter(rng, (80, 200, 240), 20), -1)
        x += w + int(rng.integers(0, 10))
    cv2.rectangle(img, (0, base + 30), (width, height), _jitter(rng, (40, 50, 30), 10), -1)
    _strokes(img, rng, 500, (0, base + 25, width, height), lambda: _jitter(rng, (50, 70, 40), 25), (6, 16), (1, 3))
    # a cypress: a flame of strokes
    cx = int(rng.integers(30, width // 3))
    top = int(height * rng.uniform(0.15, 0.35))
    pts = []
    for y in range(top, height, 8):
        w = int((y - top) / (height - top) * 45 + 4 + rng.integers(0, 6))
        pts.append((cx - w, y))
    pts_r = [(2 * cx - x, y) for (x, y) in reversed(pts)]
    cv2.fillPoly(img, [np.array(pts + pts_r, np.int32)], _jitter(rng, (30, 50, 20), 10), AA)
    _strokes(img, rng, 400, (cx - 45, top, cx + 45, height), lambda: _jitter(rng, (40, 80, 35), 30), (8, 20), (1, 3),
             (np.pi * 0.3, np.pi * 0.7))
    return img


def portrait(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A figure made of shapes in front of patterned wallpaper: head, hair, eyes, collar, buttons."""
    bg1 = _jitter(rng, (120, 160, 90), 40)
    bg2 = _jitter(rng, (70, 110, 60), 40)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = bg1
    step = int(rng.integers(40, 64))
    motif = int(rng.integers(3))
    for j, y in enumerate(range(0, height + step, step)):
        for _i, x in enumerate(range(0, width + step, step)):
            ox = step // 2 if j % 2 else 0
            c = (x + ox + int(rng.integers(-8, 9)), y + int(rng.integers(-8, 9)))
            tone = _shade(rng, bg2, 45)
            size = step * rng.uniform(0.6, 1.2)
            if rng.random() < 0.25:  # faded, hand-printed wallpaper: some motifs are missing
                continue
            if motif == 0:
                cv2.circle(img, c, int(size / 4), tone, -1, AA)
            elif motif == 1:
                cv2.drawMarker(img, c, tone, cv2.MARKER_DIAMOND, int(size / 2), int(rng.integers(2, 5)))
            else:
                cv2.ellipse(img, c, (int(size / 3), int(size / 6)), int(rng.integers(0, 180)), 0, 360, tone, 3, AA)
    _strokes(img, rng, 900, (0, 0, width, height), lambda: _shade(rng, bg1, 30), (8, 22), (2, 4))
    # a bookshelf on one side: books of many colours, heights and tilts (coarse, distinctive structure)
    shelf_w = int(width * rng.uniform(0.22, 0.3))
    sx0 = 0 if rng.random() < 0.5 else width - shelf_w
    wood = _jitter(rng, (40, 70, 110), 20)
    cv2.rectangle(img, (sx0, 0), (sx0 + shelf_w, height), wood, -1)
    book_pal = _random_palette(rng, [(30, 30, 140), (140, 60, 30), (40, 120, 40), (60, 160, 200), (200, 200, 210),
                                     (30, 30, 30), (120, 40, 120)], 30)
    y = int(rng.integers(10, 40))
    while y < height - 30:
        shelf_h = int(rng.integers(80, 130))
        x = sx0 + 6
        while x < sx0 + shelf_w - 10:
            bw, bh = int(rng.integers(8, 20)), int(shelf_h * rng.uniform(0.6, 0.92))
            colour = _pick(rng, book_pal, 25)
            cv2.rectangle(img, (x, y + shelf_h - bh), (x + bw, y + shelf_h), colour, -1)
            if rng.random() < 0.5:
                band = y + shelf_h - bh + int(rng.integers(5, max(6, bh - 10)))
                cv2.line(img, (x + 1, band), (x + bw - 1, band), _shade(rng, colour, 90), 2)
            x += bw + int(rng.integers(1, 3))
        cv2.rectangle(img, (sx0, y + shelf_h), (sx0 + shelf_w, y + shelf_h + 8), _shade(rng, wood, 30), -1)
        y += shelf_h + 8
    cx = width // 2 + int(rng.integers(-width // 10, width // 10))
    head_y = int(height * rng.uniform(0.3, 0.38))
    hw, hh = int(width * rng.uniform(0.16, 0.2)), int(height * rng.uniform(0.13, 0.16))
    skin = _jitter(rng, (140, 170, 215), 30)
    cloth = _jitter(rng, (120, 50, 40), 60)
    # torso
    sh_y = head_y + hh + int(height * 0.06)
    torso = np.array([(cx - int(width * 0.36), height), (cx - int(width * 0.24), sh_y), (cx + int(width * 0.24), sh_y),
                      (cx + int(width * 0.36), height)], np.int32)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [torso], 255, AA)
    clothing = np.empty_like(img)
    clothing[:] = cloth
    stripe = _jitter(rng, cloth, 70)
    for k in range(0, height, int(rng.integers(14, 26))):
        cv2.line(clothing, (cx - width, sh_y + k - width // 3), (cx + width, sh_y + k + width // 3), stripe, 3, AA)
    # anti-aliased mask -> integer alpha so the torso edge stays smooth
    alpha = mask.astype(np.int32)[..., None]
    img = ((img.astype(np.int32) * (255 - alpha) + clothing.astype(np.int32) * alpha + 127) // 255).astype(np.uint8)
    _strokes(img, rng, 500, (cx - int(width * 0.36), sh_y, cx + int(width * 0.36), height),
             lambda: _jitter(rng, cloth, 35), (6, 14), (1, 2), mask=mask)
    # every part gets its own proportions, so two portraits never share a rigid arrangement of
    # identical eyes, buttons and beads (which a homography would happily align)
    gap = int(rng.integers(32, 60))
    for k in range(int(rng.integers(3, 6))):  # buttons
        r = int(rng.integers(5, 11))
        c = (cx + int(rng.integers(-4, 5)), sh_y + int(rng.integers(30, 55)) + k * gap)
        cv2.circle(img, c, r, _jitter(rng, (200, 200, 60), 50), -1, AA)
        cv2.circle(img, c, r, (30, 30, 30), 1, AA)
    cw, cd = int(rng.integers(35, 70)), int(rng.integers(35, 75))
    collar = np.array([(cx - cw, sh_y), (cx, sh_y + cd), (cx + cw, sh_y), (cx + cw * 3 // 5, sh_y - 8),
                       (cx - cw * 3 // 5, sh_y - 8)], np.int32)
    cv2.fillPoly(img, [collar], _jitter(rng, (235, 240, 240), 15), AA)
    # neck and head
    cv2.rectangle(img, (cx - hw // 3, head_y + hh - 10), (cx + hw // 3, sh_y), _jitter(rng, skin, 10), -1)
    hair = _jitter(rng, (30, 50, 80), 30)
    cv2.ellipse(img, (cx, head_y - hh // 5), (int(hw * rng.uniform(1.05, 1.25)), int(hh * rng.uniform(0.95, 1.15))),
                0, 0, 360, hair, -1, AA)
    cv2.ellipse(img, (cx, head_y), (hw, hh), 0, 0, 360, skin, -1, AA)
    ear = (int(rng.integers(9, 15)), int(rng.integers(16, 27)))
    cv2.ellipse(img, (cx - hw, head_y + 5), ear, 0, 0, 360, skin, -1, AA)
    cv2.ellipse(img, (cx + hw, head_y + 5), ear, 0, 0, 360, skin, -1, AA)
    _strokes(img, rng, 350, (cx - int(hw * 1.1), head_y - int(hh * 1.2), cx + int(hw * 1.1), head_y - int(hh * 0.45)),
             lambda: _jitter(rng, hair, 45), (10, 30), (1, 3), (0.2, np.pi - 0.2))
    eye_dy = int(hh * rng.uniform(-0.2, 0.0))
    eye_dx = int(hw * rng.uniform(0.3, 0.55))
    eye_w, eye_h = int(rng.integers(12, 24)), int(rng.integers(6, 13))
    iris_r = max(3, min(eye_h, int(rng.integers(4, 10))))
    iris = _jitter(rng, (120, 90, 40), 70)
    brow_lift, brow_w = int(rng.integers(12, 24)), int(rng.integers(14, 26))
    for sx in (-1, 1):
        e = (cx + sx * eye_dx, head_y + eye_dy + int(rng.integers(-2, 3)))
        cv2.ellipse(img, e, (eye_w, eye_h), int(rng.integers(-8, 9)), 0, 360, _jitter(rng, (240, 240, 240), 10), -1, AA)
        cv2.circle(img, e, iris_r, iris, -1, AA)
        cv2.circle(img, e, max(1, iris_r // 2), (10, 10, 10), -1, AA)
        cv2.circle(img, (e[0] + 2, e[1] - 2), 1, (255, 255, 255), -1, AA)
        cv2.ellipse(img, (e[0], e[1] - brow_lift), (brow_w, int(rng.integers(3, 9))), int(rng.integers(-10, 11)),
                    200, 340, hair, int(rng.integers(2, 5)), AA)
    nose_len = hh * rng.uniform(0.25, 0.45)
    cv2.line(img, (cx, head_y + eye_dy + 8), (cx - 8, head_y + int(nose_len)), _jitter(rng, skin, 50), 2, AA)
    cv2.line(img, (cx - 8, head_y + int(nose_len)), (cx + 4, head_y + int(nose_len) + 2), _jitter(rng, skin, 50), 2, AA)
    cv2.ellipse(img, (cx, head_y + int(hh * rng.uniform(0.5, 0.7))), (int(hw * rng.uniform(0.2, 0.45)), int(rng.integers(5, 13))),
                0, 10, 170, _jitter(rng, (60, 60, 170), 30), int(rng.integers(2, 5)), AA)
    nr, nd = int(rng.integers(40, 75)), int(rng.integers(25, 55))
    bead = int(rng.integers(3, 7))
    n_beads = int(rng.integers(7, 15))
    for k in range(n_beads):  # necklace
        a = np.pi * (0.15 + 0.7 * k / max(1, n_beads - 1))
        cv2.circle(img, (int(cx + nr * np.cos(a)), int(sh_y + 15 + nd * np.sin(a))), bead,
                   _jitter(rng, (200, 220, 240), 30), -1, AA)
    return img


def city_grid(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A city block: buildings of varied height and colour with irregularly lit windows, a street, cars."""
    img = _vertical_gradient(width, height, _jitter(rng, (210, 160, 120), 30), _jitter(rng, (230, 210, 200), 20))
    street = int(height * rng.uniform(0.8, 0.88))
    pal = _random_palette(rng, [(90, 100, 130), (130, 130, 140), (60, 80, 160), (150, 140, 110), (80, 80, 80)], 30)
    for row, (hmin, hmax) in enumerate(((0.45, 0.75), (0.25, 0.6))):  # back row, then front row
        x = int(rng.integers(-30, 0))
        while x < width:
            w = int(rng.integers(55, 130))
            top = int(height * rng.uniform(1 - hmax - 0.1, 1 - hmin - 0.1)) + row * 40
            colour = _pick(rng, pal, 20)
            if row == 0:
                colour = tuple(int(v * 0.75) for v in colour)
            cv2.rectangle(img, (x, top), (x + w, street), colour, -1)
            # weathered facade: faint strokes so that identical window grids still differ locally
            _strokes(img, rng, w * (street - top) // 90, (x, top, x + w, street),
                     lambda c=colour: _jitter(rng, c, 22), (3, 9), (1, 2))
            cv2.rectangle(img, (x, top), (x + w, top + 5), _jitter(rng, colour, 40), -1)
            ww, wh = int(rng.integers(6, 13)), int(rng.integers(8, 15))
            gxs, gys = ww + int(rng.integers(4, 9)), wh + int(rng.integers(5, 10))
            lit = _jitter(rng, (120, 220, 250), 25)
            dark = tuple(int(v * 0.45) for v in colour)
            for wy in range(top + 12, street - wh - 6, gys):
                for wx in range(x + 6, x + w - ww - 4, gxs):
                    on = rng.random() < 0.35
                    cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), lit if on else dark, -1)
            if rng.random() < 0.4:  # roof details
                ax = x + int(rng.integers(5, max(6, w - 5)))
                cv2.line(img, (ax, top), (ax, top - int(rng.integers(15, 45))), (50, 50, 50), 2, AA)
            if rng.random() < 0.3:
                tx = x + int(rng.integers(5, max(6, w - 30)))
                cv2.rectangle(img, (tx, top - 22), (tx + 20, top - 4), _jitter(rng, (60, 90, 130), 20), -1)
                cv2.line(img, (tx + 3, top - 4), (tx + 3, top), (40, 40, 40), 2)
                cv2.line(img, (tx + 17, top - 4), (tx + 17, top), (40, 40, 40), 2)
            x += w + int(rng.integers(0, 8))
    cv2.rectangle(img, (0, street), (width, height), _jitter(rng, (70, 70, 70), 10), -1)
    for x in range(int(rng.integers(0, 30)), width, 60):
        cv2.rectangle(img, (x, (street + height) // 2 - 2), (x + 30, (street + height) // 2 + 2), (210, 230, 230), -1)
    for _ in range(int(rng.integers(3, 7))):  # cars
        cx = int(rng.integers(0, width - 60))
        cy = street + int(rng.integers(8, max(9, height - street - 20)))
        w = int(rng.integers(40, 60))
        body = _jitter(rng, (60, 60, 200), 90)
        cv2.rectangle(img, (cx, cy - 12), (cx + w, cy), body, -1)
        cv2.rectangle(img, (cx + 8, cy - 20), (cx + w - 10, cy - 12), _jitter(rng, body, 30), -1)
        cv2.rectangle(img, (cx + 11, cy - 18), (cx + w // 2 - 1, cy - 13), (200, 180, 150), -1)
        for wx in (cx + 9, cx + w - 9):
            cv2.circle(img, (wx, cy), 5, (20, 20, 20), -1, AA)
    for x in range(int(rng.integers(20, 80)), width, int(rng.integers(110, 170))):  # street lights
        cv2.line(img, (x, street + 2), (x, street - 60), (40, 40, 40), 2, AA)
        cv2.circle(img, (x + 6, street - 60), 4, (150, 240, 255), -1, AA)
    return img


def floral_still_life(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A vase of flowers on a draped table with fruit, against a stippled wall."""
    wall = _jitter(rng, (90, 130, 150), 40)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = wall
    _strokes(img, rng, 1200, (0, 0, width, height), lambda: _shade(rng, wall, 40), (10, 34), (3, 6))
    table_y = int(height * rng.uniform(0.65, 0.75))
    # a window behind the table: sky, clouds, mullions
    wx0 = int(rng.integers(10, width // 2))
    wx1 = min(width - 10, wx0 + int(width * rng.uniform(0.3, 0.45)))
    wy0, wy1 = int(height * rng.uniform(0.04, 0.12)), int(table_y * rng.uniform(0.55, 0.75))
    sky = _vertical_gradient(wx1 - wx0, wy1 - wy0, _jitter(rng, (200, 150, 100), 30), _jitter(rng, (230, 210, 190), 20))
    img[wy0:wy1, wx0:wx1] = sky
    for _ in range(int(rng.integers(2, 5))):
        cv2.ellipse(img, (int(rng.integers(wx0, wx1)), int(rng.integers(wy0, wy1))),
                    (int(rng.integers(12, 30)), int(rng.integers(6, 12))), 0, 0, 360, (240, 240, 240), -1, AA)
    frame_c = _jitter(rng, (60, 80, 100), 25)
    cv2.rectangle(img, (wx0, wy0), (wx1, wy1), frame_c, 8)
    cv2.line(img, ((wx0 + wx1) // 2, wy0), ((wx0 + wx1) // 2, wy1), frame_c, 6)
    cv2.line(img, (wx0, (wy0 + wy1) // 2), (wx1, (wy0 + wy1) // 2), frame_c, 6)
    # table with a striped cloth of irregular stripes
    cloth = _jitter(rng, (200, 205, 215), 20)
    cv2.rectangle(img, (0, table_y), (width, height), cloth, -1)
    stripe_c = _jitter(rng, (60, 60, 170), 60)
    x = int(rng.integers(0, 20))
    while x < width:
        sw = int(rng.integers(6, 26))
        cv2.rectangle(img, (x, table_y), (x + sw, height), _shade(rng, stripe_c, 40), -1)
        x += sw + int(rng.integers(10, 40))
    cv2.rectangle(img, (0, table_y), (width, table_y + 10), _jitter(rng, (50, 70, 100), 20), -1)
    _strokes(img, rng, 400, (0, table_y, width, height), lambda: _shade(rng, cloth, 30), (6, 16), (1, 3))
    # vase: a symmetric profile
    vx = width // 2 + int(rng.integers(-width // 8, width // 8))
    vh = int(height * rng.uniform(0.28, 0.36))
    ys = np.linspace(0, 1, 24)
    radius = 25 + 35 * np.sin(np.pi * (ys * rng.uniform(0.8, 1.0) + 0.1)) ** 2 * rng.uniform(0.8, 1.4)
    left = [(int(vx - r), int(table_y + 10 - vh + y * vh)) for r, y in zip(radius, ys, strict=True)]
    right = [(2 * vx - x, y) for (x, y) in reversed(left)]
    vase_poly = np.array(left + right, np.int32)
    vase_col = _jitter(rng, (150, 90, 40), 60)
    cv2.fillPoly(img, [vase_poly], vase_col, AA)
    for _k in range(int(rng.integers(2, 5))):  # decoration bands
        y = table_y + 10 - vh + int(vh * rng.uniform(0.2, 0.9))
        r = int(np.interp((y - (table_y + 10 - vh)) / vh, ys, radius))
        cv2.line(img, (vx - r + 2, y), (vx + r - 2, y), _jitter(rng, (220, 220, 240), 30), int(rng.integers(2, 5)), AA)
        for x in range(vx - r + 8, vx + r - 8, 14):
            cv2.circle(img, (x, y + 7), 3, _jitter(rng, (40, 160, 200), 40), -1, AA)
    neck = (vx, table_y + 10 - vh)
    petal_pal = _random_palette(rng, [(60, 60, 220), (200, 120, 220), (40, 200, 250), (240, 240, 250), (140, 50, 160)], 30)
    for _ in range(int(rng.integers(8, 13))):  # flowers with stems and leaves
        fx = vx + int(rng.integers(-int(width * 0.3), int(width * 0.3)))
        fy = neck[1] - int(rng.integers(30, int(height * 0.45)))
        fy = max(25, fy)
        cv2.line(img, (neck[0] + int(rng.integers(-15, 16)), neck[1] + 5), (fx, fy), _jitter(rng, (40, 110, 50), 20), 2, AA)
        lx, ly = (fx + neck[0]) // 2, (fy + neck[1]) // 2
        cv2.ellipse(img, (lx, ly), (14, 5), int(rng.integers(0, 180)), 0, 360, _jitter(rng, (50, 130, 60), 25), -1, AA)
        n = int(rng.integers(5, 10))
        pr = int(rng.integers(18, 36))
        colour = _pick(rng, petal_pal, 30)
        a0 = rng.uniform(0, 2 * np.pi)
        for k in range(n):
            a = a0 + 2 * np.pi * k / n
            c = (int(fx + pr * 0.8 * np.cos(a)), int(fy + pr * 0.8 * np.sin(a)))
            cv2.ellipse(img, c, (pr // 2 + 2, pr // 4 + 2), int(np.degrees(a)), 0, 360, colour, -1, AA)
            cv2.ellipse(img, c, (pr // 2 + 2, pr // 4 + 2), int(np.degrees(a)), 0, 360, _jitter(rng, colour, 60), 1, AA)
        cv2.circle(img, (fx, fy), max(3, pr // 3), _jitter(rng, (30, 160, 220), 40), -1, AA)
        for _ in range(6):
            cv2.circle(img, (fx + int(rng.integers(-pr // 4, pr // 4 + 1)), fy + int(rng.integers(-pr // 4, pr // 4 + 1))),
                       1, (20, 40, 60), -1, AA)
    for _ in range(int(rng.integers(3, 6))):  # fruit
        fx = int(rng.integers(30, width - 30))
        if abs(fx - vx) < 80:
            fx = (fx + width // 2) % (width - 60) + 30
        fy = table_y + int(rng.integers(20, max(21, height - table_y - 25)))
        r = int(rng.integers(22, 42))
        colour = _jitter(rng, [(40, 40, 200), (40, 160, 230), (60, 180, 90)][int(rng.integers(3))], 30)
        cv2.circle(img, (fx, fy), r, colour, -1, AA)
        cv2.circle(img, (fx - r // 3, fy - r // 3), max(2, r // 4), _jitter(rng, colour, 90), -1, AA)
        cv2.line(img, (fx, fy - r), (fx + 3, fy - r - 8), (30, 60, 60), 2, AA)
    return img


STYLES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "colour-field": colour_field,
    "geometric": geometric,
    "landscape": landscape,
    "seascape": seascape,
    "night-sky": night_sky,
    "portrait": portrait,
    "city-grid": city_grid,
    "floral-still-life": floral_still_life,
}


def render_painting(style: str, seed: int | tuple[int, ...], width: int, height: int) -> np.ndarray:
    """Draw one painting of ``style`` (a key of :data:`STYLES`) from ``seed``.

    Returns a BGR uint8 array of shape ``(height, width, 3)``; the same arguments give the same pixels.
    """
    try:
        draw = STYLES[style]
    except KeyError:
        raise ValueError(f"unknown painting style {style!r}; expected one of {sorted(STYLES)}") from None
    if width < 200 or height < 200:
        raise ValueError(f"painting size must be at least 200x200 pixels, got {width}x{height}")
    rng = np.random.default_rng(np.random.SeedSequence(seed if isinstance(seed, int) else list(seed)))
    img = draw(rng, width, height)
    if img.shape != (height, width, 3) or img.dtype != np.uint8:  # a style bug, not user input
        raise RuntimeError(f"style {style!r} returned {img.shape} {img.dtype}, expected ({height}, {width}, 3) uint8")
    return np.ascontiguousarray(img)
