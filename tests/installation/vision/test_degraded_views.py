"""The pipeline on views a real room degrades: a glare on the glass, a blurred lens, a second artwork coming
into view, a group standing before the artwork. Frames are built from the demo walk's own frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from art2mus.exhibits.demo_collection.walk import render_walk_frames
from art2mus.installation.config import load_exhibit
from art2mus.installation.vision.debounce import ArtworkDebouncer
from art2mus.installation.vision.pipeline import VisionPipeline
from art2mus.installation.vision.sources import Frame
from art2mus.installation.vision.unseen import UNSEEN_PREFIX

FPS = 10


def _walk_frame(t: float) -> np.ndarray:
    """The demo walk's frame at ``t`` seconds (rendered, 10 fps)."""
    i = round(t * FPS)
    return next(iter(render_walk_frames(None, i, i + 1)))[1]


def _glare(image: np.ndarray, cx: int, cy: int, r: int = 80) -> np.ndarray:
    """A white, blurred elliptical glare (about 17 % of a 640 x 360 frame at r=80) on the glass."""
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(mask, (cx, cy), (r * 2, r), 20, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 15)[..., None]
    return np.clip(image.astype(np.float32) * (1 - mask) + 250 * mask, 0, 255).astype(np.uint8)


@pytest.fixture
def unseen_exhibit(demo_exhibit_path, tmp_path):
    """The demo exhibit with ``unseen:`` on and its store in ``tmp_path``."""
    exhibit = load_exhibit(demo_exhibit_path)
    unseen = exhibit.unseen.model_copy(update={"enabled": True, "dir": tmp_path / "unseen"})
    return exhibit.model_copy(update={"unseen": unseen})


def _labels(pipeline: VisionPipeline, frames, start: float = 0.0) -> list[tuple[float, str]]:
    """The decision's changes as (t, label) over ``frames`` fed at 10 fps from ``start``."""
    out: list[tuple[float, str]] = []
    for i, image in enumerate(frames):
        decision = pipeline.process(Frame(image, start + i / FPS, i))
        if not out or out[-1][1] != decision.label:
            out.append((round(decision.t, 1), decision.label))
    return out


@pytest.mark.parametrize("degrade", ["glare", "blur"])
def test_a_listed_painting_the_recognizer_misses_is_not_made_unseen(unseen_exhibit, demo_index, degrade):
    # a glare on 17 % of the frame on night-over-the-village's glass, or hills-of-orvale through a lens
    # blurred by 2.5 px: the keypoints miss it in the frame and in its crop, so the room took the framed
    # picture for one it did not know and played (and remembered) a new unseen artwork. (A glare on 13 %,
    # r=70, no longer hides it: with the demo's process_sigma 1.0 the refine pass finds 13 inliers.)
    if degrade == "glare":
        frame = _glare(_walk_frame(45.5), 640 // 2 + 20, 360 // 2 - 30)
    else:
        frame = cv2.GaussianBlur(_walk_frame(22.0), (0, 0), 2.5)
    pipeline = VisionPipeline.from_config(unseen_exhibit, index=demo_index)
    assert pipeline.recognizer.recognize(frame).artwork_id is None  # what the keypoints make of it
    labels = _labels(pipeline, [frame] * (8 * FPS))
    assert not any(label.startswith(UNSEEN_PREFIX) for _, label in labels), labels
    assert pipeline.unseen.sightings == 0  # nothing named, nothing remembered


def _hang(wall: np.ndarray, photo: np.ndarray, x: int, y: int, height: int) -> np.ndarray:
    """``photo`` pasted on ``wall`` at (x, y), ``height`` pixels high."""
    scale = height / photo.shape[0]
    small = cv2.resize(photo, (round(photo.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
    out = wall.copy()
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _noisy(images: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Each image with the sensor's noise (2 grey levels), as a still camera sees it."""
    rng = np.random.default_rng(seed)
    return [
        np.clip(i.astype(np.float32) + rng.normal(0, 2.0, i.shape), 0, 255).astype(np.uint8) for i in images
    ]


@pytest.fixture(scope="module")
def wall_views(demo_paintings):
    """An empty wall of the demo walk with amber-fields alone, and with evening-regatta beside it."""
    wall = _walk_frame(0.0)
    amber = _hang(wall, demo_paintings["amber-fields"], 20, 90, 180)
    return {
        "amber": amber,
        "both": _hang(amber, demo_paintings["evening-regatta"], 330, 90, 180),
        "regatta": _hang(wall, demo_paintings["evening-regatta"], 330, 90, 180),
    }


def test_a_second_artwork_coming_into_view_does_not_take_over(demo_exhibit_path, demo_index, wall_views):
    # amber-fields alone for 5 s, then evening-regatta's photo beside it with more keypoints: the recognizer
    # reports the regatta, and the room switched to it 1.6 s later while amber-fields stood in full view
    exhibit = load_exhibit(demo_exhibit_path)
    pipeline = VisionPipeline.from_config(exhibit, index=demo_index)
    both = pipeline.recognizer.recognize(wall_views["both"])
    assert both.artwork_id == "evening-regatta"  # the newcomer has the most inliers
    frames = _noisy([wall_views["amber"]] * (5 * FPS) + [wall_views["both"]] * (10 * FPS))
    labels = _labels(pipeline, frames)
    assert [label for _, label in labels] == ["none", "amber-fields"], labels
    # once amber-fields is gone, the regatta takes over within a dwell and a half
    later = _labels(pipeline, _noisy([wall_views["regatta"]] * (4 * FPS), seed=1), start=15.0)
    assert later[-1][1] == "evening-regatta", later
    assert later[-1][0] <= 15.0 + 1.5 * exhibit.presence.dwell_seconds + 0.6, later


def _group(image: np.ndarray, t: float) -> np.ndarray:
    """Three dark silhouettes standing before the camera, swaying a little (they hide the artwork)."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for k, x in enumerate((0.3, 0.5, 0.7)):
        cx = round(x * w + 8 * np.sin(t * 1.3 + k))
        cv2.ellipse(mask, (cx, round(h * 0.75)), (round(0.14 * w), round(h * 0.8)), 0, 0, 360, 255, -1)
        cv2.circle(mask, (cx, round(h * 0.12)), round(0.07 * w), 255, -1)
    m = cv2.GaussianBlur(mask, (0, 0), 4).astype(np.float32)[..., None] / 255
    return (image.astype(np.float32) * (1 - m) + 35 * m).astype(np.uint8)


def _panned(wall: np.ndarray, photo: np.ndarray, x: int) -> np.ndarray:
    """``photo`` hung 180 px high at (x, 90) on ``wall``, cut by the frame's left edge where x < 0."""
    small = cv2.resize(
        photo, (round(photo.shape[1] * 180 / photo.shape[0]), 180), interpolation=cv2.INTER_AREA
    )
    out = wall.copy()
    left = max(0, -x)
    if left < small.shape[1]:
        out[90:270, x + left : x + small.shape[1]] = small[:, left:]
    return out


def test_a_group_before_the_artwork_keeps_its_music_and_a_camera_turned_away_goes_idle(
    demo_exhibit_path, demo_index, demo_paintings
):
    # a group stood 20 s before amber-fields: the artwork was dropped after hold_seconds and the room went
    # to the idle ambience while the visitors were still at it
    exhibit = load_exhibit(demo_exhibit_path)
    wall = _walk_frame(0.0)
    photo = demo_paintings["amber-fields"]
    amber = _panned(wall, photo, 200)  # in the middle: the group hides it
    pipeline = VisionPipeline.from_config(exhibit, index=demo_index)
    frames = [amber] * (5 * FPS) + [_group(amber, i / FPS) for i in range(20 * FPS)] + [amber] * (3 * FPS)
    labels = _labels(pipeline, _noisy(frames))
    assert [label for _, label in labels] == ["none", "amber-fields"], labels
    # the camera turns away to the empty wall (amber-fields leaves by the frame's edge in 1 s) where a
    # visitor walks by: dropped hold_seconds after it left, as before
    pipeline = VisionPipeline.from_config(exhibit, index=demo_index)
    pan = [_panned(wall, photo, 200 - 50 * i) for i in range(1, 11)]
    frames = (
        [amber] * (5 * FPS) + pan + [_group(wall, i / FPS) if i % 20 < 10 else wall for i in range(10 * FPS)]
    )
    labels = _labels(pipeline, _noisy(frames))
    dropped = [t for t, label in labels if label in ("unknown", "none") and t > 5.0]
    assert dropped and dropped[0] <= 6.0 + exhibit.presence.hold_seconds + 0.5, labels


def test_an_artwork_hidden_for_too_long_is_dropped_and_a_newcomer_still_takes_over():
    # hidden() keeps a chosen artwork for at most max_hidden_s after its last sighting: a picture taken
    # down while the camera stands still must end in the end
    debouncer = ArtworkDebouncer(dwell_s=1.0, hold_s=3.0, max_hidden_s=10.0)
    t = 0.0
    while t < 2.0:
        debouncer.update("amber-fields", 30, t)
        t = round(t + 0.2, 6)
    last_seen = 1.8
    chosen = []
    while t < 20.0:
        debouncer.hidden(t)
        chosen.append((t, debouncer.update(None, 0, t)))
        t = round(t + 0.2, 6)
    dropped = next(t for t, c in chosen if c is None)
    assert last_seen + 10.0 + 3.0 < dropped <= last_seen + 10.0 + 3.0 + 0.4, chosen
    # a newcomer seen while the chosen one is hidden takes over after its dwell, as from a missed one
    debouncer = ArtworkDebouncer(dwell_s=1.0, hold_s=3.0)
    for i in range(10):
        debouncer.update("amber-fields", 30, i * 0.2)
    for i in range(10, 30):
        debouncer.hidden(i * 0.2)
        debouncer.update("evening-regatta", 30, i * 0.2)
    assert debouncer.current == "evening-regatta"
