"""Scene gating and tracking: a still picture costs no recognition, a change is seen at once.

Frames at 10 fps, recognition due every 0.2 s. The recognizer is wrapped to count the full searches it
really performs (the pipeline's own statistics are checked against that count).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from art2mus.installation.vision.debounce import ArtworkDebouncer
from art2mus.installation.vision.pipeline import ARTWORK, VisionPipeline
from art2mus.installation.vision.sources import Frame
from art2mus.installation.vision.tracking import ArtworkTracker, SceneGate

FPS = 10.0
INTERVAL_S = 0.2


class CountingRecognizer:
    """The real recognizer, counting the frames it searched the whole index for."""

    def __init__(self, recognizer):
        self.inner = recognizer
        self.geometry = recognizer.geometry
        self.calls: list[float] = []

    def recognize(self, image, t=None, *, gray=None):
        assert t == self.t, "the pipeline passes the frame's time"
        assert gray is not None and np.array_equal(gray, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), (
            "the pipeline passes the frame's grey copy, converted once"
        )
        self.calls.append(t)
        return self.inner.recognize(image, t, gray=gray)


def _wall(seed: int = 0) -> np.ndarray:
    """A plaster wall: smooth, faintly mottled."""
    rng = np.random.default_rng(seed)
    mottle = cv2.resize(rng.normal(0, 6, (9, 16)), (640, 360), interpolation=cv2.INTER_CUBIC)
    wall = np.clip(196 + mottle, 0, 255).astype(np.uint8)
    return cv2.merge([wall - 8, wall - 2, wall])


def _with_painting(wall: np.ndarray, painting: np.ndarray, x: int = 200) -> np.ndarray:
    scene = wall.copy()
    h = 240
    w = round(painting.shape[1] * h / painting.shape[0])
    scene[60 : 60 + h, x : x + w] = cv2.resize(painting, (w, h), interpolation=cv2.INTER_AREA)
    return scene


def _frames(scene: np.ndarray, start_index: int, count: int, rng: np.random.Generator):
    """``count`` frames of a still ``scene`` with sensor noise (sigma 2 grey levels)."""
    for i in range(start_index, start_index + count):
        noise = rng.normal(0, 2.0, scene.shape)
        yield Frame(np.clip(scene + noise, 0, 255).astype(np.uint8), i / FPS, i)


@pytest.fixture
def gated(demo_index, demo_recognizer):
    counting = CountingRecognizer(demo_recognizer)
    pipeline = VisionPipeline(
        counting,
        ArtworkDebouncer(dwell_s=1.0, hold_s=4.0, accept_score=15, keep_score=10),
        interval_s=INTERVAL_S,
        gate=SceneGate(0.02),
        tracker=ArtworkTracker(demo_index.ref_sizes, min_points=10, geometry=demo_recognizer.geometry),
    )
    return pipeline, counting


def _feed(pipeline, counting, frames):
    decisions = []
    for frame in frames:
        counting.t = frame.timestamp
        decisions.append(pipeline.process(frame))
    return decisions


def test_still_wall_is_recognised_once_then_a_new_artwork_within_one_interval(gated, demo_paintings):
    pipeline, counting = gated
    rng = np.random.default_rng(1)
    wall = _wall()
    _feed(pipeline, counting, _frames(wall, 0, 50, rng))  # 5 s of an empty wall
    assert counting.calls == [0.0]
    assert pipeline.last_result.artwork_id is None
    assert pipeline.stats.recognized == 1 and pipeline.stats.still == 24

    scene = _with_painting(wall, demo_paintings["city-at-six"])
    _feed(pipeline, counting, _frames(scene, 50, 1, rng))  # frame 50 (5.0 s) is due: the painting is there
    assert counting.calls == [0.0, 5.0]
    assert pipeline.last_result.artwork_id == "city-at-six"


def test_still_artwork_is_chosen_and_kept_without_searching_again(gated, demo_paintings):
    pipeline, counting = gated
    rng = np.random.default_rng(2)
    scene = _with_painting(_wall(3), demo_paintings["portrait-of-a-clerk"], x=260)
    decisions = _feed(pipeline, counting, _frames(scene, 0, 100, rng))  # 10 s facing one artwork
    assert counting.calls == [0.0]
    # dwell and hold keep their meaning: chosen after the dwell (1.0 s) from the held result, never dropped
    chosen_at = next(d.t for d in decisions if d.kind == ARTWORK)
    assert chosen_at == pytest.approx(1.0)
    assert all(d.kind == ARTWORK and d.artwork_id == "portrait-of-a-clerk" for d in decisions[10:])


def test_a_moving_view_of_the_chosen_artwork_is_tracked_and_a_new_one_still_found(gated, demo_paintings):
    pipeline, counting = gated
    rng = np.random.default_rng(4)
    wall = _wall(5)
    still = _with_painting(wall, demo_paintings["hills-of-orvale"], x=120)
    _feed(pipeline, counting, _frames(still, 0, 20, rng))
    assert pipeline.debouncer.current == "hills-of-orvale"
    assert counting.calls == [0.0]
    # the camera drifts right 4 px per frame for 0.8 s: the first moving frame is searched (the last
    # search is older than verify_s = 1 s), the next three are tracked
    for i in range(20, 28):
        scene = _with_painting(wall, demo_paintings["hills-of-orvale"], x=120 + 4 * (i - 19))
        _feed(pipeline, counting, _frames(scene, i, 1, rng))
    assert counting.calls == [0.0, 2.0]
    assert pipeline.stats.tracked == 3
    assert pipeline.last_result.artwork_id == "hills-of-orvale"
    # another painting replaces it: tracking fails and the full search finds it at the next due frame
    other = _with_painting(wall, demo_paintings["evening-regatta"], x=150)
    _feed(pipeline, counting, _frames(other, 28, 1, rng))
    assert counting.calls[-1] == pytest.approx(2.8)
    assert pipeline.last_result.artwork_id == "evening-regatta"


def test_a_moving_view_of_an_artwork_not_yet_chosen_is_tracked_through_its_dwell(gated, demo_paintings):
    pipeline, counting = gated
    rng = np.random.default_rng(6)
    wall = _wall(7)
    decisions = []
    # the camera drifts 3 px per frame from the start: nothing is still, the painting is never chosen yet
    for i in range(12):
        scene = _with_painting(wall, demo_paintings["evening-regatta"], x=150 + 3 * i)
        decisions += _feed(pipeline, counting, _frames(scene, i, 1, rng))
    # searched at 0.0 s, followed while it dwells (each tracked sighting as strong as accept_score),
    # searched again after verify_s (1.0 s), when the dwell is over and it is chosen: the same moment as
    # with a full search every interval
    assert counting.calls == [0.0, 1.0]
    assert pipeline.stats.tracked == 4
    chosen_at = next(d.t for d in decisions if d.kind == ARTWORK)
    assert chosen_at == pytest.approx(1.0)
    assert pipeline.debouncer.current == "evening-regatta"


@pytest.mark.parametrize("pan_px, least_points", [(60, 40), (120, 15)])
def test_a_fast_pan_between_two_due_frames_keeps_the_artwork_tracked(
    demo_index, demo_recognizer, demo_paintings, monkeypatch, pan_px, least_points
):
    """The camera pans 60 or 120 pixels of a 640 px frame (300-600 px/s) between two due frames: the
    tracker's pyramid (LK_LEVELS) reaches that far, so the artwork stays tracked with enough points to count
    as a sighting (with two levels: 12 of 63 points at 60 px, lost at 120 px, and a full search runs)."""
    painting = demo_paintings["evening-regatta"]
    rng = np.random.default_rng(0)
    mottle = cv2.resize(rng.normal(0, 6, (9, 16)), (1280, 360), interpolation=cv2.INTER_CUBIC)
    plaster = np.clip(196 + mottle, 0, 255).astype(np.uint8)
    wall = cv2.merge([plaster - 8, plaster - 2, plaster])
    h = 220
    w = round(painting.shape[1] * h / painting.shape[0])
    wall[70 : 70 + h, 500 : 500 + w] = cv2.resize(painting, (w, h), interpolation=cv2.INTER_AREA)
    first, panned = (np.ascontiguousarray(wall[:, x : x + 640]) for x in (300, 300 - pan_px))
    found = demo_recognizer.recognize(first)
    assert found.artwork_id == "evening-regatta" and found.score >= 50
    for levels, expect_tracked in ((ArtworkTracker.LK_LEVELS, True), (2, False)):
        monkeypatch.setattr(ArtworkTracker, "LK_LEVELS", levels)
        tracker = ArtworkTracker(demo_index.ref_sizes, min_points=10, geometry=demo_recognizer.geometry)
        tracker.start(first, found)
        tracked = tracker.track(panned)
        points = 0 if tracked is None else tracked.score
        assert (points >= least_points) is expect_tracked, f"{levels} levels: {points} points"
        if expect_tracked:
            assert tracked.artwork_id == "evening-regatta"
