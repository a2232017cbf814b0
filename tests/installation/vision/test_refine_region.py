"""The refine pass looks only around the first pass's matches, and finds what a whole-frame refine finds.

A painting seen small (60 px high in a 640x360 frame) is too small for the first pass at 320 px; the refine
pass at 640 px finds it. Its SIFT runs on the box around the first pass's matches (widened by
``REFINE_MARGIN``), not on the whole frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from recognition_settings import TUNED

from art2mus.exhibits.demo_collection.views import distractor_images
from art2mus.installation.vision.recognizer import ArtworkRecognizer


class SpyDetector:
    """A detector that records the size of every image it is asked to look at."""

    def __init__(self, detector):
        self.detector = detector
        self.shapes: list[tuple[int, ...]] = []

    def detectAndCompute(self, image, mask):  # noqa: N802 - OpenCV's name
        self.shapes.append(image.shape)
        return self.detector.detectAndCompute(image, mask)


def _spied(index, max_area: float) -> tuple[ArtworkRecognizer, SpyDetector]:
    recognizer = ArtworkRecognizer(index, TUNED)
    recognizer.REFINE_MAX_AREA = max_area
    # the first pass over the whole image: described in its textured box alone, the first pass finds the
    # 70 px painting by itself and no refine pass runs (this test is about the refine pass's region)
    recognizer.TEXTURE_MAX_AREA = 0.0
    (w1, first), (w2, refine) = recognizer._passes
    spy = SpyDetector(refine)
    recognizer._passes = [(w1, first), (w2, spy)]
    return recognizer, spy


@pytest.mark.parametrize(("artwork", "height"), [("evening-regatta", 60), ("composition-with-signals", 70)])
def test_a_small_painting_is_refined_in_its_region_with_the_whole_frames_result(
    demo_index, demo_paintings, artwork, height
):
    rng = np.random.default_rng(0)
    mottle = cv2.resize(rng.normal(0, 6, (9, 16)), (640, 360), interpolation=cv2.INTER_CUBIC)
    wall = np.clip(196 + mottle, 0, 255).astype(np.uint8)
    scene = cv2.merge([wall - 8, wall - 2, wall])
    painting = demo_paintings[artwork]
    w = round(painting.shape[1] * height / painting.shape[0])
    scene[200 : 200 + height, 420 : 420 + w] = cv2.resize(painting, (w, height), interpolation=cv2.INTER_AREA)

    regional, spy = _spied(demo_index, ArtworkRecognizer.REFINE_MAX_AREA)
    whole, whole_spy = _spied(demo_index, 0.0)  # no box is small enough: always the whole frame
    found, expected = regional.recognize(scene), whole.recognize(scene)

    assert whole_spy.shapes == [(360, 640)]  # the refine pass ran, on the whole frame
    assert len(spy.shapes) == 1
    h, w_seen = spy.shapes[0]
    assert h * w_seen < 0.7 * 360 * 640  # ... and here on a part of it
    assert found.artwork_id == expected.artwork_id == artwork
    # FLANN's neighbours are approximate (24 checks), and the region's keypoints near its edge differ a
    # little from the whole frame's: an inlier more or less
    assert abs(found.score - expected.score) <= 1
    assert found.passes == expected.passes == 2  # the first pass at 320 px, then the refine pass
    np.testing.assert_allclose(found.outline, expected.outline, atol=0.5)


def test_a_frame_whose_matches_point_everywhere_is_not_refined(demo_index, monkeypatch):
    """Distractors (other paintings, posters, faces, noise) match a few keypoints of many artworks: the first
    pass's matches reach refine_min_matches, but fewer than REFINE_MIN_AGREEING agree on one artwork, so
    the refine pass (40-80 ms) is not run for them; it still runs when they agree."""
    recognizer = ArtworkRecognizer(demo_index, TUNED)  # the lenient ratio test: distractors match more
    passes: list[tuple[int, int, int]] = []  # per frame: (first-pass matches, most agreeing, passes run)
    original = ArtworkRecognizer._recognize_at

    def spy(self, gray, width, *args):
        found = original(self, gray, width, *args)
        if width == TUNED.process_width:
            passes.append((found.matches, self._agreeing, 1))
        else:
            passes[-1] = passes[-1][:2] + (2,)
        return found

    monkeypatch.setattr(ArtworkRecognizer, "_recognize_at", spy)
    for _, frame in distractor_images(50, seed=101):
        assert recognizer.recognize(frame).artwork_id is None
    scattered = [p for p in passes if p[0] >= TUNED.refine_min_matches and p[1] < recognizer.REFINE_MIN_AGREEING]
    agreeing = [p for p in passes if p[0] >= TUNED.refine_min_matches and p[1] >= recognizer.REFINE_MIN_AGREEING]
    assert scattered, "no distractor reached refine_min_matches: the test shows nothing"
    assert all(p[2] == 1 for p in scattered)
    assert all(p[2] == 2 for p in agreeing)
